#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "sim/kernel_oracle/compare.h"
#include "sim/kernel_oracle/rig.h"
#include "traces/generator.h"

namespace ctsim::oracle {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::string corpus() {
  const char* env = std::getenv("CTSIM_CORPUS");
  return env ? env : CTSIM_CORPUS_DEFAULT;
}

std::map<std::string, std::string> rulesOrDie() {
  auto r = loadDifferenceRules(CTSIM_DIFFERENCES_TSV);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : std::map<std::string, std::string>{};
}

// Compares one capture's ctsim table with a kernel table; returns the unexplained differences
// as text (empty when all are explained) and counts the explained ones by rule.
std::string unexplained(const std::string& capture, const Json& kernel, ct::ClockMode clock,
                        const std::map<std::string, std::string>& rules,
                        std::map<std::string, uint64_t>* by_rule) {
  auto mine = ctsimFinalTable(capture, clock);
  if (!mine.ok()) return capture + ": " + mine.status().message() + "\n";
  std::string out;
  for (const Difference& d : compareTables(mine.value(), kernelRows(kernel), rules, clock)) {
    if (d.rule.empty()) {
      out += fs::path(capture).filename().string() + ": " + d.kind + " " + d.key + " " + d.detail +
             "\n";
    } else if (by_rule) {
      (*by_rule)[d.rule]++;
    }
  }
  return out;
}

// The differences file names only rules the comparison implements, each with a reason.
TEST(KernelOracle, DifferencesFileIsWellFormed) {
  auto r = loadDifferenceRules(CTSIM_DIFFERENCES_TSV);
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const auto& [rule, reason] : r.value()) EXPECT_FALSE(reason.empty()) << rule;
  EXPECT_EQ(r.value().size(), knownRules().size()) << "every implemented rule is listed";
}

// On every corpus capture with a stored kernel table, ctsim's final table (trace clock, no end
// flush) differs from the kernel's only as the differences file explains.
TEST(KernelOracle, CorpusAgreesExceptListedDifferences) {
  fs::path dir = fs::path(corpus()) / "oracle" / "kernel";
  if (!fs::exists(dir)) GTEST_SKIP() << "no corpus at " << dir << " (set CTSIM_CORPUS)";
  auto rules = rulesOrDie();
  std::map<std::string, uint64_t> by_rule;
  std::string bad;
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    fs::path capture = fs::path(corpus()) / "public" / e.path().stem();
    if (!fs::exists(capture)) continue;
    std::ifstream in(e.path());
    Json kernel = Json::parse(in);
    bad += unexplained(capture.string(), kernel, ct::ClockMode::kTrace, rules, &by_rule);
    files++;
  }
  EXPECT_GT(files, 0u);
  for (const auto& [rule, n] : by_rule)
    std::printf("  %-36s %llu\n", rule.c_str(), (unsigned long long)n);
  EXPECT_EQ(bad, "") << "unexplained differences (add a rule to differences.tsv only with a "
                        "reason that holds)";
}

// A difference no rule explains is reported: with an empty rule set the corpus shows some.
TEST(KernelOracle, UnlistedDifferencesFail) {
  fs::path json = fs::path(corpus()) / "oracle" / "kernel" / "ndpi__synscan.pcap.json";
  fs::path capture = fs::path(corpus()) / "public" / "ndpi__synscan.pcap";
  if (!fs::exists(json) || !fs::exists(capture)) GTEST_SKIP() << "no corpus at " << corpus();
  std::ifstream in(json);
  Json kernel = Json::parse(in);
  EXPECT_NE(unexplained(capture.string(), kernel, ct::ClockMode::kTrace, {}, nullptr), "");
}

// The live rig reproduces stored kernel tables entry for entry (timeouts aside): the oracle
// command's output has the corpus files' shape and content.
TEST(KernelOracleLive, RigMatchesStoredTables) {
  std::string why = rigUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "kernel rig unavailable: " << why;
  for (const char* name : {"zeek__smtp.pcap", "zeek__ipv6.pcap", "zeek__5-pings.pcap",
                           "suricata-verify__gre-sample.pcap", "ndpi__sctp.cap"}) {
    fs::path json = fs::path(corpus()) / "oracle" / "kernel" / (std::string(name) + ".json");
    fs::path capture = fs::path(corpus()) / "public" / name;
    if (!fs::exists(json) || !fs::exists(capture)) GTEST_SKIP() << "no corpus at " << corpus();
    auto live = replayThroughKernel(capture.string());
    ASSERT_TRUE(live.ok()) << live.status().message();
    std::ifstream in(json);
    Json stored = Json::parse(in);
    ASSERT_EQ(live.value().size(), stored.size()) << name;
    for (size_t i = 0; i < stored.size(); i++) {
      Json a = live.value()[i], b = stored[i];
      a.erase("timeout");
      b.erase("timeout");
      EXPECT_EQ(a, b) << name << " entry " << i;
    }
  }
}

// Generated traffic (TCP with FIN/RST/open teardowns, UDP, ICMP, IPv6, a port scan) through
// the live kernel: ctsim agrees except for listed differences.
TEST(KernelOracleLive, GeneratedTraceAgrees) {
  std::string why = rigUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "kernel rig unavailable: " << why;
  fs::path dir = fs::path(CTSIM_BINARY_DIR) / "sim" / "kernel_oracle";
  fs::create_directories(dir);
  for (uint64_t seed : {1, 2, 3}) {
    traces::GenConfig cfg;
    cfg.seed = seed;
    cfg.flows = 300;
    cfg.port_scan = 20;
    fs::path pcap = dir / ("generated-" + std::to_string(seed) + ".pcap");
    auto gen = traces::generate(cfg, pcap.string());
    ASSERT_TRUE(gen.ok()) << gen.status().message();
    auto kernel = replayThroughKernel(pcap.string());
    ASSERT_TRUE(kernel.ok()) << kernel.status().message();
    EXPECT_GT(kernel.value().size(), 0u);
    EXPECT_EQ(
        unexplained(pcap.string(), kernel.value(), ct::ClockMode::kTrace, rulesOrDie(), nullptr),
        "")
        << "seed " << seed;
  }
}

}  // namespace
}  // namespace ctsim::oracle
