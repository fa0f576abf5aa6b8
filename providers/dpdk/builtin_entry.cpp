#include "providers/dpdk/builtin_entry.h"

#include <cerrno>

#ifdef CTSIM_HAVE_DPDK
#include "providers/dpdk/dpdk_provider.h"
#endif

namespace ctsim::dpdk {

namespace {

#ifndef CTSIM_HAVE_DPDK
#ifndef CTSIM_DPDK_MISSING_REASON
#define CTSIM_DPDK_MISSING_REASON "libdpdk not found at configure time"
#endif
Result<std::unique_ptr<Provider>> makeMissing(const ProviderSpec&) {
  return Status(ENOTSUP, "dpdk: not built: " CTSIM_DPDK_MISSING_REASON);
}
#endif

}  // namespace

BuiltinProvider builtinEntry() {
#ifdef CTSIM_HAVE_DPDK
  return {"dpdk",
          "NIC connection table on a DPDK rte_hash with a fast path; options capacity=N, aging=, "
          "aging_scan=, granularity=, insert_latency=, mirror=BOOL, port=N (rte_flow) "
          "(providers/dpdk/dpdk_provider.h)",
          makeDpdk};
#else
  return {"dpdk", "not built: " CTSIM_DPDK_MISSING_REASON, makeMissing,
          "not built: " CTSIM_DPDK_MISSING_REASON};
#endif
}

}  // namespace ctsim::dpdk
