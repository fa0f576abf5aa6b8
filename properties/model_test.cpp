// Model-based test (rc::state): a model of UDP connections (which exist, their direction, their
// expiry, which dummy providers hold them) against the real engine + registry + providers under
// strict, with the invariant checker watching. Commands: a packet forward/reverse (UDP, or a TCP
// SYN), time steps, sweeps, zone flushes, provider registration/unregistration and add faults.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <map>
#include <set>

#include "properties/harness.h"
#include "properties/workload.h"
#include "providers/builtin.h"

namespace ctsim::props {
namespace {

constexpr int64_t kSweepNever = int64_t(1) << 50;  // no sweep but the explicit ones.

// One expected connection.
struct MConn {
  bool origin_reply = false;      // created by a packet in the "reply" direction.
  int l4 = 0;                     // 0 first, 1 multiple, 2 bidir (OVS's OTHERS_*).
  int64_t expiration = 0;         // ms.
  std::set<std::string> holders;  // providers that accepted it.
};
// The model.
struct Model {
  int64_t now = 0;                                  // ms.
  std::map<std::pair<int, uint16_t>, MConn> conns;  // (flow, zone) -> connection.
  std::set<std::string> providers;                  // registered dummies.
  std::map<std::string, int> add_faults;            // pending conn_add failures.
};
// The real system.
struct Sut {
  std::unique_ptr<Session> session;
};

int64_t udpTimeoutMs(int l4) { return l4 == 2 ? 30000 : 60000; }

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
}

struct Packet final : rc::state::Command<Model, Sut> {
  int flow = *rc::gen::inRange(0, 3);
  uint16_t zone = *rc::gen::element<uint16_t>(0, 7);
  bool reply = *rc::gen::arbitrary<bool>();
  int64_t gap = *rc::gen::inRange<int64_t>(0, 3000);

  void apply(Model& m) const override {
    m.now += gap;
    auto key = std::make_pair(flow, zone);
    auto it = m.conns.find(key);
    if (it != m.conns.end() && m.now >= it->second.expiration) {
      m.conns.erase(it);  // strict: an expired, unswept connection is replaced.
      it = m.conns.end();
    }
    if (it == m.conns.end()) {
      MConn c;
      c.origin_reply = reply;
      c.expiration = m.now + udpTimeoutMs(0);
      for (const std::string& p : m.providers) {
        auto f = m.add_faults.find(p);
        if (f != m.add_faults.end() && f->second > 0) {
          --f->second;
          continue;
        }
        c.holders.insert(p);
      }
      m.conns[key] = c;
      return;
    }
    MConn& c = it->second;
    bool is_reply = reply != c.origin_reply;
    if (is_reply && c.l4 != 2) {
      c.l4 = 2;
    } else if (c.l4 == 0) {
      c.l4 = 1;
    }
    c.expiration = m.now + udpTimeoutMs(c.l4);
  }
  void run(const Model& m, Sut& s) const override {
    auto key = std::make_pair(flow, zone);
    auto it = m.conns.find(key);
    int64_t now = m.now + gap;
    std::string want;
    if (it == m.conns.end() || now >= it->second.expiration) {
      want = "new|trk";
    } else {
      bool is_reply = reply != it->second.origin_reply;
      bool est = is_reply || it->second.l4 == 2;
      want = is_reply ? "est|rpl|trk" : est ? "est|trk" : "new|trk";
    }
    s.session->packet(udpFrame(flow, reply, zone), gap);
    RC_ASSERT(s.session->checker().violations().empty());
    RC_ASSERT(s.session->lastState() == want);
    Model after = m;
    apply(after);
    checkHolders(after, s);
  }
  void show(std::ostream& os) const override {
    os << "Packet(udp flow " << flow << ", zone " << zone << (reply ? ", reverse" : ", forward")
       << ", +" << gap << " ms)";
  }
};

struct TcpSyn final : rc::state::Command<Model, Sut> {
  int flow = *rc::gen::inRange(0, 3);
  // Its conn_add consumes a pending fault of every provider.
  void apply(Model& m) const override {
    for (auto& [p, n] : m.add_faults) {
      if (n > 0 && m.providers.count(p)) --n;
    }
  }
  void run(const Model&, Sut& s) const override {
    // TCP is outside the model: the SYN's connection is flushed right away (conn_add, then
    // conn_del from the zone flush).
    s.session->packet(tcpFrame(flow, false, kTcpSyn, 1000, 0, 5));
    RC_ASSERT(s.session->lastState() == "new|trk");
    s.session->flushZone(5);
    RC_ASSERT(s.session->checker().violations().empty());
  }
  void show(std::ostream& os) const override { os << "TcpSyn(flow " << flow << ", zone 5)"; }
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
        if (!c.holders.empty()) {
          // The dummy answers "now": kept until now + its timeout (strict checks the value).
          c.expiration = m.now + udpTimeoutMs(c.l4);
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
  uint16_t zone = *rc::gen::element<uint16_t>(0, 7);
  void apply(Model& m) const override {
    for (auto it = m.conns.begin(); it != m.conns.end();) {
      it = it->first.second == zone ? m.conns.erase(it) : std::next(it);
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

// The engine, registry and dummies follow the model through any command sequence (strict).
RC_GTEST_PROP(ModelTest, EngineAndRegistryFollowTheModel, ()) {
  RunConfig cfg;
  cfg.sweep_interval_ms = kSweepNever;
  cfg.providers = {"dummy:name=d1"};
  Model model;
  model.providers = {"d1"};
  model.now = 1700000000000;
  auto s = Session::create(cfg, defaultProviderFactory(), model.now * 1000000);
  RC_ASSERT(s.ok());
  Sut sut{std::move(s).value()};
  rc::state::check(
      model, sut,
      rc::state::gen::execOneOfWithArgs<Packet, Packet, Packet, TcpSyn, Advance, Sweep, FlushZone,
                                        Register, Unregister, InjectAddFault>());
  RunReport r = sut.session->finish();
  for (const Violation& v : r.violations) RC_FAIL(formatViolation(v));
}

}  // namespace
}  // namespace ctsim::props
