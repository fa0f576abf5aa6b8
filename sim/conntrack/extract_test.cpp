// Unit tests of what conntrack sees of a frame: link layer, validation, keys and ct_state text.
#include "sim/conntrack/extract.h"

#include <gtest/gtest.h>

#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/test_util.h"
#include "sim/packet_builder.h"

namespace ctsim::ct {
namespace {

using testing::run;

// The text form is OVS's: bits in order joined by '|', "0" for none.
TEST(CtStateFormat, OvsText) {
  EXPECT_EQ(formatCtState(0), "0");
  EXPECT_EQ(formatCtState(kCsNew | kCsTracked), "new|trk");
  EXPECT_EQ(formatCtState(kCsEstablished | kCsReply | kCsTracked), "est|rpl|trk");
  EXPECT_EQ(formatCtState(kCsRelated | kCsReply | kCsTracked), "rel|rpl|trk");
  EXPECT_EQ(formatCtState(0xff), "new|est|rel|rpl|inv|trk|snat|dnat");
}

// A key and its reverse hash alike; reversing twice gives the key back.
TEST(ConnKeyTest, ReverseAndHash) {
  CtPacket p;
  auto f = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").icmpEcho(true, 3).buildIp();
  ASSERT_TRUE(extractCtPacket(4, f.data(), uint32_t(f.size()), 0, &p));
  ConnKey r = reverseKey(p.key);
  EXPECT_EQ(r.icmp.type, 0);
  EXPECT_EQ(keyHash(r), keyHash(p.key));
  EXPECT_TRUE(keyEqual(reverseKey(r), p.key));
  EXPECT_EQ(formatKey(p.key), "icmp 10.0.0.1 -> 10.0.0.2 id=3 type=8 code=0 zone=0");
}

// Non-IP frames, MPLS and runts are invalid.
TEST(ExtractTest, NonIpIsInvalid) {
  Conntrack ct;
  EXPECT_EQ(run(ct, PacketBuilder().nonIp(0x0806).build()), "inv|trk");
  EXPECT_EQ(run(ct, PacketBuilder().nonIp(0x8847, 60).build()), "inv|trk");
  std::vector<uint8_t> runt(10, 0);
  EXPECT_EQ(run(ct, runt), "inv|trk");
}

// One or two VLAN tags are looked below; a third is not.
TEST(ExtractTest, VlanTags) {
  Conntrack ct;
  EXPECT_EQ(run(ct, PacketBuilder().vlan(10).ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build()),
            "new|trk");
  EXPECT_EQ(
      run(ct,
          PacketBuilder().vlan(10, 0x88a8).vlan(20).ipv4("1.1.1.1", "2.2.2.3").udp(1, 2).build()),
      "new|trk");
  EXPECT_EQ(
      run(ct, PacketBuilder().vlan(1).vlan(2).vlan(3).ipv4("1.1.1.1", "2.2.2.4").udp(1, 2).build()),
      "inv|trk");
}

// A capture shorter than the IP datagram is invalid; Ethernet padding after it is ignored.
TEST(ExtractTest, TruncationAndPadding) {
  Conntrack ct;
  auto f = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).payload(100).build();
  EXPECT_EQ(formatCtState(ct.execute(kLinkEthernet, f.data(), uint32_t(f.size() - 10), 0, 0).state),
            "inv|trk");
  auto g = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, kTcpSyn, 1, 0).build();
  g.resize(g.size() + 6, 0);
  EXPECT_EQ(run(ct, g), "new|trk");
}

// Bad TCP and ICMP checksums are invalid; a TCP port of 0 is invalid.
TEST(ExtractTest, Checksums) {
  Conntrack ct;
  EXPECT_EQ(run(ct, PacketBuilder()
                        .ipv4("1.1.1.1", "2.2.2.2")
                        .tcp(1, 2, kTcpSyn, 1, 0)
                        .badL4Checksum()
                        .build()),
            "inv|trk");
  EXPECT_EQ(
      run(ct, PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").icmpEcho(true, 1).badL4Checksum().build()),
      "inv|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").tcp(0, 2, kTcpSyn, 1, 0).build()),
            "inv|trk");
}

// Other link types: raw IP and Linux SLL carry the same packet to the same state.
TEST(ExtractTest, OtherLinkTypes) {
  Conntrack ct;
  auto raw = PacketBuilder().link(kLinkRaw).ipv4("1.1.1.1", "2.2.2.2").udp(7, 8).build();
  auto sll = PacketBuilder().link(kLinkLinuxSll).ipv4("2.2.2.2", "1.1.1.1").udp(8, 7).build();
  EXPECT_EQ(formatCtState(ct.execute(kLinkRaw, raw.data(), uint32_t(raw.size()), 0, 0).state),
            "new|trk");
  EXPECT_EQ(formatCtState(ct.execute(kLinkLinuxSll, sll.data(), uint32_t(sll.size()), 0, 0).state),
            "est|rpl|trk");
}

}  // namespace
}  // namespace ctsim::ct
