#include "providers/dpdk/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>

#include <cerrno>
#include <mutex>
#include <sstream>
#include <vector>

namespace ctsim::dpdk {

namespace {

// State of the one EAL of this process.
struct EalState {
  std::mutex mu;                    // Guards the members below.
  bool attempted = false;           // rte_eal_init was called.
  Status result;                    // Its outcome (ok once running).
  std::string args;                 // The args of that call.
  std::vector<std::string> argv_s;  // argv storage, kept for the process lifetime (EAL keeps
                                    // pointers into it, e.g. for the program name).
  std::vector<char*> argv;          // Pointers into argv_s, null-terminated.
};

EalState& state() {
  static EalState* s = new EalState;  // Never destroyed: the EAL outlives static destructors.
  return *s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The CPUs this process may run on, as "0,1,3".
std::string affinityList() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::string out;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; i++) {
      if (CPU_ISSET(i, &set)) out += (out.empty() ? "" : ",") + std::to_string(i);
    }
  }
  return out.empty() ? "0" : out;
}

}  // namespace

std::string defaultEalArgs() {
  return "--no-huge --no-pci --no-shconf -m 512 --no-telemetry --lcores=0@(" + affinityList() +
         ") --log-level=error";
}

Status ensureEal(const std::string& args) {
  EalState& s = state();
  std::lock_guard lock(s.mu);
  const std::string want = split(args).empty() ? defaultEalArgs() : args;
  if (s.attempted) {
    if (!s.result.ok()) return s.result;
    if (!split(args).empty() && split(args) != split(s.args)) {
      return Status(EALREADY, "DPDK EAL already running with args '" + s.args + "'; args '" + args +
                                  "' ignored (the EAL starts once per process)");
    }
    return Status();
  }
  s.attempted = true;
  s.args = want;
  s.argv_s = split(want);
  s.argv_s.insert(s.argv_s.begin(), "ctsim");
  for (std::string& a : s.argv_s) s.argv.push_back(a.data());
  s.argv.push_back(nullptr);
  const int ret = rte_eal_init(static_cast<int>(s.argv_s.size()), s.argv.data());
  if (ret < 0) {
    const int err = rte_errno > 0 ? rte_errno : EINVAL;
    s.result = Status(err, "DPDK EAL cannot start (args '" + want + "'): " + rte_strerror(err));
  }
  return s.result;
}

void stopEal() {
  EalState& s = state();
  std::lock_guard lock(s.mu);
  if (!s.attempted || !s.result.ok()) return;
  rte_eal_cleanup();
  s.result = Status(ESHUTDOWN, "DPDK EAL stopped (it cannot start again in this process)");
}

bool ealRunning() {
  EalState& s = state();
  std::lock_guard lock(s.mu);
  return s.attempted && s.result.ok();
}

std::string ealArgs() {
  EalState& s = state();
  std::lock_guard lock(s.mu);
  return s.args;
}

}  // namespace ctsim::dpdk
