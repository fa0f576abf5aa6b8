#include "traces/generator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <queue>
#include <random>
#include <vector>

#include "sim/packet_builder.h"
#include "sim/pcap_writer.h"

namespace ctsim::traces {
namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSecond = 1000000000;

enum class Kind : uint8_t { kTcp, kUdp, kIcmp, kFlood, kScan };
enum class Teardown : uint8_t { kFin, kRst, kNone };

// One connection in progress. `step` walks its packet script: TCP 0 SYN, 1 SYN-ACK, 2 ACK, then
// three steps per exchange (request, response, ACK), then the teardown; UDP and ICMP two steps
// per exchange; flood one step; scan two.
struct Flow {
  Kind kind;
  bool v6;
  bool elephant;
  Teardown teardown;
  IpAddr client, server;  // addresses (IPv4 in the first 4 bytes).
  uint16_t cport, sport;  // ports, or the ICMP id in cport.
  uint32_t cseq, sseq;    // next TCP sequence numbers of each side.
  uint32_t exchanges;     // request/response exchanges in total.
  uint32_t step;          // next step of the script.
  int64_t idle_at_step;   // step before which the flow pauses for idle_gap (or -1).
};

struct Event {
  int64_t t;
  uint64_t order;  // tie-break: deterministic order of equal times.
  uint32_t flow;   // index into the flow table.
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : order > o.order; }
};

class Generator {
 public:
  Generator(const GenConfig& c, PcapWriter& w) : c_(c), w_(w), rng_(c.seed) {}

  GenSummary run();

 private:
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int64_t expNs(double mean_ns) {
    return int64_t(std::exponential_distribution<double>(1.0 / mean_ns)(rng_)) + 1;
  }
  uint32_t newFlow(Kind kind, int64_t t);
  void addressFlow(Flow& f, uint64_t index);
  // Emits the flow's next packet; returns false when the script is done.
  bool emit(Flow& f, int64_t t);
  void write(int64_t t, const std::vector<uint8_t>& frame);
  int64_t nextDelay(const Flow& f);
  uint32_t scriptLength(const Flow& f) const;

  const GenConfig& c_;
  PcapWriter& w_;
  std::mt19937_64 rng_;
  GenSummary s_;
  std::vector<Flow> flows_;
  std::vector<uint32_t> free_;  // reusable slots of flows_.
  std::vector<Flow> finished_;  // recently finished flows (for churn), bounded.
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t order_ = 0;
  uint64_t index_ = 0;  // connections started (address allocation).
  uint64_t scan_port_ = 0;
};

void Generator::addressFlow(Flow& f, uint64_t i) {
  f.client = IpAddr();
  f.server = IpAddr();
  if (f.v6) {
    // 2001:db8:c::/48 clients by index, 2001:db8:5::/64 servers.
    uint8_t c[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c};
    for (int k = 0; k < 8; ++k) c[15 - k] = uint8_t(i >> (8 * k));
    std::copy(c, c + 16, f.client.bytes);
    uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x05};
    s[15] = uint8_t(1 + i % 200);
    std::copy(s, s + 16, f.server.bytes);
  } else {
    // 10.0.0.0/8 clients by index (wrapping after 16 M, then ports differ), 198.18.0.0/24
    // servers (the benchmarking range).
    uint32_t c = 0x0a000000u | uint32_t(1 + i % 0xfffffe);
    for (int k = 0; k < 4; ++k) f.client.bytes[k] = uint8_t(c >> (24 - 8 * k));
    uint8_t s[4] = {198, 18, 0, uint8_t(1 + i % 200)};
    std::copy(s, s + 4, f.server.bytes);
  }
  f.cport = uint16_t(1024 + (i / 0xfffffe * 7919 + rng_() % 60000) % 64000);
  static constexpr uint16_t kTcpPorts[] = {80, 443, 22, 8080, 25};
  static constexpr uint16_t kUdpPorts[] = {53, 123, 443, 5060, 4789};
  f.sport = f.kind == Kind::kUdp ? kUdpPorts[rng_() % 5] : kTcpPorts[rng_() % 5];
}

uint32_t Generator::newFlow(Kind kind, int64_t t) {
  Flow f{};
  f.kind = kind;
  f.step = 0;
  f.idle_at_step = -1;
  f.cseq = uint32_t(rng_());
  f.sseq = uint32_t(rng_());
  if (kind == Kind::kFlood) {
    f.v6 = false;
    uint32_t src = uint32_t(rng_());
    for (int k = 0; k < 4; ++k) f.client.bytes[k] = uint8_t(src >> (24 - 8 * k));
    uint8_t s[4] = {198, 18, 1, 1};
    std::copy(s, s + 4, f.server.bytes);
    f.cport = uint16_t(1024 + rng_() % 64000);
    f.sport = 80;
    f.exchanges = 0;
  } else if (kind == Kind::kScan) {
    f.v6 = false;
    uint8_t a[4] = {203, 0, 113, 66}, b[4] = {198, 18, 2, 2};
    std::copy(a, a + 4, f.client.bytes);
    std::copy(b, b + 4, f.server.bytes);
    f.cport = 40000;
    f.sport = uint16_t(1 + scan_port_++ % 65535);
    f.exchanges = 0;
  } else {
    f.v6 = uniform() < c_.ipv6_share;
    f.elephant = uniform() < c_.elephant_share;
    if (f.elephant) {
      f.exchanges = c_.elephant_exchanges;
    } else {
      std::geometric_distribution<uint32_t> g(1.0 / std::max(1u, c_.mice_exchanges));
      f.exchanges = 1 + g(rng_);
    }
    double tear = uniform() * (c_.fin_share + c_.rst_share + c_.none_share);
    f.teardown = tear < c_.fin_share                  ? Teardown::kFin
                 : tear < c_.fin_share + c_.rst_share ? Teardown::kRst
                                                      : Teardown::kNone;
    bool churn = c_.churn_share > 0 && uniform() < c_.churn_share;
    Flow* reuse = nullptr;
    for (auto it = finished_.rbegin(); churn && it != finished_.rend(); ++it) {
      if (it->kind == kind && it->v6 == f.v6) {
        reuse = &*it;
        break;
      }
    }
    if (reuse != nullptr) {
      f.client = reuse->client;
      f.server = reuse->server;
      f.cport = reuse->cport;
      f.sport = reuse->sport;
      ++s_.churned_flows;
    } else {
      addressFlow(f, index_++);
      if (kind == Kind::kIcmp) f.cport = uint16_t(rng_());  // echo identifier.
    }
    if (c_.idle_share > 0 && uniform() < c_.idle_share && f.exchanges >= 1) {
      f.idle_at_step = kind == Kind::kTcp ? 6 : 2;  // after the first exchange.
      if (f.exchanges == 1) f.exchanges = 2;
      ++s_.idle_flows;
    }
    ++(kind == Kind::kTcp ? s_.tcp_flows : kind == Kind::kUdp ? s_.udp_flows : s_.icmp_flows);
    if (f.v6) ++s_.ipv6_flows;
    if (f.elephant) ++s_.elephants;
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    flows_[slot] = f;
  } else {
    slot = uint32_t(flows_.size());
    flows_.push_back(f);
  }
  events_.push({t, order_++, slot});
  return slot;
}

uint32_t Generator::scriptLength(const Flow& f) const {
  switch (f.kind) {
    case Kind::kTcp:
      return 3 + 3 * f.exchanges +
             (f.teardown == Teardown::kFin   ? 3
              : f.teardown == Teardown::kRst ? 1
                                             : 0);
    case Kind::kUdp:
    case Kind::kIcmp:
      return 2 * f.exchanges;
    case Kind::kFlood:
      return 1;
    case Kind::kScan:
      return 2;
  }
  return 0;
}

void Generator::write(int64_t t, const std::vector<uint8_t>& frame) {
  w_.write(t, frame.data(), uint32_t(frame.size()));
  if (s_.packets == 0) s_.first_ns = t;
  s_.last_ns = t;
  ++s_.packets;
  s_.bytes += frame.size();
}

bool Generator::emit(Flow& f, int64_t t) {
  PacketBuilder b;
  if (c_.vlan != 0) b.vlan(c_.vlan);
  uint32_t step = f.step++;
  auto ip = [&](bool from_client) {
    b.ip(f.v6 ? 6 : 4, from_client ? f.client : f.server, from_client ? f.server : f.client);
  };
  size_t req_len = f.elephant ? 1200 : 60 + rng_() % 400;
  size_t resp_len = f.elephant ? 1400 : 100 + rng_() % 1200;
  auto tcp = [&](bool from_client, uint8_t flags, size_t len) {
    ip(from_client);
    uint32_t& seq = from_client ? f.cseq : f.sseq;
    uint32_t ack = from_client ? f.sseq : f.cseq;
    b.tcp(from_client ? f.cport : f.sport, from_client ? f.sport : f.cport, flags, seq,
          (flags & kTcpAck) ? ack : 0, 64240);
    if (flags & kTcpSyn) b.tcpMss(1460).tcpWscale(7);
    b.payload(len, 0x5a);
    seq += uint32_t(len) + ((flags & (kTcpSyn | kTcpFin)) ? 1 : 0);
  };
  switch (f.kind) {
    case Kind::kFlood:
      ip(true);
      b.tcp(f.cport, f.sport, kTcpSyn, f.cseq, 0, 1024);
      ++s_.syn_flood_packets;
      break;
    case Kind::kScan:
      if (step == 0) {
        tcp(true, kTcpSyn, 0);
        ++s_.port_scan_probes;
      } else {
        ip(false);
        b.tcp(f.sport, f.cport, kTcpRst | kTcpAck, 0, f.cseq, 0);
      }
      break;
    case Kind::kUdp:
      ip(step % 2 == 0);
      b.udp(step % 2 == 0 ? f.cport : f.sport, step % 2 == 0 ? f.sport : f.cport);
      b.payload(step % 2 == 0 ? req_len : resp_len, 0x33);
      break;
    case Kind::kIcmp:
      ip(step % 2 == 0);
      b.icmpEcho(step % 2 == 0, f.cport, uint16_t(1 + step / 2)).payload(56, 0x11);
      break;
    case Kind::kTcp: {
      uint32_t data_end = 3 + 3 * f.exchanges;
      if (step == 0) {
        tcp(true, kTcpSyn, 0);
      } else if (step == 1) {
        tcp(false, kTcpSyn | kTcpAck, 0);
      } else if (step == 2) {
        tcp(true, kTcpAck, 0);
      } else if (step < data_end) {
        uint32_t k = (step - 3) % 3;
        if (k == 0) tcp(true, kTcpAck | kTcpPsh, req_len);
        if (k == 1) tcp(false, kTcpAck | kTcpPsh, resp_len);
        if (k == 2) tcp(true, kTcpAck, 0);
      } else if (f.teardown == Teardown::kFin) {
        uint32_t k = step - data_end;
        if (k == 0) tcp(true, kTcpFin | kTcpAck, 0);
        if (k == 1) tcp(false, kTcpFin | kTcpAck, 0);
        if (k == 2) tcp(true, kTcpAck, 0);
      } else {
        tcp(true, kTcpRst | kTcpAck, 0);
      }
      break;
    }
  }
  write(t, b.build());
  return f.step < scriptLength(f);
}

int64_t Generator::nextDelay(const Flow& f) {
  if (int64_t(f.step) == f.idle_at_step) return int64_t(c_.idle_gap_s * kSecond);
  bool answer = f.kind == Kind::kTcp ? (f.step < 3 || (f.step - 3) % 3 != 0) : f.step % 2 == 1;
  return answer ? expNs(c_.rtt_ms * kMs / 2) : expNs(c_.think_ms * kMs);
}

GenSummary Generator::run() {
  int64_t t = c_.start_ns;
  int64_t end = c_.duration_s > 0 ? c_.start_ns + int64_t(c_.duration_s * kSecond) : INT64_MAX;
  double mix = c_.tcp_share + c_.udp_share + c_.icmp_share;
  // Arrivals of connections, flood packets and scan probes are three Poisson processes over the
  // same span; flood and scan are spread over it evenly.
  double span_s = double(c_.flows) / c_.cps;
  if (span_s <= 0) span_s = 1;
  uint64_t started = 0, flood = 0, scan = 0;
  int64_t next_conn = t;
  int64_t next_flood =
      c_.syn_flood ? t + expNs(span_s * kSecond / double(c_.syn_flood)) : INT64_MAX;
  int64_t next_scan = c_.port_scan ? t + expNs(span_s * kSecond / double(c_.port_scan)) : INT64_MAX;
  for (;;) {
    int64_t next_arrival =
        std::min({started < c_.flows && next_conn <= end ? next_conn : int64_t(INT64_MAX),
                  next_flood, next_scan});
    int64_t next_packet = events_.empty() ? INT64_MAX : events_.top().t;
    if (next_arrival == INT64_MAX && next_packet == INT64_MAX) break;
    if (next_arrival <= next_packet) {
      if (next_arrival == next_flood) {
        newFlow(Kind::kFlood, next_flood);
        next_flood = ++flood < c_.syn_flood
                         ? next_flood + expNs(span_s * kSecond / double(c_.syn_flood))
                         : INT64_MAX;
      } else if (next_arrival == next_scan) {
        newFlow(Kind::kScan, next_scan);
        next_scan = ++scan < c_.port_scan
                        ? next_scan + expNs(span_s * kSecond / double(c_.port_scan))
                        : INT64_MAX;
      } else {
        double r = uniform() * mix;
        Kind k = r < c_.tcp_share                  ? Kind::kTcp
                 : r < c_.tcp_share + c_.udp_share ? Kind::kUdp
                                                   : Kind::kIcmp;
        newFlow(k, next_conn);
        ++started;
        next_conn += expNs(kSecond / c_.cps);
      }
      continue;
    }
    Event e = events_.top();
    events_.pop();
    Flow& f = flows_[e.flow];
    if (emit(f, e.t)) {
      events_.push({e.t + nextDelay(f), order_++, e.flow});
    } else {
      if (c_.churn_share > 0 && f.kind != Kind::kFlood && f.kind != Kind::kScan) {
        if (finished_.size() >= 64) finished_.erase(finished_.begin());
        finished_.push_back(f);
      }
      free_.push_back(e.flow);
    }
  }
  return s_;
}

}  // namespace

Status validate(const GenConfig& c) {
  auto bad = [](const std::string& why) { return Status(EINVAL, why); };
  for (double share : {c.tcp_share, c.udp_share, c.icmp_share, c.ipv6_share, c.elephant_share,
                       c.fin_share, c.rst_share, c.none_share, c.idle_share, c.churn_share}) {
    if (!(share >= 0)) return bad("shares must be >= 0");
  }
  for (double p : {c.ipv6_share, c.elephant_share, c.idle_share, c.churn_share}) {
    if (p > 1) return bad("the IPv6, elephant, idle and churn shares must be at most 1");
  }
  if (c.flows > 0 && c.tcp_share + c.udp_share + c.icmp_share <= 0) {
    return bad("the protocol mix is all zero");
  }
  if (c.fin_share + c.rst_share + c.none_share <= 0) return bad("the teardown mix is all zero");
  if (!(c.cps > 0)) return bad("connections per second must be > 0");
  if (!(c.rtt_ms > 0) || !(c.think_ms > 0)) return bad("rtt and think time must be > 0");
  if (!(c.idle_gap_s >= 0) || !(c.duration_s >= 0)) return bad("times must be >= 0");
  if (c.vlan > 4094) return bad("the VLAN id must be at most 4094");
  if (c.flows == 0 && c.syn_flood == 0 && c.port_scan == 0) return bad("nothing to generate");
  return Status();
}

Result<GenSummary> generate(const GenConfig& config, const std::string& path) {
  Status v = validate(config);
  if (!v.ok()) return v;
  auto w = PcapWriter::create(path, kLinkEthernet);
  if (!w.ok()) return w.status();
  Generator g(config, *w.value());
  GenSummary s = g.run();
  Status closed = w.value()->close();
  if (!closed.ok()) return closed;
  return s;
}

}  // namespace ctsim::traces
