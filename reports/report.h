#pragma once
// The replay report: one versioned JSON document (schema "ctsim.replay-report", version 1,
// reports/schema/replay-report-v1.json, described in reports/README.md) built from what a
// replay counted, and everything rendered from it: the text summary `ctsim replay` prints, the
// Markdown summary for a CI comment, the self-contained HTML page with charts, and the
// comparison of two reports. Renderers read only the JSON, so `ctsim report render` gives the
// same output from a saved file as the replay did.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"
#include "sim/status.h"

namespace ctsim::reports {

inline constexpr const char* kSchemaName = "ctsim.replay-report";
inline constexpr int kSchemaVersion = 1;

// Percentiles of a sample set (nearest rank), in the samples' unit.
struct Percentiles {
  uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p99_9 = 0, max = 0;
};
Percentiles percentiles(std::vector<double> samples);

// One fast path at the end of a run.
struct FastPathRun {
  std::string name;                  // provider name.
  FastPathStats stats;               // its counters and series.
  std::vector<double> offload_us;    // per connection: first packet -> entry active (trace).
  std::vector<double> insertion_us;  // per connection: request -> entry active (trace).
};

// The offload side of one run.
struct OffloadRun {
  Profile profile = Profile::kStrict;
  ct::HookCounts counts;                // hook calls.
  std::vector<ProviderInfo> providers;  // call counts and wall-clock call latency.
  std::vector<FastPathRun> fast_paths;  // providers with a fast path.
  // Hook errors: op ("conn_add", "conn_update") -> errno name ("ENOSPC") -> count.
  std::map<std::string, std::map<std::string, uint64_t>> errors;
};

// One replay of the inputs.
struct RunData {
  ct::ReplaySummary summary;          // the engine's side.
  std::optional<OffloadRun> offload;  // when providers were registered.
  double wall_s = 0;                  // wall-clock seconds the replay took (pacing included).
  bool complete = true;               // false: stopped by a signal.
  std::string interrupted_by;         // "SIGINT" / "SIGTERM" when incomplete.
  std::map<std::string, uint64_t> record_oddities;  // sim/record_oddities.h, by name.
  // Why connections were (not) offloaded (sim/explain summaryJson()); null when lifecycles
  // were off. Goes to the report's "explain" section.
  nlohmann::json explain;
};

// One capture given to the replay.
struct InputFile {
  std::string name;      // file name without folders.
  std::string path;      // as given.
  std::string sha256;    // of the file's bytes.
  uint64_t bytes = 0;    // file size.
  uint64_t records = 0;  // records replayed from it (all loops, one run).
};

// What the whole invocation was.
struct ReportContext {
  std::vector<std::string> command_line;  // argv, verbatim.
  std::vector<InputFile> inputs;
  nlohmann::json options = nlohmann::json::object();  // replay options as given.
};

// The report of `runs` (at least one) repetitions of the same replay: detailed sections from
// the last run, and "metrics" with every run's value.
nlohmann::json buildReport(const ReportContext& context, const std::vector<RunData>& runs);

// Renderers (see the file comment). `file` in the text summary is the inputs' names.
std::string renderText(const nlohmann::json& report);
std::string renderMarkdown(const nlohmann::json& report);
// The HTML page with `chart_js` (the Chart.js UMD bundle's text) inlined.
std::string renderHtml(const nlohmann::json& report, const std::string& chart_js);
// printf into a std::string, any length (vsnprintf: GCC's -Wformat-truncation cannot see through
// it, and reported false truncations on a templated two-pass snprintf at -O2).
__attribute__((format(printf, 1, 2))) std::string fmt(const char* f, ...);
// `s` with <, >, & and " as HTML entities (text and attribute values of the HTML renderers).
std::string htmlEscape(const std::string& s);
// Where Chart.js is read from: $CTSIM_CHART_JS, else Debian's libjs-chart.js file.
std::string chartJsPath();
Result<std::string> readFile(const std::string& path);

// `ctsim report compare`: metrics of `base` and `next` side by side.
struct CompareOptions {
  double threshold = 0.05;  // relative change beyond which a move in the bad direction counts.
  bool skip_wall = false;   // leave wall-clock metrics out (noisy across machines).
};
struct CompareResult {
  std::string markdown;                  // the table of what moved (and a verdict line).
  std::vector<std::string> regressions;  // names of metrics that regressed.
};
CompareResult compareReports(const nlohmann::json& base, const nlohmann::json& next,
                             const CompareOptions& options);

// Reports of several invocations as one with every run's metric values (e.g. one report per
// CI repetition): the first report's details, metric values concatenated. Inputs must match
// (sha256), else EINVAL.
Result<nlohmann::json> mergeReports(const std::vector<nlohmann::json>& reports);

// "ENOSPC", "EBUSY", ... for an errno value ("E<n>" for others).
std::string errnoName(int code);

// The schema file's text (compiled in) and a check of a report against it.
const std::string& schemaText();
std::vector<std::string> validateReport(const nlohmann::json& report);

}  // namespace ctsim::reports
