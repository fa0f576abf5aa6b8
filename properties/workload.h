#pragma once
// Small workloads for the properties and the conformance suite: frames of a few flows between
// 10.0.0.1 and 10.0.0.2 (zone = VLAN id, untagged for zone 0) and a seeded random scenario
// generator over them (valid TCP handshakes with their sequence numbers, UDP, ICMP echo and
// errors, invalid flags, responder RSTs, time steps, sweeps and zone flushes).

#include <cstdint>
#include <random>
#include <vector>

#include "properties/harness.h"
#include "sim/packet.h"
#include "sim/packet_builder.h"

namespace ctsim::props {

// A UDP datagram of flow `flow`: 10.0.0.1:(1000+flow) -> 10.0.0.2:53, or the reply.
inline std::vector<uint8_t> udpFrame(int flow, bool reply, uint16_t zone = 0) {
  PacketBuilder b;
  if (zone != 0) b.vlan(zone);
  uint16_t port = uint16_t(1000 + flow);
  reply ? b.ipv4("10.0.0.2", "10.0.0.1").udp(53, port)
        : b.ipv4("10.0.0.1", "10.0.0.2").udp(port, 53);
  return b.payload(16).build();
}

// A TCP segment of flow `flow`: 10.0.0.1:(2000+flow) -> 10.0.0.2:80, or the reply.
inline std::vector<uint8_t> tcpFrame(int flow, bool reply, uint8_t flags, uint32_t seq,
                                     uint32_t ack, uint16_t zone = 0) {
  PacketBuilder b;
  if (zone != 0) b.vlan(zone);
  uint16_t port = uint16_t(2000 + flow);
  reply ? b.ipv4("10.0.0.2", "10.0.0.1").tcp(80, port, flags, seq, ack)
        : b.ipv4("10.0.0.1", "10.0.0.2").tcp(port, 80, flags, seq, ack);
  return b.build();
}

// An ICMP echo request (or reply) of flow `flow` (id 100+flow).
inline std::vector<uint8_t> icmpEchoFrame(int flow, bool reply, uint16_t zone = 0) {
  PacketBuilder b;
  if (zone != 0) b.vlan(zone);
  reply ? b.ipv4("10.0.0.2", "10.0.0.1") : b.ipv4("10.0.0.1", "10.0.0.2");
  return b.icmpEcho(!reply, uint16_t(100 + flow)).build();
}

// An ICMP port unreachable from 10.0.0.2 quoting UDP flow `flow`'s datagram.
inline std::vector<uint8_t> icmpErrorFrame(int flow, uint16_t zone = 0) {
  std::vector<uint8_t> quoted = PacketBuilder()
                                    .ipv4("10.0.0.1", "10.0.0.2")
                                    .udp(uint16_t(1000 + flow), 53)
                                    .payload(16)
                                    .buildIp();
  PacketBuilder b;
  if (zone != 0) b.vlan(zone);
  return b.ipv4("10.0.0.2", "10.0.0.1").icmpError(3, 3, quoted).build();
}

// Appends a packet step.
inline void addPacket(Scenario& sc, std::vector<uint8_t> frame, int64_t ms = 0) {
  Step s;
  s.kind = Step::Kind::kPacket;
  s.frame = std::move(frame);
  s.ms = ms;
  sc.steps.push_back(std::move(s));
}
// Appends a step without a frame.
inline void addStep(Scenario& sc, Step::Kind kind, int64_t ms = 0, uint16_t zone = 0) {
  Step s;
  s.kind = kind;
  s.ms = ms;
  s.zone = zone;
  sc.steps.push_back(std::move(s));
}

// A random scenario of `n` steps over 4 UDP, 4 TCP and 2 ICMP flows in zones 0 and 7.
inline Scenario randomScenario(std::mt19937_64& rng, const RunConfig& config, int n) {
  Scenario sc;
  sc.config = config;
  auto pick = [&](int k) { return int(rng() % uint64_t(k)); };
  struct Tcp {
    int stage = 0;              // 0 none, 1 SYN sent, 2 SYN-ACK seen, 3 established.
    uint32_t cli = 0, srv = 0;  // next sequence numbers.
  };
  std::vector<Tcp> tcp(8);  // [flow + 4 * (zone != 0)].
  for (int i = 0; i < n; ++i) {
    uint16_t zone = pick(3) == 0 ? 7 : 0;
    int flow = pick(4);
    int64_t ms = pick(4) == 0 ? pick(3000) : pick(5);
    switch (pick(12)) {
      case 0:
      case 1:
      case 2:
        addPacket(sc, udpFrame(flow, pick(3) == 0, zone), ms);
        break;
      case 3:
      case 4:
      case 5: {
        Tcp& t = tcp[size_t(flow + (zone ? 4 : 0))];
        if (t.stage == 0 || t.stage > 3) {
          t.cli = uint32_t(rng());
          t.srv = uint32_t(rng());
          addPacket(sc, tcpFrame(flow, false, kTcpSyn, t.cli, 0, zone), ms);
          t.cli += 1;
          t.stage = 1;
        } else if (t.stage == 1) {
          if (pick(6) == 0) {  // the responder resets, acking or not.
            addPacket(sc, tcpFrame(flow, true, kTcpRst | kTcpAck, 0, pick(2) ? t.cli : 12345, zone),
                      ms);
            t.stage = 0;
          } else {
            addPacket(sc, tcpFrame(flow, true, kTcpSyn | kTcpAck, t.srv, t.cli, zone), ms);
            t.srv += 1;
            t.stage = 2;
          }
        } else if (t.stage == 2) {
          addPacket(sc, tcpFrame(flow, false, kTcpAck, t.cli, t.srv, zone), ms);
          t.stage = 3;
        } else {
          bool from_cli = pick(2) == 0;
          uint8_t flags = pick(8) == 0 ? (kTcpFin | kTcpAck) : (kTcpAck | kTcpPsh);
          if (from_cli) {
            addPacket(sc, tcpFrame(flow, false, flags, t.cli, t.srv, zone), ms);
          } else {
            addPacket(sc, tcpFrame(flow, true, flags, t.srv, t.cli, zone), ms);
          }
          if (flags & kTcpFin) t.stage = 4;
        }
        break;
      }
      case 6:
        addPacket(sc, icmpEchoFrame(flow % 2, pick(2) == 0, zone), ms);
        break;
      case 7:
        addPacket(sc, icmpErrorFrame(flow, zone), ms);
        break;
      case 8: {  // invalid flag combinations.
        const uint8_t bad[] = {kTcpSyn | kTcpRst, kTcpSyn | kTcpFin, 0, kTcpFin, kTcpSyn | kTcpAck};
        addPacket(sc, tcpFrame(flow, pick(2) == 0, bad[pick(5)], uint32_t(rng()), 0, zone), ms);
        break;
      }
      case 9:
        addStep(sc, Step::Kind::kAdvance, 1000 * (1 + pick(90)));
        break;
      case 10:
        addStep(sc, Step::Kind::kSweep);
        break;
      default:
        if (pick(4) == 0) {
          addStep(sc, Step::Kind::kFlushZone, 0, zone);
        } else {
          addStep(sc, Step::Kind::kAdvance, pick(30000));
        }
        break;
    }
  }
  return sc;
}

}  // namespace ctsim::props
