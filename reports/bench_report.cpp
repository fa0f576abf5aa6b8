// Benchmark reports: Google Benchmark JSON against bench/targets.json, merge, compare, render.
// See bench_report.h.
#include "reports/bench_report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "reports/report.h"

namespace ctsim::reports {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key, const std::string& fallback = "") {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                                                : fallback;
}

bool isNumber(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number();
}

// Nanoseconds per unit of a Google Benchmark "time_unit".
double nsPer(const std::string& unit) {
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  return 1;  // "ns" (and anything unknown).
}

// A number with three significant digits and an SI suffix for large values.
std::string num(double v) {
  double a = std::fabs(v);
  if (a >= 1e9) return fmt("%.3gG", v / 1e9);
  if (a >= 1e6) return fmt("%.3gM", v / 1e6);
  if (a >= 1e4) return fmt("%.3gk", v / 1e3);
  if (a >= 100) return fmt("%.0f", v);
  return fmt("%.3g", v);
}

// A time in ns as the most readable unit.
std::string timeNs(double ns) {
  double a = std::fabs(ns);
  if (a >= 1e9) return fmt("%.3g s", ns / 1e9);
  if (a >= 1e6) return fmt("%.3g ms", ns / 1e6);
  if (a >= 1e3) return fmt("%.3g us", ns / 1e3);
  return fmt("%.3g ns", ns);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// `|` inside a Markdown table cell.
std::string mdCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\";
    out += c;
  }
  return out;
}

// ---- Grouping by run name ----------------------------------------------------------------------

// The entries of one run name.
struct Run {
  std::string name;
  std::string time_unit;
  std::vector<const json*> iterations;  // run_type "iteration", in file order.
  const json* median = nullptr;         // the "median" aggregate.
  const json* error = nullptr;          // an entry that reported an error.
};

std::vector<Run> groupRuns(const json& doc) {
  std::vector<Run> runs;
  std::map<std::string, size_t> index;
  if (!isBenchmarkJson(doc)) return runs;
  for (const json& b : doc["benchmarks"]) {
    if (!b.is_object()) continue;
    std::string name = str(b, "run_name", str(b, "name"));
    if (name.empty()) continue;
    auto [it, fresh] = index.emplace(name, runs.size());
    if (fresh) {
      runs.push_back(Run{});
      runs.back().name = name;
      runs.back().time_unit = str(b, "time_unit", "ns");
    }
    Run& r = runs[it->second];
    if (b.value("error_occurred", false)) {
      if (r.error == nullptr) r.error = &b;
      continue;
    }
    if (str(b, "run_type") == "aggregate") {
      if (str(b, "aggregate_name") == "median") r.median = &b;
      continue;
    }
    r.iterations.push_back(&b);
  }
  return runs;
}

// The value of `metric` in one entry (times in ns); nullopt when absent.
std::optional<double> field(const json& entry, const std::string& metric) {
  if (metric == "real_time" || metric == "cpu_time") {
    if (!isNumber(entry, metric.c_str())) return std::nullopt;
    return entry[metric].get<double>() * nsPer(str(entry, "time_unit", "ns"));
  }
  if (!isNumber(entry, metric.c_str())) return std::nullopt;
  return entry[metric].get<double>();
}

BenchFigure figureOf(const Run& r, const std::string& metric) {
  BenchFigure f;
  f.found = true;
  f.name = r.name;
  if (r.error != nullptr && r.iterations.empty() && r.median == nullptr) {
    f.error = true;
    f.error_message = str(*r.error, "error_message", "error");
    return f;
  }
  for (const json* it : r.iterations) {
    if (auto v = field(*it, metric)) f.samples.push_back(*v);
  }
  if (r.median != nullptr) {
    auto v = field(*r.median, metric);
    if (!v) {
      f.error = true;
      f.error_message = "no field '" + metric + "'";
      return f;
    }
    f.value = *v;
    size_t n = r.median->value("repetitions", size_t(0));
    f.statistic = fmt("median of %zu", n > 0 ? n : f.samples.size());
    return f;
  }
  if (f.samples.empty()) {
    f.error = true;
    f.error_message = "no field '" + metric + "'";
    return f;
  }
  f.value = median(f.samples);
  f.statistic = f.samples.size() == 1 ? "single run" : fmt("median of %zu", f.samples.size());
  return f;
}

}  // namespace

bool isBenchmarkJson(const json& doc) {
  return doc.is_object() && doc.contains("context") && doc["context"].is_object() &&
         doc.contains("benchmarks") && doc["benchmarks"].is_array();
}

json parseBenchmarkText(const std::string& text) {
  std::string clean;
  clean.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      clean += c;
      if (c == '\\' && i + 1 < text.size()) {
        clean += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      clean += c;
      continue;
    }
    bool sign = (c == '-' || c == '+') && i + 1 < text.size() && std::isalpha(uint8_t(text[i + 1]));
    if (sign || std::isalpha(uint8_t(c))) {
      size_t j = i + (sign ? 1 : 0);
      while (j < text.size() && std::isalpha(uint8_t(text[j]))) ++j;
      std::string word = text.substr(i + (sign ? 1 : 0), j - i - (sign ? 1 : 0));
      std::string lower;
      for (char w : word) lower += char(std::tolower(uint8_t(w)));
      if (lower == "nan" || lower == "inf" || lower == "infinity") {
        clean += "null";
      } else {
        clean += text.substr(i, j - i);
      }
      i = j - 1;
      continue;
    }
    clean += c;
  }
  return json::parse(clean, nullptr, false);
}

json mergeBenchmarkJson(const std::vector<json>& docs) {
  json out = json::object();
  out["context"] = docs.empty() ? json::object() : docs.front()["context"];
  out["context"]["ctsim_merged"] = docs.size();
  out["benchmarks"] = json::array();
  for (const json& d : docs) {
    if (!isBenchmarkJson(d)) continue;
    for (const json& b : d["benchmarks"]) out["benchmarks"].push_back(b);
  }
  return out;
}

BenchFigure findFigure(const json& doc, const std::string& pattern, const std::string& metric) {
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error&) {
    BenchFigure f;
    f.error = true;
    f.error_message = "bad pattern '" + pattern + "'";
    return f;
  }
  for (const Run& r : groupRuns(doc)) {
    if (std::regex_match(r.name, re)) return figureOf(r, metric);
  }
  return BenchFigure{};
}

const char* targetStatusName(TargetStatus s) {
  switch (s) {
    case TargetStatus::kPass:
      return "pass";
    case TargetStatus::kFail:
      return "fail";
    case TargetStatus::kNotMeasured:
      return "not measured";
  }
  return "?";
}

std::vector<TargetResult> evaluateTargets(const json& doc, const json& targets) {
  std::vector<TargetResult> out;
  if (!targets.is_object() || !targets.contains("targets") || !targets["targets"].is_array()) {
    return out;
  }
  for (const json& t : targets["targets"]) {
    TargetResult r;
    r.id = str(t, "id");
    r.description = str(t, "description");
    r.source = str(t, "source");
    r.unit = str(t, "unit");
    r.op = str(t, "op", "<=");
    r.target = isNumber(t, "target") ? t["target"].get<double>() : 0;
    double scale = isNumber(t, "scale") ? t["scale"].get<double>() : 1;
    const json value = t.contains("value") ? t["value"] : json();
    if (!value.is_object() || !isNumber(t, "target") ||
        (r.op != "<=" && r.op != ">=" && r.op != "<" && r.op != ">")) {
      r.reason = "malformed target (needs value, op <=/>=/</> and a numeric target)";
      out.push_back(r);
      continue;
    }
    // Terms: {"benchmark", "metric"} alone, or lists under "of" and "divided_by".
    auto terms = [](const json& list) {
      std::vector<json> v;
      if (list.is_array()) {
        for (const json& x : list) v.push_back(x);
      } else if (list.is_object()) {
        v.push_back(list);
      }
      return v;
    };
    std::vector<json> of = value.contains("of") ? terms(value["of"]) : terms(value);
    std::vector<json> div =
        value.contains("divided_by") ? terms(value["divided_by"]) : std::vector<json>{};
    bool ok = !of.empty();
    auto sum = [&](const std::vector<json>& list, std::string* from) {
      double s = 0;
      for (const json& term : list) {
        std::string pattern = str(term, "benchmark"), metric = str(term, "metric", "real_time");
        BenchFigure f = findFigure(doc, pattern, metric);
        if (!f.found) {
          ok = false;
          if (r.reason.empty()) {
            r.reason = str(t, "absent", "no benchmark named '" + pattern + "' in the results");
          }
        } else if (f.error) {
          ok = false;
          if (r.reason.empty()) r.reason = f.name + ": " + f.error_message;
        } else {
          s += f.value;
          if (!from->empty()) *from += " + ";
          *from += f.name + " " + metric + " (" + f.statistic + ")";
        }
      }
      return s;
    };
    std::string from_of, from_div;
    double num_value = sum(of, &from_of);
    double den_value = div.empty() ? 1 : sum(div, &from_div);
    if (!ok) {
      out.push_back(r);
      continue;
    }
    if (!div.empty() && den_value == 0) {
      r.reason = "the divisor is 0";
      out.push_back(r);
      continue;
    }
    double v = num_value / den_value * scale;
    r.value = v;
    r.from = div.empty() ? from_of : "(" + from_of + ") / (" + from_div + ")";
    bool pass = r.op == "<="   ? v <= r.target
                : r.op == ">=" ? v >= r.target
                : r.op == "<"  ? v < r.target
                               : v > r.target;
    r.status = pass ? TargetStatus::kPass : TargetStatus::kFail;
    out.push_back(r);
  }
  return out;
}

// ---- Compare -----------------------------------------------------------------------------------

double benchChange(double old_value, double new_value) {
  if (old_value == 0 && new_value == 0) return 0;
  if (old_value == 0) return (new_value - old_value) / ((old_value + new_value) / 2);
  return (new_value - old_value) / std::fabs(old_value);
}

namespace {

// One side of a compared run: medians and the repetitions' real times, in the file's unit.
struct Side {
  double time = 0, cpu = 0;
  std::vector<double> times, cpus;  // per repetition.
  size_t reps = 0;
};

std::optional<Side> sideOf(const Run& r) {
  Side s;
  for (const json* it : r.iterations) {
    if (isNumber(*it, "real_time")) s.times.push_back((*it)["real_time"].get<double>());
    if (isNumber(*it, "cpu_time")) s.cpus.push_back((*it)["cpu_time"].get<double>());
  }
  if (r.median != nullptr && isNumber(*r.median, "real_time") && isNumber(*r.median, "cpu_time")) {
    s.time = (*r.median)["real_time"].get<double>();
    s.cpu = (*r.median)["cpu_time"].get<double>();
  } else if (!s.times.empty() && !s.cpus.empty()) {
    s.time = median(s.times);
    s.cpu = median(s.cpus);
  } else {
    return std::nullopt;
  }
  s.reps = std::max<size_t>(s.times.size(), 1);
  return s;
}

// Whether every new sample is above (`slower`) or below every old one; true when either side
// has fewer than two samples (no range to compare).
bool apart(const std::vector<double>& old_v, const std::vector<double>& new_v, bool slower) {
  if (old_v.size() < 2 || new_v.size() < 2) return true;
  auto [omin, omax] = std::minmax_element(old_v.begin(), old_v.end());
  auto [nmin, nmax] = std::minmax_element(new_v.begin(), new_v.end());
  return slower ? *nmin > *omax : *nmax < *omin;
}

std::string contextLine(const json& doc) {
  const json& c = doc["context"];
  std::string s = str(c, "date", "?");
  std::string cpu = str(c, "ctsim_cpu_model");
  if (!cpu.empty()) s += ", " + cpu;
  if (isNumber(c, "num_cpus")) s += fmt(", %d CPUs", c["num_cpus"].get<int>());
  std::string git = str(c, "ctsim_git");
  if (!git.empty()) s += ", git " + git;
  std::string note = str(c, "ctsim_note");
  if (!note.empty()) s += " (" + note + ")";
  return s;
}

}  // namespace

BenchCompareResult compareBenchmarkJson(const json& base, const json& next,
                                        const BenchCompareOptions& opt) {
  BenchCompareResult out;
  std::vector<Run> b = groupRuns(base), n = groupRuns(next);
  std::map<std::string, const Run*> by_name;
  for (const Run& r : n) by_name[r.name] = &r;
  std::set<std::string> in_base;
  for (const Run& r : b) {
    in_base.insert(r.name);
    auto it = by_name.find(r.name);
    if (it == by_name.end()) {
      out.only_in_base.push_back(r.name);
      continue;
    }
    const Run& o = *it->second;
    if (o.time_unit != r.time_unit) continue;  // not comparable (compare.py skips them too).
    auto sb = sideOf(r), sn = sideOf(o);
    if (!sb || !sn) continue;  // an error on either side.
    BenchDelta d;
    d.name = r.name;
    d.time_unit = r.time_unit;
    d.time_old = sb->time;
    d.time_new = sn->time;
    d.cpu_old = sb->cpu;
    d.cpu_new = sn->cpu;
    d.time_change = benchChange(d.time_old, d.time_new);
    d.cpu_change = benchChange(d.cpu_old, d.cpu_new);
    d.reps_old = sb->reps;
    d.reps_new = sn->reps;
    // Both clocks must agree: other load on the machine stretches the real time alone.
    d.regression = d.time_change > opt.threshold && d.cpu_change > opt.threshold &&
                   apart(sb->times, sn->times, true) && apart(sb->cpus, sn->cpus, true);
    d.improvement = d.time_change < -opt.threshold && d.cpu_change < -opt.threshold &&
                    apart(sb->times, sn->times, false) && apart(sb->cpus, sn->cpus, false);
    if (d.regression) out.regressions.push_back(d.name);
    out.rows.push_back(d);
  }
  for (const Run& r : n) {
    if (!in_base.count(r.name)) out.only_in_new.push_back(r.name);
  }

  std::string& o = out.markdown;
  o += fmt("### Compared with the baseline (threshold %.1f%%)\n\n", opt.threshold * 100);
  if (isBenchmarkJson(base) && isBenchmarkJson(next)) {
    o += "Baseline: " + contextLine(base) + ".  \nNew: " + contextLine(next) + ".\n\n";
  }
  o += "Time and CPU: relative change of the real and CPU time per iteration, (new - old) / "
       "old, as Google Benchmark's compare.py (+ is slower). Medians of the repetitions; a "
       "regression is slower beyond the threshold in both real and CPU time, with the "
       "repetitions' ranges apart (a busy machine stretches the real time alone).\n\n";
  if (out.rows.empty()) {
    o += "No benchmark in common.\n\n";
  } else {
    o += "| benchmark | time | CPU | time old | time new | CPU old | CPU new | verdict |\n"
         "|---|---:|---:|---:|---:|---:|---:|---|\n";
    for (const BenchDelta& d : out.rows) {
      double k = nsPer(d.time_unit);
      o += "| " + mdCell(d.name) + " | " + fmt("%+.1f%%", d.time_change * 100) + " | " +
           fmt("%+.1f%%", d.cpu_change * 100) + " | " + timeNs(d.time_old * k) + " | " +
           timeNs(d.time_new * k) + " | " + timeNs(d.cpu_old * k) + " | " + timeNs(d.cpu_new * k) +
           " | " +
           (d.regression    ? "**regression**"
            : d.improvement ? "improvement"
                            : "") +
           " |\n";
    }
    o += "\n";
  }
  auto list = [&](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    o += std::string(what) + ": ";
    for (size_t i = 0; i < names.size(); ++i) o += (i ? ", " : "") + names[i];
    o += "\n\n";
  };
  list("Only in the baseline", out.only_in_base);
  list("Only in the new results", out.only_in_new);
  o += out.regressions.empty()
           ? std::string("No regression beyond the threshold.\n")
           : fmt("**%zu regression(s)** beyond the threshold.\n", out.regressions.size());
  return out;
}

// ---- Rendering ---------------------------------------------------------------------------------

namespace {

// Fields that are not figures.
bool isStandardField(const std::string& k) {
  static const std::set<std::string> names = {
      "name",           "run_name",         "run_type",
      "repetitions",    "repetition_index", "threads",
      "iterations",     "real_time",        "cpu_time",
      "time_unit",      "family_index",     "per_family_instance_index",
      "aggregate_name", "aggregate_unit",   "label",
      "error_occurred", "error_message"};
  return names.count(k) != 0;
}

// Machine facts from the context, as (label, value) rows.
std::vector<std::pair<std::string, std::string>> machine(const json& doc) {
  std::vector<std::pair<std::string, std::string>> rows;
  const json& c = doc["context"];
  auto add = [&](const char* label, const std::string& v) {
    if (!v.empty()) rows.emplace_back(label, v);
  };
  add("CPU", str(c, "ctsim_cpu_model"));
  std::string cores;
  if (isNumber(c, "num_cpus")) cores = fmt("%d", c["num_cpus"].get<int>());
  if (isNumber(c, "mhz_per_cpu")) cores += fmt(" @ %d MHz", c["mhz_per_cpu"].get<int>());
  if (c.contains("cpu_scaling_enabled") && c["cpu_scaling_enabled"].is_boolean()) {
    cores += c["cpu_scaling_enabled"].get<bool>() ? " (frequency scaling on)" : "";
  }
  add("cores", cores);
  if (c.contains("caches") && c["caches"].is_array()) {
    std::string caches;
    for (const json& k : c["caches"]) {
      if (!isNumber(k, "level") || !isNumber(k, "size")) continue;
      caches += (caches.empty() ? "" : ", ") + fmt("L%d %s %lld KiB", k["level"].get<int>(),
                                                   str(k, "type").c_str(),
                                                   k["size"].get<long long>() / 1024);
      if (isNumber(k, "num_sharing") && k["num_sharing"].get<int>() > 1) {
        caches += fmt(" shared by %d CPUs", k["num_sharing"].get<int>());
      }
    }
    add("caches", caches);
  }
  if (c.contains("load_avg") && c["load_avg"].is_array()) {
    std::string l;
    for (const json& x : c["load_avg"]) {
      if (x.is_number()) l += (l.empty() ? "" : " ") + fmt("%.2f", x.get<double>());
    }
    add("load average at start", l);
  }
  add("date", str(c, "date"));
  add("host", str(c, "host_name"));
  std::string build = str(c, "ctsim_build_type");
  std::string san = str(c, "ctsim_sanitizers");
  if (!san.empty() && san != "none") build += ", sanitizers " + san;
  add("build", build);
  add("git", str(c, "ctsim_git"));
  add("note", str(c, "ctsim_note"));
  if (str(c, "ctsim_smoke") == "1") add("smoke run", "yes: tiny workloads, figures meaningless");
  return rows;
}

std::string figureText(const TargetResult& r) {
  if (!r.value) return "-";
  // Ratios with two decimals (1.04 x, not 1 x).
  return (r.unit == "x" ? fmt("%.2f", *r.value) : num(*r.value)) + " " + r.unit;
}

std::string targetText(const TargetResult& r) {
  std::string op = r.op == "<=" ? "≤" : r.op == ">=" ? "≥" : r.op;
  return op + " " + num(r.target) + " " + r.unit;
}

// One row per run name: time, CPU, iterations, figures (median aggregate when present).
struct Row {
  std::string name, time, cpu, iterations, figures, label;
  bool error = false;
};

std::vector<Row> rows(const json& doc) {
  std::vector<Row> out;
  for (const Run& r : groupRuns(doc)) {
    Row row;
    row.name = r.name;
    if (r.error != nullptr && r.iterations.empty() && r.median == nullptr) {
      row.error = true;
      row.figures = "skipped: " + str(*r.error, "error_message", "error");
      out.push_back(row);
      continue;
    }
    if (r.median == nullptr && r.iterations.empty()) continue;  // other aggregates only.
    const json* e = r.median;
    std::vector<double> times, cpus;
    for (const json* it : r.iterations) {
      if (auto v = field(*it, "real_time")) times.push_back(*v);
      if (auto v = field(*it, "cpu_time")) cpus.push_back(*v);
    }
    double t = e ? field(*e, "real_time").value_or(0) : median(times);
    double c = e ? field(*e, "cpu_time").value_or(0) : median(cpus);
    row.time = timeNs(t);
    row.cpu = timeNs(c);
    const json& src = e ? *e : *r.iterations.front();
    // An aggregate's "iterations" is the number of repetitions: show a repetition's.
    const json& first = r.iterations.empty() ? src : *r.iterations.front();
    if (isNumber(first, "iterations")) row.iterations = num(first["iterations"].get<double>());
    size_t reps = e ? e->value("repetitions", size_t(0)) : r.iterations.size();
    if (reps > 1) row.iterations += fmt(" (median of %zu)", reps);
    for (auto it = src.begin(); it != src.end(); ++it) {
      if (isStandardField(it.key()) || !it.value().is_number()) continue;
      // The median aggregate's value, else the median over the repetitions.
      double v = it.value().get<double>();
      if (e == nullptr && r.iterations.size() > 1) {
        std::vector<double> vs;
        for (const json* x : r.iterations) {
          if (auto f = field(*x, it.key())) vs.push_back(*f);
        }
        v = median(vs);
      }
      row.figures += (row.figures.empty() ? "" : ", ") + it.key() + " " + num(v);
    }
    if (!r.iterations.empty()) row.label = str(*r.iterations.front(), "label");
    out.push_back(row);
  }
  return out;
}

std::string summaryLine(const std::vector<TargetResult>& results) {
  size_t pass = 0, fail = 0, none = 0;
  for (const auto& r : results) {
    (r.status == TargetStatus::kPass ? pass : r.status == TargetStatus::kFail ? fail : none)++;
  }
  return fmt("%zu target(s): %zu pass, %zu fail, %zu not measured.", results.size(), pass, fail,
             none);
}

}  // namespace

std::string renderBenchMarkdown(const json& doc, const json& targets,
                                const BenchCompareResult* compare) {
  std::string o = "# ctsim benchmarks\n\n";
  for (const auto& [k, v] : machine(doc)) o += "- " + k + ": " + mdCell(v) + "\n";
  o += "\n## Targets (issue 9)\n\n";
  std::vector<TargetResult> results = evaluateTargets(doc, targets);
  o += summaryLine(results) + "\n\n";
  o += "| target | figure | target | status | from |\n|---|---:|---:|---|---|\n";
  for (const TargetResult& r : results) {
    std::string status = r.status == TargetStatus::kPass   ? "pass"
                         : r.status == TargetStatus::kFail ? "**FAIL**"
                                                           : "not measured";
    std::string from = r.status == TargetStatus::kNotMeasured ? r.reason : r.from;
    o += "| " + mdCell(r.description.empty() ? r.id : r.description) + " | " +
         mdCell(figureText(r)) + " | " + mdCell(targetText(r)) + " | " + status + " | " +
         mdCell(from) + " |\n";
  }
  o += "\n## All benchmarks\n\n";
  o += "Time and CPU per iteration; figures are the benchmark's counters (ns_per_pkt, "
       "items_per_second...), medians when repeated.\n\n";
  o += "| benchmark | time | CPU | iterations | figures |\n|---|---:|---:|---:|---|\n";
  for (const Row& r : rows(doc)) {
    std::string name = r.name + (r.label.empty() ? "" : " (" + r.label + ")");
    o += "| " + mdCell(name) + " | " + r.time + " | " + r.cpu + " | " + r.iterations + " | " +
         mdCell(r.figures) + " |\n";
  }
  if (compare != nullptr) o += "\n" + compare->markdown;
  return o;
}

std::string renderBenchHtml(const json& doc, const json& targets,
                            const BenchCompareResult* compare) {
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<title>ctsim benchmarks</title>\n<style>\n"
      "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222}\n"
      "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px "
      "8px}\ntd.n{text-align:right;white-space:nowrap}th{background:#f4f4f4}\n"
      ".pass{background:#e6f4e6}.fail{background:#fbe3e3;font-weight:bold}"
      ".none{background:#f1f1f1;color:#666}\n.regression{background:#fbe3e3}"
      ".improvement{background:#e6f4e6}\ndl{display:grid;grid-template-columns:max-content "
      "auto;gap:.1em 1em}dt{font-weight:bold}dd{margin:0}\n</style></head><body>\n"
      "<h1>ctsim benchmarks</h1>\n<dl>\n";
  for (const auto& [k, v] : machine(doc)) {
    o += "<dt>" + htmlEscape(k) + "</dt><dd>" + htmlEscape(v) + "</dd>\n";
  }
  o += "</dl>\n<h2>Targets (issue 9)</h2>\n";
  std::vector<TargetResult> results = evaluateTargets(doc, targets);
  o += "<p id=\"summary\">" + htmlEscape(summaryLine(results)) + "</p>\n";
  o += "<table id=\"targets\"><tr><th>target</th><th>figure</th><th>target</th><th>status</th>"
       "<th>from</th></tr>\n";
  for (const TargetResult& r : results) {
    const char* cls = r.status == TargetStatus::kPass   ? "pass"
                      : r.status == TargetStatus::kFail ? "fail"
                                                        : "none";
    std::string from = r.status == TargetStatus::kNotMeasured ? r.reason : r.from;
    o += "<tr data-id=\"" + htmlEscape(r.id) + "\"><td>" +
         htmlEscape(r.description.empty() ? r.id : r.description) +
         (r.source.empty() ? "" : "<br><small>" + htmlEscape(r.source) + "</small>") +
         "</td><td class=\"n\">" + htmlEscape(figureText(r)) + "</td><td class=\"n\">" +
         htmlEscape(targetText(r)) + "</td><td class=\"" + cls + "\">" +
         targetStatusName(r.status) + "</td><td><small>" + htmlEscape(from) +
         "</small></td></tr>\n";
  }
  o += "</table>\n<h2>All benchmarks</h2>\n<table id=\"benchmarks\"><tr><th>benchmark</th>"
       "<th>time</th><th>CPU</th><th>iterations</th><th>figures</th></tr>\n";
  for (const Row& r : rows(doc)) {
    std::string name = r.name + (r.label.empty() ? "" : " (" + r.label + ")");
    o += "<tr><td>" + htmlEscape(name) + "</td><td class=\"n\">" + r.time +
         "</td><td class=\"n\">" + r.cpu + "</td><td class=\"n\">" + htmlEscape(r.iterations) +
         "</td><td" + (r.error ? " class=\"none\"" : "") + ">" + htmlEscape(r.figures) +
         "</td></tr>\n";
  }
  o += "</table>\n";
  if (compare != nullptr) {
    o += "<h2>Compared with the baseline</h2>\n<p>Relative change of real and CPU time per "
         "iteration, (new - old) / old, as Google Benchmark's compare.py (+ is slower); "
         "medians of the repetitions.</p>\n<table id=\"compare\"><tr><th>benchmark</th>"
         "<th>time</th><th>CPU</th><th>time old</th><th>time new</th><th>CPU old</th>"
         "<th>CPU new</th></tr>\n";
    for (const BenchDelta& d : compare->rows) {
      double k = nsPer(d.time_unit);
      const char* cls = d.regression    ? " class=\"regression\""
                        : d.improvement ? " class=\"improvement\""
                                        : "";
      o += std::string("<tr") + cls + "><td>" + htmlEscape(d.name) + "</td><td class=\"n\">" +
           fmt("%+.1f%%", d.time_change * 100) + "</td><td class=\"n\">" +
           fmt("%+.1f%%", d.cpu_change * 100) + "</td><td class=\"n\">" + timeNs(d.time_old * k) +
           "</td><td class=\"n\">" + timeNs(d.time_new * k) + "</td><td class=\"n\">" +
           timeNs(d.cpu_old * k) + "</td><td class=\"n\">" + timeNs(d.cpu_new * k) + "</td></tr>\n";
    }
    o +=
        "</table>\n<p>" +
        htmlEscape(compare->regressions.empty() ? std::string("No regression beyond the threshold.")
                                                : fmt("%zu regression(s) beyond the threshold.",
                                                      compare->regressions.size())) +
        "</p>\n";
  }
  o += "</body></html>\n";
  return o;
}

}  // namespace ctsim::reports
