#include "providers/kernel_ct/builtin_entry.h"

#include <cerrno>

#ifdef CTSIM_HAVE_KERNEL_CT
#include "providers/kernel_ct/kernel_ct.h"
#endif

namespace ctsim::kernel_ct {

namespace {

#ifndef CTSIM_HAVE_KERNEL_CT
#ifndef CTSIM_KERNEL_CT_MISSING_REASON
#define CTSIM_KERNEL_CT_MISSING_REASON "libnetfilter_conntrack not found at configure time"
#endif
Result<std::unique_ptr<Provider>> makeMissing(const ProviderSpec&) {
  return Status(ENOTSUP, "kernel-ct: not built: " CTSIM_KERNEL_CT_MISSING_REASON);
}
#endif

}  // namespace

BuiltinProvider builtinEntry() {
#ifdef CTSIM_HAVE_KERNEL_CT
  return {"kernel-ct",
          "mirrors connections into the Linux conntrack table (ctnetlink) in a private "
          "namespace; options timeout=S, capacity=N, can_offload=BOOL, batch=BOOL "
          "(providers/kernel_ct/kernel_ct.h)",
          makeKernelCt};
#else
  return {"kernel-ct", "not built: " CTSIM_KERNEL_CT_MISSING_REASON, makeMissing,
          "not built: " CTSIM_KERNEL_CT_MISSING_REASON};
#endif
}

}  // namespace ctsim::kernel_ct
