#pragma once
// Benchmark reports: Google Benchmark's JSON output (`--benchmark_out_format=json`: a "context"
// object and a "benchmarks" array) read against the targets of bench/targets.json, rendered as
// Markdown and HTML (every figure beside its target), merged across binaries, and compared with
// a baseline the way Google Benchmark's tools/compare.py compares two runs.
//
// Figures. A benchmark's figure is one of its fields: "real_time" or "cpu_time" (converted to
// nanoseconds from its "time_unit") or any numeric field a counter produced ("items_per_second",
// "ns_per_pkt", "peak_bytes_per_conn"...). With repetitions, the "median" aggregate is used when
// the file has it, else the median of the repetitions; a benchmark that reported an error
// ("error_occurred") has no figure.
//
// Targets file (bench/targets.json, "schema": "ctsim.bench-targets", "version": 1):
//   {"targets": [{
//      "id": "engine_hot_flow",                    unique
//      "description": "...", "source": "...",      shown in the report
//      "value": {"benchmark": REGEX, "metric": FIELD}            one figure, or
//      "value": {"of": [TERM...], "divided_by": [TERM...]}     sum(of) / sum(divided_by),
//               TERM = {"benchmark": REGEX, "metric": FIELD}
//      "op": "<=" | ">=" | "<" | ">",  "target": NUMBER,  "unit": "ns/packet",
//      "scale": NUMBER (optional; the figure is multiplied by it, e.g. 1e-6 for M ops/s),
//      "absent": "why a missing benchmark is not measured yet" (optional)
//   }]}
// REGEX must match a benchmark's whole run name (e.g. "BM_Engine_HotFlow/hooks:1"). The first
// benchmark (file order) that matches gives the term. A target whose terms are not all found is
// "not measured" (with the reason), never passed or failed.
//
// Compare (compare.py semantics). Benchmarks are paired by name, in the base file's order, when
// both carry results in the same time unit; for each pair the relative change of real time
// ("time") and of CPU time ("cpu") is (new - old) / |old| (0 when both are 0, and
// (new - old) / mean when old is 0). One row per run name: the medians (median aggregate, or
// the median of repetitions, or the single run). A row regresses when both its time and its
// CPU change exceed the threshold (other load on the machine stretches the real time alone)
// and, when both sides carry two or more repetitions, every new repetition is slower than every
// old one on both clocks (the ranges do not overlap), so that noise alone does not flag.
// Improvements likewise, faster on both.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctsim::reports {

inline constexpr const char* kBenchTargetsSchema = "ctsim.bench-targets";

// True when `doc` looks like Google Benchmark JSON output.
bool isBenchmarkJson(const nlohmann::json& doc);
// Parses Google Benchmark output text. Its JSON writer prints non-finite numbers as bare NaN /
// inf tokens (e.g. the "cv" aggregate of a counter that is always 0), which JSON does not have:
// they are read as null. A discarded json on a syntax error.
nlohmann::json parseBenchmarkText(const std::string& text);

// Several Google Benchmark JSON documents as one: the first one's context (plus
// "ctsim_merged": the number of documents), every document's benchmarks in order.
nlohmann::json mergeBenchmarkJson(const std::vector<nlohmann::json>& docs);

// One benchmark's result, reduced to one entry per run name.
struct BenchFigure {
  bool found = false;  // a benchmark of that name exists.
  bool error = false;  // it reported an error (skipped): no figure.
  std::string error_message;
  std::string name;             // its run name.
  std::string statistic;        // "median of 3", "single run"...
  double value = 0;             // the field's value (times in ns).
  std::vector<double> samples;  // per repetition (times in ns), when repetitions are present.
};
// The figure of the first benchmark whose run name matches `pattern` (whole match).
BenchFigure findFigure(const nlohmann::json& doc, const std::string& pattern,
                       const std::string& metric);

enum class TargetStatus { kPass, kFail, kNotMeasured };
const char* targetStatusName(TargetStatus s);  // "pass", "fail", "not measured".

struct TargetResult {
  std::string id, description, source, unit, op;
  double target = 0;
  std::optional<double> value;  // the figure (after scale), when measured.
  TargetStatus status = TargetStatus::kNotMeasured;
  std::string from;    // which benchmarks and statistics the figure came from.
  std::string reason;  // for kNotMeasured: why.
};
// Evaluates every target of `targets` (bench/targets.json) on `doc`. A malformed target is
// reported as not measured with the reason.
std::vector<TargetResult> evaluateTargets(const nlohmann::json& doc, const nlohmann::json& targets);

struct BenchCompareOptions {
  double threshold = 0.05;  // relative time change beyond which a slower benchmark regresses.
};
struct BenchDelta {
  std::string name;       // run name.
  std::string time_unit;  // of the four times below, as in the files.
  double time_old = 0, time_new = 0, cpu_old = 0, cpu_new = 0;
  double time_change = 0, cpu_change = 0;  // relative, compare.py's calculate_change.
  size_t reps_old = 0, reps_new = 0;       // repetitions on each side (1 for a single run).
  bool regression = false;
  bool improvement = false;
};
struct BenchCompareResult {
  std::vector<BenchDelta> rows;           // base file order.
  std::vector<std::string> regressions;   // run names.
  std::vector<std::string> only_in_base;  // run names without a counterpart.
  std::vector<std::string> only_in_new;
  std::string markdown;  // the table and a verdict line.
};
// compare.py's relative change.
double benchChange(double old_value, double new_value);
BenchCompareResult compareBenchmarkJson(const nlohmann::json& base, const nlohmann::json& next,
                                        const BenchCompareOptions& options);

// The report: machine (from the context), targets with status, every benchmark's figures, and
// the comparison when `compare` is given.
std::string renderBenchMarkdown(const nlohmann::json& doc, const nlohmann::json& targets,
                                const BenchCompareResult* compare = nullptr);
std::string renderBenchHtml(const nlohmann::json& doc, const nlohmann::json& targets,
                            const BenchCompareResult* compare = nullptr);

}  // namespace ctsim::reports
