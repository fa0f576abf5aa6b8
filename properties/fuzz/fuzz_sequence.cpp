// Fuzz target: a byte-coded sequence (properties/fuzz/sequence.h: packets from small pools of
// addresses, ports, zones and TCP flags, time steps, sweeps, flushes, registrations and provider
// faults) -> engine + registry + providers under profile strict, with the invariant checker
// (properties/invariants.h) watching. Any violation prints the decoded sequence and the
// violations, then aborts, so libFuzzer keeps the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "properties/fuzz/sequence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string violations = ctsim::props::fuzz::runSequence(data, size);
  if (!violations.empty()) {
    std::fprintf(stderr, "fuzz_sequence: invariant violated\n%s\nviolations:\n%s",
                 ctsim::props::fuzz::describeSequence(data, size).c_str(), violations.c_str());
    std::abort();
  }
  return 0;
}
