#pragma once
// The DPDK Environment Abstraction Layer, started at most once per process (DPDK allows one
// rte_eal_init per process, and no restart after rte_eal_cleanup).
//
// ensureEal() starts it on first use with the given arguments, or with defaultEalArgs() when
// they are empty, and is idempotent afterwards.  The defaults work on a machine with no NIC and
// no hugepages: no hugepages (--no-huge, 512 MB of ordinary memory), no PCI scan, no shared
// runtime files, no telemetry socket, and one lcore allowed on every CPU this process may run
// on (so that rte_eal_init does not pin the calling thread to CPU 0).  With 2 MB hugepages
// mounted, "--in-memory -m 512" is the faster alternative.  The CLI passes --eal-args here.
//
// A failed start is remembered: later calls return the same error without retrying (DPDK cannot
// re-run a failed rte_eal_init reliably), which is what tests use as their skip reason.

#include <string>

#include "sim/status.h"

namespace ctsim::dpdk {

// "--no-huge --no-pci --no-shconf -m 512 --no-telemetry --lcores=0@(CPUS) --log-level=error",
// CPUS being this process's CPU affinity (e.g. "0,1").
std::string defaultEalArgs();

// Starts the EAL once with 'args' (whitespace-separated; "" = defaultEalArgs()).  Returns:
//   ok        the EAL runs (started now, or before with the same or unspecified args);
//   EALREADY  the EAL runs, but was started with other args than the non-empty 'args' given
//             now; the message names both (callers may treat it as a warning);
//   other     the EAL could not start (now or at the first attempt): rte_errno and a message
//             naming the args, e.g. "DPDK EAL cannot start (args '...'): Permission denied".
// Thread-safe.
Status ensureEal(const std::string& args = "");

// Releases what the EAL holds (rte_eal_cleanup: its threads, memory, the multi-process socket)
// if ensureEal() started it.  Started without --no-shconf (not the default), DPDK keeps its
// config and fbarray files under /var/run/dpdk/PREFIX by design (they are reused by the next
// primary process).  Every port and mempool must be released before.  Later ensureEal() calls fail
// (ESHUTDOWN): DPDK cannot restart in one process.  `ctsim replay` calls it on every way out of a
// replay, a signal included.
void stopEal();
// Calls stopEal() at the end of a scope.
class ScopedEalStop {
 public:
  ScopedEalStop() = default;
  ~ScopedEalStop() { stopEal(); }
  ScopedEalStop(const ScopedEalStop&) = delete;
  ScopedEalStop& operator=(const ScopedEalStop&) = delete;
};

// Whether ensureEal() has started the EAL successfully.
bool ealRunning();
// The args of the first start attempt ("" before any attempt).
std::string ealArgs();
// Whether 'st' (from ensureEal) means the EAL is usable: ok or EALREADY.
inline bool ealUsable(const Status& st) { return st.ok() || st.code() == EALREADY; }

}  // namespace ctsim::dpdk
