// Benchmark reports on hand-made Google Benchmark JSON: figures (median aggregate, repetitions,
// single runs, time units), targets (pass, fail, not measured, ratios, sums, scale, malformed),
// compare (compare.py's change, regressions only when the ranges are apart), merge, rendering.
#include "reports/bench_report.h"

#include <gtest/gtest.h>

#include <string>

namespace ctsim::reports {
namespace {

using nlohmann::json;

json iteration(const std::string& name, double real, double cpu, const std::string& unit = "ns",
               json extra = json::object()) {
  json b = {{"name", name},       {"run_name", name},      {"run_type", "iteration"},
            {"repetitions", 1},   {"repetition_index", 0}, {"threads", 1},
            {"iterations", 1000}, {"real_time", real},     {"cpu_time", cpu},
            {"time_unit", unit}};
  for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
  return b;
}

json aggregate(const std::string& name, const std::string& which, double real, double cpu, int reps,
               json extra = json::object()) {
  json b = iteration(name, real, cpu, "ns", std::move(extra));
  b["name"] = name + "_" + which;
  b["run_type"] = "aggregate";
  b["aggregate_name"] = which;
  b["repetitions"] = reps;
  return b;
}

// Three repetitions of BM_Hot/hooks:1 (real times a, b, c ns) with their aggregates.
void addHot(json& doc, double a, double b, double c) {
  for (double t : {a, b, c}) {
    json it = iteration("BM_Hot/hooks:1", t, t - 1, "ns",
                        {{"ns_per_pkt", t}, {"items_per_second", 1e9 / t}});
    it["repetitions"] = 3;
    doc["benchmarks"].push_back(it);
  }
  double mean = (a + b + c) / 3;
  double med = std::max(std::min(a, b), std::min(std::max(a, b), c));
  doc["benchmarks"].push_back(aggregate("BM_Hot/hooks:1", "mean", mean, mean - 1, 3,
                                        {{"ns_per_pkt", mean}, {"items_per_second", 1e9 / mean}}));
  doc["benchmarks"].push_back(aggregate("BM_Hot/hooks:1", "median", med, med - 1, 3,
                                        {{"ns_per_pkt", med}, {"items_per_second", 1e9 / med}}));
  doc["benchmarks"].push_back(aggregate("BM_Hot/hooks:1", "stddev", 1.6, 1.6, 3));
}

json sample() {
  json doc = {{"context",
               {{"date", "2026-11-25T13:00:00+00:00"},
                {"host_name", "bench-host"},
                {"num_cpus", 2},
                {"mhz_per_cpu", 2300},
                {"cpu_scaling_enabled", false},
                {"load_avg", {1.5, 1.0, 0.5}},
                {"caches", {{{"type", "Data"}, {"level", 1}, {"size", 49152}, {"num_sharing", 1}}}},
                {"library_build_type", "release"},
                {"ctsim_cpu_model", "Test CPU 9000"},
                {"ctsim_build_type", "RelWithDebInfo"},
                {"ctsim_note", "quiet machine"}}},
              {"benchmarks", json::array()}};
  addHot(doc, 30, 37, 32);
  // A single run in microseconds: 0.2 us = 200 ns.
  doc["benchmarks"].push_back(
      iteration("BM_Flows/flows:1000000", 0.2, 0.19, "us", {{"ns_per_pkt", 200.0}}));
  doc["benchmarks"].push_back(
      iteration("BM_Scale/real_time/threads:1", 100, 100, "ns", {{"items_per_second", 1.0e7}}));
  doc["benchmarks"].push_back(
      iteration("BM_Scale/real_time/threads:2", 52, 104, "ns", {{"items_per_second", 1.9e7}}));
  json skipped = {{"name", "BM_Corpus"},
                  {"run_name", "BM_Corpus"},
                  {"run_type", "iteration"},
                  {"error_occurred", true},
                  {"error_message", "corpus not found at /nowhere"}};
  doc["benchmarks"].push_back(skipped);
  return doc;
}

json target(const std::string& id, json value, const std::string& op, double t,
            const std::string& unit = "ns/packet") {
  return {{"id", id},
          {"description", id + " description"},
          {"value", std::move(value)},
          {"op", op},
          {"target", t},
          {"unit", unit}};
}

json term(const std::string& bench, const std::string& metric) {
  return {{"benchmark", bench}, {"metric", metric}};
}

const TargetResult& byId(const std::vector<TargetResult>& v, const std::string& id) {
  for (const auto& r : v) {
    if (r.id == id) return r;
  }
  static TargetResult none;
  ADD_FAILURE() << "no result for " << id;
  return none;
}

TEST(BenchReport, RecognisesGoogleBenchmarkJson) {
  EXPECT_TRUE(isBenchmarkJson(sample()));
  EXPECT_FALSE(isBenchmarkJson(json{{"schema", "ctsim.replay-report"}, {"version", 1}}));
  EXPECT_FALSE(isBenchmarkJson(json::array()));
}

TEST(BenchReport, NonFiniteNumbersReadAsNull) {
  // What Google Benchmark writes for the coefficient of variation of a counter that is 0.
  json doc = parseBenchmarkText(
      "{\"context\": {\"note\": \"NaN inf stay text\"}, \"benchmarks\": [{\"name\": \"BM_A\", "
      "\"run_name\": \"BM_A\", \"errors\": NaN, \"x\": -nan, \"y\": inf, \"z\": -Infinity, "
      "\"ok\": true, \"n\": null, \"e\": 1.5e-03}]}");
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_TRUE(isBenchmarkJson(doc));
  EXPECT_EQ(doc["context"]["note"], "NaN inf stay text");
  const json& b = doc["benchmarks"][0];
  EXPECT_TRUE(b["errors"].is_null());
  EXPECT_TRUE(b["x"].is_null());
  EXPECT_TRUE(b["y"].is_null());
  EXPECT_TRUE(b["z"].is_null());
  EXPECT_EQ(b["ok"], true);
  EXPECT_DOUBLE_EQ(b["e"].get<double>(), 1.5e-3);
  EXPECT_TRUE(parseBenchmarkText("{\"a\": nonsense}").is_discarded());
}

TEST(BenchReport, FigureUsesMedianAggregateAndConvertsUnits) {
  json doc = sample();
  BenchFigure hot = findFigure(doc, "BM_Hot/hooks:1", "ns_per_pkt");
  ASSERT_TRUE(hot.found);
  EXPECT_FALSE(hot.error);
  EXPECT_DOUBLE_EQ(hot.value, 32);  // the median aggregate (the mean is 33).
  EXPECT_EQ(hot.statistic, "median of 3");
  EXPECT_EQ(hot.samples.size(), 3u);
  BenchFigure cpu = findFigure(doc, "BM_Hot/hooks:1", "cpu_time");
  EXPECT_DOUBLE_EQ(cpu.value, 31);
  BenchFigure flows = findFigure(doc, "BM_Flows/.*", "real_time");  // regex, whole match.
  ASSERT_TRUE(flows.found);
  EXPECT_NEAR(flows.value, 200, 1e-9);  // 0.2 us in ns.
  EXPECT_EQ(flows.statistic, "single run");
  EXPECT_FALSE(findFigure(doc, "BM_Flows", "real_time").found);  // no partial match.
  BenchFigure skipped = findFigure(doc, "BM_Corpus", "ns_per_pkt");
  EXPECT_TRUE(skipped.found);
  EXPECT_TRUE(skipped.error);
  EXPECT_EQ(skipped.error_message, "corpus not found at /nowhere");
  BenchFigure missing_field = findFigure(doc, "BM_Flows/flows:1000000", "bytes_per_conn");
  EXPECT_TRUE(missing_field.error);
}

TEST(BenchReport, MedianOfRepetitionsWithoutAggregates) {
  json doc = {{"context", json::object()}, {"benchmarks", json::array()}};
  for (double t : {10.0, 50.0, 20.0}) {
    doc["benchmarks"].push_back(iteration("BM_X", t, t, "ns", {{"seconds", t / 10}}));
  }
  BenchFigure f = findFigure(doc, "BM_X", "real_time");
  EXPECT_DOUBLE_EQ(f.value, 20);
  EXPECT_EQ(f.statistic, "median of 3");
  EXPECT_DOUBLE_EQ(findFigure(doc, "BM_X", "seconds").value, 2);
  // The table shows medians too, not the first repetition's values.
  std::string md = renderBenchMarkdown(doc, json::object());
  EXPECT_NE(md.find("| BM_X | 20 ns | 20 ns | 1000 (median of 3) | seconds 2 |"), std::string::npos)
      << md;
}

TEST(BenchReport, TargetsPassFailAndNotMeasured) {
  json targets = {
      {"schema", kBenchTargetsSchema},
      {"version", 1},
      {"targets",
       {target("hot", term("BM_Hot/hooks:1", "ns_per_pkt"), "<=", 35),
        target("flows", term("BM_Flows/flows:1000000", "real_time"), "<=", 150),
        target("scaling",
               {{"of", {term("BM_Scale/real_time/threads:2", "items_per_second")}},
                {"divided_by", {term("BM_Scale/real_time/threads:1", "items_per_second")}}},
               ">=", 1.8, "x"),
        target("corpus", term("BM_Corpus", "ns_per_pkt"), "<=", 100),
        target("threads", term("BM_Replay/replay_threads:2", "items_per_second"), ">=", 1.8, "x"),
        target("sum",
               {{"of", {term("BM_Flows/flows:1000000", "real_time")}},
                {"divided_by",
                 {term("BM_Hot/hooks:1", "ns_per_pkt"), term("BM_Hot/hooks:1", "ns_per_pkt")}}},
               "<=", 1.1, "x"),
        target("bad_op", term("BM_Hot/hooks:1", "ns_per_pkt"), "==", 1)}}};
  json scaled = target("mops", term("BM_Hot/hooks:1", "items_per_second"), ">=", 10, "M ops/s");
  scaled["scale"] = 1e-6;
  targets["targets"].push_back(scaled);
  json absent = target("later", term("BM_Later", "real_time"), "<=", 1);
  absent["absent"] = "the benchmark for it is not written yet";
  targets["targets"].push_back(absent);

  std::vector<TargetResult> r = evaluateTargets(sample(), targets);
  ASSERT_EQ(r.size(), 9u);

  const TargetResult& hot = byId(r, "hot");
  EXPECT_EQ(hot.status, TargetStatus::kPass);
  ASSERT_TRUE(hot.value.has_value());
  EXPECT_DOUBLE_EQ(*hot.value, 32);
  EXPECT_NE(hot.from.find("BM_Hot/hooks:1 ns_per_pkt (median of 3)"), std::string::npos);

  const TargetResult& flows = byId(r, "flows");
  EXPECT_EQ(flows.status, TargetStatus::kFail);
  EXPECT_NEAR(*flows.value, 200, 1e-9);

  const TargetResult& scaling = byId(r, "scaling");
  EXPECT_EQ(scaling.status, TargetStatus::kPass);
  EXPECT_NEAR(*scaling.value, 1.9, 1e-12);

  const TargetResult& corpus = byId(r, "corpus");
  EXPECT_EQ(corpus.status, TargetStatus::kNotMeasured);
  EXPECT_FALSE(corpus.value.has_value());
  EXPECT_NE(corpus.reason.find("corpus not found"), std::string::npos);

  const TargetResult& threads = byId(r, "threads");
  EXPECT_EQ(threads.status, TargetStatus::kNotMeasured);
  EXPECT_NE(threads.reason.find("BM_Replay/replay_threads:2"), std::string::npos);

  const TargetResult& sum = byId(r, "sum");
  EXPECT_EQ(sum.status, TargetStatus::kFail);
  EXPECT_NEAR(*sum.value, 200.0 / 64.0, 1e-12);

  EXPECT_EQ(byId(r, "bad_op").status, TargetStatus::kNotMeasured);
  EXPECT_NE(byId(r, "bad_op").reason.find("malformed"), std::string::npos);

  const TargetResult& mops = byId(r, "mops");
  EXPECT_EQ(mops.status, TargetStatus::kPass);
  EXPECT_NEAR(*mops.value, 1e3 / 32, 1e-9);

  EXPECT_EQ(byId(r, "later").reason, "the benchmark for it is not written yet");
}

TEST(BenchReport, ChangeIsComparePySemantics) {
  EXPECT_DOUBLE_EQ(benchChange(100, 110), 0.10);
  EXPECT_DOUBLE_EQ(benchChange(50, 25), -0.5);
  EXPECT_DOUBLE_EQ(benchChange(0, 0), 0);
  EXPECT_DOUBLE_EQ(benchChange(0, 10), 2.0);  // against the mean when old is 0.
  EXPECT_DOUBLE_EQ(benchChange(-10, -5), 0.5);
}

TEST(BenchReport, CompareFlagsOnlySeparatedRegressions) {
  json base = sample();
  json next = sample();
  next["benchmarks"] = json::array();
  addHot(next, 40, 41, 42);  // every repetition slower than every old one: regression.
  next["benchmarks"].push_back(iteration("BM_Flows/flows:1000000", 0.21, 0.3, "us"));  // +5%.
  next["benchmarks"].push_back(iteration("BM_New", 1, 1));
  BenchCompareResult c = compareBenchmarkJson(base, next, BenchCompareOptions{0.10});
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].name, "BM_Hot/hooks:1");
  EXPECT_DOUBLE_EQ(c.rows[0].time_old, 32);
  EXPECT_DOUBLE_EQ(c.rows[0].time_new, 41);
  EXPECT_NEAR(c.rows[0].time_change, 9.0 / 32.0, 1e-12);
  EXPECT_NEAR(c.rows[0].cpu_change, 9.0 / 31.0, 1e-12);
  EXPECT_EQ(c.rows[0].reps_old, 3u);
  EXPECT_TRUE(c.rows[0].regression);
  EXPECT_EQ(c.rows[1].name, "BM_Flows/flows:1000000");
  EXPECT_NEAR(c.rows[1].time_change, 0.05, 1e-12);
  EXPECT_NEAR(c.rows[1].cpu_change, 0.3 / 0.19 - 1, 1e-12);
  EXPECT_FALSE(c.rows[1].regression);  // CPU moved, time within the threshold.
  EXPECT_EQ(c.regressions, std::vector<std::string>{"BM_Hot/hooks:1"});
  EXPECT_EQ(c.only_in_new, std::vector<std::string>{"BM_New"});
  EXPECT_EQ(c.only_in_base,
            (std::vector<std::string>{"BM_Scale/real_time/threads:1",
                                      "BM_Scale/real_time/threads:2", "BM_Corpus"}));
  EXPECT_NE(c.markdown.find("| BM_Hot/hooks:1 | +28.1% |"), std::string::npos) << c.markdown;
  EXPECT_NE(c.markdown.find("**regression**"), std::string::npos);
  EXPECT_NE(c.markdown.find("**1 regression(s)**"), std::string::npos);
}

TEST(BenchReport, CompareToleratesOverlappingRepetitions) {
  json base = sample();
  json next = sample();
  next["benchmarks"] = json::array();
  addHot(next, 33, 36, 35);  // median 35 vs 32: +9.4%, but 33 < the old maximum 37.
  BenchCompareResult c = compareBenchmarkJson(base, next, BenchCompareOptions{0.05});
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_GT(c.rows[0].time_change, 0.05);
  EXPECT_FALSE(c.rows[0].regression);
  EXPECT_TRUE(c.regressions.empty());
  // A single run on each side has no range: the threshold alone decides, on both clocks.
  json b1 = {{"context", json::object()}, {"benchmarks", {iteration("BM_Y", 100, 100)}}};
  json n1 = {{"context", json::object()}, {"benchmarks", {iteration("BM_Y", 107, 106)}}};
  EXPECT_EQ(compareBenchmarkJson(b1, n1, BenchCompareOptions{0.05}).regressions.size(), 1u);
  // Real time alone stretched (a busy machine), CPU time unchanged: no regression.
  json busy = {{"context", json::object()}, {"benchmarks", {iteration("BM_Y", 200, 101)}}};
  BenchCompareResult b = compareBenchmarkJson(b1, busy, BenchCompareOptions{0.05});
  ASSERT_EQ(b.rows.size(), 1u);
  EXPECT_DOUBLE_EQ(b.rows[0].time_change, 1.0);
  EXPECT_FALSE(b.rows[0].regression);
  json f1 = {{"context", json::object()}, {"benchmarks", {iteration("BM_Y", 80, 80)}}};
  BenchCompareResult faster = compareBenchmarkJson(b1, f1, BenchCompareOptions{0.05});
  EXPECT_TRUE(faster.rows[0].improvement);
  EXPECT_TRUE(faster.regressions.empty());
  // Different time units are not compared (compare.py partitions by unit).
  json u1 = {{"context", json::object()}, {"benchmarks", {iteration("BM_Y", 1, 1, "ms")}}};
  EXPECT_TRUE(compareBenchmarkJson(b1, u1, BenchCompareOptions{}).rows.empty());
}

TEST(BenchReport, MergeKeepsFirstContextAndAllBenchmarks) {
  json a = sample();
  json b = {{"context", {{"date", "later"}}}, {"benchmarks", {iteration("BM_Other", 5, 5)}}};
  json m = mergeBenchmarkJson({a, b});
  EXPECT_TRUE(isBenchmarkJson(m));
  EXPECT_EQ(m["context"]["date"], "2026-11-25T13:00:00+00:00");
  EXPECT_EQ(m["context"]["ctsim_merged"], 2);
  EXPECT_EQ(m["benchmarks"].size(), a["benchmarks"].size() + 1);
  EXPECT_EQ(m["benchmarks"].back()["name"], "BM_Other");
}

TEST(BenchReport, RenderingHasMachineTargetsAndEveryBenchmark) {
  json targets = {{"targets",
                   {target("hot", term("BM_Hot/hooks:1", "ns_per_pkt"), "<=", 35),
                    target("flows", term("BM_Flows/flows:1000000", "ns_per_pkt"), "<=", 150),
                    target("corpus", term("BM_Corpus", "ns_per_pkt"), "<=", 100)}}};
  json doc = sample();
  std::string md = renderBenchMarkdown(doc, targets);
  EXPECT_NE(md.find("- CPU: Test CPU 9000"), std::string::npos) << md;
  EXPECT_NE(md.find("- cores: 2 @ 2300 MHz"), std::string::npos) << md;
  EXPECT_NE(md.find("- note: quiet machine"), std::string::npos) << md;
  EXPECT_NE(md.find("3 target(s): 1 pass, 1 fail, 1 not measured."), std::string::npos) << md;
  EXPECT_NE(md.find("| hot description | 32 ns/packet | ≤ 35 ns/packet | pass |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| flows description | 200 ns/packet | ≤ 150 ns/packet | **FAIL** |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| corpus description | - | ≤ 100 ns/packet | not measured | BM_Corpus: "
                    "corpus not found at /nowhere |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| BM_Hot/hooks:1 | 32 ns | 31 ns | 1000 (median of 3) |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| BM_Flows/flows:1000000 | 200 ns | 190 ns | 1000 | ns_per_pkt 200 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| BM_Corpus |  |  |  | skipped: corpus not found at /nowhere |"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("Compared with the baseline"), std::string::npos);

  BenchCompareResult c = compareBenchmarkJson(doc, doc, BenchCompareOptions{});
  std::string with = renderBenchMarkdown(doc, targets, &c);
  EXPECT_NE(with.find("Compared with the baseline"), std::string::npos);
  EXPECT_NE(with.find("| BM_Hot/hooks:1 | +0.0% | +0.0% |"), std::string::npos) << with;

  std::string html = renderBenchHtml(doc, targets, &c);
  EXPECT_NE(html.find("<dt>CPU</dt><dd>Test CPU 9000</dd>"), std::string::npos) << html;
  EXPECT_NE(html.find("<tr data-id=\"hot\">"), std::string::npos);
  EXPECT_NE(html.find("class=\"pass\">pass</td>"), std::string::npos);
  EXPECT_NE(html.find("class=\"fail\">fail</td>"), std::string::npos);
  EXPECT_NE(html.find("class=\"none\">not measured</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>BM_Flows/flows:1000000</td>"), std::string::npos);
  EXPECT_NE(html.find("id=\"compare\""), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // a static page.
}

}  // namespace
}  // namespace ctsim::reports
