// The datapath model in replay: packets meet the providers' fast paths (here emu-hw) before the
// software engine. Checks capacity, activation after the insertion latency, that consumed
// packets keep the software connection alive only through conn_update, determinism by seed,
// and that mirror mode leaves every packet's ct_state as without providers.
#include <gtest/gtest.h>

#include <filesystem>
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

namespace ctsim::ct {
namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kT0 = int64_t(1700000000) * 1000 * kMs;

using Rec = testing::TimedFrame;
using testing::writeTrace;

// A UDP datagram of flow `sport` (see trace_test_util.h).
std::vector<uint8_t> udp(uint16_t sport, bool reply = false) {
  return testing::udpFlow(sport, reply);
}

// One replay through a registry holding the given built-in providers.
struct ReplayRun {
  ReplaySummary sum;
  FastPathStats fp;                 // the first fast path's stats (if any).
  HookCounts hooks;                 // hook calls.
  std::vector<std::string> states;  // ct_state per packet ("hw" when consumed).
};

ReplayRun replay(const std::string& path, const std::vector<std::string>& providers,
                 Profile profile = Profile::kStrict) {
  ReplayRun run;
  Registry registry(profile);
  for (const std::string& p : providers) EXPECT_TRUE(addBuiltinProvider(registry, p).ok()) << p;
  RegistryHooks hooks(registry);
  ReplayOptions opt;
  opt.engine = hookProfileConfig(profile, opt.engine);
  opt.hooks = &hooks;
  opt.fast_paths = fastPathsOf(registry);
  Replayer replayer(opt);
  auto sum = replayer.run(path, [&](const TraceRecord&, const Verdict& v) {
    run.states.push_back(v.fast_path ? "hw" : formatCtState(v.state));
  });
  EXPECT_TRUE(sum.ok());
  run.sum = sum.value();
  run.hooks = hooks.counts();
  if (!opt.fast_paths.empty()) run.fp = opt.fast_paths[0]->stats();
  return run;
}

// A table of capacity 2 never holds more; the refused connections stay in software, where
// every one of their packets is tracked.
TEST(DatapathTest, FullTableLeavesConnectionsInSoftware) {
  std::vector<Rec> recs;
  for (int i = 0; i < 10; ++i) {
    for (uint16_t f = 0; f < 5; ++f)
      recs.push_back({kT0 + (i * 5 + f) * kMs, udp(1000 + f, i % 2)});
  }
  ReplayRun r = replay(writeTrace("full", recs), {"emu-hw:capacity=2"});
  EXPECT_LE(r.fp.entries_peak, 2u);
  EXPECT_EQ(r.fp.failures["full"], 3u);
  EXPECT_EQ(r.hooks.add_failed, 3u);
  // Two flows were offloaded: all their packets after the first hit the table.
  EXPECT_EQ(r.sum.fast_path_consumed, 2u * 9);
  uint64_t in_software = 0;
  for (const auto& [state, n] : r.sum.by_ct_state) in_software += n;
  EXPECT_EQ(in_software + r.sum.fast_path_consumed, r.sum.packets);
  EXPECT_EQ(in_software, 3u * 10 + 2);
}

// An entry is active exactly at request time + the insertion latency: packets before miss (and
// are tracked in software), packets from then on are consumed in hardware.
TEST(DatapathTest, EntryActiveOnlyAfterInsertionLatency) {
  std::vector<Rec> recs;
  for (int i = 0; i < 20; ++i) recs.push_back({kT0 + i * kMs, udp(2000)});
  ReplayRun r = replay(writeTrace("latency", recs), {"emu-hw:insert_latency=fixed:5ms"});
  ASSERT_EQ(r.states.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(r.states[size_t(i)] == "hw", i >= 5)
        << "packet " << i + 1 << ": " << r.states[size_t(i)];
  }
  EXPECT_EQ(r.fp.miss_pending_packets, 4u);
  ASSERT_EQ(r.fp.offload_latency.size(), 1u);
  EXPECT_EQ(r.fp.offload_latency[0].active_ns - r.fp.offload_latency[0].request_ns, 5 * kMs);
}

// Packets consumed in hardware never reach the engine, so the software connection lives only
// as long as conn_update reports them: with answers it is created once; when every conn_update
// fails, the sweep removes it, the hardware entry goes with it, and the next packet makes a new
// connection (a second conn_add).
TEST(DatapathTest, HardwareKeepsSoftwareAliveOnlyThroughUpdates) {
  std::vector<Rec> recs;
  for (int i = 0; i <= 60; ++i) recs.push_back({kT0 + int64_t(i) * 5000 * kMs, udp(3000, i % 2)});
  std::string path = writeTrace("alive", recs);

  ReplayRun kept = replay(path, {"emu-hw:granularity=1s"});
  EXPECT_EQ(kept.hooks.add, 1u);
  EXPECT_GT(kept.hooks.upd_kept, 0u);
  EXPECT_EQ(kept.sum.engine.conns_removed, 0u);
  EXPECT_EQ(kept.sum.fast_path_consumed, 60u);

  ReplayRun lost = replay(path, {"emu-hw:upd_fail=1"});
  EXPECT_GT(lost.hooks.add, 1u);
  EXPECT_GT(lost.sum.engine.conns_removed, 0u);
  EXPECT_LT(lost.sum.fast_path_consumed, 60u);
}

// The same seed gives the same run; another seed, other latencies.
TEST(DatapathTest, SameSeedSameRun) {
  std::vector<Rec> recs;
  for (int i = 0; i < 200; ++i) recs.push_back({kT0 + i * kMs, udp(uint16_t(4000 + i % 50))});
  std::string path = writeTrace("seed", recs);
  auto latencies = [&](const std::string& spec) {
    std::vector<int64_t> out;
    for (const auto& s : replay(path, {spec}).fp.offload_latency) {
      out.push_back(s.active_ns - s.request_ns);
    }
    return out;
  };
  auto a = latencies("emu-hw:insert_latency=lognormal:2ms:1,seed=7");
  auto b = latencies("emu-hw:insert_latency=lognormal:2ms:1,seed=7");
  auto c = latencies("emu-hw:insert_latency=lognormal:2ms:1,seed=8");
  ASSERT_EQ(a.size(), 50u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Mirror mode counts hits in hardware but sends every packet up: each packet's ct_state is what
// it is with no provider at all.
TEST(DatapathTest, MirrorModeIsTransparent) {
  std::vector<Rec> recs;
  for (int i = 0; i < 30; ++i)
    recs.push_back({kT0 + i * 10 * kMs, udp(uint16_t(5000 + i % 3), i % 2)});
  std::string path = writeTrace("mirror", recs);
  ReplayRun mirror = replay(path, {"emu-hw:mirror=true"});
  ReplayRun none = replay(path, {});
  EXPECT_EQ(mirror.sum.fast_path_consumed, 0u);
  EXPECT_GT(mirror.sum.fast_path_up, 0u);
  EXPECT_GT(mirror.fp.hit_packets, 0u);
  EXPECT_EQ(mirror.states, none.states);
}

}  // namespace
}  // namespace ctsim::ct
