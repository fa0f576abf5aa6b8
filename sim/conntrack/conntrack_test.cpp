// Unit tests of the engine, one rule each: TCP, UDP/other, ICMP, limits, timeouts, expiry,
// sweeps, flushes and the offload hook call sites.
#include "sim/conntrack/conntrack.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "sim/conntrack/test_util.h"
#include "sim/packet_builder.h"

namespace ctsim::ct {
namespace {

using testing::run;
using testing::tcp;
using testing::udp;

constexpr uint32_t kCli = 1000;  // client ISN.
constexpr uint32_t kSrv = 5000;  // server ISN.

// Plays SYN, SYN|ACK, ACK; returns the three states.
std::vector<std::string> handshake(Conntrack& ct, int64_t now = 1000) {
  return {run(ct, tcp(true, kTcpSyn, kCli, 0), now),
          run(ct, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1), now),
          run(ct, tcp(true, kTcpAck, kCli + 1, kSrv + 1), now)};
}

// A handshake is new, then est|rpl, then est.
TEST(ConntrackTcp, HandshakeStates) {
  Conntrack ct;
  EXPECT_EQ(handshake(ct), (std::vector<std::string>{"new|trk", "est|rpl|trk", "est|trk"}));
  EXPECT_EQ(ct.connCount(), 1u);
}

// A SYN+ACK may not start a connection.
TEST(ConntrackTcp, SynAckCannotStart) {
  Conntrack ct;
  EXPECT_EQ(run(ct, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1)), "inv|trk");
  EXPECT_EQ(ct.connCount(), 0u);
}

// pf's invalid flag combinations are invalid, whether new or on a connection.
TEST(ConntrackTcp, InvalidFlags) {
  Conntrack ct;
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn | kTcpFin, kCli, 0)), "inv|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn | kTcpRst, kCli, 0)), "inv|trk");
  EXPECT_EQ(run(ct, tcp(true, 0, kCli, 0)), "inv|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpFin, kCli, 0)), "inv|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpPsh | kTcpRst, kCli, 0)), "inv|trk");
  handshake(ct);
  EXPECT_EQ(run(ct, tcp(true, kTcpFin, kCli + 1, 0)), "inv|trk");
}

// Strict (facts §5.5): the responder's RST to a SYN counts only when it acknowledges the SYN
// (ack = ISN + 1); an RST acking the ISN itself, or without ACK, is invalid.
TEST(ConntrackTcp, StrictResponderRstMustAckTheSyn) {
  for (uint32_t ack : {kCli, kCli + 2, kCli + 1}) {
    ConntrackConfig cfg;
    cfg.strict.validate_responder_rst = true;
    Conntrack ct(cfg);
    EXPECT_EQ(run(ct, tcp(true, kTcpSyn, kCli, 0)), "new|trk");
    EXPECT_EQ(run(ct, tcp(false, kTcpRst | kTcpAck, 0, ack)),
              ack == kCli + 1 ? "est|rpl|trk" : "inv|trk")
        << "ack " << ack;
  }
  ConntrackConfig cfg;
  cfg.strict.validate_responder_rst = true;
  Conntrack ct(cfg);
  run(ct, tcp(true, kTcpSyn, kCli, 0));
  EXPECT_EQ(run(ct, tcp(false, kTcpRst, kCli + 1, 0)), "inv|trk");
}

// Each inv packet carries the reason the reports count it under.
TEST(ConntrackInvalid, ReasonsAreReported) {
  Conntrack ct;
  auto reason = [&](const std::vector<uint8_t>& frame) {
    Verdict v = ct.execute(kLinkEthernet, frame.data(), uint32_t(frame.size()), 1000, 0, true,
                           PacketMeta{});
    EXPECT_TRUE(v.state & kCsInvalid);
    return std::string(invalidReasonName(v.invalid));
  };
  EXPECT_EQ(reason(PacketBuilder().nonIp(0x0806).build()), "not_ip");
  EXPECT_EQ(reason(PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).badL4Checksum().build()),
            "header_or_checksum");
  EXPECT_EQ(reason(tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1)), "cannot_start");
  handshake(ct);
  EXPECT_EQ(reason(tcp(true, kTcpFin, kCli + 1, 0)), "l4_state");
  auto quoted = PacketBuilder().ipv4("10.9.9.9", "10.8.8.8").udp(7, 9).buildIp();
  quoted.resize(28);
  EXPECT_EQ(reason(PacketBuilder().ipv4("10.8.8.8", "10.9.9.9").icmpError(3, 3, quoted).build()),
            "icmp_error_unmatched");
  auto small = PacketBuilder()
                   .ipv4("10.0.0.1", "10.0.0.2")
                   .fragment(0, true, 1)
                   .udp(1, 2)
                   .payload(100)
                   .build();
  EXPECT_EQ(reason(small), "fragment");
}

// A bare ACK picks up an established stream (liberal window on both sides).
TEST(ConntrackTcp, MidStreamPickup) {
  Conntrack ct;
  EXPECT_EQ(run(ct, tcp(true, kTcpAck, 123456, 987654, 100)), "new|trk");
  EXPECT_EQ(run(ct, tcp(false, kTcpAck, 987654, 123556, 100)), "est|rpl|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpAck | kTcpPsh, 123556, 987754, 100)), "est|trk");
}

// A retransmitted SYN is still new.
TEST(ConntrackTcp, SynRetransmissionStaysNew) {
  Conntrack ct;
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn, kCli, 0)), "new|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn, kCli, 0)), "new|trk");
  EXPECT_EQ(ct.connCount(), 1u);
}

// Data far beyond the receiver's window is invalid; with sequence checks off it is accepted.
TEST(ConntrackTcp, OutOfWindowAndSeqCheckSwitch) {
  for (bool check : {true, false}) {
    Conntrack ct;
    ct.setTcpSeqCheck(check);
    handshake(ct);
    EXPECT_EQ(run(ct, tcp(true, kTcpAck, kCli + 1 + 10000000, kSrv + 1, 100)),
              check ? "inv|trk" : "est|trk");
  }
}

// A RST is accepted only at (or one off) the expected sequence number.
TEST(ConntrackTcp, RstNeedsExactSequence) {
  Conntrack ct;
  handshake(ct);
  EXPECT_EQ(run(ct, tcp(false, kTcpRst | kTcpAck, kSrv + 1 + 1000, kCli + 1)), "inv|trk");
  EXPECT_EQ(run(ct, tcp(false, kTcpRst | kTcpAck, kSrv + 1, kCli + 1)), "est|rpl|trk");
}

// The responder's RST to a SYN is accepted as est|rpl whatever its numbers (OVS, facts §5.5);
// the strict fix requires it to acknowledge the SYN.
TEST(ConntrackTcp, ResponderRstToSyn) {
  {
    Conntrack ct;
    run(ct, tcp(true, kTcpSyn, kCli, 0));
    EXPECT_EQ(run(ct, tcp(false, kTcpRst | kTcpAck, 777, 12345)), "est|rpl|trk");
  }
  ConntrackConfig strict;
  strict.strict.validate_responder_rst = true;
  {
    Conntrack ct(strict);
    run(ct, tcp(true, kTcpSyn, kCli, 0));
    EXPECT_EQ(run(ct, tcp(false, kTcpRst | kTcpAck, 777, 12345)), "inv|trk");
    EXPECT_EQ(run(ct, tcp(false, kTcpRst | kTcpAck, 0, kCli + 1)), "est|rpl|trk");
  }
}

// A SYN after both sides closed recreates the connection; the old one stays until swept.
TEST(ConntrackTcp, PortReuseAfterClose) {
  Conntrack ct;
  handshake(ct);
  EXPECT_EQ(run(ct, tcp(true, kTcpFin | kTcpAck, kCli + 1, kSrv + 1)), "est|trk");
  EXPECT_EQ(run(ct, tcp(false, kTcpFin | kTcpAck, kSrv + 1, kCli + 2)), "est|rpl|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpAck, kCli + 2, kSrv + 2)), "est|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn, kCli + 100000, 0)), "new|trk");
  EXPECT_EQ(ct.stats().port_reuse, 1u);
  EXPECT_EQ(ct.connCount(), 2u);
  EXPECT_EQ(ct.sweep(1000), 1u);
  EXPECT_EQ(ct.connCount(), 1u);
}

// The timer follows the TCP state: 30 s while opening, 24 h once established.
TEST(ConntrackTcp, TimerSelection) {
  Conntrack ct;
  run(ct, tcp(true, kTcpSyn, kCli, 0), 0);
  EXPECT_EQ(run(ct, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1), 30000), "inv|trk");
  Conntrack ct2;
  handshake(ct2, 0);
  ConnKey k = ct2.connections()[0]->key();
  EXPECT_EQ(ct2.connections()[0]->timer(), Timeout::kTcpEstablished);
  EXPECT_NE(ct2.lookup(k, 86399999), nullptr);
  EXPECT_EQ(ct2.lookup(k, 86400000), nullptr);
}

// UDP: new until a reply, then established.
TEST(ConntrackUdp, FirstMultipleBidir) {
  Conntrack ct;
  EXPECT_EQ(run(ct, udp(true)), "new|trk");
  EXPECT_EQ(run(ct, udp(true)), "new|trk");
  EXPECT_EQ(run(ct, udp(false)), "est|rpl|trk");
  EXPECT_EQ(run(ct, udp(true)), "est|trk");
  EXPECT_EQ(ct.connections()[0]->ext.state, CTSIM_CS_OTHER_BIDIR);
}

// Expired connections are ignored by lookups: the next packet starts a new one.
TEST(ConntrackUdp, ExpiryOnLookup) {
  Conntrack ct;
  run(ct, udp(true), 0);
  EXPECT_EQ(run(ct, udp(false), 59999), "est|rpl|trk");     // first timer: 60 s.
  EXPECT_EQ(run(ct, udp(true), 59999 + 29999), "est|trk");  // bidir timer: 30 s.
  EXPECT_EQ(run(ct, udp(true), 59999 + 29999 + 30000), "new|trk");
  EXPECT_EQ(ct.connCount(), 2u);  // the expired one waits for the sweep.
}

// A zone's timeout policy overrides the default.
TEST(ConntrackUdp, ZoneTimeoutPolicy) {
  Conntrack ct;
  TimeoutPolicy p = TimeoutPolicy::defaults();
  p.set(Timeout::kUdpFirst, 5);
  ct.setZoneTimeoutPolicy(7, p);
  run(ct, udp(true), 0, 7);
  EXPECT_EQ(run(ct, udp(true), 5000, 7), "new|trk");
  EXPECT_EQ(ct.zoneConnCount(7), 2u);
  run(ct, udp(true), 0, 0);
  EXPECT_EQ(run(ct, udp(false), 5000, 0), "est|rpl|trk");
}

// Port 0 and bad checksums are invalid; a zero UDP checksum over IPv4 is fine.
TEST(ConntrackUdp, Validation) {
  Conntrack ct;
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(0, 53).build()), "inv|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 53).badL4Checksum().build()),
            "inv|trk");
  auto f = PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").udp(1, 53).payload(8).build();
  f[14 + 20 + 6] = f[14 + 20 + 7] = 0;
  EXPECT_EQ(run(ct, f), "new|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").badIpChecksum().udp(1, 53).build()),
            "inv|trk");
}

// Other IP protocols (GRE here) are tracked by addresses and protocol.
TEST(ConntrackOther, GreByAddresses) {
  Conntrack ct;
  EXPECT_EQ(
      run(ct, PacketBuilder().ipv4("1.1.1.1", "2.2.2.2").ipProto(kProtoGre).payload(8).build()),
      "new|trk");
  EXPECT_EQ(
      run(ct, PacketBuilder().ipv4("2.2.2.2", "1.1.1.1").ipProto(kProtoGre).payload(8).build()),
      "est|rpl|trk");
}

// ICMP echo: request new, reply est|rpl; a reply alone cannot start.
TEST(ConntrackIcmp, EchoRequestReply) {
  Conntrack ct;
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpEcho(false, 7).build()),
            "inv|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").icmpEcho(true, 7).build()),
            "new|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpEcho(false, 7).build()),
            "est|rpl|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpEcho(false, 8).build()),
            "inv|trk");
}

// ICMPv6 echo works the same; neighbour discovery is not tracked.
TEST(ConntrackIcmp, Icmpv6) {
  Conntrack ct;
  EXPECT_EQ(run(ct, PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").icmpEcho(true, 9).build()),
            "new|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv6("2001:db8::2", "2001:db8::1").icmpEcho(false, 9).build()),
            "est|rpl|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv6("2001:db8::2", "2001:db8::1").icmp(135, 0).build()),
            "inv|trk");
}

// ICMP errors are related through their quoted tuple: rpl in the reply direction, not in the
// original one; an error about an unknown flow is invalid and creates nothing.
TEST(ConntrackIcmp, ErrorsAreRelated) {
  Conntrack ct;
  auto quoted_req =
      PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(5000, 53).payload(20).buildIp();
  auto quoted_rsp =
      PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").udp(53, 5000).payload(20).buildIp();
  auto unknown = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(5001, 53).payload(20).buildIp();
  EXPECT_EQ(
      run(ct, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpError(3, 3, quoted_req).build()),
      "inv|trk");
  run(ct, udp(true));
  EXPECT_EQ(
      run(ct, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpError(3, 3, quoted_req).build()),
      "rel|rpl|trk");
  EXPECT_EQ(
      run(ct, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").icmpError(3, 3, quoted_rsp).build()),
      "rel|trk");
  EXPECT_EQ(run(ct, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpError(3, 3, unknown).build()),
            "inv|trk");
  EXPECT_EQ(ct.connCount(), 1u);
  EXPECT_EQ(run(ct, udp(true)), "new|trk");  // related packets do not change the connection.
}

// Over the global limit a packet is still new but nothing is stored.
TEST(ConntrackLimits, GlobalLimit) {
  ConntrackConfig cfg;
  cfg.conn_limit = 1;
  Conntrack ct(cfg);
  EXPECT_EQ(run(ct, udp(true)), "new|trk");
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn, kCli, 0)), "new|trk");
  EXPECT_EQ(ct.connCount(), 1u);
  EXPECT_EQ(ct.stats().limit_drops, 1u);
}

// An explicit zone limit of 0 blocks the zone; a default limit of 0 means unlimited.
TEST(ConntrackLimits, ZoneLimits) {
  Conntrack ct;
  ct.setDefaultZoneLimit(0);
  ct.setZoneLimit(5, 0);
  EXPECT_EQ(run(ct, udp(true), 1000, 5), "new|trk");
  EXPECT_EQ(run(ct, udp(false), 1000, 5), "new|trk");
  EXPECT_EQ(ct.zoneConnCount(5), 0u);
  EXPECT_EQ(run(ct, udp(true), 1000, 6), "new|trk");
  EXPECT_EQ(ct.zoneConnCount(6), 1u);
  ct.setDefaultZoneLimit(1);
  EXPECT_EQ(run(ct, tcp(true, kTcpSyn, kCli, 0), 1000, 6), "new|trk");
  EXPECT_EQ(ct.zoneConnCount(6), 1u);
  ct.setZoneLimit(6, 2);
  run(ct, tcp(true, kTcpSyn, kCli, 0), 1000, 6);
  EXPECT_EQ(ct.zoneConnCount(6), 2u);
}

// A sweep removes expired connections, visiting at most limit/64 (whole lists at a time).
TEST(ConntrackSweep, RemovesExpiredWithBound) {
  ConntrackConfig cfg;
  cfg.conn_limit = 128;  // bound: 2 connections a pass.
  Conntrack ct(cfg);
  for (uint16_t i = 1; i <= 10; ++i) {
    run(ct, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(i, 53).payload(4).build(), 0);
  }
  EXPECT_EQ(ct.sweep(1000), 0u);  // nothing expired yet.
  size_t removed = ct.sweep(60000);
  EXPECT_GT(removed, 0u);
  EXPECT_LT(removed, 10u);
  while (ct.connCount() > 0) ct.sweep(60000);
  EXPECT_TRUE(ct.maybeSweep(0) == false);  // the first call only arms the interval.
  EXPECT_FALSE(ct.maybeSweep(19999));
  EXPECT_TRUE(ct.maybeSweep(20000));
}

// Records every hook call; marks connections ADDED on conn_add and EST on conn_established.
class RecordingHooks : public OffloadHooks {
 public:
  // OffloadHooks.
  void onConnAdd(Conn& c, const PacketMeta& m) override {
    calls.push_back("add@" + std::to_string(m.packet));
    c.ext.offload_mark = OffloadMark::kAdded;
  }
  void onEstablished(Conn& c, const PacketMeta& m) override {
    calls.push_back("est@" + std::to_string(m.packet));
    c.ext.offload_mark = OffloadMark::kEst;
  }
  void onDelete(Conn&, DeleteReason r) override {
    calls.push_back(std::string("del:") + deleteReasonName(r));
  }
  void onUpdateBatch(std::span<Conn* const> conns, std::span<int64_t> last_used) override {
    calls.push_back("upd x" + std::to_string(conns.size()));
    for (auto& t : last_used) t = answer;
  }

  std::vector<std::string> calls;  // in order.
  int64_t answer = 0;              // what onUpdateBatch answers.
};

Verdict runMeta(Conntrack& ct, const std::vector<uint8_t>& f, uint64_t n, int64_t now = 1000) {
  PacketMeta m;
  m.packet = n;
  return ct.execute(kLinkEthernet, f.data(), uint32_t(f.size()), now, 0, true, m);
}

// conn_add on the creating packet, conn_established once on the first est|rpl packet; nothing
// for related, invalid or later packets; conn_del on flush.
TEST(ConntrackHooks, CallSites) {
  Conntrack ct;
  RecordingHooks h;
  ct.setHooks(&h);
  runMeta(ct, tcp(true, kTcpSyn, kCli, 0), 1);
  runMeta(ct, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1), 2);
  runMeta(ct, tcp(true, kTcpAck, kCli + 1, kSrv + 1), 3);
  runMeta(ct, tcp(false, kTcpAck, kSrv + 1, kCli + 1), 4);
  runMeta(ct, tcp(true, kTcpSyn | kTcpAck, 1, 1), 5);  // invalid new: no hook.
  EXPECT_EQ(h.calls, (std::vector<std::string>{"add@1", "est@2"}));
  EXPECT_EQ(ct.flushAll(), 1u);
  EXPECT_EQ(h.calls.back(), "del:flush");
}

// Offloaded TCP connections skip the sequence checks (the RFC).
TEST(ConntrackHooks, OffloadedSkipsSeqCheck) {
  Conntrack ct;
  RecordingHooks h;
  ct.setHooks(&h);
  handshake(ct);
  EXPECT_EQ(run(ct, tcp(true, kTcpAck, kCli + 1 + 10000000, kSrv + 1, 100)), "est|trk");
}

// The sweep asks about expired offloaded connections in one batch: a non-zero answer keeps
// them (expiry pushed a sweep interval on), zero removes them.
TEST(ConntrackHooks, SweepUpdateBatch) {
  Conntrack ct;
  RecordingHooks h;
  ct.setHooks(&h);
  run(ct, udp(true), 0);
  h.answer = 12345;
  EXPECT_EQ(ct.sweep(60000), 0u);
  EXPECT_EQ(h.calls.back(), "upd x1");
  EXPECT_EQ(ct.connections()[0]->expiration, 80000);
  h.answer = 0;
  EXPECT_EQ(ct.sweep(80000), 1u);
  EXPECT_EQ(h.calls.back(), "del:update-failed");
}

// Strict (§5.3): the timestamp must keep the connection alive, not just be non-zero.
TEST(ConntrackHooks, StrictUpdateChecksTimestamp) {
  ConntrackConfig cfg;
  cfg.strict.update_checks_timestamp = true;
  Conntrack ct(cfg);
  RecordingHooks h;
  ct.setHooks(&h);
  run(ct, udp(true), 0);
  h.answer = 1;  // stale: 1 ms after the epoch, long past its timeout.
  EXPECT_EQ(ct.sweep(120000), 1u);
}

// OVS (§5.1): an expired, unswept connection and its successor coexist; strict removes the
// old one (conn_del) before creating the new one.
TEST(ConntrackHooks, ExpiredTupleReplacement) {
  for (bool strict : {false, true}) {
    ConntrackConfig cfg;
    cfg.strict.replace_expired = strict;
    Conntrack ct(cfg);
    RecordingHooks h;
    ct.setHooks(&h);
    run(ct, udp(true), 0);
    EXPECT_EQ(run(ct, udp(true), 60000), "new|trk");
    EXPECT_EQ(ct.connCount(), strict ? 1u : 2u);
    EXPECT_EQ(h.calls.size(), strict ? 3u : 2u);
  }
}

// Flushes by zone and by tuple (either direction) remove only what they name.
TEST(ConntrackFlush, ZoneAndTuple) {
  Conntrack ct;
  RecordingHooks h;
  ct.setHooks(&h);
  run(ct, udp(true), 1000, 1);
  run(ct, udp(true), 1000, 2);
  run(ct, tcp(true, kTcpSyn, kCli, 0), 1000, 2);
  EXPECT_EQ(ct.flushZone(1), 1u);
  EXPECT_EQ(h.calls.back(), "del:flush-zone");
  ConnKey k{};
  for (const Conn* c : ct.connections()) {
    if (c->key().proto == kProtoUdp) k = c->revKey();
  }
  EXPECT_EQ(ct.flushTuple(k, 1000), 1u);
  EXPECT_EQ(h.calls.back(), "del:flush-tuple");
  EXPECT_EQ(ct.connCount(), 1u);
  ct.destroy();
  EXPECT_EQ(h.calls.back(), "del:destroy");
  EXPECT_EQ(ct.connCount(), 0u);
}

// Each direction's packets are counted on the connection: 3 forward and 2 reply UDP datagrams,
// the creating one included.
TEST(ConntrackLayout, PacketCountsPerDirection) {
  Conntrack ct;
  for (bool fwd : {true, true, false, true, false}) run(ct, udp(fwd));
  ASSERT_EQ(ct.connCount(), 1u);
  EXPECT_EQ(ct.connections()[0]->packets[0], 3u);
  EXPECT_EQ(ct.connections()[0]->packets[1], 2u);
}

// The 32-bit packet counters saturate at UINT32_MAX instead of wrapping to small numbers, one
// direction without touching the other.
TEST(ConntrackLayout, PacketCountersSaturate) {
  Conn c;
  c.packets[1] = UINT32_MAX - 1;
  c.countPacket(true);
  EXPECT_EQ(c.packets[1], UINT32_MAX);
  c.countPacket(true);
  EXPECT_EQ(c.packets[1], UINT32_MAX);
  c.countPacket(false);
  EXPECT_EQ(c.packets[0], 1u);
}

// The timer is stored only as the coarse state: every timer armed is read back, each with its
// own state.
TEST(ConntrackLayout, TimerRoundTripsThroughState) {
  Conntrack ct;
  std::set<int> states;
  for (int t = 0; t < kTimeoutCount; ++t) {
    Conn c;
    ct.setTimer(c, Timeout(t), 1000);
    EXPECT_EQ(c.timer(), Timeout(t)) << timeoutName(Timeout(t));
    EXPECT_NE(c.ext.state, CTSIM_CS_NONE);
    states.insert(c.ext.state);
  }
  EXPECT_EQ(states.size(), size_t(kTimeoutCount));
  EXPECT_EQ(Conn{}.timer(), Timeout::kUdpFirst);  // a fresh Conn, as before.
}

// The sweep lists link connections by pool index: over two chunk boundaries (kConnChunk
// connections a chunk), connections() lists exactly the live ones, removals in the middle of a list
// (around a boundary) unlink only them, freed slots are reused, and a sweep and a flush find every
// connection through the links.
TEST(ConntrackLayout, SweepListsAcrossChunkBoundaries) {
  Conntrack ct;
  const uint32_t c = uint32_t(Conntrack::kConnChunk);
  const uint32_t n = 2 * c + 50;
  auto frame = [](uint32_t i) {
    return PacketBuilder()
        .ipv4("10.0." + std::to_string(i >> 8) + "." + std::to_string(i & 255), "10.9.0.2")
        .udp(uint16_t(1000 + i % 7), 53)
        .payload(4)
        .build();
  };
  auto exec = [&](uint32_t i) {
    std::vector<uint8_t> f = frame(i);
    return ct.execute(kLinkEthernet, f.data(), uint32_t(f.size()), 1000, 0);
  };
  std::vector<Conn*> conns;
  for (uint32_t i = 0; i < n; ++i) {
    Verdict v = exec(i);
    ASSERT_TRUE(v.created) << i;
    conns.push_back(v.conn);
  }
  auto live = [&] {
    std::vector<const Conn*> all = ct.connections();
    return std::multiset<const Conn*>(all.begin(), all.end());
  };
  EXPECT_EQ(live(), std::multiset<const Conn*>(conns.begin(), conns.end()));

  std::set<const Conn*> freed;
  for (uint32_t i : {c - 6, c - 1, c, c + 1, c + 4, 2 * c - 1, 2 * c, 0u, n - 1}) {
    ConnKey k = conns[i]->key();
    freed.insert(conns[i]);
    ASSERT_EQ(ct.flushTuple(k, 1000), 1u) << i;
    conns[i] = nullptr;
  }
  std::multiset<const Conn*> want;
  for (Conn* c : conns) {
    if (c != nullptr) want.insert(c);
  }
  EXPECT_EQ(live(), want);

  std::set<const Conn*> reused;
  for (uint32_t i = n; i < n + freed.size(); ++i) reused.insert(exec(i).conn);
  EXPECT_EQ(reused, freed);
  EXPECT_EQ(ct.connCount(), size_t(n));
  for (const Conn* c : ct.connections()) {
    bool reply = false;
    EXPECT_EQ(ct.lookup(c->revKey(), 1000, &reply), c);
    EXPECT_TRUE(reply);
  }
  EXPECT_EQ(ct.sweep(1000 + 61000), size_t(n));  // UDP first: 60 s.
  EXPECT_EQ(ct.connCount(), 0u);
  EXPECT_TRUE(ct.connections().empty());
  for (uint32_t i = 0; i < 5000; ++i) ASSERT_TRUE(exec(i).created);
  EXPECT_EQ(ct.flushAll(), 5000u);
  EXPECT_TRUE(ct.connections().empty());
}

}  // namespace
}  // namespace ctsim::ct
