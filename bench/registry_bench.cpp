// Provider dispatch: conn_add and conn_update through ctsim::Registry (profile rfc-v2) with 1, 2,
// 4 and 8 no-op providers, on 1 and 2 threads, beside a baseline in this binary that dispatches
// to the same provider objects with the same loop under one global std::mutex per dispatch, as
// the RFC's registry does (facts §2), and the same loop with no lock at all (the floor).
//
// A no-op provider has conn_add, conn_del, conn_update and conn_established, each returning 0
// (no can_offload: it counts as "yes" and is not called). conn_update answering 0 means "not
// known" and the registry asks every provider, the worst case. Each thread dispatches for its
// own 64 connections in turn (the caller serialises per connection, as OVS's conn->lock), so
// two threads share only the registry. One iteration is a round of 16,384 dispatches on every
// thread, started together; its time is the round's wall time (manual time) from the start to
// the last thread's end: items_per_second is the throughput of all threads together, ns_per_op
// its inverse, and threads that could not run in parallel show no speed-up. cpu_ns_per_op is
// the CPU time all threads spent dispatching per dispatch (thread CPU clocks): the cost of one
// call, which other load on the machine does not inflate (wall time does).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "providers/conn.h"
#include "providers/registry.h"

namespace ctsim::bench {
namespace {

class NoopProvider final : public Provider {
 public:
  explicit NoopProvider(std::string name) : name_(std::move(name)) {}
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override {
    return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
           bit(Callback::kConnEstablished);
  }
  int connAdd(const ct_offload_ctx&) override { return 0; }
  void connDel(const ct_offload_ctx&) override {}
  long long connUpdate(const ct_offload_ctx&) override { return 0; }
  void connEstablished(const ct_offload_ctx&) override {}

 private:
  std::string name_;
};

// One registry per provider count, built before any thread dispatches and kept for the process.
Registry& registryWith(int providers) {
  static std::mutex mu;
  static std::unique_ptr<Registry> registries[9];
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<Registry>& r = registries[providers];
  if (!r) {
    r = std::make_unique<Registry>(Profile::kRfcV2);
    r->setLogSink(nullptr, nullptr);
    for (int i = 0; i < providers; ++i) {
      int err = r->registerProvider(std::make_unique<NoopProvider>("noop" + std::to_string(i)),
                                    kOriginProgram);
      if (err != 0) {
        std::fprintf(stderr, "ctsim bench: cannot register a no-op provider: %d\n", err);
        std::abort();
      }
    }
  }
  return *r;
}

// The RFC's providers loop (facts §2), under a `Lock` taken once per dispatch: std::mutex is the
// RFC's one global mutex, NoLock the same loop with no lock at all (the floor).
struct NoLock {
  void lock() {}
  void unlock() {}
};

template <class Lock>
struct LoopDispatch {
  Lock mu;
  std::vector<Provider*> providers;

  int connAdd(conn& c, const ct_offload_ctx& ctx) {
    std::lock_guard<Lock> lock(mu);
    int err = 0;
    for (Provider* p : providers) {
      int e = p->connAdd(ctx);
      if (err == 0) err = e;
    }
    if (err == 0) c.offload_mark = OffloadMark::kAdded;
    return err;
  }
  long long connUpdate(const ct_offload_ctx& ctx) {
    std::lock_guard<Lock> lock(mu);
    for (Provider* p : providers) {
      long long t = p->connUpdate(ctx);
      if (t != 0) return t;
    }
    return 0;
  }
};
using MutexDispatch = LoopDispatch<std::mutex>;
using UnlockedDispatch = LoopDispatch<NoLock>;

template <class D>
D& baselineWith(int providers) {
  static std::mutex mu;
  static std::unique_ptr<D> baselines[9];
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<D>& d = baselines[providers];
  if (!d) {
    d = std::make_unique<D>();
    d->providers = registryWith(providers).providerObjects();  // the very same objects.
  }
  return *d;
}

// 64 connections of this thread (distinct source ports per thread).
std::vector<conn> threadConns(int thread) {
  std::vector<conn> v(64);
  for (size_t i = 0; i < v.size(); ++i) {
    conn& c = v[i];
    c.key_fwd.af = CTSIM_AF_INET;
    c.key_fwd.proto = 17;
    c.key_fwd.src[0] = 10;
    c.key_fwd.src[3] = uint8_t(thread);
    c.key_fwd.dst[0] = 192;
    c.key_fwd.ports.src = uint16_t(1000 + i);
    c.key_fwd.ports.dst = 53;
    c.state = CTSIM_CS_OTHER_FIRST;
  }
  return v;
}

enum class Op { kAdd, kUpdate };

// Threads that run rounds of work together: round() releases every thread at once (the calling
// thread is thread 0) and returns the wall time until the last one finished. Measuring the
// whole round, rather than each thread's own time, makes threads that did not really run in
// parallel (a busy machine) show as no speed-up instead of a false one.
class Team {
 public:
  Team(int threads, std::function<void(int)> work)
      : work_(std::move(work)), cpu_ns_(size_t(threads)) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { serve(i); });
  }
  ~Team() {
    stop_.store(true, std::memory_order_release);
    for (auto& t : workers_) t.join();
  }
  double round() {
    done_.store(0, std::memory_order_relaxed);
    auto t0 = std::chrono::steady_clock::now();
    generation_.fetch_add(1, std::memory_order_release);
    timedWork(0);
    const int others = int(workers_.size());
    for (unsigned spins = 0; done_.load(std::memory_order_acquire) < others; ++spins) {
      if (spins > 64) std::this_thread::yield();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // CPU time all threads spent in the work so far, ns (read between rounds).
  double cpuNs() const {
    double sum = 0;
    for (const auto& c : cpu_ns_) sum += double(c.ns);
    return sum;
  }

 private:
  static int64_t threadCpuNs() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
  void timedWork(int index) {
    int64_t c0 = threadCpuNs();
    work_(index);
    cpu_ns_[size_t(index)].ns += threadCpuNs() - c0;
  }
  struct alignas(64) CpuSlot {  // one cache line per thread.
    int64_t ns = 0;
  };

  void serve(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g;
      for (unsigned spins = 0; (g = generation_.load(std::memory_order_acquire)) == seen; ++spins) {
        if (stop_.load(std::memory_order_acquire)) return;
        if (spins > 64) std::this_thread::yield();
      }
      seen = g;
      timedWork(index);
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  std::function<void(int)> work_;
  std::vector<CpuSlot> cpu_ns_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
};

constexpr int kOpsPerRound = 16384;  // per thread.

template <Op op, class Dispatch>
void loop(benchmark::State& state, Dispatch& dispatch) {
  const int threads = int(state.range(1));
  std::vector<std::vector<conn>> conns;
  std::vector<std::vector<ct_offload_ctx>> ctxs(threads);
  for (int t = 0; t < threads; ++t) conns.push_back(threadConns(t));
  for (int t = 0; t < threads; ++t) {
    for (conn& c : conns[t]) ctxs[t].push_back(makeCtx(c));
  }
  Team team(threads, [&](int t) {
    std::vector<conn>& cs = conns[t];
    const std::vector<ct_offload_ctx>& xs = ctxs[t];
    const size_t n = cs.size();
    for (int k = 0; k < kOpsPerRound; ++k) {
      size_t i = size_t(k) % n;
      if constexpr (op == Op::kAdd) {
        benchmark::DoNotOptimize(dispatch.connAdd(cs[i], xs[i]));
      } else {
        benchmark::DoNotOptimize(dispatch.connUpdate(xs[i]));
      }
    }
  });
  uint64_t ops = 0;
  for (auto _ : state) {
    state.SetIterationTime(team.round());
    ops += uint64_t(kOpsPerRound) * uint64_t(threads);
  }
  setPerItem(state, ops, "ns_per_op");
  // CPU cost of one dispatch, whatever the parallelism (and robust to a busy machine).
  state.counters["cpu_ns_per_op"] = ops ? team.cpuNs() / double(ops) : 0;
}

// Adapts Registry to the loop's calls.
struct RegistryDispatch {
  Registry& r;
  int connAdd(conn&, const ct_offload_ctx& ctx) { return r.connAdd(ctx); }
  long long connUpdate(const ct_offload_ctx& ctx) { return r.connUpdate(ctx); }
};

void BM_Dispatch_ConnAdd(benchmark::State& state) {
  RegistryDispatch d{registryWith(int(state.range(0)))};
  loop<Op::kAdd>(state, d);
}
void BM_Dispatch_ConnUpdate(benchmark::State& state) {
  RegistryDispatch d{registryWith(int(state.range(0)))};
  loop<Op::kUpdate>(state, d);
}
void BM_DispatchMutex_ConnAdd(benchmark::State& state) {
  loop<Op::kAdd>(state, baselineWith<MutexDispatch>(int(state.range(0))));
}
void BM_DispatchMutex_ConnUpdate(benchmark::State& state) {
  loop<Op::kUpdate>(state, baselineWith<MutexDispatch>(int(state.range(0))));
}
void BM_DispatchUnlocked_ConnAdd(benchmark::State& state) {
  loop<Op::kAdd>(state, baselineWith<UnlockedDispatch>(int(state.range(0))));
}
void BM_DispatchUnlocked_ConnUpdate(benchmark::State& state) {
  loop<Op::kUpdate>(state, baselineWith<UnlockedDispatch>(int(state.range(0))));
}

void dispatchArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"providers", "threads"})
      ->ArgsProduct({{1, 2, 4, 8}, {1, 2}})
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_Dispatch_ConnAdd)->Apply(dispatchArgs);
BENCHMARK(BM_Dispatch_ConnUpdate)->Apply(dispatchArgs);
BENCHMARK(BM_DispatchMutex_ConnAdd)->Apply(dispatchArgs);
BENCHMARK(BM_DispatchMutex_ConnUpdate)->Apply(dispatchArgs);
BENCHMARK(BM_DispatchUnlocked_ConnAdd)->Apply(dispatchArgs);
BENCHMARK(BM_DispatchUnlocked_ConnUpdate)->Apply(dispatchArgs);

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()
