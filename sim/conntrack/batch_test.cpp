// Conntrack::executeBatch() against execute() packet by packet: the same verdicts, hook calls,
// counters and final table on mixed traffic cut into batches of every size.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/test_util.h"
#include "sim/packet_builder.h"

namespace ctsim::ct {
namespace {

using testing::ethernet;
using testing::fragmentV4;

// Hooks that log each call (with the connection's creation number) and mark every added
// connection offloaded, so that est replies reach onEstablished and sweeps ask onUpdateBatch.
class LogHooks : public OffloadHooks {
 public:
  std::vector<std::string> calls;
  // Each connection's address, packet and creation number at each onConnAdd.
  std::vector<std::tuple<const Conn*, uint64_t, uint64_t>> born;

  // The creation number of the connection at `c` when packet `packet` was tracked: its address
  // may have been reused by a later packet of the batch (the Verdict's pointer is valid only
  // until the next packet, as execute()'s).
  uint64_t idAt(const Conn* c, uint64_t packet) const {
    uint64_t id = 0;
    for (const auto& [addr, p, n] : born) {
      if (addr == c && p <= packet) id = n;
    }
    return id;
  }

  void onConnAdd(Conn& c, const PacketMeta& m) override {
    born.emplace_back(&c, m.packet, c.id);
    c.ext.offload_mark = OffloadMark::kAdded;
    calls.push_back("add " + std::to_string(c.id) + "@" + std::to_string(m.packet));
  }
  void onEstablished(Conn& c, const PacketMeta& m) override {
    calls.push_back("est " + std::to_string(c.id) + "@" + std::to_string(m.packet));
  }
  void onDelete(Conn& c, DeleteReason r) override {
    calls.push_back("del " + std::to_string(c.id) + " " + deleteReasonName(r));
  }
  void onUpdateBatch(std::span<Conn* const> conns, std::span<int64_t> last_used) override {
    // Odd connections answer "used long ago" (removed), even ones "never" (kept or removed
    // by the profile).
    for (size_t i = 0; i < conns.size(); ++i) {
      calls.push_back("upd " + std::to_string(conns[i]->id));
      last_used[i] = (conns[i]->id % 2) != 0 ? 1 : 0;
    }
  }
};

// The traffic: frames of a few TCP connections (handshake, data, FIN, RST, a SYN reusing the
// port), UDP and ICMP both ways, an ICMP error quoting a flow, fragments of two datagrams, a
// non-IP frame and frames with bad checksums. A test picks frames by index, repeats included.
std::vector<std::vector<uint8_t>> catalogue() {
  std::vector<std::vector<uint8_t>> f;
  for (uint16_t port : {1000, 1001}) {
    auto c2s = [&](uint8_t flags, uint32_t seq, uint32_t ack, size_t payload = 0) {
      PacketBuilder b;
      b.ipv4("10.0.0.1", "10.0.0.2").tcp(port, 80, flags, seq, ack);
      if (payload > 0) b.payload(payload);
      return b.build();
    };
    auto s2c = [&](uint8_t flags, uint32_t seq, uint32_t ack) {
      return PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").tcp(80, port, flags, seq, ack).build();
    };
    f.push_back(c2s(kTcpSyn, 100, 0));
    f.push_back(s2c(kTcpSyn | kTcpAck, 500, 101));
    f.push_back(c2s(kTcpAck, 101, 501));
    f.push_back(c2s(kTcpAck | kTcpPsh, 101, 501, 10));
    f.push_back(s2c(kTcpAck, 501, 111));
    f.push_back(c2s(kTcpFin | kTcpAck, 111, 501));
    f.push_back(s2c(kTcpFin | kTcpAck, 501, 112));
    f.push_back(c2s(kTcpAck, 112, 502));
    f.push_back(c2s(kTcpRst, 111, 0));
    f.push_back(c2s(kTcpSyn, 9000, 0));  // a new ISN: port reuse once closed.
  }
  for (uint16_t sport : {5000, 5001, 5002}) {
    f.push_back(PacketBuilder().ipv4("10.0.1.1", "10.0.1.2").udp(sport, 53).payload(20).build());
    f.push_back(PacketBuilder().ipv4("10.0.1.2", "10.0.1.1").udp(53, sport).payload(20).build());
  }
  f.push_back(PacketBuilder().ipv6("fd00::1", "fd00::2").udp(6000, 53).payload(20).build());
  f.push_back(PacketBuilder().ipv6("fd00::2", "fd00::1").udp(53, 6000).payload(20).build());
  f.push_back(PacketBuilder().ipv4("10.0.2.1", "10.0.2.2").icmpEcho(true, 7).build());
  f.push_back(PacketBuilder().ipv4("10.0.2.2", "10.0.2.1").icmpEcho(false, 7).build());
  std::vector<uint8_t> quoted =
      PacketBuilder().ipv4("10.0.1.1", "10.0.1.2").udp(5000, 53).payload(8).buildIp();
  f.push_back(PacketBuilder().ipv4("10.0.1.2", "10.0.1.1").icmpError(3, 3, quoted).build());
  for (uint16_t id : {11, 12}) {
    auto big = PacketBuilder().ipv4("10.0.3.1", "10.0.3.2").udp(id, 53).payload(2600).buildIp();
    for (auto& frag : fragmentV4(big, 1288, id)) f.push_back(std::move(frag));
  }
  f.push_back(PacketBuilder().nonIp(0x0806).build());
  f.push_back(PacketBuilder().ipv4("10.0.1.1", "10.0.1.2").udp(5003, 53).badIpChecksum().build());
  f.push_back(
      PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1002, 80, kTcpSyn).badL4Checksum().build());
  f.push_back(PacketBuilder()
                  .ipv4("10.0.0.1", "10.0.0.2")
                  .tcp(1003, 80, kTcpSyn | kTcpFin)
                  .build());  // invalid flags.
  std::vector<uint8_t> truncated = f[0];
  truncated.resize(30);
  f.push_back(truncated);
  f.push_back(ethernet({0x45, 0x00}, 0x0800));  // an IPv4 EtherType, no header.
  return f;
}

// A verdict of packet `packet` with the connection named by its creation number (pointers
// differ per engine).
std::string show(const Verdict& v, const LogHooks& h, uint64_t packet) {
  return std::to_string(v.state) + "/" + invalidReasonName(v.invalid) + "/" +
         std::to_string(v.conn != nullptr ? h.idAt(v.conn, packet) : 0) + "/" +
         std::to_string(v.reply) + std::to_string(v.created) + std::to_string(v.held) +
         std::to_string(v.reassembled) + std::to_string(v.fast_path);
}

// Every field of every connection, sorted by creation number.
std::vector<std::string> table(const Conntrack& ct) {
  std::vector<const Conn*> conns = ct.connections();
  std::sort(conns.begin(), conns.end(), [](const Conn* a, const Conn* b) { return a->id < b->id; });
  std::vector<std::string> out;
  for (const Conn* c : conns) {
    out.push_back(
        std::to_string(c->id) + " " + formatKey(c->key()) + " " + formatKey(c->revKey()) +
        " exp=" + std::to_string(c->expiration) + " created=" + std::to_string(c->created_ms) +
        " pkts=" + std::to_string(c->packets[0]) + "," + std::to_string(c->packets[1]) +
        " timer=" + std::to_string(int(c->timer())) + " state=" + std::to_string(c->ext.state) +
        " mark=" + std::to_string(int(c->ext.offload_mark)));
  }
  return out;
}

std::vector<uint64_t> counters(const Conntrack& ct) {
  const ConntrackStats& s = ct.stats();
  const IpfStats& i = ct.ipf().stats();
  return {s.packets, s.conns_created, s.conns_removed,    s.limit_drops, s.port_reuse, s.sweeps,
          s.swept,   s.updates,       s.sweep_bound_hits, i.accepted,    i.completed,  i.too_small};
}

// One batch of the run: frames (catalogue indexes), the clock step before it, whether to sweep.
struct Step {
  std::vector<size_t> frames;
  int64_t advance_ms = 0;
  uint16_t zone = 0;
  bool sweep = false;
};

void showValue(const Step& s, std::ostream& os) {
  os << "{+" << s.advance_ms << " ms, zone " << s.zone << (s.sweep ? ", sweep" : "") << ": ";
  for (size_t k : s.frames) os << k << " ";
  os << "}";
}

// Runs `steps` on two engines of `cfg`, one packet at a time and in batches; they must agree on
// everything after every batch.
void checkSame(const ConntrackConfig& cfg, const std::vector<Step>& steps) {
  static const std::vector<std::vector<uint8_t>> kFrames = catalogue();
  Conntrack one(cfg), batch(cfg);
  LogHooks one_hooks, batch_hooks;
  one.setHooks(&one_hooks);
  batch.setHooks(&batch_hooks);
  int64_t now = 1000;
  uint64_t packet = 0;
  for (const Step& step : steps) {
    now += step.advance_ms;
    std::vector<const uint8_t*> frames;
    std::vector<uint32_t> lens;
    std::vector<PacketMeta> metas;
    std::vector<Verdict> one_verdicts;
    for (size_t k : step.frames) {
      const std::vector<uint8_t>& f = kFrames[k % kFrames.size()];
      PacketMeta m;
      m.packet = ++packet;
      frames.push_back(f.data());
      lens.push_back(uint32_t(f.size()));
      metas.push_back(m);
      one_verdicts.push_back(
          one.execute(kLinkEthernet, f.data(), lens.back(), now, step.zone, true, m));
    }
    std::vector<Verdict> got(frames.size());
    batch.executeBatch(kLinkEthernet, frames, lens, now, step.zone, true, metas, got);
    std::vector<std::string> want, got_shown;
    for (size_t i = 0; i < got.size(); ++i) {
      want.push_back(show(one_verdicts[i], one_hooks, metas[i].packet));
      got_shown.push_back(show(got[i], batch_hooks, metas[i].packet));
    }
    for (size_t i = 0; i < want.size(); ++i) {
      if (got_shown[i] != want[i]) {
        RC_LOG() << "packet " << i << " (frame " << step.frames[i] << "): batch " << got_shown[i]
                 << ", one by one " << want[i] << "\n";
      }
    }
    RC_ASSERT(got_shown == want);
    RC_ASSERT(batch_hooks.calls == one_hooks.calls);
    if (step.sweep) {
      one.sweep(now);
      batch.sweep(now);
    }
    RC_ASSERT(counters(batch) == counters(one));
    RC_ASSERT(table(batch) == table(one));
  }
}

rc::Gen<std::vector<Step>> genSteps() {
  const size_t n = catalogue().size();
  auto step = rc::gen::build<Step>(
      rc::gen::set(&Step::frames,
                   rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(0, n))),
      rc::gen::set(&Step::advance_ms, rc::gen::element<int64_t>(0, 0, 1000, 31000, 130000)),
      rc::gen::set(&Step::zone, rc::gen::element<uint16_t>(0, 0, 0, 1)),
      rc::gen::set(&Step::sweep, rc::gen::arbitrary<bool>()));
  return rc::gen::container<std::vector<Step>>(step);
}

// OVS's behaviour (no strict fixes): verdicts, hook calls, counters and table agree.
RC_GTEST_PROP(ExecuteBatch, SameAsOneByOne, ()) { checkSame(ConntrackConfig{}, *genSteps()); }

// Strict profile: an expired connection is removed (conn_del) by its successor's packet, so
// connections are created and deleted inside a batch; a small limit makes creations fail.
RC_GTEST_PROP(ExecuteBatch, SameAsOneByOneStrictAndLimited, ()) {
  ConntrackConfig cfg;
  cfg.strict.replace_expired = true;
  cfg.strict.update_checks_timestamp = true;
  cfg.strict.validate_responder_rst = true;
  cfg.conn_limit = *rc::gen::inRange<uint32_t>(1, 12);
  checkSame(cfg, *genSteps());
}

// Batches longer than kMaxBatch are taken in pieces, in order: a connection made in the first
// piece is found by the second.
TEST(ExecuteBatch, LongBatchInPieces) {
  Conntrack ct;
  std::vector<std::vector<uint8_t>> frames;
  for (uint16_t i = 0; i < 40; ++i) {
    frames.push_back(PacketBuilder().ipv4("10.0.1.1", "10.0.1.2").udp(5000, 53).build());
  }
  std::vector<const uint8_t*> ptrs;
  std::vector<uint32_t> lens;
  for (const auto& f : frames) {
    ptrs.push_back(f.data());
    lens.push_back(uint32_t(f.size()));
  }
  std::vector<Verdict> out(frames.size());
  ct.executeBatch(kLinkEthernet, ptrs, lens, 1000, 0, true, {}, out);
  EXPECT_EQ(formatCtState(out[0].state), "new|trk");
  EXPECT_TRUE(out[0].created);
  for (size_t i = 1; i < out.size(); ++i) {
    EXPECT_EQ(out[i].conn, out[0].conn) << i;
    EXPECT_FALSE(out[i].created) << i;
  }
  EXPECT_EQ(ct.stats().packets, 40u);
  EXPECT_EQ(ct.connCount(), 1u);
}

}  // namespace
}  // namespace ctsim::ct
