#include "traces/bundled.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "sim/trace_stats.h"

namespace ctsim::traces {
namespace {

std::vector<char> readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// The committed traces are exactly what the generator makes (regenerate with
// make-bundled-traces after changing it).
TEST(BundledTracesTest, CommittedFilesMatchGenerator) {
  auto tmp =
      std::filesystem::temp_directory_path() / ("ctsim-bundled-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  for (const auto& t : allBundledTraces()) {
    std::string fresh = (tmp / t.name).string();
    ASSERT_TRUE(writeBundledTrace(t, fresh).ok());
    std::string committed = std::string(CTSIM_SOURCE_DIR) + "/traces/bundled/" + t.name;
    ASSERT_TRUE(std::filesystem::exists(committed)) << committed;
    EXPECT_TRUE(readAll(fresh) == readAll(committed))
        << t.name << " differs from the generator; run make-bundled-traces";
  }
  // workload-small.pcap: the workload generator's output for its fixed configuration.
  std::string fresh = (tmp / "workload-small.pcap").string();
  auto g = generate(workloadSmallConfig(), fresh);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(readAll(fresh) ==
              readAll(std::string(CTSIM_SOURCE_DIR) + "/traces/bundled/workload-small.pcap"))
      << "workload-small.pcap differs from the generator; run make-bundled-traces";
  EXPECT_EQ(g.value().tcp_flows + g.value().udp_flows + g.value().icmp_flows, 300u);
  std::filesystem::remove_all(tmp);
}

// The same seed gives the same frames; another seed gives other ones.
TEST(BundledTracesTest, DeterministicBySeed) {
  auto a = makeMixedSmall(1), b = makeMixedSmall(1), c = makeMixedSmall(2);
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (size_t i = 0; i < a.frames.size(); ++i) {
    EXPECT_EQ(a.frames[i].ts_ns, b.frames[i].ts_ns);
    EXPECT_EQ(a.frames[i].data, b.frames[i].data);
  }
  bool differs = false;
  for (size_t i = 0; i < std::min(a.frames.size(), c.frames.size()); ++i) {
    differs |= a.frames[i].data != c.frames[i].data;
  }
  EXPECT_TRUE(differs);
}

// The mixed trace holds what its description promises, as the parser counts it.
TEST(BundledTracesTest, MixedSmallHasWhatItSays) {
  std::string path = std::string(CTSIM_SOURCE_DIR) + "/traces/bundled/mixed-small.pcap";
  auto st = collectTraceStats(path);
  ASSERT_TRUE(st.ok());
  const TraceStats& s = st.value();
  EXPECT_EQ(s.flows[size_t(L4Family::kTcp)], 12u + 1 + 1 + 1 + 1);  // + v6, vlan, mid, bad.
  EXPECT_EQ(s.flows[size_t(L4Family::kUdp)], 8u + 1 + 1 + 1);       // + ntp, probe, frags.
  EXPECT_EQ(s.flows[size_t(L4Family::kIcmp)], 3u);                  // two pings and the error.
  EXPECT_EQ(s.outcomes[size_t(Outcome::kNotIp)], 2u);
  EXPECT_EQ(s.fragments, 2u);
  EXPECT_EQ(s.l4_csum_bad, 1u);
  EXPECT_GT(s.ipv6, 0u);
  EXPECT_EQ(s.outcomes[size_t(Outcome::kParsed)] + 2, s.records);
}

}  // namespace
}  // namespace ctsim::traces
