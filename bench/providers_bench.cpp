// Providers: operations per second of the built-in providers' callbacks, called directly on the
// provider object (the registry's share is registry_bench's subject):
//   add_del   conn_add of a pool of connections, then conn_del of each, again and again (one
//             item per callback);
//   update    conn_update of connections added beforehand, in turn (the last-used query);
//   lookup    FastPath::process() of a packet of an active entry (providers with a fast path):
//             what every replayed packet costs before the engine sees it;
//   frame_hit / frame_miss  (tc-bpf) FastPath::processFrame(): the frame really sent through
//             the veth into the BPF program and its verdict read back, for a packet of an
//             offloaded connection (consumed in the kernel) and of an unknown one (passed on to
//             the software side and drained there): what a replayed packet costs with tc-bpf.
// emu-hw (unlimited capacity, no latency), dpdk (rte_hash; the EAL is started once per
// process with --no-huge --no-pci --no-shconf -m 512, see providers/dpdk/eal.h), kernel-ct
// (ctnetlink into a private namespace) and tc-bpf (a BPF hash map in a private namespace): the
// last two need root and kernel support and are skipped with the reason otherwise; their
// namespaces go away with the provider object at the end of each run.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "providers/builtin.h"
#include "providers/conn.h"
#include "providers/fast_path.h"
#ifdef CTSIM_HAVE_DPDK
#include "providers/dpdk/dpdk_provider.h"
#include "providers/dpdk/eal.h"
#endif
#ifdef CTSIM_HAVE_KERNEL_CT
#include "providers/kernel_ct/kernel_ct.h"
#endif
#ifdef CTSIM_HAVE_TC_BPF
#include "providers/tc_bpf/tc_bpf.h"
#endif

namespace ctsim::bench {
namespace {

constexpr int64_t kT0 = 1764000000LL * 1000000000LL;  // trace time, ns.

// A provider under test, started; `error` says why it cannot run here.
struct Subject {
  std::unique_ptr<Provider> provider;
  FastPath* fast_path = nullptr;
  std::string error;
};

Subject make(const std::string& spec_text) {
  Subject s;
  auto spec = parseProviderSpec(spec_text);
  if (!spec.ok()) {
    s.error = spec_text + ": " + spec.status().message();
    return s;
  }
  auto p = makeBuiltinProvider(spec.value());
  if (!p.ok()) {
    s.error = spec_text + ": " + p.status().message();
    return s;
  }
  s.provider = std::move(p).value();
  Status st;
#ifdef CTSIM_HAVE_DPDK
  if (auto* d = dynamic_cast<dpdk::DpdkProvider*>(s.provider.get())) {
    st = dpdk::ensureEal("");
    if (dpdk::ealUsable(st)) st = d->start();
  }
#endif
#ifdef CTSIM_HAVE_KERNEL_CT
  if (auto* k = dynamic_cast<kernel_ct::KernelCtProvider*>(s.provider.get())) st = k->start();
#endif
#ifdef CTSIM_HAVE_TC_BPF
  if (auto* t = dynamic_cast<tc_bpf::TcBpfProvider*>(s.provider.get())) st = t->start();
#endif
  if (!st.ok()) {
    s.error = spec.value().name + " unavailable: " + st.message();
    s.provider.reset();
    return s;
  }
  s.fast_path = fastPathOf(*s.provider);
  if (s.fast_path != nullptr) s.fast_path->setNow(kT0);
  return s;
}

// UDP connection i: 10.(i>>16).(i>>8).(i):(1024 + i % 60000) -> 192.168.0.1:53.
std::vector<conn> pool(size_t n) {
  std::vector<conn> v(n);
  for (size_t i = 0; i < n; ++i) {
    conn& c = v[i];
    c.key_fwd.af = CTSIM_AF_INET;
    c.key_fwd.proto = 17;
    const uint8_t src[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    const uint8_t dst[4] = {192, 168, 0, 1};
    std::memcpy(c.key_fwd.src, src, 4);
    std::memcpy(c.key_fwd.dst, dst, 4);
    c.key_fwd.ports.src = uint16_t(1024 + i % 60000);
    c.key_fwd.ports.dst = 53;
    c.state = CTSIM_CS_OTHER_BIDIR;
  }
  return v;
}

enum class Kind { kAddDel, kUpdate, kLookup, kFrameHit, kFrameMiss };

void runOps(benchmark::State& state, const std::string& spec, Kind kind, size_t pool_size) {
  Subject s = make(spec);
  if (!s.error.empty()) return skip(state, s.error);
  Provider& p = *s.provider;
  bool frames = kind == Kind::kFrameHit || kind == Kind::kFrameMiss;
  if ((kind == Kind::kLookup || frames) && s.fast_path == nullptr) {
    return fail(state, "this provider has no fast path");
  }
  std::vector<conn> conns = pool(scaled(pool_size, 64));
  // Frames of the same flows (udpFlows numbers them as pool() does).
  FrameArena arena = frames ? udpFlows(conns.size()) : FrameArena{};
  auto sendFrame = [&](size_t k) {
    return s.fast_path->processFrame(arena.frame(k), arena.stride, arena.linktype, conns[k].key_fwd,
                                     arena.stride, 0);
  };
  std::vector<ct_offload_ctx> ctxs;
  for (conn& c : conns) ctxs.push_back(makeCtx(c));
  const size_t n = conns.size();
  uint64_t ops = 0, errors = 0;
  if (kind != Kind::kAddDel && kind != Kind::kFrameMiss) {
    for (auto& ctx : ctxs) {
      if (p.connAdd(ctx) != 0) return fail(state, "conn_add failed while preloading");
    }
    if (s.fast_path != nullptr) s.fast_path->setNow(kT0 + 1000000);  // insertions complete.
    if (kind == Kind::kUpdate && p.connUpdate(ctxs[0]) == 0) {
      return fail(state, "conn_update does not know a connection just added");
    }
    if (kind == Kind::kLookup &&
        s.fast_path->process(conns[0].key_fwd, 100, 0) == FastPathVerdict::kMiss) {
      return fail(state, "a packet of an offloaded connection missed the fast path");
    }
  }
  if (kind == Kind::kFrameHit && sendFrame(0) != FastPathVerdict::kConsumed) {
    return fail(state, "a frame of an offloaded connection was not consumed in the kernel");
  }
  if (kind == Kind::kFrameMiss && sendFrame(0) != FastPathVerdict::kMiss) {
    return fail(state, "a frame of an unknown connection did not miss");
  }
  size_t i = 0;
  bool adding = true;
  for (auto _ : state) {
    switch (kind) {
      case Kind::kAddDel:
        if (adding) {
          errors += p.connAdd(ctxs[i]) != 0;
        } else {
          p.connDel(ctxs[i]);
        }
        if (++i == n) {
          i = 0;
          adding = !adding;
        }
        break;
      case Kind::kUpdate:
        benchmark::DoNotOptimize(p.connUpdate(ctxs[i]));
        if (++i == n) i = 0;
        break;
      case Kind::kLookup:
        benchmark::DoNotOptimize(s.fast_path->process(conns[i].key_fwd, 100, 0));
        if (++i == n) i = 0;
        break;
      case Kind::kFrameHit:
      case Kind::kFrameMiss:
        errors += sendFrame(i) !=
                  (kind == Kind::kFrameHit ? FastPathVerdict::kConsumed : FastPathVerdict::kMiss);
        if (++i == n) i = 0;
        break;
    }
    ++ops;
  }
  // Leave nothing behind (kernel-ct/tc-bpf also drop their namespace with the object); the
  // timer stopped with the loop.
  size_t from = 0, to = kind == Kind::kFrameMiss ? 0 : n;  // the connections still added.
  if (kind == Kind::kAddDel) {
    if (adding)
      to = i;
    else
      from = i;
  }
  for (size_t k = from; k < to; ++k) p.connDel(ctxs[k]);
  p.flush();
  s.provider.reset();
  setPerItem(state, ops, "ns_per_op");
  state.counters["errors"] = double(errors);
  state.counters["pool"] = double(n);
}

// spec, in-memory pool size (kernel-backed providers use a smaller one: each op is a syscall).
void BM_EmuHw_AddDel(benchmark::State& s) {
  runOps(s, "emu-hw:capacity=0,sample_interval=0", Kind::kAddDel, 4096);
}
void BM_EmuHw_Update(benchmark::State& s) {
  runOps(s, "emu-hw:capacity=0,sample_interval=0", Kind::kUpdate, 4096);
}
void BM_EmuHw_Lookup(benchmark::State& s) {
  runOps(s, "emu-hw:capacity=0,sample_interval=0", Kind::kLookup, 4096);
}
void BM_Dpdk_AddDel(benchmark::State& s) {
  runOps(s, "dpdk:sample_interval=0", Kind::kAddDel, 4096);
}
void BM_Dpdk_Update(benchmark::State& s) {
  runOps(s, "dpdk:sample_interval=0", Kind::kUpdate, 4096);
}
void BM_Dpdk_Lookup(benchmark::State& s) {
  runOps(s, "dpdk:sample_interval=0", Kind::kLookup, 4096);
}
void BM_KernelCt_AddDel(benchmark::State& s) { runOps(s, "kernel-ct", Kind::kAddDel, 256); }
void BM_KernelCt_Update(benchmark::State& s) { runOps(s, "kernel-ct", Kind::kUpdate, 256); }
void BM_TcBpf_AddDel(benchmark::State& s) { runOps(s, "tc-bpf", Kind::kAddDel, 256); }
void BM_TcBpf_Update(benchmark::State& s) { runOps(s, "tc-bpf", Kind::kUpdate, 256); }
void BM_TcBpf_Lookup(benchmark::State& s) { runOps(s, "tc-bpf", Kind::kLookup, 256); }
void BM_TcBpf_FrameHit(benchmark::State& s) { runOps(s, "tc-bpf", Kind::kFrameHit, 256); }
void BM_TcBpf_FrameMiss(benchmark::State& s) { runOps(s, "tc-bpf", Kind::kFrameMiss, 256); }

BENCHMARK(BM_EmuHw_AddDel);
BENCHMARK(BM_EmuHw_Update);
BENCHMARK(BM_EmuHw_Lookup);
BENCHMARK(BM_Dpdk_AddDel);
BENCHMARK(BM_Dpdk_Update);
BENCHMARK(BM_Dpdk_Lookup);
BENCHMARK(BM_KernelCt_AddDel);
BENCHMARK(BM_KernelCt_Update);
BENCHMARK(BM_TcBpf_AddDel);
BENCHMARK(BM_TcBpf_Update);
BENCHMARK(BM_TcBpf_Lookup);
BENCHMARK(BM_TcBpf_FrameHit);
BENCHMARK(BM_TcBpf_FrameMiss);

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()
