// `ctsim report ...`: work on saved replay reports (reports/README.md).
//   render FILE.json [--md F] [--html F]   re-render (default: the text summary on stdout);
//   compare BASE.json NEW.json [--threshold 5%] [--skip-wall]
//                                           Markdown table of what moved; exit 1 on a regression;
//   merge A.json B.json... -o OUT.json      one report with every run's metric values;
//   validate FILE.json...                   check against the schema (exit 1 when invalid).
// render, compare and merge also take Google Benchmark JSON (bench/README.md): render with
// --targets bench/targets.json [--baseline BASE.json] writes the benchmark report, compare
// compares two benchmark runs (compare.py semantics), merge concatenates their benchmarks.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "reports/bench_report.h"
#include "reports/report.h"

namespace ctsim::cli {
namespace {

// Reads and parses a report; prints the reason and returns false on failure.
bool load(const std::string& path, nlohmann::json* out) {
  auto text = reports::readFile(path);
  if (!text.ok()) {
    std::fprintf(stderr, "ctsim report: %s: cannot read\n", path.c_str());
    return false;
  }
  *out = nlohmann::json::parse(text.value(), nullptr, false);
  if (out->is_discarded() || !out->is_object() ||
      out->value("schema", "") != std::string(reports::kSchemaName)) {
    std::fprintf(stderr, "ctsim report: %s: not a ctsim replay report\n", path.c_str());
    return false;
  }
  if (out->value("version", 0) != reports::kSchemaVersion) {
    std::fprintf(stderr, "ctsim report: %s: report version %d, this ctsim reads %d\n", path.c_str(),
                 out->value("version", 0), reports::kSchemaVersion);
    return false;
  }
  return true;
}

// Reads `path` when it is Google Benchmark JSON output: true and `out` set; false otherwise
// (then the caller reads it as a replay report, which reports any problem).
bool loadBenchmarkJson(const std::string& path, nlohmann::json* out) {
  auto text = reports::readFile(path);
  if (!text.ok()) return false;
  *out = reports::parseBenchmarkText(text.value());
  return !out->is_discarded() && reports::isBenchmarkJson(*out);
}

bool write(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return true;
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  bool ok = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (f != nullptr) ok = std::fclose(f) == 0 && ok;
  if (!ok) std::fprintf(stderr, "ctsim report: cannot write %s\n", path.c_str());
  return ok;
}

// "5%" -> 0.05, "0.05" -> 0.05; negative on a bad value.
double parseThreshold(const std::string& t) {
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end == t.c_str()) return -1;
  if (*end == '%') {
    v /= 100;
    ++end;
  }
  return *end == '\0' && v >= 0 ? v : -1;
}

// `report render` of Google Benchmark JSON: the benchmark report (Markdown on stdout when
// neither --md nor --html is given), with targets and the comparison with a baseline. Exit 1
// when the baseline comparison finds a regression.
int renderBenchmarks(const nlohmann::json& bench, const std::string& md, const std::string& html,
                     const std::string& targets_path, const std::string& baseline_path,
                     const std::string& threshold) {
  nlohmann::json targets = nlohmann::json::object();
  if (!targets_path.empty()) {
    auto text = reports::readFile(targets_path);
    if (text.ok()) targets = nlohmann::json::parse(text.value(), nullptr, false);
    if (!text.ok() || targets.is_discarded() || !targets.is_object() ||
        targets.value("schema", "") != std::string(reports::kBenchTargetsSchema)) {
      std::fprintf(stderr, "ctsim report: %s: not a %s file\n", targets_path.c_str(),
                   reports::kBenchTargetsSchema);
      return kExitBadInput;
    }
  }
  std::optional<reports::BenchCompareResult> compare;
  if (!baseline_path.empty()) {
    nlohmann::json base;
    double t = parseThreshold(threshold);
    if (t < 0) {
      std::fprintf(stderr, "ctsim report render: bad --threshold '%s'\n", threshold.c_str());
      return kExitBadInput;
    }
    if (!loadBenchmarkJson(baseline_path, &base)) {
      std::fprintf(stderr, "ctsim report: %s: not Google Benchmark JSON\n", baseline_path.c_str());
      return kExitBadInput;
    }
    compare = reports::compareBenchmarkJson(base, bench, reports::BenchCompareOptions{t});
  }
  const reports::BenchCompareResult* c = compare ? &*compare : nullptr;
  bool ok = true;
  if (!md.empty()) ok &= write(md, reports::renderBenchMarkdown(bench, targets, c));
  if (!html.empty()) ok &= write(html, reports::renderBenchHtml(bench, targets, c));
  if (md.empty() && html.empty()) ok &= write("-", reports::renderBenchMarkdown(bench, targets, c));
  if (!ok) return kExitFailure;
  return compare && !compare->regressions.empty() ? kExitFailure : kExitOk;
}

}  // namespace

void addReportCommand(CLI::App& app, int& exit_code) {
  CLI::App* report = app.add_subcommand("report", "Render, compare, merge or validate reports");
  report->require_subcommand(1);

  struct RenderArgs {
    std::string file, md, html, targets, baseline, threshold = "5%";
  };
  auto ra = std::make_shared<RenderArgs>();
  CLI::App* render = report->add_subcommand("render", "Re-render a saved JSON report");
  render->add_option("FILE", ra->file, "report (JSON)")->required();
  render->add_option("--md", ra->md, "write the Markdown summary to FILE ('-': stdout)");
  render->add_option("--html", ra->html, "write the HTML report to FILE");
  render->add_option("--targets", ra->targets,
                     "benchmark JSON: the targets to show each figure against "
                     "(bench/targets.json)");
  render->add_option("--baseline", ra->baseline,
                     "benchmark JSON: also compare with this earlier run (bench/baseline.json)");
  render->add_option("--threshold", ra->threshold, "with --baseline: as compare's")
      ->capture_default_str();
  render->callback([ra, &exit_code] {
    nlohmann::json bench;
    if (loadBenchmarkJson(ra->file, &bench)) {
      exit_code =
          renderBenchmarks(bench, ra->md, ra->html, ra->targets, ra->baseline, ra->threshold);
      return;
    }
    nlohmann::json r;
    if (!load(ra->file, &r)) {
      exit_code = kExitBadInput;
      return;
    }
    bool ok = true;
    if (!ra->md.empty()) ok &= write(ra->md, reports::renderMarkdown(r));
    if (!ra->html.empty()) {
      auto chart = reports::readFile(reports::chartJsPath());
      if (!chart.ok()) {
        std::fprintf(stderr, "ctsim report: --html needs Chart.js (libjs-chart.js): %s\n",
                     chart.status().message().c_str());
        exit_code = kExitBadInput;
        return;
      }
      ok &= write(ra->html, reports::renderHtml(r, chart.value()));
    }
    if (ra->md.empty() && ra->html.empty()) ok &= write("-", reports::renderText(r));
    exit_code = ok ? kExitOk : kExitFailure;
  });

  struct CompareArgs {
    std::string base, next, threshold = "5%", out = "-";
    bool skip_wall = false;
  };
  auto ca = std::make_shared<CompareArgs>();
  CLI::App* compare = report->add_subcommand(
      "compare", "Markdown table of the metrics that moved; exit 1 on a regression");
  compare->add_option("BASE", ca->base, "baseline report")->required();
  compare->add_option("NEW", ca->next, "new report")->required();
  compare
      ->add_option("--threshold", ca->threshold,
                   "relative change that counts as a regression (5% or 0.05)")
      ->capture_default_str();
  compare->add_flag("--skip-wall", ca->skip_wall,
                    "ignore wall-clock metrics (throughput, call latency)");
  compare->add_option("-o,--output", ca->out, "where the table goes ('-': stdout)");
  compare->callback([ca, &exit_code] {
    nlohmann::json base, next;
    reports::CompareOptions opt;
    opt.threshold = parseThreshold(ca->threshold);
    opt.skip_wall = ca->skip_wall;
    if (opt.threshold < 0) {
      std::fprintf(stderr, "ctsim report compare: bad --threshold '%s'\n", ca->threshold.c_str());
      exit_code = kExitBadInput;
      return;
    }
    if (loadBenchmarkJson(ca->base, &base) && loadBenchmarkJson(ca->next, &next)) {
      reports::BenchCompareResult r =
          reports::compareBenchmarkJson(base, next, reports::BenchCompareOptions{opt.threshold});
      exit_code = !write(ca->out, r.markdown) ? kExitBadInput
                  : r.regressions.empty()     ? kExitOk
                                              : kExitFailure;
      return;
    }
    if (!load(ca->base, &base) || !load(ca->next, &next)) {
      exit_code = kExitBadInput;
      return;
    }
    reports::CompareResult r = reports::compareReports(base, next, opt);
    if (!write(ca->out, r.markdown)) {
      exit_code = kExitBadInput;
      return;
    }
    exit_code = r.regressions.empty() ? kExitOk : kExitFailure;
  });

  struct MergeArgs {
    std::vector<std::string> files;
    std::string out;
  };
  auto ma = std::make_shared<MergeArgs>();
  CLI::App* merge = report->add_subcommand(
      "merge", "One report with every run's metric values (repetitions of one replay)");
  merge->add_option("FILES", ma->files, "reports of the same inputs")->required();
  merge->add_option("-o,--output", ma->out, "merged report ('-': stdout)")->required();
  merge->callback([ma, &exit_code] {
    std::vector<nlohmann::json> all;
    nlohmann::json first;
    if (loadBenchmarkJson(ma->files.front(), &first)) {
      for (const std::string& f : ma->files) {
        nlohmann::json b;
        if (!loadBenchmarkJson(f, &b)) {
          std::fprintf(stderr, "ctsim report merge: %s: not Google Benchmark JSON\n", f.c_str());
          exit_code = kExitBadInput;
          return;
        }
        all.push_back(std::move(b));
      }
      exit_code =
          write(ma->out, reports::mergeBenchmarkJson(all).dump(2) + "\n") ? kExitOk : kExitBadInput;
      return;
    }
    for (const std::string& f : ma->files) {
      nlohmann::json r;
      if (!load(f, &r)) {
        exit_code = kExitBadInput;
        return;
      }
      all.push_back(std::move(r));
    }
    auto merged = reports::mergeReports(all);
    if (!merged.ok()) {
      std::fprintf(stderr, "ctsim report merge: %s\n", merged.status().message().c_str());
      exit_code = kExitBadInput;
      return;
    }
    exit_code = write(ma->out, merged.value().dump(2) + "\n") ? kExitOk : kExitBadInput;
  });

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* validate =
      report->add_subcommand("validate", "Check reports against the compiled-in schema");
  validate->add_option("FILES", *files, "reports")->required();
  validate->callback([files, &exit_code] {
    exit_code = kExitOk;
    for (const std::string& f : *files) {
      auto text = reports::readFile(f);
      nlohmann::json r =
          text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
      if (!text.ok() || r.is_discarded()) {
        std::fprintf(stderr, "ctsim report validate: %s: not JSON\n", f.c_str());
        exit_code = kExitBadInput;
        continue;
      }
      std::vector<std::string> errors = reports::validateReport(r);
      for (const std::string& e : errors) std::printf("%s: %s\n", f.c_str(), e.c_str());
      if (errors.empty()) {
        std::printf("%s: valid %s v%d\n", f.c_str(), reports::kSchemaName, reports::kSchemaVersion);
      } else if (exit_code == kExitOk) {
        exit_code = kExitFailure;
      }
    }
  });
}

}  // namespace ctsim::cli
