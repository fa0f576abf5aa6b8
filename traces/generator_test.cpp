#include "traces/generator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "sim/trace_reader.h"
#include "sim/trace_stats.h"

namespace ctsim::traces {
namespace {

namespace fs = std::filesystem;

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ctsim-gen-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& n) const { return (dir_ / n).string(); }
  static std::vector<char> bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_;
};

// Counts TCP packets carrying the given flag bits (all of them), by parsing the trace.
uint64_t countTcpFlags(const std::string& p, uint8_t flags) {
  auto r = TraceReader::open(p);
  uint64_t n = 0;
  TraceRecord rec;
  while (r.value()->next(rec)) {
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
    if (pi.proto == kProtoTcp && pi.has_l4 && (pi.tcp_flags & flags) == flags) ++n;
  }
  return n;
}

// The same seed writes the same bytes; another seed writes other bytes.
TEST_F(GeneratorTest, DeterministicBySeed) {
  GenConfig c;
  c.flows = 300;
  c.idle_share = 0.1;
  c.churn_share = 0.1;
  c.syn_flood = 20;
  c.port_scan = 20;
  ASSERT_TRUE(generate(c, path("a.pcap")).ok());
  ASSERT_TRUE(generate(c, path("b.pcap")).ok());
  c.seed = 2;
  ASSERT_TRUE(generate(c, path("c.pcap")).ok());
  EXPECT_EQ(bytes(path("a.pcap")), bytes(path("b.pcap")));
  EXPECT_NE(bytes(path("a.pcap")), bytes(path("c.pcap")));
}

// The flows that the parser counts are the flows that were asked for, by protocol, and every
// packet parses with good checksums.
TEST_F(GeneratorTest, FlowsAreWhatWasAsked) {
  GenConfig c;
  c.flows = 2000;
  c.ipv6_share = 0.3;
  c.syn_flood = 50;
  c.port_scan = 40;
  auto s = generate(c, path("g.pcap"));
  ASSERT_TRUE(s.ok()) << s.status().toString();
  const GenSummary& g = s.value();
  EXPECT_EQ(g.tcp_flows + g.udp_flows + g.icmp_flows, 2000u);
  EXPECT_EQ(g.syn_flood_packets, 50u);
  EXPECT_EQ(g.port_scan_probes, 40u);
  EXPECT_NEAR(double(g.ipv6_flows) / 2000, 0.3, 0.05);
  EXPECT_NEAR(double(g.tcp_flows) / 2000, 0.7, 0.05);
  auto st = collectTraceStats(path("g.pcap"));
  ASSERT_TRUE(st.ok());
  const TraceStats& t = st.value();
  EXPECT_EQ(t.records, g.packets);
  EXPECT_EQ(t.outcomes[size_t(Outcome::kParsed)], t.records);
  EXPECT_EQ(t.l4_csum_bad + t.ip_csum_bad, 0u);
  EXPECT_EQ(t.flows[size_t(L4Family::kTcp)], g.tcp_flows + 50 + 40);
  EXPECT_EQ(t.flows[size_t(L4Family::kUdp)], g.udp_flows);
  EXPECT_EQ(t.flows[size_t(L4Family::kIcmp)], g.icmp_flows);
  EXPECT_EQ(t.ts_backwards, 0u);
}

// Teardown styles: all FIN gives a FIN from each side per connection; all RST one RST each.
TEST_F(GeneratorTest, TeardownStyles) {
  GenConfig c;
  c.flows = 200;
  c.tcp_share = 1;
  c.udp_share = c.icmp_share = 0;
  c.fin_share = 1;
  c.rst_share = c.none_share = 0;
  ASSERT_TRUE(generate(c, path("fin.pcap")).ok());
  EXPECT_EQ(countTcpFlags(path("fin.pcap"), kTcpFin), 400u);
  EXPECT_EQ(countTcpFlags(path("fin.pcap"), kTcpRst), 0u);
  EXPECT_EQ(countTcpFlags(path("fin.pcap"), kTcpSyn), 400u);  // SYN and SYN-ACK.
  c.fin_share = 0;
  c.rst_share = 1;
  ASSERT_TRUE(generate(c, path("rst.pcap")).ok());
  EXPECT_EQ(countTcpFlags(path("rst.pcap"), kTcpRst), 200u);
  EXPECT_EQ(countTcpFlags(path("rst.pcap"), kTcpFin), 0u);
}

// Idle flows pause for the idle gap, so the trace outlasts it; churn reuses tuples, so there
// are fewer distinct flows than connections.
TEST_F(GeneratorTest, IdleAndChurn) {
  GenConfig c;
  c.flows = 100;
  c.idle_share = 1;
  c.idle_gap_s = 200;
  auto s = generate(c, path("idle.pcap"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value().idle_flows, 100u);
  EXPECT_GT(s.value().last_ns - s.value().first_ns, int64_t(200) * 1000000000);

  GenConfig k;
  k.flows = 500;
  k.cps = 50;  // connections finish before later ones start, so there are tuples to reuse.
  k.churn_share = 0.5;
  auto ks = generate(k, path("churn.pcap"));
  ASSERT_TRUE(ks.ok());
  EXPECT_GT(ks.value().churned_flows, 100u);
  auto st = collectTraceStats(path("churn.pcap"));
  uint64_t distinct = 0;
  for (uint64_t f : st.value().flows) distinct += f;
  EXPECT_EQ(distinct, 500u - ks.value().churned_flows);
}

// A duration caps arrivals; VLAN tags every frame.
TEST_F(GeneratorTest, DurationAndVlan) {
  GenConfig c;
  c.flows = 100000;
  c.cps = 1000;
  c.duration_s = 0.5;
  c.vlan = 42;
  auto s = generate(c, path("d.pcap"));
  ASSERT_TRUE(s.ok());
  uint64_t conns = s.value().tcp_flows + s.value().udp_flows + s.value().icmp_flows;
  EXPECT_NEAR(double(conns), 500, 100);
  auto r = TraceReader::open(path("d.pcap"));
  TraceRecord rec;
  ASSERT_TRUE(r.value()->next(rec));
  PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
  EXPECT_EQ(pi.vlan_count, 1);
  EXPECT_EQ(pi.vlan_ids[0], 42);
}

// Impossible configurations are refused with a reason.
TEST_F(GeneratorTest, BadConfigsAreRefused) {
  GenConfig c;
  c.cps = 0;
  EXPECT_FALSE(generate(c, path("x.pcap")).ok());
  c = GenConfig();
  c.tcp_share = c.udp_share = c.icmp_share = 0;
  EXPECT_NE(validate(c).message().find("mix"), std::string::npos);
  c = GenConfig();
  c.ipv6_share = 1.5;
  EXPECT_FALSE(validate(c).ok());
  c = GenConfig();
  EXPECT_FALSE(generate(c, "/nonexistent-dir/x.pcap").ok());
}

}  // namespace
}  // namespace ctsim::traces
