// The conntrack engine, one thread, frozen clock (as OVS's `test-conntrack benchmark`): every
// packet is an Ethernet/IPv4/UDP frame given to Conntrack::execute() with commit, in zone 0.
//
// Two set-ups, the benchmark's `hooks` argument:
//   0 bare     the engine alone (no offload hooks);
//   1 dummy    the engine with RegistryHooks over a ctsim::Registry (strict profile, the replay's
//              default once offload is on) holding the builtin `dummy` provider: every
//              connection created is dispatched (conn_add), every removal too (conn_del).
//
//   BM_Engine_HotFlow            one UDP flow, the same frame again and again (ns/packet).
//   BM_Engine_Flows              N live flows preloaded (1 K, 100 K, 1 M), then one packet per
//                                flow in creation order (order 0: round robin) or uniformly at
//                                random (order 1, a xorshift generator: ~1 ns of the figure);
//                                each packet is a lookup and a state update (ns/packet); in
//                                batches of 32 through Conntrack::executeBatch(), as OVS's
//                                conntrack_execute() takes a batch of packets.
//   BM_Engine_FlowsPerPacket     the same, one Conntrack::execute() per packet.
//   BM_Engine_SetupTeardown      connections created and removed (connections/s): UDP (one
//                                packet each) or TCP (handshake, FIN both ways: 7 packets
//                                each), batches of 1,024, then a sweep 60 s later removes them.
#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "sim/conntrack/ct_state.h"
#include "sim/conntrack/huge_pages.h"
#include "sim/packet_builder.h"

namespace ctsim::bench {
namespace {

const char* hooksName(int64_t v) { return v ? "dummy" : "bare"; }

// ---- Hot flow ----------------------------------------------------------------------------------

void BM_Engine_HotFlow(benchmark::State& state) {
  EngineBed bed(state.range(0) != 0);
  if (!bed.error.empty()) return fail(state, bed.error);
  FrameArena f = udpFlows(1);
  ct::Verdict first = bed.run(f.frame(0), f.stride);
  if (first.conn == nullptr || !first.created || (first.state & ct::kCsInvalid)) {
    std::string why = "the UDP frame was not tracked: " + ct::formatCtState(first.state);
    return fail(state, why);
  }
  uint64_t packets = 0;
  for (auto _ : state) {
    ct::Verdict v = bed.run(f.frame(0), f.stride);
    benchmark::DoNotOptimize(v);
    ++packets;
  }
  setPerItem(state, packets, "ns_per_pkt");
  state.SetLabel(hooksName(state.range(0)));
}
BENCHMARK(BM_Engine_HotFlow)->ArgName("hooks")->Arg(0)->Arg(1);

// ---- Live flows --------------------------------------------------------------------------------

// One preloaded engine at a time (a 1 M-flow engine takes a few hundred MB and seconds to fill):
// kept across the calls Google Benchmark makes for one benchmark (iteration estimate, then
// repetitions), replaced when another size or set-up is asked for.
// The frames are copied to huge pages (as packets in a NIC's receive ring or DPDK's mbuf pools
// are): on 4 KiB pages a frame of a random flow would add a TLB miss of the benchmark's own.
struct Preloaded {
  uint64_t flows = 0;
  bool dummy = false;
  std::unique_ptr<EngineBed> bed;
  ct::HugeArray<uint8_t> frames;  // frame i at i * stride.
  uint32_t stride = 0;
  std::string error;
  const uint8_t* frame(uint64_t i) const { return frames.data() + i * stride; }
};

Preloaded& preloaded(uint64_t flows, bool dummy) {
  static Preloaded p;
  if (p.bed && p.flows == flows && p.dummy == dummy) return p;
  p.bed.reset();  // free the previous engine first.
  p.frames = ct::HugeArray<uint8_t>();
  p.flows = flows;
  p.dummy = dummy;
  p.error.clear();
  p.bed = std::make_unique<EngineBed>(dummy);
  if (!p.bed->error.empty()) {
    p.error = p.bed->error;
    return p;
  }
  {
    FrameArena arena = udpFlows(flows);
    p.stride = arena.stride;
    p.frames = ct::HugeArray<uint8_t>(arena.bytes.size());
    std::memcpy(p.frames.data(), arena.bytes.data(), arena.bytes.size());
  }
  for (uint64_t i = 0; i < flows; ++i) {
    ct::Verdict v = p.bed->run(p.frame(i), p.stride);
    if (!v.created) {
      p.error = "flow " + std::to_string(i) + " was not created: " + ct::formatCtState(v.state);
      return p;
    }
  }
  if (p.bed->engine->connCount() != flows) p.error = "connection count differs from flows";
  return p;
}

// xorshift64*: a uniform index in [0, n) per call.
struct Random {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  uint64_t below(uint64_t n) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    uint64_t r = s * 0x2545f4914f6cdd1dull;
    return uint64_t((static_cast<unsigned __int128>(r) * n) >> 64);
  }
};

// The flow of each packet: k, k + 1, ... (round robin) or uniformly at random.
struct FlowOrder {
  uint64_t flows;
  bool random;
  Random rng;
  uint64_t i = 0;
  uint64_t next() {
    if (random) return rng.below(flows);
    uint64_t k = i;
    if (++i == flows) i = 0;
    return k;
  }
};

// Batches of kFlowsBatch frames through Conntrack::executeBatch() (OVS's conntrack_execute()
// gets a batch of 32 packets, the datapath's NETDEV_MAX_BURST).
constexpr size_t kFlowsBatch = ct::Conntrack::kMaxBatch;

// One packet per iteration, or (batched) kFlowsBatch packets per executeBatch() call.
void runFlows(benchmark::State& state, bool batched) {
  const uint64_t flows = scaled(uint64_t(state.range(0)), 1000);
  const bool random = state.range(1) != 0;
  const bool dummy = state.range(2) != 0;
  Preloaded& p = preloaded(flows, dummy);
  if (!p.error.empty()) return fail(state, p.error);
  EngineBed& bed = *p.bed;
  FlowOrder order{flows, random, {}};
  const uint8_t* frames[kFlowsBatch];
  uint32_t lens[kFlowsBatch];
  ct::Verdict verdicts[kFlowsBatch];
  std::fill(std::begin(lens), std::end(lens), p.stride);
  uint64_t packets = 0;
  for (auto _ : state) {
    if (batched) {
      for (const uint8_t*& f : frames) f = p.frame(order.next());
      bed.engine->executeBatch(1 /* DLT_EN10MB */, frames, lens, kNow, 0, true, {}, verdicts);
      benchmark::DoNotOptimize(verdicts);
      packets += kFlowsBatch;
    } else {
      ct::Verdict v = bed.run(p.frame(order.next()), p.stride);
      benchmark::DoNotOptimize(v);
      ++packets;
    }
  }
  setPerItem(state, packets, "ns_per_pkt");
  state.counters["live_flows"] = double(bed.engine->connCount());
  state.SetLabel(std::string(random ? "random" : "round-robin") + ", " + hooksName(dummy) +
                 (batched ? ", batches of " + std::to_string(kFlowsBatch)
                          : std::string(", one packet at a time")));
}

void BM_Engine_Flows(benchmark::State& state) { runFlows(state, true); }
void BM_Engine_FlowsPerPacket(benchmark::State& state) { runFlows(state, false); }

// Registered so that both orders run on one preloaded engine before the next is built.
void flowsArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"flows", "order", "hooks"});
  for (int64_t flows : {1000, 100000, 1000000}) {
    for (int64_t hooks : {0, 1}) {
      for (int64_t order : {0, 1}) b->Args({flows, order, hooks});
    }
  }
}
BENCHMARK(BM_Engine_Flows)->Apply(flowsArgs);
BENCHMARK(BM_Engine_FlowsPerPacket)->Apply(flowsArgs);

// ---- Connection set-up and teardown ----------------------------------------------------------

constexpr uint64_t kBatch = 1024;

// The 7 frames of TCP connection i: SYN, SYN+ACK, ACK, FIN+ACK, ACK, FIN+ACK, ACK.
std::vector<std::vector<uint8_t>> tcpLifecycle(uint64_t i) {
  std::string client = "10.1." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
  uint16_t port = uint16_t(20000 + i);
  auto c2s = [&](uint8_t flags, uint32_t seq, uint32_t ack) {
    return PacketBuilder().ipv4(client, "192.168.0.1").tcp(port, 80, flags, seq, ack).build();
  };
  auto s2c = [&](uint8_t flags, uint32_t seq, uint32_t ack) {
    return PacketBuilder().ipv4("192.168.0.1", client).tcp(80, port, flags, seq, ack).build();
  };
  const uint8_t ack = kTcpAck, fin = kTcpFin | kTcpAck;
  return {c2s(kTcpSyn, 1000, 0), s2c(kTcpSyn | kTcpAck, 5000, 1001),
          c2s(ack, 1001, 5001),  c2s(fin, 1001, 5001),
          s2c(ack, 5001, 1002),  s2c(fin, 5001, 1002),
          c2s(ack, 1002, 5002)};
}

void BM_Engine_SetupTeardown(benchmark::State& state) {
  const bool tcp = state.range(0) != 0;
  const bool dummy = state.range(1) != 0;
  const uint64_t batch = scaled(kBatch, 64);
  EngineBed bed(dummy);
  if (!bed.error.empty()) return fail(state, bed.error);
  std::vector<std::vector<uint8_t>> frames;  // in the order they are sent.
  if (tcp) {
    for (uint64_t i = 0; i < batch; ++i) {
      for (auto& f : tcpLifecycle(i)) frames.push_back(std::move(f));
    }
  } else {
    FrameArena a = udpFlows(batch);
    for (uint64_t i = 0; i < batch; ++i) frames.emplace_back(a.frame(i), a.frame(i) + a.stride);
  }
  int64_t now = kNow;
  uint64_t conns = 0, invalid = 0;
  for (auto _ : state) {
    now += 100000;  // 100 s: everything of the previous batch is long gone.
    if (bed.hooks) bed.hooks->setNow(now);
    for (const auto& f : frames) {
      ct::Verdict v = bed.run(f.data(), uint32_t(f.size()), now);
      invalid += (v.state & ct::kCsInvalid) != 0;
    }
    // Teardown: the sweep 60 s later finds them expired (UDP 30 s, TCP TIME_WAIT 30 s). With
    // the dummy provider the strict profile asks it (conn_update) first: the providers' clock
    // stays at the creation time, so it answers "last used then" and the connection goes.
    for (int pass = 0; pass < 1000 && bed.engine->connCount() > 0; ++pass) {
      bed.engine->sweep(now + 60000);
    }
    conns += batch;
  }
  if (invalid != 0) return fail(state, "packets of the lifecycle were invalid");
  if (bed.engine->stats().conns_created != bed.engine->stats().conns_removed) {
    return fail(state, "the sweep did not remove every connection");
  }
  state.SetItemsProcessed(int64_t(conns));
  state.counters["ns_per_conn"] = benchmark::Counter(
      double(conns) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["packets_per_conn"] = double(frames.size()) / double(batch);
  state.SetLabel(std::string(tcp ? "tcp" : "udp") + ", " + hooksName(dummy));
}
BENCHMARK(BM_Engine_SetupTeardown)->ArgNames({"tcp", "hooks"})->ArgsProduct({{0, 1}, {0, 1}});

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()
