// The invariant checker itself: the catalogue, a clean run, and that injected faults and broken
// providers are caught under the right invariant name.
#include "properties/invariants.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "properties/harness.h"
#include "properties/workload.h"

namespace ctsim::props {
namespace {

// At least twenty invariants, unique names, each with a statement and a source.
TEST(InvariantCatalog, TwentyOrMoreNamedWithStatements) {
  std::set<std::string> names;
  for (const InvariantInfo& i : invariantCatalog()) {
    EXPECT_TRUE(names.insert(i.name).second) << i.name;
    EXPECT_GT(std::string(i.statement).size(), 10u) << i.name;
    EXPECT_NE(findInvariant(i.name), nullptr);
  }
  EXPECT_GE(names.size(), 20u);
}

// properties/README.md lists every invariant of the catalogue.
TEST(InvariantCatalog, ReadmeListsEveryInvariant) {
  std::ifstream in(std::string(CTSIM_SOURCE_DIR) + "/properties/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  for (const InvariantInfo& i : invariantCatalog()) {
    EXPECT_NE(ss.str().find(std::string("`") + i.name + "`"), std::string::npos) << i.name;
  }
}

// A scenario with a UDP exchange, a TCP handshake and an ICMP error under the dummy: clean.
TEST(Checker, CleanRunHasNoViolations) {
  Scenario sc;
  sc.config.providers = {"dummy"};
  addPacket(sc, udpFrame(1, false));
  addPacket(sc, udpFrame(1, true), 1);
  addPacket(sc, tcpFrame(1, false, kTcpSyn, 100, 0));
  addPacket(sc, tcpFrame(1, true, kTcpSyn | kTcpAck, 500, 101), 1);
  addPacket(sc, tcpFrame(1, false, kTcpAck, 101, 501), 1);
  addPacket(sc, icmpErrorFrame(1), 1);
  addStep(sc, Step::Kind::kAdvance, 100000);
  addStep(sc, Step::Kind::kSweep);
  auto r = runScenario(sc);
  ASSERT_TRUE(r.ok());
  for (const Violation& v : r.value().violations) ADD_FAILURE() << formatViolation(v);
  EXPECT_EQ(r.value().states[0], "new|trk");
  EXPECT_EQ(r.value().states[1], "est|rpl|trk");
}

// emu-hw with every delete failing permanently leaves orphaned entries: no-orphan-entries.
TEST(Checker, PermanentDeleteFailuresAreOrphans) {
  Scenario sc;
  sc.config.providers = {"emu-hw:del_fail=1,del_fail_kind=permanent"};
  for (int f = 0; f < 3; ++f) addPacket(sc, udpFrame(f, false), 1);
  addStep(sc, Step::Kind::kFlushZone, 0, 0);
  auto r = runScenario(sc);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().violated().count("no-orphan-entries"));
}

// Each broken provider trips its invariant in a plain replay (those caught by replays; the
// others are caught by contract tests, see conformance_test.cpp).
TEST(Checker, BrokenProvidersTripTheirInvariant) {
  struct Case {
    const char* spec;
    const char* invariant;
  };
  for (Case c : {Case{"broken-double-add", "add-once"}, Case{"broken-est-twice", "est-once"},
                 Case{"broken-capacity-lie", "capacity-respected"}}) {
    Scenario sc;
    sc.config.providers = {c.spec};
    for (int f = 0; f < 6; ++f) {
      addPacket(sc, udpFrame(f, false), 1);
      addPacket(sc, udpFrame(f, true), 1);
    }
    auto r = runScenario(sc);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.value().violated().count(c.invariant)) << c.spec;
  }
}

// A provider that keeps answering a stale last-used keeps idle connections forever under
// rfc-v2 (facts §5.3), not under strict.
TEST(Checker, StaleTimestampsMakeImmortalConnectionsUnderRfc) {
  for (Profile p : {Profile::kRfcV2, Profile::kStrict}) {
    Scenario sc;
    sc.config.profile = p;
    sc.config.providers = {"broken-stale"};
    addPacket(sc, udpFrame(1, false));
    for (int i = 0; i < 12; ++i) addStep(sc, Step::Kind::kAdvance, 20000);
    auto r = runScenario(sc);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().violated().count("idle-expires"), p == Profile::kRfcV2 ? 1u : 0u)
        << profileName(p);
  }
}

// A refused registration (a taken name) mid-run: the registry destroys the provider and the
// checker forgets it; the run goes on clean (found by fuzz_sequence: the checker kept and later
// used the destroyed provider, a use after free under ASan).
TEST(Checker, RefusedRegistrationIsForgotten) {
  Scenario sc;
  sc.config.providers = {"dummy"};
  addPacket(sc, udpFrame(1, false));
  Step reg;
  reg.kind = Step::Kind::kRegister;
  reg.arg = "dummy";
  sc.steps.push_back(reg);
  addPacket(sc, udpFrame(2, false));
  addStep(sc, Step::Kind::kSweep);
  auto s = Session::create(sc.config, defaultProviderFactory(), sc.start_ns);
  ASSERT_TRUE(s.ok());
  for (const Step& step : sc.steps) {
    Status st = s.value()->apply(step);
    if (step.kind == Step::Kind::kRegister) {
      EXPECT_EQ(st.code(), EEXIST);
    }
  }
  RunReport r = s.value()->finish();
  EXPECT_TRUE(r.ok()) << formatViolation(r.violations[0]);
  EXPECT_EQ(r.provider_names, std::vector<std::string>{"dummy"});
}

// A provider with only batch_submit answering (and no flush): accepts every ADD op.
class BatchOnlyProvider final : public Provider {
 public:
  const char* name() const override { return "bulk"; }
  CallbackMask callbacks() const override {
    return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kCanOffload) |
           bit(Callback::kBatchSubmit);
  }
  bool canOffload(const ct_offload_ctx&) override { return true; }
  void batchSubmit(ct_offload_op_batch& b) override {
    for (size_t i = 0; i < b.n_ops; ++i) b.ops[i].error = 0;
  }
};

// A connection accepted inside a batch and never deleted is caught (add-del-balanced): the
// recording wrapper reports each op of a batch, so the checker holds what batches accepted.
TEST(Checker, BatchAcceptedConnectionNeverDeletedIsCaught) {
  for (bool del : {false, true}) {
    Registry reg(Profile::kStrict);
    reg.setLogSink(nullptr, nullptr);
    ct::RegistryHooks hooks(reg);
    Checker checker(hooks, CheckerConfig{});
    auto rp = std::make_unique<RecordingProvider>(std::make_unique<BatchOnlyProvider>(), nullptr,
                                                  nullptr);
    RecordingProvider* w = rp.get();
    ASSERT_EQ(reg.registerProvider(std::move(rp), "test"), 0);
    checker.addProvider(w);
    ::conn c;
    c.key_fwd.proto = 17;
    ::netdev dev;
    ct_offload_ctx ctx = makeCtx(c, &dev);
    ct_offload_op op{CT_OFFLOAD_OP_ADD, ctx, 0};
    ct_offload_op_batch b{&op, 1, 1};
    reg.submit(b);
    ASSERT_EQ(op.error, 0);
    if (del) {
      op = ct_offload_op{CT_OFFLOAD_OP_DEL, makeCtx(c), 0};
      reg.submit(b);
    }
    checker.finish(ct::ReplaySummary{}, true, true);
    std::set<std::string> names;
    for (const Violation& v : checker.violations()) names.insert(v.invariant);
    EXPECT_EQ(names.count("add-del-balanced"), del ? 0u : 1u) << "del " << del;
  }
}

// emu-hw with batch_submit, conn_add/established/del sent as batches: the checker follows the
// connections accepted inside batches (the reply is consumed by the fast path of a connection it
// knows is held) and the run is clean.
TEST(Checker, BatchHooksRunIsFollowed) {
  Scenario sc;
  sc.config.providers = {"emu-hw:batch=true", "dummy:name=peer"};
  sc.config.batch_hooks = true;
  addPacket(sc, udpFrame(1, false));
  addPacket(sc, udpFrame(1, true), 1);
  addPacket(sc, udpFrame(1, false), 1);
  addPacket(sc, tcpFrame(2, false, kTcpSyn, 100, 0));
  addPacket(sc, tcpFrame(2, true, kTcpSyn | kTcpAck, 500, 101), 1);
  addPacket(sc, tcpFrame(2, false, kTcpAck, 101, 501), 1);
  addStep(sc, Step::Kind::kAdvance, 100000);
  addStep(sc, Step::Kind::kSweep);
  auto r = runScenario(sc);
  ASSERT_TRUE(r.ok());
  for (const Violation& v : r.value().violations) ADD_FAILURE() << formatViolation(v);
  EXPECT_EQ(r.value().hooks.add, 2u);
  EXPECT_EQ(r.value().hooks.add_failed, 0u);
  EXPECT_EQ(r.value().hooks.del, 2u);
  ASSERT_FALSE(r.value().fast_paths.empty());
  EXPECT_EQ(r.value().fast_paths[0].entries_peak, 2u);
  EXPECT_GE(std::count(r.value().states.begin(), r.value().states.end(), "hw"), 1);
}

// An ICMP error quoting a TCP segment is no TCP segment: its missing flags are not "invalid
// flags" (found by fuzz_sequence).
TEST(Checker, IcmpErrorQuotingTcpHasNoFlags) {
  Scenario sc;
  sc.config.providers = {"dummy"};
  addPacket(sc, tcpFrame(1, false, kTcpSyn, 1000, 0));
  std::vector<uint8_t> quoted =
      PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(2001, 80, kTcpSyn, 1000, 0).buildIp();
  addPacket(sc, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").icmpError(3, 3, quoted).build());
  auto r = runScenario(sc);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().states[1], "rel|rpl|trk");
  EXPECT_TRUE(r.value().ok()) << formatViolation(r.value().violations[0]);
}

// Port reuse force-expires the old connection (expiry 0, as OVS's conn_force_expire). Under
// rfc-v1 it stays in the table until a sweep; after a sweep had kept it through conn_update,
// that 0 is the packet's doing, not conn_update's: update-no-earlier must not fire, and the
// SYN is new with the successor created (the duplicate of facts §5.1 is what rfc-v1 shows).
TEST(Checker, PortReuseAfterAKeptUpdateIsNotAnEarlierExpiry) {
  Scenario sc;
  sc.config.profile = Profile::kRfcV1;
  sc.config.providers = {"dummy"};
  sc.config.sweep_interval_ms = 1000000;
  addPacket(sc, tcpFrame(1, false, kTcpSyn, 100, 0));
  addPacket(sc, tcpFrame(1, true, kTcpSyn | kTcpAck, 500, 101), 1);
  addPacket(sc, tcpFrame(1, false, kTcpAck, 101, 501), 1);
  addPacket(sc, tcpFrame(1, false, kTcpFin | kTcpAck, 101, 501), 1);
  addPacket(sc, tcpFrame(1, true, kTcpAck, 501, 102), 1);
  addPacket(sc, tcpFrame(1, true, kTcpFin | kTcpAck, 501, 102), 1);
  addPacket(sc, tcpFrame(1, false, kTcpAck, 102, 502), 1);
  addStep(sc, Step::Kind::kAdvance, 50000);  // past time_wait (45 s).
  addStep(sc, Step::Kind::kSweep);           // conn_update: kept (the dummy answers now).
  addPacket(sc, tcpFrame(1, false, kTcpSyn, 9000, 0), 1);  // port reuse: the old one expires.
  addStep(sc, Step::Kind::kAdvance, 1000);                 // checks run, no sweep due.
  auto r = runScenario(sc);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().summary.engine.port_reuse, 1u);
  EXPECT_EQ(r.value().states.back(), "new|trk");
  EXPECT_EQ(r.value().hooks.upd_kept, 1u);
  EXPECT_EQ(r.value().violated().count("update-no-earlier"), 0u);
  for (const Violation& v : r.value().violations) {
    EXPECT_TRUE(v.invariant == "one-add-per-tuple" || v.invariant == "add-once")
        << formatViolation(v);
  }
}

}  // namespace
}  // namespace ctsim::props
