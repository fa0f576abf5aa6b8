#pragma once
// The conformance suite behind `ctsim conformance`: one named test per contract sentence of
// <ctsim/ct_offload.h> ("contract.*"), one per invariant of the checker ("invariant.*", over
// seeded random scenarios, fixed scenarios for the RFC defects and traces), and one per replayed
// trace ("trace.*"). A missing optional callback makes its tests skip, not fail.

#include <cstdint>
#include <string>
#include <vector>

#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim::props {

struct ConformanceOptions {
  std::string provider_spec;               // --provider NAME[:opts] (built-in or broken-*).
  std::vector<std::string> provider_libs;  // --provider-lib PATH: its first class is tested.
  Profile profile = Profile::kStrict;      // --profile.
  uint64_t seed = 1;                       // --seed: every random choice.
  std::string filter;                      // --filter: substring, or a glob with '*'.
  int cases = 12;                          // random scenarios per run.
  std::vector<std::string> traces;         // extra traces (the bundled one is always used).
  std::string counterexample_dir;          // where failing scenarios are written ("" = none).
};

enum class TestOutcome : uint8_t { kPass, kFail, kSkip };
const char* testOutcomeName(TestOutcome o);  // "PASS", "FAIL", "SKIP".

struct TestResult {
  std::string name;    // "contract.conn_add.result", "invariant.est-once", "trace.bundled".
  std::string clause;  // the contract sentence or invariant statement it checks.
  TestOutcome outcome = TestOutcome::kPass;
  std::string message;  // why it failed or was skipped.
  double seconds = 0;   // wall time.
};

struct ConformanceReport {
  std::string provider;  // what was tested.
  Profile profile = Profile::kStrict;
  uint64_t seed = 1;
  std::vector<TestResult> tests;  // in run order.
  size_t count(TestOutcome o) const;
  bool ok() const { return count(TestOutcome::kFail) == 0; }
};

// Runs the suite. Errors only for a provider that cannot be made or loaded.
Result<ConformanceReport> runConformance(const ConformanceOptions& options);
// A readable summary: one line per test, then the totals.
std::string formatSummary(const ConformanceReport& report);
// JUnit XML (one testsuite per group: contract, invariant, trace).
std::string junitXml(const ConformanceReport& report);
// XML text escaping (&, <, >, ", ' and control characters).
std::string xmlEscape(const std::string& s);

}  // namespace ctsim::props
