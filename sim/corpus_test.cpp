// Reads every capture of the shared corpus and checks the reader and parser against the manifest.
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <set>

#include "sim/testing/corpus.h"
#include "sim/trace_stats.h"

namespace ctsim {
namespace {

// Files that the corpus README names as unreadable past a point, with what libpcap says there.
const std::map<std::string, std::string> kDamaged = {
    {"suricata-verify__fuzz.pcap", "invalid packet capture length"},
    {"ndpi__fuzz-2021-10-13.pcap", "truncated dump file"}};

// Every corpus file: record count equals the manifest's, outcome counts sum to it, and only the
// files known to be damaged stop early (with libpcap's reason kept).
TEST(CorpusTest, RecordCountsMatchManifestAndOutcomesSum) {
  if (!testing::corpusPresent()) GTEST_SKIP() << testing::corpusMissingMessage();
  auto rows = testing::readManifest();
  ASSERT_GT(rows.size(), 50u);
  for (const auto& row : rows) {
    const std::string& file = row.at("file");
    auto st = collectTraceStats((testing::corpusDir() / "public" / file).string());
    ASSERT_TRUE(st.ok()) << file << ": " << st.status().toString();
    const TraceStats& s = st.value();
    uint64_t manifest_packets = std::stoull(row.at("packets"));
    uint64_t sum = std::accumulate(s.outcomes.begin(), s.outcomes.end(), uint64_t(0));
    EXPECT_EQ(sum, s.records) << file;
    EXPECT_EQ(std::accumulate(s.truncated_at.begin(), s.truncated_at.end(), uint64_t(0)),
              s.outcomes[size_t(Outcome::kTruncated)])
        << file;
    EXPECT_EQ(std::accumulate(s.malformed_why.begin(), s.malformed_why.end(), uint64_t(0)),
              s.outcomes[size_t(Outcome::kMalformed)])
        << file;
    if (auto it = kDamaged.find(file); it != kDamaged.end()) {
      // libpcap stops where the damage starts; the manifest may count one record further.
      EXPECT_LE(s.records, manifest_packets) << file;
      EXPECT_GE(s.records, 1u) << file;
      EXPECT_TRUE(s.end.error) << file;
      EXPECT_NE(s.end.reason.find(it->second), std::string::npos) << file << ": " << s.end.reason;
      EXPECT_EQ(s.end.at_record, s.records + 1) << file;
      EXPECT_FALSE(s.end.reason.empty()) << file;
    } else {
      EXPECT_EQ(s.records, manifest_packets) << file;
      EXPECT_FALSE(s.end.error) << file << ": " << s.end.reason;
    }
    // Flows agree with tshark's conversation counts, except where the manifest counts what ctsim
    // deliberately does not look into: tunnels (inner flows), MPLS, and garbage fragments.
    static const std::set<std::string> kCategoriesCountedInside = {
        "ip_in_ip_tunnel", "gre", "geneve", "gtp", "vxlan", "mpls", "link_ppp", "ipv4_fragments"};
    static const std::set<std::string> kFragmentedTcp = {"ndpi__reasm_segv_anon.pcapng"};
    if (!kCategoriesCountedInside.count(row.at("category")) && !kFragmentedTcp.count(file)) {
      EXPECT_EQ(s.flows[size_t(L4Family::kTcp)], std::stoull(row.at("tcp_flows"))) << file;
      EXPECT_EQ(s.flows[size_t(L4Family::kUdp)], std::stoull(row.at("udp_flows"))) << file;
    }
    std::string fmt = row.at("format");
    EXPECT_EQ(captureFormatName(s.format), fmt) << file;
  }
}

}  // namespace
}  // namespace ctsim
