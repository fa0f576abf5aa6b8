// Fuzz target: capture file bytes -> trace statistics and a full replay through the engine on the
// trace clock (sweeps included). Checks that every record ends in exactly one outcome and one
// ct_state bucket, whatever the file holds.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>

#include "sim/conntrack/replay.h"
#include "sim/trace_stats.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

std::string scratchPath() {
  static std::string path = "/tmp/ctsim-fuzz-capture-" + std::to_string(::getpid()) + ".pcap";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = scratchPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  if (size != 0) std::fwrite(data, 1, size, f);
  std::fclose(f);

  auto stats = ctsim::collectTraceStats(path);
  if (stats.ok()) {
    const ctsim::TraceStats& s = stats.value();
    check(std::accumulate(s.outcomes.begin(), s.outcomes.end(), uint64_t(0)) == s.records);
  }
  ctsim::ct::ReplayOptions opts;
  opts.clock = ctsim::ct::ClockMode::kTrace;
  ctsim::ct::Replayer replayer(opts);
  auto sum = replayer.run(path);
  check(sum.ok() == stats.ok());
  if (sum.ok()) {
    uint64_t states = 0;
    for (const auto& [state, count] : sum.value().by_ct_state) states += count;
    check(states == sum.value().packets);
    check(sum.value().packets == stats.value().records);
  }
  return 0;
}
