// Unit tests of the report library: SHA-256, percentiles, the schema validator, report building
// against the schema, the renderers and compare/merge.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "reports/json_schema.h"
#include "reports/report.h"
#include "reports/sha256.h"

namespace ctsim::reports {
namespace {

using nlohmann::json;

std::string sha(const std::string& s) {
  Sha256 h;
  h.update(s.data(), s.size());
  return h.hexDigest();
}

// SHA-256 matches the FIPS 180-4 test vectors, including a multi-block message.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Percentiles are nearest-rank; max is the largest sample.
TEST(Percentiles, NearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  Percentiles p = percentiles(v);
  EXPECT_EQ(p.count, 1000u);
  EXPECT_EQ(p.p50, 500);
  EXPECT_EQ(p.p90, 900);
  EXPECT_EQ(p.p99, 990);
  EXPECT_EQ(p.p99_9, 999);
  EXPECT_EQ(p.max, 1000);
  EXPECT_EQ(percentiles({}).count, 0u);
}

// The validator enforces the keywords it claims and refuses ones it does not know.
TEST(JsonSchema, SubsetKeywords) {
  json schema = json::parse(R"({"type":"object","required":["a"],"additionalProperties":false,
    "properties":{"a":{"type":"integer","minimum":0},"b":{"$ref":"#/$defs/s"}},
    "$defs":{"s":{"enum":["x","y"]}}})");
  EXPECT_TRUE(validateJson(schema, json::parse(R"({"a":1,"b":"x"})")).empty());
  EXPECT_EQ(validateJson(schema, json::parse(R"({"b":"x"})")).size(), 1u);
  EXPECT_EQ(validateJson(schema, json::parse(R"({"a":-1})")).size(), 1u);
  EXPECT_EQ(validateJson(schema, json::parse(R"({"a":1.5})")).size(), 1u);
  EXPECT_EQ(validateJson(schema, json::parse(R"({"a":1,"b":"z"})")).size(), 1u);
  EXPECT_EQ(validateJson(schema, json::parse(R"({"a":1,"c":0})")).size(), 1u);
  EXPECT_FALSE(validateJson(json::parse(R"({"pattern":"x"})"), json("x")).empty());
}

// A run with offload and a fast path.
RunData sampleRun(double wall_s, double offload_scale) {
  RunData run;
  ct::ReplaySummary& s = run.summary;
  s.packets = 10;
  s.fast_path_consumed = 3;
  s.by_ct_state["new|trk"] = 4;
  s.by_ct_state["est|trk"] = 3;
  s.by_outcome["parsed"] = 10;
  s.engine.conns_created = 4;
  s.created["tcp"]["TCP_SYN_SENT"] = 4;
  s.removed["flush"]["tcp"]["TCP_ESTABLISHED"] = 4;
  s.hook_calls["conn_add"] = 4;
  s.first_ns = 1000000000;
  s.last_ns = 2000000000;
  s.timeline_interval_ns = 1000000000;
  s.timeline.push_back({1000000000, 6, 600, 1, 4, 0, 4});
  s.timeline.push_back({2000000000, 4, 400, 2, 0, 4, 4});
  run.wall_s = wall_s;
  OffloadRun off;
  ProviderInfo p;
  p.name = "emu-hw";
  p.origin = "builtin";
  p.calls[size_t(Callback::kConnAdd)] = 4;
  p.latency[size_t(Callback::kConnAdd)] = {4, 4000, 900, 1000, 1100, 1100, 1100};
  off.providers.push_back(p);
  FastPathRun f;
  f.name = "emu-hw";
  f.stats.config = "capacity=0 seed=7";
  f.stats.hit_packets = 3;
  f.stats.miss_packets = 7;
  f.stats.failures["full"] = 1;
  f.stats.occupancy.push_back({1000000000, 2, 1});
  for (int i = 1; i <= 4; ++i) f.offload_us.push_back(i * 100 * offload_scale);
  off.fast_paths.push_back(f);
  off.errors["conn_add"]["ENOSPC"] = 1;
  run.offload = off;
  return run;
}

ReportContext sampleContext() {
  ReportContext ctx;
  ctx.command_line = {"ctsim", "replay", "x.pcap", "--provider", "emu-hw"};
  ctx.inputs.push_back({"x.pcap", "dir/x.pcap", std::string(64, 'a'), 100, 10});
  return ctx;
}

// A built report satisfies the compiled-in schema, balances its accounting and finds the seed.
TEST(Report, ValidatesAgainstSchema) {
  json r = buildReport(sampleContext(), {sampleRun(0.5, 1), sampleRun(0.6, 1)});
  std::vector<std::string> errors = validateReport(r);
  for (const std::string& e : errors) ADD_FAILURE() << e;
  EXPECT_EQ(r["runs"], 2);
  EXPECT_EQ(r["seed"], 7);
  EXPECT_TRUE(r["accounting"]["balanced"].get<bool>());
  EXPECT_EQ(r["metrics"]["throughput.packets_per_s"]["values"].size(), 2u);
  json bad = r;
  bad.erase("inputs");
  EXPECT_FALSE(validateReport(bad).empty());
}

// Markdown and HTML carry the key facts; the HTML inlines the library and escapes "</".
TEST(Report, Renders) {
  json r = buildReport(sampleContext(), {sampleRun(0.5, 1)});
  std::string md = renderMarkdown(r);
  EXPECT_NE(md.find("| emu-hw | 30.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("ENOSPC 1"), std::string::npos);
  std::string html = renderHtml(r, "var Chart = function(){}; // </script> inside");
  EXPECT_NE(html.find("<\\/script> inside"), std::string::npos);
  EXPECT_EQ(html.find("</script> inside"), std::string::npos);
  EXPECT_NE(html.find("chart-offload-cdf"), std::string::npos);
  EXPECT_NE(renderText(r).find("fast path emu-hw: hit ratio 30.0%"), std::string::npos);
}

// compare: equal reports pass; a doubled offload latency fails; noisy repetitions whose ranges
// overlap pass even beyond the threshold.
TEST(Report, CompareRegressionAndNoise) {
  json base = buildReport(sampleContext(), {sampleRun(0.5, 1)});
  CompareOptions opt;
  EXPECT_TRUE(compareReports(base, base, opt).regressions.empty());
  json worse = buildReport(sampleContext(), {sampleRun(0.5, 2)});
  CompareResult c = compareReports(base, worse, opt);
  ASSERT_FALSE(c.regressions.empty());
  EXPECT_NE(c.markdown.find("**regression**"), std::string::npos) << c.markdown;
  // Wall time noise: base 1.0/1.3/0.8 s, new 1.1/0.9/1.4 s: medians differ by 10%, ranges overlap.
  json noisy_base =
      buildReport(sampleContext(), {sampleRun(1.0, 1), sampleRun(1.3, 1), sampleRun(0.8, 1)});
  json noisy_new =
      buildReport(sampleContext(), {sampleRun(1.1, 1), sampleRun(0.9, 1), sampleRun(1.4, 1)});
  CompareResult n = compareReports(noisy_base, noisy_new, opt);
  EXPECT_TRUE(n.regressions.empty()) << n.markdown;
}

// merge concatenates metric values of reports of the same inputs and refuses others.
TEST(Report, Merge) {
  json a = buildReport(sampleContext(), {sampleRun(0.5, 1)});
  json b = buildReport(sampleContext(), {sampleRun(0.7, 1)});
  auto m = mergeReports({a, b});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.value()["runs"], 2);
  EXPECT_EQ(m.value()["metrics"]["wall_seconds"]["values"].size(), 2u);
  EXPECT_TRUE(validateReport(m.value()).empty());
  json other = b;
  other["inputs"][0]["sha256"] = std::string(64, 'b');
  EXPECT_FALSE(mergeReports({a, other}).ok());
}

}  // namespace
}  // namespace ctsim::reports
