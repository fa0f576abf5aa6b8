// RapidCheck properties: the checker's invariants over random scenarios, random emu-hw failure
// injection, generated traces and the corpus, plus the differential ones (transparency,
// determinism, batch vs one by one, pcap round trip). A failing case is written as a
// counterexample script (CTSIM_COUNTEREXAMPLE_DIR, else the temporary folder); RapidCheck prints
// the seed (replay with RC_PARAMS="replay=...").
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <random>

#include "properties/harness.h"
#include "properties/script.h"
#include "properties/workload.h"
#include "sim/parser.h"
#include "sim/pcap_writer.h"
#include "sim/testing/corpus.h"
#include "sim/trace_reader.h"
#include "traces/generator.h"

namespace ctsim::props {
namespace {

// Runs `sc`; on violations saves the case and fails the property naming them.
void assertClean(const Scenario& sc, const std::string& name) {
  auto r = runScenario(sc);
  RC_ASSERT(r.ok());
  if (!r.value().violations.empty()) {
    std::set<std::string> violated = r.value().violated();
    std::vector<std::string> names(violated.begin(), violated.end());
    auto path = saveCounterexample(sc, name, names);
    RC_FAIL(formatViolation(r.value().violations[0]) +
            (path.ok() ? " (counterexample: " + path.value() + ")" : ""));
  }
}

Profile anyProfile(int i) {
  return i == 0 ? Profile::kRfcV1 : i == 1 ? Profile::kRfcV2 : Profile::kStrict;
}

// Invariants that hold in every profile (the others are the RFC defects of facts §5).
const std::set<std::string>& rfcDefects() {
  static const std::set<std::string> d = {
      "unique-tuple",  "one-add-per-tuple",       "del-on-removal", "mark-needs-acceptor",
      "est-after-add", "responder-rst-validated", "idle-expires",   "no-orphan-entries"};
  return d;
}

// Under strict, random scenarios with the dummy (and sometimes a peer) break no invariant.
RC_GTEST_PROP(Props, StrictDummyScenariosAreClean, ()) {
  uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  int steps = *rc::gen::inRange(1, 60);
  bool peer = *rc::gen::arbitrary<bool>();
  RunConfig cfg;
  cfg.providers = {"dummy"};
  if (peer) cfg.providers.push_back("dummy:name=peer");
  std::mt19937_64 rng(seed);
  RC_TAG(steps);
  assertClean(randomScenario(rng, cfg, steps), "strict-dummy");
}

// Under every profile, the invariants that are not RFC defects hold.
RC_GTEST_PROP(Props, RfcProfilesBreakOnlyKnownDefects, ()) {
  uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  Profile prof = anyProfile(*rc::gen::inRange(0, 2));
  RunConfig cfg;
  cfg.profile = prof;
  cfg.providers = {"dummy"};
  std::mt19937_64 rng(seed);
  Scenario sc = randomScenario(rng, cfg, *rc::gen::inRange(1, 60));
  auto r = runScenario(sc);
  RC_ASSERT(r.ok());
  for (const Violation& v : r.value().violations) {
    if (!rfcDefects().count(v.invariant)) {
      saveCounterexample(sc, "rfc-unexpected", {v.invariant});
      RC_FAIL(std::string(profileName(prof)) + ": " + formatViolation(v));
    }
  }
}

// emu-hw with random capacity, latency and (recoverable) failure injection: strict is clean.
RC_GTEST_PROP(Props, EmuHwFailureInjectionIsClean, ()) {
  int capacity = *rc::gen::inRange(1, 8);
  int add_fail = *rc::gen::inRange(0, 50);
  int upd_fail = *rc::gen::inRange(0, 50);
  int latency = *rc::gen::inRange(0, 5);
  bool mirror = *rc::gen::arbitrary<bool>();
  uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  std::string spec =
      "emu-hw:capacity=" + std::to_string(capacity) + ",add_fail=0." +
      std::to_string(add_fail / 10) + std::to_string(add_fail % 10) + ",upd_fail=0." +
      std::to_string(upd_fail / 10) + std::to_string(upd_fail % 10) +
      ",insert_latency=fixed:" + std::to_string(latency) +
      "ms,mirror=" + (mirror ? "true" : "false") + ",seed=" + std::to_string(seed % 1000);
  RC_TAG(capacity);
  RunConfig cfg;
  cfg.providers = {spec};
  std::mt19937_64 rng(seed);
  assertClean(randomScenario(rng, cfg, *rc::gen::inRange(1, 60)), "emu-hw");
}

// emu-hw with batch_submit under strict, conn_add/established/del sent as batches
// (RunConfig::batch_hooks), random capacity and mirror mode, sometimes a peer without batches:
// the checker follows connections accepted inside batches and every invariant holds.
RC_GTEST_PROP(Props, EmuHwBatchHooksAreClean, ()) {
  int capacity = *rc::gen::inRange(1, 8);
  bool mirror = *rc::gen::arbitrary<bool>();
  bool peer = *rc::gen::arbitrary<bool>();
  uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  RunConfig cfg;
  cfg.batch_hooks = true;
  cfg.providers = {"emu-hw:batch=true,capacity=" + std::to_string(capacity) +
                   ",mirror=" + (mirror ? "true" : "false")};
  if (peer) cfg.providers.push_back("dummy:name=peer");
  std::mt19937_64 rng(seed);
  RC_TAG(capacity);
  assertClean(randomScenario(rng, cfg, *rc::gen::inRange(1, 60)), "emu-hw-batch");
}

// Generated workloads (traces/generator.h) replay clean under strict with the dummy.
RC_GTEST_PROP(Props, GeneratedTracesAreClean, ()) {
  traces::GenConfig g;
  g.seed = *rc::gen::inRange<uint64_t>(1, 1000000);
  g.flows = *rc::gen::inRange<uint64_t>(1, 60);
  g.cps = 20;
  g.idle_share = *rc::gen::element(0.0, 0.3);
  g.churn_share = *rc::gen::element(0.0, 0.3);
  g.port_scan = *rc::gen::inRange<uint64_t>(0, 10);
  g.ipv6_share = 0.2;
  std::string path = ::testing::TempDir() + "/gen-" + std::to_string(g.seed) + ".pcap";
  RC_ASSERT(traces::generate(g, path).ok());
  RunConfig cfg;
  cfg.providers = {"dummy"};
  cfg.zone = ct::ZoneMode::kZero;
  auto r = runCapture(path, cfg);
  std::filesystem::remove(path);
  RC_ASSERT(r.ok());
  if (!r.value().violations.empty()) RC_FAIL(formatViolation(r.value().violations[0]));
}

// With every packet seen by software, ct_state is the same with and without providers.
RC_GTEST_PROP(Props, OffloadIsTransparent, ()) {
  uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  RunConfig cfg;
  cfg.providers = {*rc::gen::element(std::string("dummy"), std::string("emu-hw:mirror=true"))};
  std::mt19937_64 rng(seed);
  auto v = checkTransparency(randomScenario(rng, cfg, *rc::gen::inRange(1, 60)));
  if (!v.empty()) RC_FAIL(formatViolation(v[0]));
}

// The same scenario twice gives the same report (emu-hw's seed included).
RC_GTEST_PROP(Props, SameScenarioSameReport, ()) {
  uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  RunConfig cfg;
  cfg.providers = {"emu-hw:add_fail=0.2,insert_latency=uniform:0ms:3ms,seed=" +
                   std::to_string(seed % 100)};
  std::mt19937_64 rng(seed);
  auto v = checkDeterminism(randomScenario(rng, cfg, *rc::gen::inRange(1, 50)));
  if (!v.empty()) RC_FAIL(formatViolation(v[0]));
}

// sharded-equals-single: a generated trace with sweeps (idle flows outliving their timeouts,
// tuple reuse, a scan; sweep intervals down to 1 s), replayed over 2 threads, gives one thread's
// per-packet ct_state, final table, counters and hook calls, on either clock, with or without a
// provider.
RC_GTEST_PROP(Props, ShardedReplayEqualsOneThread, ()) {
  traces::GenConfig g;
  g.seed = *rc::gen::inRange<uint64_t>(1, 1000000);
  g.flows = *rc::gen::inRange<uint64_t>(1, 80);
  g.cps = 10;
  g.idle_share = *rc::gen::element(0.0, 0.3);
  g.idle_gap_s = 70;
  g.churn_share = *rc::gen::element(0.0, 0.3);
  g.port_scan = *rc::gen::inRange<uint64_t>(0, 10);
  g.ipv6_share = 0.2;
  ct::ClockMode clock = *rc::gen::element(ct::ClockMode::kTrace, ct::ClockMode::kFrozen);
  RunConfig cfg;
  cfg.zone = ct::ZoneMode::kZero;
  // Short sweep intervals give traces of a few seconds many sweeps (and expiries).
  cfg.sweep_interval_ms = *rc::gen::element<int64_t>(1000, 5000, 20000);
  if (*rc::gen::arbitrary<bool>()) {
    cfg.profile = anyProfile(*rc::gen::inRange(0, 2));
    cfg.providers = {"dummy"};
  }
  RC_TAG(clock == ct::ClockMode::kTrace ? "trace" : "frozen", cfg.providers.size());
  std::string path = ::testing::TempDir() + "/sharded-" + std::to_string(g.seed) + ".pcap";
  RC_ASSERT(traces::generate(g, path).ok());
  bool compared = false;
  auto v = checkSharded(path, cfg, clock, 2, defaultProviderFactory(), &compared);
  std::filesystem::remove(path);
  RC_ASSERT(compared);
  if (!v.empty()) RC_FAIL(formatViolation(v[0]) + " (seed " + std::to_string(g.seed) + ")");
}

// A batch of N ops gives the same errors and calls as the ops one by one, in every profile.
RC_GTEST_PROP(Props, BatchEqualsOneByOne, ()) {
  int n = *rc::gen::inRange(1, 20);
  Profile prof = anyProfile(*rc::gen::inRange(0, 2));
  std::string spec = *rc::gen::element(std::string("dummy"), std::string("dummy:add_error=28"),
                                       std::string("emu-hw:capacity=4"));
  auto v = checkBatchEqualsSingle(spec, prof, n);
  if (!v.empty()) RC_FAIL(spec + ": " + formatViolation(v[0]));
}

// A generated packet written to pcap and parsed back has the same addresses, ports and flags.
RC_GTEST_PROP(Props, PcapRoundTripKeepsFields, ()) {
  uint16_t sport = *rc::gen::inRange<uint16_t>(1, 65535);
  uint16_t dport = *rc::gen::inRange<uint16_t>(1, 65535);
  uint8_t flags = *rc::gen::arbitrary<uint8_t>();
  bool v6 = *rc::gen::arbitrary<bool>();
  bool tcp = *rc::gen::arbitrary<bool>();
  uint16_t vlan = *rc::gen::inRange<uint16_t>(0, 4095);
  PacketBuilder b;
  if (vlan) b.vlan(vlan);
  v6 ? b.ipv6("2001:db8::1", "2001:db8::2") : b.ipv4("10.1.2.3", "10.4.5.6");
  tcp ? b.tcp(sport, dport, flags, 1, 2) : b.udp(sport, dport);
  auto frame = b.payload(*rc::gen::inRange<size_t>(0, 64)).build();
  std::string path = ::testing::TempDir() + "/rt.pcap";
  auto w = PcapWriter::create(path, kLinkEthernet);
  RC_ASSERT(w.ok());
  w.value()->write(123456789, frame.data(), uint32_t(frame.size()));
  RC_ASSERT(w.value()->close().ok());
  auto r = TraceReader::open(path);
  RC_ASSERT(r.ok());
  TraceRecord rec;
  RC_ASSERT(r.value()->next(rec));
  RC_ASSERT(rec.ts_ns == 123456789);
  PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
  PacketInfo orig =
      parsePacket(kLinkEthernet, frame.data(), uint32_t(frame.size()), uint32_t(frame.size()));
  RC_ASSERT(pi.outcome == orig.outcome);
  RC_ASSERT(pi.sport == sport);
  RC_ASSERT(pi.dport == dport);
  RC_ASSERT(pi.vlan_count == (vlan ? 1 : 0));
  RC_ASSERT(!tcp || pi.tcp_flags == flags);
}

// The shared corpus (when present): the first few captures replay clean under strict.
TEST(Props, CorpusReplaysClean) {
  if (!testing::corpusPresent()) GTEST_SKIP() << testing::corpusMissingMessage();
  int done = 0;
  for (const auto& row : testing::readManifest()) {
    auto it = row.find("path");
    if (it == row.end()) it = row.find("file");
    if (it == row.end()) continue;
    std::filesystem::path p = testing::corpusDir() / "public" / it->second;
    if (!std::filesystem::exists(p) || std::filesystem::file_size(p) > 2000000) continue;
    RunConfig cfg;
    cfg.providers = {"dummy"};
    cfg.zone = ct::ZoneMode::kZero;
    cfg.expensive_checks = false;
    auto r = runCapture(p.string(), cfg);
    if (!r.ok()) continue;  // captures the reader refuses are the corpus tests' business.
    for (const Violation& v : r.value().violations) {
      if (v.invariant == "tcp-invalid-flags" || v.invariant == "expired-invisible") continue;
      ADD_FAILURE() << p << ": " << formatViolation(v);
    }
    ++done;
  }
  EXPECT_GE(done, 50) << "corpus captures replayed";
}

// sharded-equals-single over the shared corpus: every capture that reaches no limit replays the
// same over 2 threads as on one, with the dummy under strict (trace clock) and without a
// provider (frozen clock).
TEST(Props, CorpusShardedEqualsOneThread) {
  if (!testing::corpusPresent()) GTEST_SKIP() << testing::corpusMissingMessage();
  int compared = 0, files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::corpusDir() / "public")) {
    std::string name = entry.path().filename().string();
    if (name.find(".pcap") == std::string::npos) continue;
    ++files;
    for (bool offload : {true, false}) {
      RunConfig cfg;
      cfg.zone = ct::ZoneMode::kZero;
      if (offload) cfg.providers = {"dummy"};
      ct::ClockMode clock = offload ? ct::ClockMode::kTrace : ct::ClockMode::kFrozen;
      bool same = false;
      for (const Violation& v :
           checkSharded(entry.path().string(), cfg, clock, 2, defaultProviderFactory(), &same)) {
        ADD_FAILURE() << name << (offload ? " (dummy)" : " (no provider)") << ": "
                      << formatViolation(v);
      }
      compared += same;
    }
  }
  EXPECT_GT(files, 50);
  EXPECT_GE(compared, 2 * files - 6) << "captures compared (those reaching a limit are not)";
}

}  // namespace
}  // namespace ctsim::props
