#include "traces/bundled.h"

#include <algorithm>
#include <random>

#include "sim/packet_builder.h"
#include "sim/pcap_writer.h"

namespace ctsim::traces {
namespace {

constexpr int64_t kSecond = 1000000000;

// Appends frames in time order; each helper below models one conversation.
class Scenario {
 public:
  explicit Scenario(uint64_t seed) : rng_(seed) {}

  // A TCP connection: handshake, `exchanges` request/response pairs, then FIN, RST or nothing.
  void tcpConnection(int64_t start, const std::string& client, const std::string& server,
                     uint16_t cport, uint16_t sport, int exchanges, char teardown, bool v6 = false,
                     uint16_t vlan = 0) {
    uint32_t cseq = uint32_t(rng_()), sseq = uint32_t(rng_());
    int64_t t = start;
    auto pkt = [&](bool from_client, uint8_t flags, size_t len) {
      PacketBuilder b;
      if (vlan != 0) b.vlan(vlan);
      if (v6) {
        from_client ? b.ipv6(client, server) : b.ipv6(server, client);
      } else {
        from_client ? b.ipv4(client, server) : b.ipv4(server, client);
      }
      uint32_t seq = from_client ? cseq : sseq;
      uint32_t ack = from_client ? sseq : cseq;
      b.tcp(from_client ? cport : sport, from_client ? sport : cport, flags, seq,
            (flags & kTcpAck) ? ack : 0, 64240);
      if (flags & kTcpSyn) b.tcpMss(1460).tcpSackPermitted().tcpWscale(7);
      b.payload(len, uint8_t(rng_()));
      add(t, b.build());
      uint32_t advance = uint32_t(len) + ((flags & (kTcpSyn | kTcpFin)) ? 1 : 0);
      (from_client ? cseq : sseq) += advance;
      t += rtt();
    };
    pkt(true, kTcpSyn, 0);
    pkt(false, kTcpSyn | kTcpAck, 0);
    pkt(true, kTcpAck, 0);
    for (int i = 0; i < exchanges; ++i) {
      pkt(true, kTcpAck | kTcpPsh, 100 + rng_() % 400);
      pkt(false, kTcpAck | kTcpPsh, 200 + rng_() % 1200);
      pkt(true, kTcpAck, 0);
    }
    if (teardown == 'F') {
      pkt(true, kTcpFin | kTcpAck, 0);
      pkt(false, kTcpFin | kTcpAck, 0);
      pkt(true, kTcpAck, 0);
    } else if (teardown == 'R') {
      pkt(true, kTcpRst | kTcpAck, 0);
    }
  }

  // A UDP request/response exchange repeated `n` times.
  void udpExchange(int64_t start, const std::string& a, const std::string& b, uint16_t aport,
                   uint16_t bport, int n) {
    int64_t t = start;
    for (int i = 0; i < n; ++i) {
      add(t, PacketBuilder().ipv4(a, b).udp(aport, bport).payload(40 + rng_() % 60).build());
      t += rtt();
      add(t, PacketBuilder().ipv4(b, a).udp(bport, aport).payload(80 + rng_() % 200).build());
      t += kSecond / 10;
    }
  }

  void ping(int64_t start, const std::string& a, const std::string& b, uint16_t id, int n,
            bool v6 = false) {
    int64_t t = start;
    for (int i = 0; i < n; ++i) {
      PacketBuilder req, rep;
      v6 ? req.ipv6(a, b) : req.ipv4(a, b);
      v6 ? rep.ipv6(b, a) : rep.ipv4(b, a);
      add(t, req.icmpEcho(true, id, uint16_t(i + 1)).payload(56).build());
      add(t + rtt(), rep.icmpEcho(false, id, uint16_t(i + 1)).payload(56).build());
      t += kSecond;
    }
  }

  void add(int64_t t, std::vector<uint8_t> frame) { frames_.push_back({t, std::move(frame)}); }
  int64_t rtt() { return 200000 + int64_t(rng_() % 5000000); }  // 0.2 .. 5.2 ms.
  std::mt19937_64& rng() { return rng_; }

  std::vector<Frame> take() {
    std::stable_sort(frames_.begin(), frames_.end(),
                     [](const Frame& a, const Frame& b) { return a.ts_ns < b.ts_ns; });
    return std::move(frames_);
  }

 private:
  std::mt19937_64 rng_;
  std::vector<Frame> frames_;
};

}  // namespace

BundledTrace makeMixedSmall(uint64_t seed) {
  Scenario s(seed);
  const int64_t t0 = int64_t(1764000000) * kSecond;  // 2025-11-24T16:00:00Z.
  for (int i = 0; i < 12; ++i) {
    char teardown = i % 4 == 3 ? 'R' : (i % 4 == 2 ? 'N' : 'F');
    s.tcpConnection(t0 + i * kSecond / 2, "10.0.0." + std::to_string(10 + i % 5), "192.0.2.80",
                    uint16_t(40000 + i), i % 3 == 0 ? 443 : 80, 1 + i % 4, teardown);
  }
  s.tcpConnection(t0 + 2 * kSecond, "2001:db8::10", "2001:db8::80", 50000, 443, 3, 'F', true);
  s.tcpConnection(t0 + 3 * kSecond, "10.1.0.5", "10.1.0.6", 33000, 22, 2, 'F', false, 100);
  for (int i = 0; i < 8; ++i) {
    s.udpExchange(t0 + i * kSecond / 3, "10.0.0." + std::to_string(20 + i), "192.0.2.53",
                  uint16_t(53000 + i), 53, 1 + i % 2);
  }
  s.udpExchange(t0 + kSecond, "10.0.0.30", "192.0.2.123", 123, 123, 3);
  s.ping(t0, "10.0.0.40", "192.0.2.1", 0x1234, 4);
  s.ping(t0 + kSecond, "2001:db8::40", "2001:db8::1", 7, 3, true);

  // Mid-stream TCP: data with no handshake seen (a connection picked up late).
  for (int i = 0; i < 4; ++i) {
    bool c = i % 2 == 0;
    s.add(t0 + 5 * kSecond + i * 1000000,
          PacketBuilder()
              .ipv4(c ? "10.0.0.50" : "192.0.2.8", c ? "192.0.2.8" : "10.0.0.50")
              .tcp(c ? 45000 : 8080, c ? 8080 : 45000, kTcpAck | kTcpPsh, 1000 + i * 100,
                   5000 + i * 100)
              .payload(100)
              .build());
  }
  // A UDP probe answered by an ICMP port-unreachable error quoting it.
  auto probe = PacketBuilder().ipv4("10.0.0.60", "192.0.2.9").udp(40123, 33434).payload(32);
  s.add(t0 + 6 * kSecond, probe.build());
  auto quoted = probe.buildIp();
  quoted.resize(28);
  s.add(t0 + 6 * kSecond + 300000,
        PacketBuilder().ipv4("192.0.2.9", "10.0.0.60").icmpError(3, 3, quoted).build());
  // A UDP datagram in two IPv4 fragments (first 1480 bytes, then the rest).
  auto whole = PacketBuilder().ipv4("10.0.0.70", "192.0.2.70").udp(5000, 5001).payload(2000);
  auto ip = whole.buildIp();
  std::vector<uint8_t> first_part(ip.begin() + 20, ip.begin() + 20 + 1480);
  std::vector<uint8_t> second_part(ip.begin() + 20 + 1480, ip.end());
  s.add(t0 + 7 * kSecond, PacketBuilder()
                              .ipv4("10.0.0.70", "192.0.2.70")
                              .fragment(0, true, 4242)
                              .rawL4(kProtoUdp, first_part)
                              .build());
  s.add(t0 + 7 * kSecond + 100000, PacketBuilder()
                                       .ipv4("10.0.0.70", "192.0.2.70")
                                       .fragment(1480, false, 4242)
                                       .rawL4(kProtoUdp, second_part)
                                       .build());
  // A TCP segment with a bad checksum, and non-IP frames (ARP, LLDP).
  s.add(t0 + 8 * kSecond, PacketBuilder()
                              .ipv4("10.0.0.80", "192.0.2.80")
                              .tcp(41000, 80, kTcpSyn, 1)
                              .badL4Checksum()
                              .build());
  s.add(t0 + 8 * kSecond + 1000, PacketBuilder().nonIp(0x0806, 28).build());
  s.add(t0 + 9 * kSecond, PacketBuilder().nonIp(0x88cc, 46).build());

  BundledTrace t;
  t.name = "mixed-small.pcap";
  t.seed = seed;
  t.description =
      "TCP (FIN, RST, open, mid-stream, IPv6, VLAN), UDP, ICMP echo and error, "
      "IPv4 fragments, a bad checksum and non-IP frames";
  t.frames = s.take();
  return t;
}

GenConfig workloadSmallConfig() {
  GenConfig c;
  c.seed = 20261125;
  c.flows = 300;
  c.cps = 100;
  c.ipv6_share = 0.2;
  c.elephant_share = 0;
  c.idle_share = 0.05;
  c.idle_gap_s = 40;
  c.churn_share = 0.05;
  c.syn_flood = 60;
  c.port_scan = 30;
  return c;
}

std::vector<BundledTrace> allBundledTraces() { return {makeMixedSmall()}; }

Status writeBundledTrace(const BundledTrace& trace, const std::string& path) {
  auto w = PcapWriter::create(path, kLinkEthernet);
  if (!w.ok()) return w.status();
  for (const Frame& f : trace.frames) {
    w.value()->write(f.ts_ns, f.data.data(), uint32_t(f.data.size()));
  }
  return w.value()->close();
}

}  // namespace ctsim::traces
