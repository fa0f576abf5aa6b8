#include "sim/parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "sim/checksum.h"
#include "sim/packet_builder.h"

namespace ctsim {
namespace {

// Parses a copy of the first `caplen` bytes in a buffer of exactly that size, so that a read
// past the captured length is caught by AddressSanitizer.
PacketInfo parseExact(const std::vector<uint8_t>& frame, uint32_t caplen,
                      uint32_t linktype = kLinkEthernet) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[caplen == 0 ? 1 : caplen]);
  std::copy(frame.begin(), frame.begin() + caplen, copy.get());
  PacketInfo pi = parsePacket(linktype, copy.get(), caplen, uint32_t(frame.size()));
  pi.data = nullptr;  // the copy dies here.
  return pi;
}

PacketInfo parseAll(const std::vector<uint8_t>& frame, uint32_t linktype = kLinkEthernet) {
  return parseExact(frame, uint32_t(frame.size()), linktype);
}

// Every header of a TCP/IPv4 frame with options is read into its fields, checksums good.
TEST(ParserTest, Ipv4TcpWithOptions) {
  auto f = PacketBuilder()
               .ipv4("10.0.0.1", "192.168.1.2")
               .ttl(61)
               .dontFragment()
               .tcp(1234, 80, kTcpSyn | kTcpEce, 1000, 0, 29200)
               .tcpMss(1460)
               .tcpSackPermitted()
               .tcpTimestamps(111, 222)
               .tcpWscale(7)
               .build();
  PacketInfo pi = parseAll(f);
  ASSERT_EQ(pi.outcome, Outcome::kParsed);
  EXPECT_EQ(pi.ethertype, 0x0800);
  EXPECT_EQ(pi.ip_version, 4);
  EXPECT_EQ(pi.proto, kProtoTcp);
  EXPECT_EQ(pi.ttl, 61);
  EXPECT_TRUE(pi.dont_fragment);
  EXPECT_FALSE(pi.is_fragment);
  EXPECT_EQ(pi.src, ipAddr("10.0.0.1"));
  EXPECT_EQ(pi.dst, ipAddr("192.168.1.2"));
  EXPECT_TRUE(pi.has_l4);
  EXPECT_EQ(pi.sport, 1234);
  EXPECT_EQ(pi.dport, 80);
  EXPECT_EQ(pi.tcp_flags, kTcpSyn | kTcpEce);
  EXPECT_EQ(pi.tcp_seq, 1000u);
  EXPECT_EQ(pi.tcp_window, 29200);
  EXPECT_TRUE(pi.tcp_has_mss);
  EXPECT_EQ(pi.tcp_mss, 1460);
  EXPECT_TRUE(pi.tcp_sack_permitted);
  EXPECT_TRUE(pi.tcp_has_timestamps);
  EXPECT_EQ(pi.tcp_tsval, 111u);
  EXPECT_EQ(pi.tcp_tsecr, 222u);
  EXPECT_TRUE(pi.tcp_has_wscale);
  EXPECT_EQ(pi.tcp_wscale, 7);
  EXPECT_FALSE(pi.tcp_opts_bad);
  EXPECT_EQ(pi.payload_len, 0u);
  EXPECT_EQ(pi.ip_csum, ChecksumState::kGood);
  EXPECT_EQ(pi.l4_csum, ChecksumState::kGood);
}

// An option whose length runs past the header stops option parsing without failing the packet.
TEST(ParserTest, TcpBadOptionLengthIsFlagged) {
  auto f = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, kTcpAck).tcpMss(1400).build();
  f[14 + 20 + 21] = 40;  // MSS option length 4 -> 40.
  PacketInfo pi = parseAll(f);
  EXPECT_EQ(pi.outcome, Outcome::kParsed);
  EXPECT_TRUE(pi.tcp_opts_bad);
  EXPECT_FALSE(pi.tcp_has_mss);
}

// One 802.1Q tag and a QinQ pair are looked below; a third tag is not (not IP), as in OVS.
TEST(ParserTest, VlanTags) {
  PacketInfo one = parseAll(PacketBuilder().vlan(100).ipv4("1.1.1.1", "2.2.2.2").udp(5, 6).build());
  ASSERT_EQ(one.outcome, Outcome::kParsed);
  EXPECT_EQ(one.vlan_count, 1);
  EXPECT_EQ(one.vlan_ids[0], 100);
  EXPECT_EQ(one.l3_offset, 18);

  PacketInfo two =
      parseAll(PacketBuilder().vlan(10, 0x88a8).vlan(20).ipv6("::1", "::2").udp(5, 6).build());
  ASSERT_EQ(two.outcome, Outcome::kParsed);
  EXPECT_EQ(two.vlan_count, 2);
  EXPECT_EQ(two.vlan_ids[0], 10);
  EXPECT_EQ(two.vlan_ids[1], 20);
  EXPECT_EQ(two.ip_version, 6);

  PacketInfo three =
      parseAll(PacketBuilder().vlan(1).vlan(2).vlan(3).ipv4("1.1.1.1", "2.2.2.2").build());
  EXPECT_EQ(three.outcome, Outcome::kNotIp);
  EXPECT_EQ(three.vlan_count, 2);
}

// ARP and MPLS frames are "not IP" (OVS does not look below MPLS).
TEST(ParserTest, NonIpFrames) {
  EXPECT_EQ(parseAll(PacketBuilder().nonIp(0x0806).build()).outcome, Outcome::kNotIp);
  PacketInfo mpls = parseAll(PacketBuilder().nonIp(0x8847, 60).build());
  EXPECT_EQ(mpls.outcome, Outcome::kNotIp);
  EXPECT_EQ(mpls.ethertype, 0x8847);
}

// IPv4 options are skipped and counted; fragments report MF, offset and id.
TEST(ParserTest, Ipv4OptionsAndFragments) {
  PacketInfo opts = parseAll(PacketBuilder()
                                 .ipv4("1.1.1.1", "2.2.2.2")
                                 .ipv4Options({0x94, 0x04, 0, 0})  // router alert.
                                 .udp(1, 2)
                                 .payload(10)
                                 .build());
  ASSERT_EQ(opts.outcome, Outcome::kParsed);
  EXPECT_EQ(opts.ipv4_options_len, 4);
  EXPECT_EQ(opts.l4_offset, 14 + 24);
  EXPECT_EQ(opts.payload_len, 10u);

  PacketInfo first = parseAll(PacketBuilder()
                                  .ipv4("1.1.1.1", "2.2.2.2")
                                  .fragment(0, true, 77)
                                  .udp(1, 2)
                                  .payload(1000)
                                  .build());
  ASSERT_EQ(first.outcome, Outcome::kParsed);
  EXPECT_TRUE(first.is_fragment);
  EXPECT_TRUE(first.more_fragments);
  EXPECT_EQ(first.frag_id, 77u);
  EXPECT_TRUE(first.has_l4);
  EXPECT_EQ(first.sport, 1);
  EXPECT_EQ(first.l4_csum, ChecksumState::kUnverifiable);

  PacketInfo later = parseAll(PacketBuilder()
                                  .ipv4("1.1.1.1", "2.2.2.2")
                                  .fragment(1008, false, 77)
                                  .udp(1, 2)
                                  .payload(500)
                                  .build());
  ASSERT_EQ(later.outcome, Outcome::kParsed);
  EXPECT_TRUE(later.is_fragment);
  EXPECT_FALSE(later.more_fragments);
  EXPECT_EQ(later.frag_offset, 1008);
  EXPECT_FALSE(later.has_l4);
  EXPECT_EQ(later.proto, kProtoUdp);
}

// The IPv6 extension chain is walked (hop-by-hop, routing, destination options, AH) to the L4.
TEST(ParserTest, Ipv6ExtensionChain) {
  auto f = PacketBuilder()
               .ipv6("2001:db8::1", "2001:db8::2")
               .ipv6Ext(kProtoHopOpts, 8)
               .ipv6Ext(kProtoRouting, 24)
               .ipv6Ext(kProtoDstOpts, 16)
               .ipv6Ext(kProtoAh, 24)
               .tcp(4000, 443, kTcpAck, 5, 6)
               .payload(33)
               .build();
  PacketInfo pi = parseAll(f);
  ASSERT_EQ(pi.outcome, Outcome::kParsed);
  EXPECT_EQ(pi.ipv6_ext_seen, kExtHopByHop | kExtRouting | kExtDestOpts | kExtAh);
  EXPECT_EQ(pi.proto, kProtoTcp);
  EXPECT_EQ(pi.l4_offset, 14 + 40 + 8 + 24 + 16 + 24);
  EXPECT_EQ(pi.dport, 443);
  EXPECT_EQ(pi.payload_len, 33u);
  EXPECT_EQ(pi.l4_csum, ChecksumState::kGood);
}

// ESP and no-next-header end the chain without an L4 header.
TEST(ParserTest, Ipv6EspAndNoNextEndChain) {
  PacketInfo esp = parseAll(PacketBuilder()
                                .ipv6("::1", "::2")
                                .ipv6Ext(kProtoDstOpts)
                                .ipProto(kProtoEsp)
                                .payload(40)
                                .build());
  ASSERT_EQ(esp.outcome, Outcome::kParsed);
  EXPECT_EQ(esp.proto, kProtoEsp);
  EXPECT_TRUE(esp.ipv6_ext_seen & kExtEsp);
  EXPECT_FALSE(esp.has_l4);
  PacketInfo none = parseAll(PacketBuilder().ipv6("::1", "::2").ipProto(kProtoNoNext).build());
  ASSERT_EQ(none.outcome, Outcome::kParsed);
  EXPECT_TRUE(none.ipv6_ext_seen & kExtNoNext);
}

// IPv6 fragment headers give offset, M flag and id; only the first fragment has ports.
TEST(ParserTest, Ipv6Fragments) {
  PacketInfo first = parseAll(PacketBuilder()
                                  .ipv6("::1", "::2")
                                  .fragment(0, true, 0xdeadbeef)
                                  .udp(53, 53)
                                  .payload(1400)
                                  .build());
  ASSERT_EQ(first.outcome, Outcome::kParsed);
  EXPECT_TRUE(first.is_fragment);
  EXPECT_TRUE(first.more_fragments);
  EXPECT_EQ(first.frag_id, 0xdeadbeefu);
  EXPECT_TRUE(first.has_l4);
  PacketInfo later = parseAll(
      PacketBuilder().ipv6("::1", "::2").fragment(1408, false, 9).udp(53, 53).payload(100).build());
  ASSERT_EQ(later.outcome, Outcome::kParsed);
  EXPECT_EQ(later.frag_offset, 1408);
  EXPECT_FALSE(later.has_l4);
  EXPECT_EQ(later.proto, kProtoUdp);
}

// UDP and SCTP ports, and SCTP's verification tag.
TEST(ParserTest, UdpAndSctp) {
  PacketInfo u =
      parseAll(PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(5353, 53).payload(20).build());
  ASSERT_EQ(u.outcome, Outcome::kParsed);
  EXPECT_EQ(u.sport, 5353);
  EXPECT_EQ(u.payload_len, 20u);
  EXPECT_EQ(u.l4_csum, ChecksumState::kGood);
  PacketInfo s =
      parseAll(PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").sctp(36412, 38412, 0xabcd).build());
  ASSERT_EQ(s.outcome, Outcome::kParsed);
  EXPECT_EQ(s.proto, kProtoSctp);
  EXPECT_EQ(s.dport, 38412);
  EXPECT_EQ(s.sctp_vtag, 0xabcdu);
}

// ICMP and ICMPv6 echo give type, code and id.
TEST(ParserTest, IcmpEcho) {
  PacketInfo v4 = parseAll(
      PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").icmpEcho(true, 0x4242).payload(56).build());
  ASSERT_EQ(v4.outcome, Outcome::kParsed);
  EXPECT_EQ(v4.icmp_type, 8);
  EXPECT_EQ(v4.icmp_id, 0x4242);
  EXPECT_FALSE(v4.icmp_is_error);
  EXPECT_EQ(v4.l4_csum, ChecksumState::kGood);
  PacketInfo v6 = parseAll(PacketBuilder().ipv6("::1", "::2").icmpEcho(false, 7).build());
  ASSERT_EQ(v6.outcome, Outcome::kParsed);
  EXPECT_EQ(v6.proto, kProtoIcmpv6);
  EXPECT_EQ(v6.icmp_type, 129);
  EXPECT_EQ(v6.icmp_id, 7);
  EXPECT_EQ(v6.l4_csum, ChecksumState::kGood);
}

// ICMP errors yield the quoted inner tuple (TCP inside ICMPv4, UDP inside ICMPv6).
TEST(ParserTest, IcmpErrorInnerTuple) {
  auto inner = PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").tcp(80, 1234, kTcpAck).buildIp();
  inner.resize(28);
  PacketInfo v4 =
      parseAll(PacketBuilder().ipv4("10.0.0.9", "10.0.0.2").icmpError(3, 3, inner).build());
  ASSERT_EQ(v4.outcome, Outcome::kParsed);
  EXPECT_TRUE(v4.icmp_is_error);
  EXPECT_EQ(v4.inner.ip_version, 4);
  EXPECT_EQ(v4.inner.proto, kProtoTcp);
  EXPECT_EQ(v4.inner.src, ipAddr("10.0.0.2"));
  EXPECT_EQ(v4.inner.dst, ipAddr("10.0.0.1"));
  EXPECT_EQ(v4.inner.sport, 80);
  EXPECT_EQ(v4.inner.dport, 1234);

  auto inner6 =
      PacketBuilder().ipv6("::2", "::1").ipv6Ext(kProtoDstOpts).udp(53, 999).payload(10).buildIp();
  PacketInfo v6 = parseAll(PacketBuilder().ipv6("::9", "::2").icmpError(1, 4, inner6).build());
  ASSERT_EQ(v6.outcome, Outcome::kParsed);
  EXPECT_EQ(v6.inner.proto, kProtoUdp);
  EXPECT_EQ(v6.inner.dport, 999);
  EXPECT_EQ(v6.l4_csum, ChecksumState::kGood);
}

// A quote too short for an IP header and 8 bytes of L4 is malformed.
TEST(ParserTest, IcmpErrorShortQuoteIsMalformed) {
  auto inner = PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").udp(1, 2).buildIp();
  inner.resize(24);
  PacketInfo pi =
      parseAll(PacketBuilder().ipv4("10.0.0.9", "10.0.0.2").icmpError(11, 0, inner).build());
  EXPECT_EQ(pi.outcome, Outcome::kMalformed);
  EXPECT_EQ(pi.malformation, Malformation::kIcmpInner);
}

// Bad IPv4 header and L4 checksums are reported per packet; verification can be switched off.
TEST(ParserTest, BadChecksums) {
  auto ip = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").badIpChecksum().udp(1, 2).build();
  EXPECT_EQ(parseAll(ip).ip_csum, ChecksumState::kBad);
  EXPECT_EQ(parseAll(ip).l4_csum, ChecksumState::kGood);
  auto tcp = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, kTcpAck).badL4Checksum().build();
  EXPECT_EQ(parseAll(tcp).l4_csum, ChecksumState::kBad);
  auto udp = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).badL4Checksum().build();
  EXPECT_EQ(parseAll(udp).l4_csum, ChecksumState::kBad);
  auto icmp = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").icmpEcho(true, 1).badL4Checksum().build();
  EXPECT_EQ(parseAll(icmp).l4_csum, ChecksumState::kBad);
  auto icmp6 = PacketBuilder().ipv6("::1", "::2").icmpEcho(true, 1).badL4Checksum().build();
  EXPECT_EQ(parseAll(icmp6).l4_csum, ChecksumState::kBad);
  auto udp0 = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build();
  udp0[14 + 20 + 6] = udp0[14 + 20 + 7] = 0;  // IPv4 UDP without checksum.
  EXPECT_EQ(parseAll(udp0).l4_csum, ChecksumState::kNotChecked);
  auto bad = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").badIpChecksum().build();
  PacketInfo off = parsePacket(kLinkEthernet, bad.data(), uint32_t(bad.size()),
                               uint32_t(bad.size()), ParseOptions{.verify_checksums = false});
  EXPECT_EQ(off.ip_csum, ChecksumState::kNotChecked);
}

// Ethernet padding after the IP datagram is ignored.
TEST(ParserTest, EthernetPaddingIgnored) {
  auto f = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, kTcpAck).build();
  f.resize(f.size() + 6, 0);
  PacketInfo pi = parseAll(f);
  EXPECT_EQ(pi.outcome, Outcome::kParsed);
  EXPECT_EQ(pi.l4_csum, ChecksumState::kGood);
  EXPECT_EQ(pi.ip_len, 40u);
}

// Headers that contradict themselves or the frame are malformed, with the reason.
TEST(ParserTest, MalformedHeaders) {
  auto base = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, kTcpAck).build();
  auto ihl = base;
  ihl[14] = 0x44;
  EXPECT_EQ(parseAll(ihl).malformation, Malformation::kIpv4HeaderLength);
  auto tot = base;
  tot[14 + 2] = 0x05;  // total length 1280+ > frame.
  EXPECT_EQ(parseAll(tot).malformation, Malformation::kIpv4TotalLength);
  auto version = base;
  version[14] = 0x65;
  EXPECT_EQ(parseAll(version).malformation, Malformation::kIpVersion);
  auto doff = base;
  doff[14 + 20 + 12] = 0x40;
  EXPECT_EQ(parseAll(doff).malformation, Malformation::kTcpDataOffset);
  auto big_doff = base;
  big_doff[14 + 20 + 12] = 0xf0;
  EXPECT_EQ(parseAll(big_doff).malformation, Malformation::kTcpDataOffset);
  auto udp = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build();
  udp[14 + 20 + 5] = 4;
  EXPECT_EQ(parseAll(udp).malformation, Malformation::kUdpLength);
  auto short_l4 = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).payload(2).build();
  short_l4[14 + 9] = kProtoTcp;  // 10 bytes of IP payload announced as TCP.
  EXPECT_EQ(parseAll(short_l4).malformation, Malformation::kL4TooShort);
  auto v6 = PacketBuilder().ipv6("::1", "::2").udp(1, 2).build();
  v6[14 + 4] = 0x10;
  EXPECT_EQ(parseAll(v6).malformation, Malformation::kIpv6PayloadLength);
  auto chain = PacketBuilder().ipv6("::1", "::2").ipv6Ext(kProtoHopOpts).udp(1, 2).build();
  chain[14 + 40 + 1] = 30;  // hop-by-hop header runs past the datagram.
  EXPECT_EQ(parseAll(chain).malformation, Malformation::kIpv6ExtChain);
}

// Each supported link type is read; an unknown one is "unsupported link" and names its number.
TEST(ParserTest, LinkTypes) {
  for (uint32_t lt : {kLinkEthernet, kLinkLinuxSll, kLinkLinuxSll2, kLinkNull, kLinkLoop, kLinkPpp,
                      kLinkRaw, kLinkIpv4}) {
    auto f = PacketBuilder().link(lt).ipv4("1.1.1.1", "2.2.2.2").udp(7, 8).build();
    PacketInfo pi = parseAll(f, lt);
    EXPECT_EQ(pi.outcome, Outcome::kParsed) << linkTypeName(lt);
    EXPECT_EQ(pi.dport, 8) << linkTypeName(lt);
  }
  for (uint32_t lt : {kLinkEthernet, kLinkLinuxSll, kLinkLinuxSll2, kLinkNull, kLinkLoop, kLinkPpp,
                      kLinkRaw, kLinkIpv6}) {
    auto f = PacketBuilder().link(lt).ipv6("::1", "::2").udp(7, 8).build();
    PacketInfo pi = parseAll(f, lt);
    EXPECT_EQ(pi.outcome, Outcome::kParsed) << linkTypeName(lt);
    EXPECT_EQ(pi.ip_version, 6) << linkTypeName(lt);
  }
  auto f = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").build();
  PacketInfo pi = parseAll(f, 105);
  EXPECT_EQ(pi.outcome, Outcome::kUnsupportedLink);
  EXPECT_EQ(linkTypeName(105), "DLT_105");
  EXPECT_FALSE(isSupportedLinkType(105));
  auto ipv6_on_v4_link = PacketBuilder().link(kLinkIpv4).ipv6("::1", "::2").build();
  EXPECT_EQ(parseAll(ipv6_on_v4_link, kLinkIpv4).malformation, Malformation::kIpVersion);
}

// A frame and the layer each of its byte ranges belongs to: [boundary_i, boundary_i+1) is
// layers_i. A capture that stops inside that range must be truncated in that layer.
struct LayerMap {
  const char* name;
  std::vector<uint8_t> frame;
  std::vector<std::pair<uint32_t, Layer>> starts;  // (first byte, layer), ascending.
  uint32_t linktype = kLinkEthernet;
};

std::vector<LayerMap> layerMaps() {
  std::vector<LayerMap> maps;
  maps.push_back({"vlan-ipv4opts-tcpopts",
                  PacketBuilder()
                      .vlan(5)
                      .ipv4("1.2.3.4", "5.6.7.8")
                      .ipv4Options({1, 1, 1, 1})
                      .tcp(1, 2, kTcpSyn)
                      .tcpMss(1460)
                      .tcpWscale(2)
                      .payload(10)
                      .build(),
                  {{0, Layer::kLink},
                   {14, Layer::kVlan},
                   {18, Layer::kIpv4},
                   {42, Layer::kTcp},
                   {70, Layer::kPayload}}});
  maps.push_back({"qinq-ipv6ext-udp",
                  PacketBuilder()
                      .vlan(1, 0x88a8)
                      .vlan(2)
                      .ipv6("::1", "::2")
                      .ipv6Ext(kProtoHopOpts, 8)
                      .ipv6Ext(kProtoFragment, 8)
                      .udp(1, 2)
                      .payload(7)
                      .build(),
                  {{0, Layer::kLink},
                   {14, Layer::kVlan},
                   {22, Layer::kIpv6},
                   {62, Layer::kIpv6Ext},
                   {78, Layer::kUdp},
                   {86, Layer::kPayload}}});
  auto quoted = PacketBuilder().ipv4("9.9.9.9", "8.8.8.8").udp(53, 1000).payload(20).buildIp();
  maps.push_back({"icmp-error",
                  PacketBuilder().ipv4("1.1.1.1", "9.9.9.9").icmpError(3, 1, quoted).build(),
                  {{0, Layer::kLink},
                   {14, Layer::kIpv4},
                   {34, Layer::kIcmp},
                   {42, Layer::kIcmpInner},
                   {70, Layer::kPayload}}});
  maps.push_back(
      {"sll2-sctp",
       PacketBuilder()
           .link(kLinkLinuxSll2)
           .ipv4("1.1.1.1", "2.2.2.2")
           .sctp(1, 2, 3)
           .payload(4)
           .build(),
       {{0, Layer::kLink}, {20, Layer::kIpv4}, {40, Layer::kSctp}, {52, Layer::kPayload}},
       kLinkLinuxSll2});
  maps.push_back(
      {"raw-icmpv6-echo",
       PacketBuilder().link(kLinkRaw).ipv6("::1", "::2").icmpEcho(true, 3).payload(8).build(),
       {{0, Layer::kLink}, {1, Layer::kIpv6}, {40, Layer::kIcmp}, {48, Layer::kPayload}},
       kLinkRaw});
  return maps;
}

// Every prefix of a valid frame parses to "truncated" at the right layer, and never reads past
// the captured length (the buffer is exactly that long; ASan checks the reads).
TEST(ParserTest, EveryTruncationPointNamesItsLayer) {
  for (const LayerMap& m : layerMaps()) {
    uint32_t full = uint32_t(m.frame.size());
    ASSERT_EQ(parseAll(m.frame, m.linktype).outcome, Outcome::kParsed) << m.name;
    for (uint32_t len = 0; len < full; ++len) {
      Layer want = Layer::kNone;
      for (auto [start, layer] : m.starts) {
        if (len >= start) want = layer;
      }
      PacketInfo pi = parseExact(m.frame, len, m.linktype);
      EXPECT_EQ(pi.outcome, Outcome::kTruncated) << m.name << " caplen " << len;
      EXPECT_EQ(pi.truncated_at, want)
          << m.name << " caplen " << len << ": got " << layerName(pi.truncated_at) << ", want "
          << layerName(want);
    }
  }
}

}  // namespace
}  // namespace ctsim
