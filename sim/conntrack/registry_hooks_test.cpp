// The engine's hooks over a provider registry, on small traces built here: the call sites and
// their contexts, the UPD batch, the output formats, and golden outputs under rfc-v1, rfc-v2 and
// strict showing exactly where the profiles differ (facts §5.1-§5.6).
#include "sim/conntrack/registry_hooks.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "providers/builtin.h"
#include "sim/conntrack/test_util.h"
#include "sim/packet_builder.h"
#include "sim/pcap_writer.h"

namespace ctsim::ct {
namespace {

using testing::tcp;
using testing::udp;

constexpr uint32_t kCli = 1000;  // client ISN.
constexpr uint32_t kSrv = 5000;  // server ISN.

// One record of a generated trace.
struct Rec {
  int64_t ms;                  // capture time.
  std::vector<uint8_t> frame;  // Ethernet frame.
};

// A UDP datagram from 10.0.0.1:`sport` to 10.0.0.2:53.
std::vector<uint8_t> udpFrom(uint16_t sport) {
  return PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(sport, 53).payload(20).build();
}

// Writes `recs` as a pcap under the test's temporary folder; returns its path.
std::string writeTrace(const std::string& name, const std::vector<Rec>& recs) {
  std::string path = (std::filesystem::path(::testing::TempDir()) / (name + ".pcap")).string();
  auto w = PcapWriter::create(path, kLinkEthernet);
  EXPECT_TRUE(w.ok());
  for (const Rec& r : recs) {
    w.value()->write(r.ms * 1000000, r.frame.data(), uint32_t(r.frame.size()));
  }
  EXPECT_TRUE(w.value()->close().ok());
  return path;
}

// A provider with scripted answers that remembers what it was told.
class Scripted final : public Provider {
 public:
  explicit Scripted(std::string name,
                    CallbackMask mask = bit(Callback::kConnAdd) | bit(Callback::kConnDel) |
                                        bit(Callback::kConnUpdate) |
                                        bit(Callback::kConnEstablished) |
                                        bit(Callback::kCanOffload) | bit(Callback::kFlush))
      : name_(std::move(name)), mask_(mask) {}

  int add_result = 0;                 // conn_add's answer.
  bool can = true;                    // can_offload's answer.
  long long last_used = 0;            // conn_update's answer (0: "now" on the registry clock).
  std::set<const conn*> live;         // connections added and not deleted.
  std::vector<std::string> contexts;  // "op netdev port now" per call.
  std::vector<size_t> batch_upd_ops;  // batch_submit: UPD ops per batch.

  // Provider:
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override { return mask_; }
  int connAdd(const ct_offload_ctx& ctx) override {
    note("add", ctx);
    if (add_result == 0) live.insert(ctx.conn);
    return add_result;
  }
  void connDel(const ct_offload_ctx& ctx) override {
    note("del", ctx);
    live.erase(ctx.conn);
  }
  long long connUpdate(const ct_offload_ctx& ctx) override {
    note("upd", ctx);
    return last_used != 0 ? last_used : ctsim_now_ms();
  }
  void connEstablished(const ct_offload_ctx& ctx) override { note("est", ctx); }
  bool canOffload(const ct_offload_ctx&) override { return can; }
  void batchSubmit(ct_offload_op_batch& b) override {
    size_t n = 0;
    for (size_t i = 0; i < b.n_ops; ++i) n += b.ops[i].type == CT_OFFLOAD_OP_UPD ? 1 : 0;
    batch_upd_ops.push_back(n);
  }

 private:
  void note(const char* op, const ct_offload_ctx& ctx) {
    const char* dev = ctsim_netdev_name(ctx.netdev_in);
    contexts.push_back(std::string(op) + " " + (dev ? dev : "-") + " " +
                       std::to_string(ctx.input_port_id) + " " + std::to_string(ctsim_now_ms()));
  }
  std::string name_;
  CallbackMask mask_;
};

// What one replay under hooks produced.
struct Outcome {
  std::vector<std::string> hooks;  // `--emit hooks` lines.
  std::string events;              // `--emit events` text.
  std::vector<std::string> ct;     // ct_state per record.
  HookCounts counts;
  ReplaySummary summary;
  std::unique_ptr<Registry> registry;  // keeps the providers alive for inspection.
};

// Replays `path` under `profile` with the providers `setup` registers (none: no hooks at all).
Outcome replay(const std::string& path, Profile profile, ClockMode clock,
               const std::function<void(Registry&)>& setup, bool hooked = true) {
  Outcome out;
  out.registry = std::make_unique<Registry>(profile);
  Registry& registry = *out.registry;
  if (setup) setup(registry);
  RegistryHooks hooks(registry);
  HooksOracleWriter writer;
  hooks.setListener(
      [&](const HookEvent& e) {
        writer.onEvent(e);
        out.events += formatHookEvent(e);
      },
      true);
  ReplayOptions opt;
  opt.clock = clock;
  opt.engine = hookProfileConfig(profile);
  if (hooked) opt.hooks = &hooks;
  Replayer r(opt);
  auto res = r.run(path, [&](const TraceRecord& rec, const Verdict& v) {
    out.hooks.push_back(writer.packetLine(rec.index, v.state));
    out.ct.push_back(formatCtState(v.state));
  });
  EXPECT_TRUE(res.ok());
  out.hooks.push_back(writer.finalLine(hooks.counts()));
  if (hooked) hooks.shutdown();
  out.counts = hooks.counts();
  out.summary = res.value();
  return out;
}

using Lines = std::vector<std::string>;

// Connections in the table after the last packet (before the end-of-trace flush).
uint64_t tableSize(const ReplaySummary& s) {
  uint64_t n = 0;
  for (const auto& [proto, states] : s.conns) {
    for (const auto& [state, count] : states) n += count;
  }
  return n;
}

// Registers a C++ provider and returns it (the registry owns it until it is destroyed).
template <typename P>
P* add(Registry& reg, std::unique_ptr<P> p) {
  P* raw = p.get();
  EXPECT_EQ(reg.registerProvider(std::move(p), kOriginProgram), 0);
  return raw;
}

// ---- Call sites and contexts --------------------------------------------------------------

// conn_add and conn_established carry netdev p0/port 1, conn_del none; the registry clock is
// the packet's trace time; switch shutdown calls flush() once, after the end-of-trace conn_dels.
TEST(RegistryHooks, ContextsAndClock) {
  std::string path = writeTrace("ctx", {{1000, tcp(true, kTcpSyn, kCli, 0)},
                                        {1500, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1)}});
  Scripted* p = nullptr;
  Outcome o = replay(path, Profile::kStrict, ClockMode::kTrace,
                     [&](Registry& r) { p = add(r, std::make_unique<Scripted>("s")); });
  EXPECT_EQ(p->contexts, (Lines{"add p0 1 1000", "est p0 1 1500",
                                "del - " + std::to_string(CTSIM_PORT_NONE) + " 1500"}));
  EXPECT_EQ(o.counts.shutdown_flushes, 1u);
  EXPECT_EQ(o.events,
            "1: conn_add s tcp 10.0.0.1:1000 -> 10.0.0.2:80 zone=0\n"
            "2: conn_established s tcp 10.0.0.1:1000 -> 10.0.0.2:80 zone=0\n"
            "end: conn_del s tcp 10.0.0.1:1000 -> 10.0.0.2:80 zone=0\n"
            "shutdown: flush s\n");
}

// rfc profiles: the sweep's expired offloaded connections go to the registry as one batch of
// UPD ops (a batch_submit provider sees it whole); an op without a timestamp removes its conn.
TEST(RegistryHooks, SweepSubmitsOneUpdBatch) {
  std::string path = writeTrace("batch", {{0, udpFrom(1)}, {0, udpFrom(2)}, {100000, udpFrom(3)}});
  for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2}) {
    Scripted* b = nullptr;
    Outcome o = replay(path, prof, ClockMode::kTrace, [&](Registry& r) {
      b = add(r, std::make_unique<Scripted>("b", bit(Callback::kConnAdd) | bit(Callback::kConnDel) |
                                                     bit(Callback::kBatchSubmit)));
    });
    EXPECT_EQ(b->batch_upd_ops, (std::vector<size_t>{2})) << profileName(prof);
    EXPECT_EQ(o.counts.upd_batches, 1u);
    EXPECT_EQ(o.counts.upd, 2u);
    EXPECT_EQ(o.counts.upd_kept, 0u);  // no conn_update answered: both removed at the sweep.
    EXPECT_EQ(o.hooks[2], "3: new|trk          conn_del conn_del conn_add");
  }
}

// ---- Golden outputs per profile (facts §5) ------------------------------------------------

// §5.1: a packet between expiry and sweep creates a second connection for the tuple (second
// conn_add) and the UPD op keeps the old one alive; strict deletes the expired one first.
TEST(HookProfiles, DuplicateBetweenExpiryAndSweep) {
  // A at 0 (expires at 60 s); B at 50 s runs a sweep (nothing expired, next one at 70 s);
  // A again at 61 s: expired, not swept; B at 75 s runs the next sweep.
  std::string path = writeTrace(
      "dup", {{0, udpFrom(1)}, {50000, udpFrom(2)}, {61000, udpFrom(1)}, {75000, udpFrom(2)}});
  auto dummy = [](Registry& r) { ASSERT_TRUE(addBuiltinProvider(r, "dummy").ok()); };
  for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2}) {
    Outcome o = replay(path, prof, ClockMode::kTrace, dummy);
    EXPECT_EQ(o.hooks, (Lines{"1: new|trk          conn_add", "2: new|trk          conn_add",
                              "3: new|trk          conn_add", "4: new|trk         ",
                              "flush: conn_del x3; totals: add=3 est=0 del=3 upd=1"}))
        << profileName(prof);
    EXPECT_EQ(tableSize(o.summary), 3u);  // two connections for tuple A.
  }
  Outcome s = replay(path, Profile::kStrict, ClockMode::kTrace, dummy);
  EXPECT_EQ(s.hooks, (Lines{"1: new|trk          conn_add", "2: new|trk          conn_add",
                            "3: new|trk          conn_del conn_add", "4: new|trk         ",
                            "flush: conn_del x2; totals: add=3 est=0 del=3 upd=0"}));
  EXPECT_EQ(tableSize(s.summary), 2u);
}

// §5.2: one provider's conn_add fails, another's succeeds. rfc-v2 leaves the connection
// unmarked, so the one that took it never gets conn_del (a leak); rfc-v1 sends conn_del to all
// (also to the refuser); strict marks it for the acceptor only, which gets est and del.
TEST(HookProfiles, MultiProviderLeak) {
  std::string path = writeTrace("leak", {{0, tcp(true, kTcpSyn, kCli, 0)},
                                         {0, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1)}});
  struct Result {
    Lines hooks;
    size_t good_live, bad_dels;
  };
  auto run = [&](Profile prof) {
    Scripted *bad = nullptr, *good = nullptr;
    Outcome o = replay(path, prof, ClockMode::kFrozen, [&](Registry& r) {
      bad = add(r, std::make_unique<Scripted>("bad"));
      bad->add_result = EIO;
      good = add(r, std::make_unique<Scripted>("good"));
    });
    size_t bad_dels = 0;
    for (const auto& c : bad->contexts) bad_dels += c.starts_with("del") ? 1 : 0;
    return Result{o.hooks, good->live.size(), bad_dels};
  };
  Result v1 = run(Profile::kRfcV1), v2 = run(Profile::kRfcV2), st = run(Profile::kStrict);
  EXPECT_EQ(v1.hooks, (Lines{"1: new|trk          conn_add", "2: est|rpl|trk     ",
                             "flush: conn_del x1; totals: add=1 est=0 del=1 upd=0"}));
  EXPECT_EQ(v1.good_live, 0u);
  EXPECT_EQ(v1.bad_dels, 1u);
  EXPECT_EQ(v2.hooks, (Lines{"1: new|trk          conn_add", "2: est|rpl|trk     ",
                             "flush: conn_del x0; totals: add=1 est=0 del=0 upd=0"}));
  EXPECT_EQ(v2.good_live, 1u);  // the leak.
  EXPECT_EQ(st.hooks, (Lines{"1: new|trk          conn_add", "2: est|rpl|trk      conn_established",
                             "flush: conn_del x1; totals: add=1 est=1 del=1 upd=0"}));
  EXPECT_EQ(st.good_live, 0u);
  EXPECT_EQ(st.bad_dels, 0u);
}

// §5.3: a provider answering a stale but non-zero last-used keeps offloaded connections forever
// under the rfc profiles (each sweep asks again); strict compares it with the timeout and
// removes them at the first sweep after expiry.
TEST(HookProfiles, ImmortalConnection) {
  std::string path = writeTrace(
      "immortal",
      {{0, udpFrom(1)}, {100000, udpFrom(2)}, {200000, udpFrom(3)}, {300000, udpFrom(4)}});
  auto stale = [](Registry& r) {
    add(r, std::make_unique<Scripted>("stale"))->last_used = 1;  // 1 ms after the epoch.
  };
  for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2}) {
    Outcome o = replay(path, prof, ClockMode::kTrace, stale);
    EXPECT_EQ(o.hooks, (Lines{"1: new|trk          conn_add", "2: new|trk          conn_add",
                              "3: new|trk          conn_add", "4: new|trk          conn_add",
                              "flush: conn_del x4; totals: add=4 est=0 del=4 upd=6"}))
        << profileName(prof);
    EXPECT_EQ(o.summary.conns_expired_at_end, 0u);  // all kept alive by the stale answers.
  }
  Outcome s = replay(path, Profile::kStrict, ClockMode::kTrace, stale);
  EXPECT_EQ(s.hooks,
            (Lines{"1: new|trk          conn_add", "2: new|trk          conn_del conn_add",
                   "3: new|trk          conn_del conn_add", "4: new|trk          conn_del conn_add",
                   "flush: conn_del x1; totals: add=4 est=0 del=4 upd=3"}));
}

// §5.4: with no provider, or only providers whose can_offload says no, the rfc profiles still
// mark the connection: conn_established and conn_del are dispatched to nobody, and the TCP
// sequence checks are skipped (an out-of-window segment is est), and a provider that declined
// the connection still gets its conn_established; strict marks nothing.
TEST(HookProfiles, MarkedWithoutProvider) {
  std::string path =
      writeTrace("noprov", {{0, tcp(true, kTcpSyn, kCli, 0)},
                            {0, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1)},
                            {0, tcp(true, kTcpAck, kCli + 1, kSrv + 1)},
                            {0, tcp(true, kTcpAck, kCli + 1 + 10000000, kSrv + 1, 100)}});
  std::vector<std::function<void(Registry&)>> setups = {
      nullptr,
      [](Registry& r) { ASSERT_TRUE(addBuiltinProvider(r, "dummy:can_offload=false").ok()); }};
  for (const auto& setup : setups) {
    for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2}) {
      Outcome o = replay(path, prof, ClockMode::kFrozen, setup);
      EXPECT_EQ(o.hooks,
                (Lines{"1: new|trk          conn_add", "2: est|rpl|trk      conn_established",
                       "3: est|trk         ", "4: est|trk         ",
                       "flush: conn_del x1; totals: add=1 est=1 del=1 upd=0"}))
          << profileName(prof);
      // conn_add reached nobody; conn_established goes to every provider, also to one that
      // declined the connection (can_offload false).
      EXPECT_NE(o.events.find("1: conn_add - tcp"), std::string::npos) << o.events;
      EXPECT_NE(
          o.events.find(setup ? "2: conn_established dummy tcp" : "2: conn_established - tcp"),
          std::string::npos)
          << o.events;
    }
    Outcome s = replay(path, Profile::kStrict, ClockMode::kFrozen, setup);
    EXPECT_EQ(s.hooks, (Lines{"1: new|trk          conn_add", "2: est|rpl|trk     ",
                              "3: est|trk         ", "4: inv|trk         ",
                              "flush: conn_del x0; totals: add=1 est=0 del=0 upd=0"}));
  }
}

// §5.5: the responder's RST with an arbitrary sequence number answering a SYN is est|rpl and
// fires conn_established under the rfc profiles; strict requires it to acknowledge the SYN.
TEST(HookProfiles, UnvalidatedResponderRst) {
  std::string path =
      writeTrace("rst", {{0, tcp(true, kTcpSyn, kCli, 0)}, {0, tcp(false, kTcpRst, 777777, 0)}});
  auto dummy = [](Registry& r) { ASSERT_TRUE(addBuiltinProvider(r, "dummy").ok()); };
  for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2}) {
    Outcome o = replay(path, prof, ClockMode::kFrozen, dummy);
    EXPECT_EQ(o.hooks,
              (Lines{"1: new|trk          conn_add", "2: est|rpl|trk      conn_established",
                     "flush: conn_del x1; totals: add=1 est=1 del=1 upd=0"}))
        << profileName(prof);
  }
  Outcome s = replay(path, Profile::kStrict, ClockMode::kFrozen, dummy);
  EXPECT_EQ(s.hooks, (Lines{"1: new|trk          conn_add", "2: inv|trk         ",
                            "flush: conn_del x1; totals: add=1 est=0 del=1 upd=0"}));
}

// §5.6: a provider without conn_del registers under the rfc profiles (and then never hears of
// removals); strict refuses it at registration (EINVAL).
TEST(HookProfiles, MandatoryCallbacks) {
  std::string path = writeTrace("mandatory", {{0, udpFrom(1)}});
  CallbackMask no_del = bit(Callback::kConnAdd) | bit(Callback::kCanOffload);
  for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict}) {
    Registry reg(prof);
    int rc = reg.registerProvider(std::make_unique<Scripted>("nodel", no_del), kOriginProgram);
    EXPECT_EQ(rc, prof == Profile::kStrict ? EINVAL : 0) << profileName(prof);
  }
  Scripted* p = nullptr;
  Outcome o = replay(path, Profile::kRfcV2, ClockMode::kFrozen,
                     [&](Registry& r) { p = add(r, std::make_unique<Scripted>("nodel", no_del)); });
  EXPECT_EQ(o.hooks.back(), "flush: conn_del x1; totals: add=1 est=0 del=1 upd=0");
  EXPECT_EQ(p->live.size(), 1u);  // told of the add, never of the removal.
}

// ---- ct_state --------------------------------------------------------------------------------

// Without a sequence-check skip to apply (in-window traffic only), providers and profiles do not
// change any packet's ct_state, on either clock.
TEST(RegistryHooks, CtStateUnchangedByProviders) {
  std::vector<Rec> recs = {
      {0, tcp(true, kTcpSyn, kCli, 0)},
      {10, tcp(false, kTcpSyn | kTcpAck, kSrv, kCli + 1)},
      {20, tcp(true, kTcpAck, kCli + 1, kSrv + 1)},
      {30, tcp(true, kTcpAck | kTcpPsh, kCli + 1, kSrv + 1, 100)},
      {40, tcp(false, kTcpAck, kSrv + 1, kCli + 101)},
      {50, udp(true)},
      {60, udp(false)},
      {70, PacketBuilder().ipv4("10.0.0.1", "10.0.0.3").icmpEcho(true, 7).build()},
      {80, PacketBuilder().ipv4("10.0.0.3", "10.0.0.1").icmpEcho(false, 7).build()},
      {90, tcp(true, kTcpFin | kTcpAck, kCli + 101, kSrv + 1)},
      {100, tcp(false, kTcpFin | kTcpAck, kSrv + 1, kCli + 102)},
      {110, tcp(true, kTcpAck, kCli + 102, kSrv + 2)},
      {120, tcp(true, kTcpSyn | kTcpFin, 1, 1)},  // invalid flags.
  };
  std::string path = writeTrace("unchanged", recs);
  auto dummy = [](Registry& r) { ASSERT_TRUE(addBuiltinProvider(r, "dummy").ok()); };
  for (ClockMode clock : {ClockMode::kFrozen, ClockMode::kTrace}) {
    Lines plain = replay(path, Profile::kRfcV2, clock, nullptr, false).ct;
    ASSERT_EQ(plain.size(), recs.size());
    EXPECT_EQ(plain.back(), "inv|trk");
    for (Profile prof : {Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict}) {
      EXPECT_EQ(replay(path, prof, clock, dummy).ct, plain) << profileName(prof);
    }
  }
}

// The reverse key providers get (ctsim_conn_key_rev, derived: nothing stores it) is exactly the
// key the engine extracts from the reply packet, for TCP, UDP over IPv6, ICMP echo and
// timestamp, ICMPv6 echo; and the engine takes that packet as the connection's reply.
TEST(RegistryHooks, ReverseKeyIsWhatTheReplyCarries) {
  struct Pair {
    PacketBuilder fwd, rpl;
  };
  std::vector<Pair> pairs;
  pairs.push_back({PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 80, kTcpSyn, kCli),
                   PacketBuilder()
                       .ipv4("10.0.0.2", "10.0.0.1")
                       .tcp(80, 1000, kTcpSyn | kTcpAck, kSrv, kCli + 1)});
  pairs.push_back({PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").udp(5000, 53).payload(8),
                   PacketBuilder().ipv6("2001:db8::2", "2001:db8::1").udp(53, 5000).payload(8)});
  pairs.push_back({PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").icmpEcho(true, 7),
                   PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpEcho(false, 7)});
  pairs.push_back({PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").icmp(13, 0).payload(12),
                   PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmp(14, 0).payload(12)});
  pairs.push_back({PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").icmpEcho(true, 9),
                   PacketBuilder().ipv6("2001:db8::2", "2001:db8::1").icmpEcho(false, 9)});
  for (size_t i = 0; i < pairs.size(); ++i) {
    Conntrack ct;
    std::vector<uint8_t> f = pairs[i].fwd.build(), r = pairs[i].rpl.build();
    Verdict v = ct.execute(kLinkEthernet, f.data(), uint32_t(f.size()), 1000, 3);
    ASSERT_TRUE(v.created) << i;
    std::vector<uint8_t> ip = pairs[i].rpl.buildIp();
    CtPacket p;
    ASSERT_TRUE(extractCtPacket(uint8_t(ip[0] >> 4), ip.data(), uint32_t(ip.size()), 3, &p)) << i;
    ctsim_conn_key rev = ctsim_conn_key_rev(&v.conn->ext);
    EXPECT_EQ(formatKey(rev), formatKey(p.key)) << i;
    EXPECT_TRUE(keyEqual(rev, p.key)) << i;
    Verdict vr = ct.execute(kLinkEthernet, r.data(), uint32_t(r.size()), 1000, 3);
    EXPECT_EQ(vr.conn, v.conn) << i;
    EXPECT_TRUE(vr.reply) << i;
  }
}

}  // namespace
}  // namespace ctsim::ct
