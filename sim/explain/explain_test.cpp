// Explanations: each primary reason produced by a purpose-built trace or provider configuration,
// the reasons partitioning the connections that were not offloaded, the disagreements, the
// decline-reason extension of the ABI, lookups, and lifecycles agreeing with the recorder
// provider's callback log on corpus traces.
#include "sim/explain/explain.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "providers/builtin.h"
#include "providers/fast_path.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"
#include "sim/conntrack/trace_test_util.h"
#include "sim/packet_builder.h"
#include "sim/pcap_writer.h"

namespace ctsim::explain {
namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kT0 = int64_t(1700000000) * 1000 * kMs;

using Rec = ct::testing::TimedFrame;
using ct::testing::writeTrace;

// A UDP datagram of flow `sport` (see trace_test_util.h).
std::vector<uint8_t> udp(uint16_t sport, bool reply = false) {
  return ct::testing::udpFlow(sport, reply);
}

// A provider without a fast path that declines connections from odd source ports, saying why
// through the ABI extension, and answers conn_update with `update_answer`.
class OddDecliner final : public Provider {
 public:
  explicit OddDecliner(long long update_answer = 0) : update_answer_(update_answer) {}
  const char* name() const override { return "odd-decliner"; }
  CallbackMask callbacks() const override {
    return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kCanOffload) |
           bit(Callback::kConnUpdate);
  }
  bool canOffload(const ct_offload_ctx& ctx) override {
    if (ctx.key->ports.src % 2 == 0) return true;
    ctsim_offload_decline_reason("odd source port");
    return false;
  }
  long long connUpdate(const ct_offload_ctx&) override { return update_answer_; }

 private:
  long long update_answer_;
};

struct Options {
  std::vector<std::string> providers;  // built-in specs, in order.
  std::unique_ptr<Provider> extra;     // registered after them.
  Profile profile = Profile::kStrict;
  bool offload = true;  // registry and hooks at all.
  bool commit = true;
  uint32_t conn_limit = 3000000;
};

// One replay's explanations, gathered while its recorder lives.
struct Explained {
  std::vector<Explanation> conns;  // per lifecycle (connections, then connection-less flows).
  std::vector<nlohmann::json> json;
  nlohmann::json summary;
  std::map<std::string, uint64_t> reasons;  // reason -> lifecycles (offloaded included).
};

Explained run(const std::string& path, Options o) {
  Explained out;
  Registry registry(o.profile);
  for (const std::string& p : o.providers) EXPECT_TRUE(addBuiltinProvider(registry, p).ok()) << p;
  if (o.extra) {
    EXPECT_EQ(registry.registerProvider(std::move(o.extra), "program"), 0);
  }
  ct::RegistryHooks hooks(registry);
  ct::ReplayOptions opt;
  opt.commit = o.commit;
  opt.engine.conn_limit = o.conn_limit;
  if (o.offload) {
    opt.engine = ct::hookProfileConfig(o.profile, opt.engine);
    opt.hooks = &hooks;
    opt.fast_paths = fastPathsOf(registry);
  }
  ct::Replayer replayer(opt);
  if (o.offload) attachRegistry(*replayer.lifecycles(), registry);
  EXPECT_TRUE(replayer.run(path).ok());
  if (o.offload) hooks.shutdown();
  const ct::LifecycleRecorder& rec = *replayer.lifecycles();
  for (const auto* v : {&rec.conns(), &rec.flows()}) {
    for (const ct::Lifecycle& l : *v) {
      out.conns.push_back(explainOne(rec, l));
      out.json.push_back(lifecycleJson(rec, l));
      ++out.reasons[reasonName(out.conns.back().reason)];
    }
  }
  out.summary = summaryJson(rec);
  return out;
}

// The reasons table's counts sum to the lifecycles not offloaded, and those plus the offloaded
// ones to all lifecycles.
void expectPartition(const Explained& e) {
  uint64_t sum = 0;
  for (const auto& r : e.summary["reasons"]) sum += r["connections"].get<uint64_t>();
  EXPECT_EQ(sum, e.summary["not_offloaded"].get<uint64_t>());
  EXPECT_EQ(
      e.summary["offloaded"].get<uint64_t>() + sum,
      e.summary["connections"].get<uint64_t>() + e.summary["connectionless_flows"].get<uint64_t>());
  EXPECT_EQ(e.conns.size(), e.summary["connections"].get<uint64_t>() +
                                e.summary["connectionless_flows"].get<uint64_t>());
}

// Two UDP flows at t0 (request + reply each), then `more` further requests of flow 1000 every
// 10 ms.
std::vector<Rec> twoFlows(int more = 0) {
  std::vector<Rec> recs = {{kT0, udp(1000)},
                           {kT0 + kMs / 10, udp(1000, true)},
                           {kT0 + kMs / 5, udp(2000)},
                           {kT0 + kMs / 4, udp(2000, true)}};
  for (int i = 1; i <= more; ++i) recs.push_back({kT0 + i * 10 * kMs, udp(1000)});
  return recs;
}

// Without any provider every connection is "no_provider".
TEST(ExplainTest, NoProvider) {
  Options o;
  o.offload = false;
  Explained e = run(writeTrace("no_provider", twoFlows()), std::move(o));
  ASSERT_EQ(e.conns.size(), 2u);
  EXPECT_EQ(e.reasons["no_provider"], 2u);
  expectPartition(e);
}

// Uncommitted packets create no connection: one "not_committed" flow per tuple, replies joined.
TEST(ExplainTest, NotCommitted) {
  Options o;
  o.commit = false;
  o.providers = {"emu-hw"};
  Explained e = run(writeTrace("not_committed", twoFlows()), std::move(o));
  EXPECT_EQ(e.reasons["not_committed"], 2u);
  EXPECT_EQ(e.conns.size(), 2u);
  EXPECT_EQ(e.json[0]["sw_packets"], 2);
  expectPartition(e);
}

// A lone SYN+ACK cannot start a connection: an "invalid" flow.
TEST(ExplainTest, Invalid) {
  PacketBuilder b;
  b.ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 80, kTcpSyn | kTcpAck, 100, 1);
  Options o;
  o.providers = {"emu-hw"};
  Explained e = run(writeTrace("invalid", {{kT0, b.build()}}), std::move(o));
  ASSERT_EQ(e.conns.size(), 1u);
  EXPECT_EQ(e.reasons["invalid"], 1u);
  expectPartition(e);
}

// An ICMP error about a tracked UDP flow is "related"; the flow itself is offloaded.
TEST(ExplainTest, Related) {
  std::vector<uint8_t> inner = udp(1000);
  std::vector<uint8_t> quoted(inner.begin() + 14, inner.begin() + 14 + 28);  // IP + UDP headers.
  PacketBuilder err;
  err.ipv4("10.0.0.2", "10.0.0.1").icmpError(3, 3, quoted);
  std::vector<Rec> recs = {{kT0, udp(1000)}, {kT0 + kMs, err.build()}};
  Options o;
  o.providers = {"emu-hw"};
  Explained e = run(writeTrace("related", recs), std::move(o));
  EXPECT_EQ(e.reasons["related"], 1u);
  EXPECT_EQ(e.reasons["late"], 1u);  // its only packet went through software first.
  expectPartition(e);
}

// With a global limit of one connection the second flow never gets one: "conn_limit".
TEST(ExplainTest, ConnLimit) {
  Options o;
  o.providers = {"emu-hw"};
  o.conn_limit = 1;
  Explained e = run(writeTrace("limit", twoFlows()), std::move(o));
  EXPECT_EQ(e.reasons["conn_limit"], 1u);
  expectPartition(e);
}

// A provider that offloads only TCP declines UDP: with no UDP connection taken by anyone the
// reason is "protocol_not_offloadable", and the decline text reaches the lifecycle.
TEST(ExplainTest, ProtocolNotOffloadable) {
  Options o;
  o.providers = {"emu-hw:protocols=tcp"};
  Explained e = run(writeTrace("proto", twoFlows()), std::move(o));
  EXPECT_EQ(e.reasons["protocol_not_offloadable"], 2u);
  EXPECT_EQ(e.json[0]["providers"][0]["can_offload"], false);
  EXPECT_EQ(e.json[0]["providers"][0]["decline"], "protocol udp not offloaded (protocols=tcp)");
  expectPartition(e);
}

// A provider declining odd source ports while taking even ones: "all_declined" for the odd one
// (its protocol was offloadable), with the reason string of the ABI extension in the detail.
TEST(ExplainTest, AllDeclinedWithReasonString) {
  std::vector<Rec> recs = {{kT0, udp(1000)}, {kT0 + kMs, udp(1001)}};
  Options o;
  o.extra = std::make_unique<OddDecliner>();
  Explained e = run(writeTrace("declined", recs), std::move(o));
  ASSERT_EQ(e.conns.size(), 2u);
  EXPECT_EQ(e.conns[0].reason, Reason::kOffloaded);  // accepted by a provider without fast path.
  EXPECT_EQ(e.conns[1].reason, Reason::kAllDeclined);
  EXPECT_EQ(e.conns[1].detail, "odd-decliner: odd source port");
  expectPartition(e);
}

// Provider configurations that keep one of two connections out of hardware, each with its
// reason: a table of one slot (ENOSPC), one command per second and no queue (EBUSY), an
// injected transient insertion failure (EAGAIN), an insertion that never completes.
TEST(ExplainTest, EmuHwConfigurationsGiveTheirReason) {
  struct Case {
    const char* spec;
    size_t conn;  // the connection kept out (the other one is offloaded).
    Reason reason;
    const char* detail;
  };
  const Case cases[] = {
      {"emu-hw:capacity=1", 1, Reason::kTableFull, "emu-hw: ENOSPC"},
      {"emu-hw:rate=1,queue=0", 1, Reason::kRateLimited, "emu-hw: EBUSY"},
      {"emu-hw:add_fail_at=1", 0, Reason::kInsertFailed, "emu-hw: EAGAIN"},
      {"emu-hw:add_stuck_at=1", 0, Reason::kInsertStuck, "emu-hw: insertion never completed"},
  };
  for (const Case& c : cases) {
    Options o;
    o.providers = {c.spec};
    Explained e = run(writeTrace("emu", twoFlows(3)), std::move(o));
    ASSERT_EQ(e.conns.size(), 2u) << c.spec;
    EXPECT_EQ(e.conns[c.conn].reason, c.reason) << c.spec;
    EXPECT_EQ(e.conns[c.conn].detail, c.detail) << c.spec;
    EXPECT_EQ(e.conns[1 - c.conn].reason, Reason::kOffloaded) << c.spec;
    expectPartition(e);
  }
}

// An insertion latency longer than the trace: "ended_before_active".
TEST(ExplainTest, EndedBeforeActive) {
  Options o;
  o.providers = {"emu-hw:insert_latency=10s"};
  Explained e = run(writeTrace("pending", twoFlows(3)), std::move(o));
  EXPECT_EQ(e.reasons["ended_before_active"], 2u);
  expectPartition(e);
}

// Insertion at conn_established, which a one-way flow never gets: "not_programmed"; the flow
// with a reply is offloaded.
TEST(ExplainTest, NotProgrammed) {
  std::vector<Rec> recs = {{kT0, udp(1000)},
                           {kT0 + kMs, udp(1000, true)},
                           {kT0 + 2 * kMs, udp(2000)},
                           {kT0 + 3 * kMs, udp(1000)},
                           {kT0 + 4 * kMs, udp(2000)}};
  Options o;
  o.providers = {"emu-hw:program_at=est"};
  Explained e = run(writeTrace("deferred", recs), std::move(o));
  ASSERT_EQ(e.conns.size(), 2u);
  EXPECT_EQ(e.conns[0].reason, Reason::kOffloaded);
  EXPECT_EQ(e.conns[1].reason, Reason::kNotProgrammed);
  expectPartition(e);
}

// An entry that becomes active only after the connection's last packet: "late", with the
// packets that went through software counted; a connection with packets afterwards is
// offloaded, with its latency and hardware share.
TEST(ExplainTest, LateAndOffloaded) {
  std::vector<Rec> recs = {
      {kT0, udp(1000)}, {kT0 + kMs, udp(1000, true)}, {kT0 + 2 * kMs, udp(2000)}};
  for (int i = 0; i < 6; ++i) recs.push_back({kT0 + (10 + i) * kMs, udp(2000)});
  Options o;
  o.providers = {"emu-hw:insert_latency=5ms"};
  Explained e = run(writeTrace("late", recs), std::move(o));
  ASSERT_EQ(e.conns.size(), 2u);
  EXPECT_EQ(e.conns[0].reason, Reason::kLate);
  EXPECT_EQ(e.json[0]["sw_before_active"], 2);
  EXPECT_EQ(e.conns[1].reason, Reason::kOffloaded);
  EXPECT_EQ(e.conns[1].latency_us, 5000);
  EXPECT_EQ(e.conns[1].hw_packets, 6u);
  EXPECT_EQ(e.conns[1].packets, 7u);
  expectPartition(e);
}

// conn_update fails (hardware answers 0), so software removes the connection; its delete fails
// for good, so the entry stays and keeps being hit: "hw_outlived_sw" and "hit_after_delete".
TEST(ExplainTest, DisagreementsOrphanedEntry) {
  std::vector<Rec> recs = {{kT0, udp(1000)}, {kT0 + kMs, udp(1000, true)}};
  for (int i = 1; i <= 12; ++i) recs.push_back({kT0 + i * 10000 * kMs, udp(1000)});
  Options o;
  o.providers = {"emu-hw:upd_fail_at=1,del_fail_at=1,del_fail_kind=permanent"};
  Explained e = run(writeTrace("orphan", recs), std::move(o));
  ASSERT_GE(e.conns.size(), 1u);
  const nlohmann::json& l = e.json[0];
  EXPECT_EQ(l["end"], "hw_idle");
  EXPECT_EQ(l["providers"][0]["orphaned"], true);
  EXPECT_GT(l["providers"][0]["stray_hits"].get<int>(), 0);
  EXPECT_EQ(e.conns[0].disagreements, kHwOutlivedSw | kHitAfterDelete);
  EXPECT_EQ(e.summary["disagreements"].size(), 2u);
  expectPartition(e);
}

// Under rfc-v2 a provider answering a stale last-used (1 ms after the epoch) keeps the
// connection alive: "stale_kept_alive", with each answer and its effect in the lifecycle.
TEST(ExplainTest, DisagreementStaleKeptAlive) {
  std::vector<Rec> recs = {{kT0, udp(1000)}, {kT0 + 200000 * kMs, udp(3000)}};
  Options o;
  o.profile = Profile::kRfcV2;
  o.extra = std::make_unique<OddDecliner>(1);
  Explained e = run(writeTrace("stale", recs), std::move(o));
  const nlohmann::json& l = e.json[0];
  ASSERT_GE(l["updates"].size(), 1u);
  EXPECT_EQ(l["updates"][0]["answer"], 1);
  EXPECT_EQ(l["updates"][0]["effect"], "kept");
  EXPECT_EQ(l["updates"][0]["stale"], true);
  EXPECT_EQ(l["end"], "alive_at_end");
  EXPECT_TRUE(e.conns[0].disagreements & kStaleKeptAlive);
  // Strict checks the timestamp: the same answer removes the connection.
  Options s;
  s.extra = std::make_unique<OddDecliner>(1);
  Explained strict = run(writeTrace("stale", recs), std::move(s));
  EXPECT_EQ(strict.json[0]["end"], "hw_idle");
  EXPECT_EQ(strict.json[0]["updates"][0]["effect"], "removed");
  EXPECT_FALSE(strict.conns[0].disagreements & kStaleKeptAlive);
}

// The bundled trace through a small table and a TCP-only provider: the reasons partition the
// connections not offloaded, and a lookup by tuple or packet finds the timeline.
TEST(ExplainTest, BundledPartitionAndLookup) {
  Options o;
  o.providers = {"emu-hw:capacity=5", "emu-hw:name=tcp-only,protocols=tcp"};
  Explained e =
      run(std::string(CTSIM_SOURCE_DIR) + "/traces/bundled/mixed-small.pcap", std::move(o));
  expectPartition(e);
  EXPECT_GT(e.summary["not_offloaded"].get<uint64_t>(), 0u);
  EXPECT_GT(e.summary["offloaded"].get<uint64_t>(), 0u);
  const nlohmann::json& l = e.json.back();
  auto q = parseConnQuery(std::to_string(l["packet"].get<uint64_t>()));
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(matches(q.value(), l));
  std::string text = renderTimeline(l);
  EXPECT_NE(text.find("verdict:"), std::string::npos) << text;
}

// Connection queries: tuples in either direction, with or without arrow, zone and protocol.
TEST(ExplainTest, ConnQuery) {
  nlohmann::json l = {{"proto", "tcp"}, {"src", "10.0.0.1"}, {"dst", "10.0.0.2"}, {"sport", 1234},
                      {"dport", 80},    {"zone", 0},         {"packet", 7}};
  for (const char* text : {"tcp 10.0.0.1:1234 10.0.0.2:80 zone 0", "10.0.0.2:80 -> 10.0.0.1:1234",
                           "tcp 10.0.0.1:1234 10.0.0.2:80 zone=0", "7"}) {
    auto q = parseConnQuery(text);
    ASSERT_TRUE(q.ok()) << text;
    EXPECT_TRUE(matches(q.value(), l)) << text;
  }
  for (const char* text : {"udp 10.0.0.1:1234 10.0.0.2:80", "10.0.0.1:1235 10.0.0.2:80",
                           "tcp 10.0.0.1:1234 10.0.0.2:80 zone 1", "8"}) {
    auto q = parseConnQuery(text);
    ASSERT_TRUE(q.ok()) << text;
    EXPECT_FALSE(matches(q.value(), l)) << text;
  }
  EXPECT_FALSE(parseConnQuery("tcp 10.0.0.1:1234").ok());
}

std::string corpusDir() {
  const char* env = std::getenv("CTSIM_CORPUS");
  return env ? env : CTSIM_CORPUS_DEFAULT;
}

// "op|proto|src|dst|sport|dport|zone" (ports only for port protocols).
std::string callKey(const std::string& op, const std::string& proto, const std::string& src,
                    const std::string& dst, const nlohmann::json& sport,
                    const nlohmann::json& dport, int zone) {
  std::string k = op + "|" + proto + "|" + src + "|" + dst;
  if (proto == "tcp" || proto == "udp" || proto == "sctp") {
    k += "|" + sport.dump() + "|" + dport.dump();
  }
  return k + "|" + std::to_string(zone);
}

// On corpus traces, each connection's lifecycle names exactly the callbacks the recorder
// provider logged for it: can_offload, conn_add, conn_established, conn_update and conn_del.
TEST(ExplainTest, LifecyclesAgreeWithRecorderOnCorpus) {
  std::filesystem::path dir = std::filesystem::path(corpusDir()) / "public";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "corpus not found at " << dir << " (set CTSIM_CORPUS)";
  }
  int traces = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.find(".pcap") == std::string::npos && name.find(".cap") == std::string::npos) {
      continue;
    }
    std::string log = (std::filesystem::path(::testing::TempDir()) / "recorder.jsonl").string();
    std::filesystem::remove(log);
    Options o;
    o.providers = {"recorder:path=" + log};
    Explained e = run(entry.path().string(), std::move(o));
    std::map<std::string, int> from_log, from_lc;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line);
      if (j["key"].is_null()) continue;  // flush.
      const nlohmann::json& k = j["key"];
      std::string proto = ct::protoName(k["af"].get<uint8_t>(), k["proto"].get<uint8_t>());
      ++from_log[callKey(j["op"], proto, k["src"], k["dst"], k.value("sport", nlohmann::json()),
                         k.value("dport", nlohmann::json()), j["zone"])];
    }
    for (const nlohmann::json& l : e.json) {
      if (l["kind"] != "connection") continue;
      auto add = [&](const char* op, int n) {
        from_lc[callKey(op, l["proto"], l["src"], l["dst"], l["sport"], l["dport"], l["zone"])] +=
            n;
      };
      const nlohmann::json& p = l["providers"][0];
      if (!p["can_offload"].is_null()) add("can_offload", 1);
      if (!p["conn_add"].is_null()) add("conn_add", 1);
      if (!l["established_us"].is_null()) add("conn_established", 1);
      if (p["conn_del"].get<bool>()) add("conn_del", 1);
      if (!l["updates"].empty()) add("conn_update", int(l["updates"].size()));
    }
    std::erase_if(from_lc, [](const auto& kv) { return kv.second == 0; });
    EXPECT_EQ(from_log, from_lc) << name;
    ++traces;
  }
  EXPECT_GE(traces, 50);
}

}  // namespace
}  // namespace ctsim::explain
