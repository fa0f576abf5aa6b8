#include "providers/tc_bpf/builtin_entry.h"

#include <cerrno>

#ifdef CTSIM_HAVE_TC_BPF
#include "providers/tc_bpf/tc_bpf.h"
#endif

namespace ctsim::tc_bpf {

namespace {

#ifndef CTSIM_HAVE_TC_BPF
#ifndef CTSIM_TC_BPF_MISSING_REASON
#define CTSIM_TC_BPF_MISSING_REASON "clang or libbpf not found at configure time"
#endif
Result<std::unique_ptr<Provider>> makeMissing(const ProviderSpec&) {
  return Status(ENOTSUP, "tc-bpf: not built: " CTSIM_TC_BPF_MISSING_REASON);
}
#endif

}  // namespace

BuiltinProvider builtinEntry() {
#ifdef CTSIM_HAVE_TC_BPF
  return {"tc-bpf",
          "a real kernel fast path: tc-BPF program on a veth in a private namespace, BPF hash "
          "map of connection keys; options capacity=N, can_offload=BOOL "
          "(providers/tc_bpf/tc_bpf.h)",
          makeTcBpf};
#else
  return {"tc-bpf", "not built: " CTSIM_TC_BPF_MISSING_REASON, makeMissing,
          "not built: " CTSIM_TC_BPF_MISSING_REASON};
#endif
}

}  // namespace ctsim::tc_bpf
