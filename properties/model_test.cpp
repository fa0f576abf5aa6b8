// Model-based test (rc::state): a model of UDP and TCP connections (which exist, their
// direction, each TCP peer's state as software saw it, their timer and expiry, which dummy
// providers hold them, which hold an emu-hw entry) against the real engine + registry +
// providers under strict, with the invariant checker watching. Commands: UDP datagrams either
// way, TCP segments (SYN, SYN-ACK, the handshake's ACK, data, FIN and RST from either side, a RST
// out of window, invalid flags, a stray SYN-ACK), time steps, sweeps, zone and table flushes,
// provider registration/unregistration and add faults. Some runs register emu-hw with two slots
// first: its fast path consumes the packets of a connection with an entry (but TCP SYN/FIN/RST),
// which software then never sees.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <map>
#include <set>
#include <tuple>

#include "properties/harness.h"
#include "properties/workload.h"
#include "providers/builtin.h"
#include "providers/fast_path.h"

namespace ctsim::props {
namespace {

constexpr int64_t kSweepNever = int64_t(1) << 50;  // no sweep but the explicit ones.
constexpr uint64_t kHwCapacity = 2;                // emu-hw slots in the runs that have it.
constexpr const char* kHwSpec = "emu-hw:capacity=2,mirror=false";

// TCP peer states as the engine orders them (pf's, fewer): the model's view of software.
enum TcpSt : int { kClosed, kSynSent, kEstablished, kClosing, kFinWait2, kTimeWait };

// One expected TCP connection: what was sent (drives which segment may come next), the next
// sequence number of each side, and each peer's state as software saw it (emu-hw may have
// consumed some segments).
struct MTcp {
  bool synack = false, ack = false, rst = false;  // sent: SYN-ACK, handshake ACK, a RST.
  bool fin[2] = {false, false};                   // sent a FIN: client, server.
  uint32_t nxt[2] = {0, 0};                       // next sequence number: client, server.
  int st[2] = {kClosed, kClosed};                 // software's peer states: client, server.
};
// One expected connection.
struct MConn {
  bool origin_reply = false;      // created by a packet in the "reply" direction.
  int l4 = 0;                     // UDP: 0 first, 1 multiple, 2 bidir (OVS's OTHERS_*).
  MTcp tcp;                       // TCP only.
  int64_t timeout = 0;            // current timer, ms.
  int64_t expiration = 0;         // ms.
  std::set<std::string> holders;  // dummy providers that accepted it.
  bool hw = false;                // holds an emu-hw entry (active: no insert latency).
  int64_t hw_last = 0;            // the entry's last use (activation or hit), ms.
};
enum Proto : int { kUdp = 17, kTcp = 6 };
using Key = std::tuple<int, int, uint16_t>;  // (protocol, flow, zone).
// The model.
struct Model {
  int64_t now = 0;                        // ms.
  std::map<Key, MConn> conns;             // live and expired-but-unswept connections.
  std::set<std::string> providers;        // registered dummies.
  std::map<std::string, int> add_faults;  // pending conn_add failures.
  bool hw = false;                        // emu-hw registered (first, at creation).
  size_t hwEntries() const {
    size_t n = 0;
    for (const auto& [k, c] : conns) n += c.hw;
    return n;
  }
};
// The real system.
struct Sut {
  std::unique_ptr<Session> session;
};

int64_t udpTimeoutMs(int l4) { return l4 == 2 ? 30000 : 60000; }
// The engine's timer choice after a valid segment.
int64_t tcpTimeoutMs(const int st[2]) {
  int lo = std::min(st[0], st[1]), hi = std::max(st[0], st[1]);
  if (lo >= kFinWait2) return 30000;    // close
  if (lo >= kClosing) return 45000;     // time_wait
  if (lo < kEstablished) return 30000;  // syn_sent / syn_recv
  if (hi >= kClosing) return 900000;    // fin_wait
  return int64_t(86400) * 1000;         // established
}

// A new connection `key` (an expired one of the tuple is replaced: conn_del, then conn_add).
MConn& createConn(Model& m, const Key& key, bool origin_reply, int64_t timeout) {
  m.conns.erase(key);
  MConn c;
  c.origin_reply = origin_reply;
  c.timeout = timeout;
  c.expiration = m.now + timeout;
  if (m.hw && m.hwEntries() < kHwCapacity) {  // emu-hw first; ENOSPC when full.
    c.hw = true;
    c.hw_last = m.now;
  }
  for (const std::string& p : m.providers) {
    auto f = m.add_faults.find(p);
    if (f != m.add_faults.end() && f->second > 0) {
      --f->second;
      continue;
    }
    c.holders.insert(p);
  }
  return m.conns[key] = c;
}

// Which provider holds what matches the model.
void checkHolders(const Model& m, Sut& s) {
  for (const std::string& p : m.providers) {
    size_t want = 0;
    for (const auto& [k, c] : m.conns) want += c.holders.count(p);
    RecordingProvider* rp = s.session->provider(p);
    RC_ASSERT(rp != nullptr);
    auto* d = dynamic_cast<DummyProvider*>(rp->inner());
    RC_ASSERT(d != nullptr);
    RC_ASSERT(d->connections() == want);
  }
  if (m.hw) {
    RecordingProvider* rp = s.session->provider("emu-hw");
    RC_ASSERT(rp != nullptr);
    FastPath* fp = fastPathOf(*rp->inner());
    RC_ASSERT(fp != nullptr);
    FastPathStats st = fp->stats();
    RC_ASSERT(st.entries == m.hwEntries());
    RC_ASSERT(st.active == m.hwEntries());
  }
}

// A packet of connection `key` in direction `reply` (from 10.0.0.2) `gap` ms on: applies it to
// the model and gives the predicted ct_state ("hw" when the fast path consumes it).
// TCP: `flags`, and `in_window` false for a segment whose numbers the engine must refuse (the
// callers only make those where the loose branch cannot take them).
std::string applyPacket(Model& m, const Key& key, bool reply, int64_t gap, uint8_t flags = 0,
                        bool in_window = true) {
  m.now += gap;
  const bool tcp = std::get<0>(key) == kTcp;
  auto it = m.conns.find(key);
  // The fast path sees the packet first, whatever software thinks of the connection: a hit
  // (last use now), consumed unless a TCP SYN/FIN/RST.
  if (it != m.conns.end() && it->second.hw) {
    it->second.hw_last = m.now;
    if (!(tcp && (flags & (kTcpSyn | kTcpFin | kTcpRst)) != 0)) return "hw";
  }
  const bool live = it != m.conns.end() && m.now < it->second.expiration;
  if (!tcp) {
    if (!live) {
      createConn(m, key, reply, udpTimeoutMs(0));
      return "new|trk";
    }
    MConn& c = it->second;
    bool is_reply = reply != c.origin_reply;
    if (is_reply && c.l4 != 2) {
      c.l4 = 2;
    } else if (c.l4 == 0) {
      c.l4 = 1;
    }
    c.timeout = udpTimeoutMs(c.l4);
    c.expiration = m.now + c.timeout;
    return is_reply ? "est|rpl|trk" : c.l4 == 2 ? "est|trk" : "new|trk";
  }
  const bool syn = flags & kTcpSyn, ack = flags & kTcpAck, fin = flags & kTcpFin;
  const bool bad_flags = syn ? (flags & (kTcpRst | kTcpFin)) != 0
                             : ((flags & (kTcpAck | kTcpRst)) == 0 || (!ack && fin));
  if (!live) {
    if (bad_flags || (syn && ack)) return "inv|trk";  // may not start one; nothing changes.
    MConn& c = createConn(m, key, reply, 30000);      // callers send SYNs only.
    c.tcp.st[0] = kSynSent;
    return "new|trk";
  }
  MConn& c = it->second;
  int* st = c.tcp.st;
  const int s = reply != c.origin_reply ? 1 : 0, d = 1 - s;
  // An offloaded connection skips the sequence checks (skip_seq_check_offloaded, as the RFC
  // does): then only a responder's RST that does not acknowledge the SYN is refused.
  const bool offloaded = c.hw || !c.holders.empty();
  const bool responder_rst = (flags & kTcpRst) && st[s] == kClosed && st[d] == kSynSent;
  if (bad_flags || (!in_window && (responder_rst || !offloaded))) return "inv|trk";
  if (syn && !ack) {
    if (st[0] >= kFinWait2 && st[1] >= kFinWait2) {  // port reuse: a new connection.
      MConn& n = createConn(m, key, reply, 30000);
      n.tcp.st[0] = kSynSent;
      return "new|trk";
    }
    st[s] = kSynSent;  // callers send it only while st[s] <= kSynSent: still opening.
    c.timeout = 30000;
    c.expiration = m.now + c.timeout;
    return "new|trk";
  }
  if (st[s] < kSynSent) st[s] = kSynSent;  // its first segment.
  if (fin && st[s] < kClosing) st[s] = kClosing;
  if (ack) {
    if (st[d] == kSynSent) {
      st[d] = kEstablished;
    } else if (st[d] == kClosing) {
      st[d] = kFinWait2;
    }
  }
  if (flags & kTcpRst) st[0] = st[1] = kTimeWait;
  c.timeout = tcpTimeoutMs(st);
  c.expiration = m.now + c.timeout;
  return s == 1 ? "est|rpl|trk" : "est|trk";
}

// Runs a packet against the model (on a copy) and the real system: state, checker, holders.
void runPacket(const Model& m, Sut& s, const Key& key, bool reply, int64_t gap,
               const std::vector<uint8_t>& frame, uint8_t flags = 0, bool in_window = true) {
  Model after = m;
  std::string want = applyPacket(after, key, reply, gap, flags, in_window);
  s.session->packet(frame, gap);
  RC_ASSERT(s.session->checker().violations().empty());
  RC_ASSERT(s.session->lastState() == want);
  checkHolders(after, s);
}

struct Packet final : rc::state::Command<Model, Sut> {
  int flow = *rc::gen::inRange(0, 3);
  uint16_t zone = *rc::gen::element<uint16_t>(0, 7);
  bool reply = *rc::gen::arbitrary<bool>();
  int64_t gap = *rc::gen::inRange<int64_t>(0, 3000);

  void apply(Model& m) const override { applyPacket(m, {kUdp, flow, zone}, reply, gap); }
  void run(const Model& m, Sut& s) const override {
    runPacket(m, s, {kUdp, flow, zone}, reply, gap, udpFrame(flow, reply, zone));
  }
  void show(std::ostream& os) const override {
    os << "Packet(udp flow " << flow << ", zone " << zone << (reply ? ", reverse" : ", forward")
       << ", +" << gap << " ms)";
  }
};

// The TCP segments the model predicts.
enum class Seg : int {
  kSyn,          // client SYN: opens, retransmits while opening, or reuses a closed tuple.
  kSynAck,       // server SYN-ACK.
  kAck,          // client's handshake ACK.
  kData,         // ACK|PSH (no payload) from `server` or the client.
  kFin,          // FIN|ACK.
  kRst,          // RST|ACK at the expected sequence number.
  kBadRst,       // RST|ACK 5000 off (sequence and ack): refused unless offloaded.
  kFinNoAck,     // a bare FIN: invalid flags.
  kStraySynAck,  // a SYN-ACK of no connection: may not open one.
};
const char* segName(Seg k) {
  static const char* const kNames[] = {"SYN", "SYN-ACK", "ACK",      "data",         "FIN",
                                       "RST", "bad RST", "bare FIN", "stray SYN-ACK"};
  return kNames[int(k)];
}
struct Choice {
  Seg seg;
  bool server;  // sent by the server (10.0.0.2:80), the "reply" direction.
};

// The segments of `key` the model predicts at `t`.
std::vector<Choice> choices(const Model& m, const Key& key, int64_t t) {
  auto it = m.conns.find(key);
  if (it == m.conns.end() || t >= it->second.expiration) {
    return {{Seg::kSyn, false}, {Seg::kFinNoAck, false}, {Seg::kStraySynAck, true}};
  }
  const MTcp& c = it->second.tcp;
  std::vector<Choice> out = {{Seg::kFinNoAck, false}, {Seg::kFinNoAck, true}};
  if (c.st[0] <= kSynSent || (c.st[0] >= kFinWait2 && c.st[1] >= kFinWait2)) {
    out.push_back({Seg::kSyn, false});
  }
  if (c.rst) return out;
  if (!c.synack) {
    out.push_back({Seg::kSynAck, true});
    out.push_back({Seg::kRst, true});
    if (c.st[1] == kClosed && c.st[0] == kSynSent) out.push_back({Seg::kBadRst, true});
    return out;
  }
  if (!c.ack) {
    out.push_back({Seg::kAck, false});
    out.push_back({Seg::kRst, true});
    return out;
  }
  for (bool server : {false, true}) {
    const int s = server ? 1 : 0;
    out.push_back({Seg::kData, server});
    out.push_back({Seg::kData, server});
    if (!c.fin[s]) out.push_back({Seg::kFin, server});
    out.push_back({Seg::kRst, server});
    // Out of window and out of the loose branch's reach: both peers seen, neither closed.
    if (c.st[0] >= kSynSent && c.st[1] >= kSynSent && c.st[0] < kFinWait2 && c.st[1] < kFinWait2) {
      out.push_back({Seg::kBadRst, server});
    }
  }
  return out;
}

struct TcpSegment final : rc::state::Command<Model, Sut> {
  int flow = *rc::gen::inRange(0, 2);
  uint16_t zone = *rc::gen::element<uint16_t>(0, 5);
  int64_t gap = *rc::gen::weightedOneOf<int64_t>(
      {{4, rc::gen::inRange<int64_t>(0, 5)}, {1, rc::gen::inRange<int64_t>(0, 40000)}});
  Choice pick;

  explicit TcpSegment(const Model& m)
      : pick(*rc::gen::elementOf(choices(m, {kTcp, flow, zone}, m.now + gap))) {}

  Key key() const { return {kTcp, flow, zone}; }
  void checkPreconditions(const Model& m) const override {
    bool found = false;
    for (const Choice& c : choices(m, key(), m.now + gap)) {
      found |= c.seg == pick.seg && c.server == pick.server;
    }
    RC_PRE(found);
  }
  // The segment: flags, sequence and ack numbers from the model.
  uint8_t flags() const {
    switch (pick.seg) {
      case Seg::kSyn:
        return kTcpSyn;
      case Seg::kSynAck:
      case Seg::kStraySynAck:
        return kTcpSyn | kTcpAck;
      case Seg::kAck:
        return kTcpAck;
      case Seg::kData:
        return kTcpAck | kTcpPsh;
      case Seg::kFin:
        return kTcpFin | kTcpAck;
      case Seg::kRst:
      case Seg::kBadRst:
        return kTcpRst | kTcpAck;
      case Seg::kFinNoAck:
        return kTcpFin;
    }
    return 0;
  }
  // Whether a SYN retransmits (rather than opening or reusing the tuple).
  bool retransmit(const Model& m) const {
    auto it = m.conns.find(key());
    return it != m.conns.end() && m.now + gap < it->second.expiration &&
           it->second.tcp.st[0] <= kSynSent;
  }
  // The segment, with the sequence and ack numbers the model keeps (fresh ISNs for a new
  // connection, different after a reuse).
  std::vector<uint8_t> frame(const Model& m) const {
    const int s = pick.server ? 1 : 0;
    uint32_t seq = 424242, ack = 0;
    auto it = m.conns.find(key());
    const bool known = it != m.conns.end();
    if (pick.seg == Seg::kSyn) {
      seq = retransmit(m) ? it->second.tcp.nxt[0] - 1 : isn(m, 0);
    } else if (known && m.now + gap < it->second.expiration) {
      seq = it->second.tcp.nxt[s];
      ack = it->second.tcp.nxt[1 - s];
      if (pick.seg == Seg::kBadRst) {
        seq += 5000;
        ack += 5000;
      }
    }
    return tcpFrame(flow, pick.server, flags(), seq, ack, zone);
  }
  uint32_t isn(const Model& m, int side) const {
    auto it = m.conns.find(key());
    uint32_t base = it != m.conns.end() ? it->second.tcp.nxt[0] + 7777 : 0;
    return base + uint32_t(1000 + 100000 * flow + 1000 * zone) + (side ? 3000000u : 0u);
  }
  // The model's sequence bookkeeping (what was sent), then the ct_state prediction.
  std::string step(Model& m) const {
    const int s = pick.server ? 1 : 0;
    const bool opens = pick.seg == Seg::kSyn && !retransmit(m);
    const uint32_t isn_c = isn(m, 0), isn_s = isn(m, 1);
    std::string want = applyPacket(m, key(), pick.server, gap, flags(), pick.seg != Seg::kBadRst);
    auto it = m.conns.find(key());
    if (it == m.conns.end() || want == "inv|trk") return want;
    MTcp& c = it->second.tcp;
    switch (pick.seg) {
      case Seg::kSyn:
        if (opens) {
          c.nxt[0] = isn_c + 1;
          c.nxt[1] = isn_s;
        }
        break;
      case Seg::kSynAck:
        c.synack = true;
        c.nxt[1] += 1;
        break;
      case Seg::kAck:
        c.ack = true;
        break;
      case Seg::kFin:
        c.fin[s] = true;
        c.nxt[s] += 1;
        break;
      case Seg::kRst:
      case Seg::kBadRst:  // taken: an offloaded connection.
        c.rst = true;
        break;
      default:
        break;
    }
    return want;
  }
  void apply(Model& m) const override { step(m); }
  void run(const Model& m, Sut& s) const override {
    Model after = m;
    std::string want = step(after);
    s.session->packet(frame(m), gap);
    RC_ASSERT(s.session->checker().violations().empty());
    RC_ASSERT(s.session->lastState() == want);
    checkHolders(after, s);
  }
  void show(std::ostream& os) const override {
    os << "TcpSegment(flow " << flow << ", zone " << zone << ", "
       << (pick.server ? "server " : "client ") << segName(pick.seg) << ", +" << gap << " ms)";
  }
};

struct Advance final : rc::state::Command<Model, Sut> {
  int64_t ms = *rc::gen::element<int64_t>(1000, 29000, 31000, 61000);
  void apply(Model& m) const override { m.now += ms; }
  void run(const Model&, Sut& s) const override {
    s.session->advance(ms);
    RC_ASSERT(s.session->checker().violations().empty());
  }
  void show(std::ostream& os) const override { os << "Advance(" << ms << " ms)"; }
};

struct Sweep final : rc::state::Command<Model, Sut> {
  void apply(Model& m) const override {
    for (auto it = m.conns.begin(); it != m.conns.end();) {
      MConn& c = it->second;
      if (m.now >= c.expiration) {
        if (c.hw) {
          // emu-hw is asked first and answers the entry's last use: kept until then + the
          // timer, or deleted (and the entry with it) when that is past.
          int64_t until = std::max<int64_t>(c.hw_last, 1) + c.timeout;
          if (until <= m.now) {
            it = m.conns.erase(it);
            continue;
          }
          c.expiration = until;
        } else if (!c.holders.empty()) {
          // The dummy answers "now": kept until now + its timeout (strict checks the value).
          c.expiration = m.now + c.timeout;
        } else {
          it = m.conns.erase(it);
          continue;
        }
      }
      ++it;
    }
  }
  void run(const Model& m, Sut& s) const override {
    s.session->sweep();
    Model after = m;
    apply(after);
    auto& e = s.session->engine();
    RC_ASSERT(e.connCount() == after.conns.size());
    RC_ASSERT(s.session->checker().violations().empty());
    checkHolders(after, s);
  }
  void show(std::ostream& os) const override { os << "Sweep"; }
};

struct FlushZone final : rc::state::Command<Model, Sut> {
  uint16_t zone = *rc::gen::element<uint16_t>(0, 5, 7);
  void apply(Model& m) const override {
    for (auto it = m.conns.begin(); it != m.conns.end();) {
      it = std::get<2>(it->first) == zone ? m.conns.erase(it) : std::next(it);
    }
  }
  void run(const Model& m, Sut& s) const override {
    s.session->flushZone(zone);
    RC_ASSERT(s.session->engine().zoneConnCount(zone) == 0);
    RC_ASSERT(s.session->checker().violations().empty());
    Model after = m;
    apply(after);
    checkHolders(after, s);
  }
  void show(std::ostream& os) const override { os << "FlushZone(" << zone << ")"; }
};

struct Flush final : rc::state::Command<Model, Sut> {
  void apply(Model& m) const override { m.conns.clear(); }
  void run(const Model& m, Sut& s) const override {
    s.session->flush();
    RC_ASSERT(s.session->engine().connCount() == 0);
    RC_ASSERT(s.session->checker().violations().empty());
    Model after = m;
    apply(after);
    checkHolders(after, s);
  }
  void show(std::ostream& os) const override { os << "Flush"; }
};

struct Register final : rc::state::Command<Model, Sut> {
  std::string name = *rc::gen::element<std::string>("d1", "d2", "d3");
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.providers.count(name)); }
  void apply(Model& m) const override { m.providers.insert(name); }
  void run(const Model&, Sut& s) const override {
    RC_ASSERT(s.session->registerProvider("dummy:name=" + name).ok());
  }
  void show(std::ostream& os) const override { os << "Register(" << name << ")"; }
};

struct Unregister final : rc::state::Command<Model, Sut> {
  std::string name = *rc::gen::element<std::string>("d1", "d2", "d3");
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.providers.count(name) > 0);
    for (const auto& [k, c] : m.conns) RC_PRE(!c.holders.count(name));  // OVS: at teardown.
  }
  void apply(Model& m) const override {
    m.providers.erase(name);
    m.add_faults.erase(name);
  }
  void run(const Model&, Sut& s) const override {
    RC_ASSERT(s.session->unregisterProvider(name).ok());
  }
  void show(std::ostream& os) const override { os << "Unregister(" << name << ")"; }
};

struct InjectAddFault final : rc::state::Command<Model, Sut> {
  std::string name = *rc::gen::element<std::string>("d1", "d2", "d3");
  int count = *rc::gen::inRange(1, 3);
  void checkPreconditions(const Model& m) const override { RC_PRE(m.providers.count(name) > 0); }
  void apply(Model& m) const override { m.add_faults[name] = count; }
  void run(const Model&, Sut& s) const override {
    ProviderFaults f;
    f.add_error = 28;
    f.add_error_left = uint64_t(count);
    RC_ASSERT(s.session->fault(name, f).ok());
  }
  void show(std::ostream& os) const override {
    os << "InjectAddFault(" << name << ", ENOSPC x" << count << ")";
  }
};

// The engine, registry, dummies and (in some runs) emu-hw's table and fast path follow the model
// through any command sequence (strict).
RC_GTEST_PROP(ModelTest, EngineAndRegistryFollowTheModel, ()) {
  const bool with_hw = *rc::gen::arbitrary<bool>();
  RunConfig cfg;
  cfg.sweep_interval_ms = kSweepNever;
  cfg.providers = {"dummy:name=d1"};
  if (with_hw) cfg.providers.insert(cfg.providers.begin(), kHwSpec);
  Model model;
  model.providers = {"d1"};
  model.hw = with_hw;
  model.now = 1700000000000;
  RC_TAG(with_hw ? "emu-hw" : "dummies only");
  auto s = Session::create(cfg, defaultProviderFactory(), model.now * 1000000);
  RC_ASSERT(s.ok());
  Sut sut{std::move(s).value()};
  rc::state::check(
      model, sut,
      rc::state::gen::execOneOfWithArgs<Packet, Packet, TcpSegment, TcpSegment, TcpSegment,
                                        TcpSegment, Advance, Sweep, FlushZone, Flush, Register,
                                        Unregister, InjectAddFault>());
  RunReport r = sut.session->finish();
  for (const Violation& v : r.violations) RC_FAIL(formatViolation(v));
}

}  // namespace
}  // namespace ctsim::props
