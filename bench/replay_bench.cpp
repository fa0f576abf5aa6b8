// End to end: packets per second of a whole replay (ct::Replayer: reader, parser, engine, sweeps
// on the trace clock, providers' fast paths, the hooks, the end-of-trace flush), from the file
// and from records held in memory, with the dummy provider or with emu-hw (strict profile, as
// `ctsim replay --provider X`); and the physical limit: a bare libpcap pcap_next_ex() loop over
// the same file, and ctsim's TraceReader over it.
//
// The trace: `ctsim gen` defaults, 20,000 connections at 20,000/s, seed 1 (about 330 K packets,
// written once per process to a temporary folder that is removed at exit).
//
// Replay threads: every replay benchmark takes a `replay_threads` argument; with 2 the replay is
// sharded (ct::ShardedReplayer, `ctsim replay --threads 2`), for no provider and dummy (sharded
// replay takes no fast path, so not emu-hw). BM_Replay_1MFlows is the 1 M-flow trace the
// --threads target is stated on.
#include <pcap/pcap.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "providers/builtin.h"
#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"
#include "sim/conntrack/sharded.h"

namespace ctsim::bench {
namespace {

std::string trace(std::string* error) { return generatedTrace(scaled(20000, 200), 20000, error); }

// The 1 M-flow trace: short connections (one exchange, no elephants), about 6 M packets.
std::string trace1M(std::string* error) {
  return generatedTrace(scaled(1000000, 500), 100000, error, 1, 0.0);
}

// A replay set-up: the registry with one provider (or none), one hooks object and one set of
// options per shard.
struct Setup {
  std::unique_ptr<Registry> registry;
  std::vector<std::unique_ptr<ct::RegistryHooks>> hooks;
  std::vector<ct::ReplayOptions> shards;
  std::string error;

  // Replays `records` (or, when empty, the file at `path`); the summary's packet count.
  uint64_t run(const std::vector<TraceRecord>& records, const std::string& path, std::string* err) {
    uint64_t packets = 0;
    auto each = [&](auto&& process) {
      if (!records.empty()) {
        for (const TraceRecord& rec : records) process(rec);
        return TraceEnd{};
      }
      auto r = TraceReader::open(path);
      if (!r.ok()) {
        *err = r.status().message();
        return TraceEnd{};
      }
      TraceRecord rec;
      while (r.value()->next(rec)) process(rec);
      return r.value()->end();
    };
    if (shards.size() == 1) {
      ct::Replayer replayer(shards[0]);
      replayer.begin();
      TraceEnd end = each([&](const TraceRecord& rec) { replayer.process(rec); });
      packets = replayer.finish(end).packets;
    } else {
      ct::ShardedReplayer replayer(shards);
      replayer.begin();
      TraceEnd end = each([&](const TraceRecord& rec) { replayer.process(rec); });
      packets = replayer.finish(end).packets;
    }
    if (!hooks.empty()) hooks[0]->shutdown();
    return packets;
  }
};

// provider: "" (none), "dummy" or "emu-hw".
std::unique_ptr<Setup> setup(const std::string& provider, int threads) {
  auto s = std::make_unique<Setup>();
  s->shards.resize(size_t(threads));
  if (!provider.empty()) {
    s->registry = std::make_unique<Registry>(Profile::kStrict);
    s->registry->setLogSink(nullptr, nullptr);
    Status st = addBuiltinProvider(*s->registry, provider);
    if (!st.ok()) s->error = provider + ": " + st.message();
    for (ct::ReplayOptions& o : s->shards) {
      s->hooks.push_back(std::make_unique<ct::RegistryHooks>(*s->registry));
      o.engine = ct::hookProfileConfig(Profile::kStrict, o.engine);
      o.hooks = s->hooks.back().get();
      o.fast_paths = fastPathsOf(*s->registry);
    }
    if (threads > 1 && !s->shards[0].fast_paths.empty()) {
      s->error = provider + ": sharded replay takes no provider with a fast path";
    }
  }
  return s;
}

const char* providerOf(int64_t v) {
  switch (v) {
    case 1:
      return "dummy";
    case 2:
      return "emu-hw";
    default:
      return "";
  }
}

void label(benchmark::State& state, int64_t provider, uint64_t packets) {
  const char* p = providerOf(provider);
  state.SetLabel(*p ? p : "no provider");
  setPerItem(state, packets, "ns_per_pkt");
}

void replayFile(benchmark::State& state, const std::string& path) {
  const int64_t provider = state.range(0);
  const int threads = int(state.range(1));
  if (auto probe = setup(providerOf(provider), threads); !probe->error.empty()) {
    return fail(state, probe->error);
  }
  uint64_t packets = 0, per_run = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto s = setup(providerOf(provider), threads);
    state.ResumeTiming();
    std::string err;
    per_run = s->run({}, path, &err);
    if (!err.empty()) {
      fail(state, err);
      break;
    }
    packets += per_run;
  }
  label(state, provider, packets);
  state.counters["trace_packets"] = double(per_run);
}

void BM_Replay_File(benchmark::State& state) {
  std::string error;
  std::string path = trace(&error);
  if (path.empty()) return fail(state, error);
  replayFile(state, path);
}

void BM_Replay_1MFlows(benchmark::State& state) {
  std::string error;
  std::string path = trace1M(&error);
  if (path.empty()) return fail(state, error);
  replayFile(state, path);
}

void BM_Replay_Preloaded(benchmark::State& state) {
  static LoadedTrace t;
  static std::string error;
  if (t.records.empty() && error.empty()) {
    std::string path = trace(&error);
    if (!path.empty()) loadTrace(path, t, &error);
  }
  if (t.records.empty()) return fail(state, error.empty() ? "empty trace" : error);
  const int64_t provider = state.range(0);
  const int threads = int(state.range(1));
  if (auto probe = setup(providerOf(provider), threads); !probe->error.empty()) {
    return fail(state, probe->error);
  }
  uint64_t packets = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto s = setup(providerOf(provider), threads);
    state.ResumeTiming();
    std::string err;
    packets += s->run(t.records, "", &err);
  }
  label(state, provider, packets);
  state.counters["trace_packets"] = double(t.records.size());
}

void replayArgs(benchmark::internal::Benchmark* b) {
  // Wall time: a sharded replay's work is spread over threads the CPU clock of one does not see.
  b->ArgNames({"provider", "replay_threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
  for (int64_t provider : {0, 1, 2}) {
    b->Args({provider, 1});
    if (provider != 2) b->Args({provider, 2});
  }
}
BENCHMARK(BM_Replay_File)->Apply(replayArgs);
BENCHMARK(BM_Replay_Preloaded)->Apply(replayArgs);

// The 1 M-flow trace, dummy provider, 1 and 2 threads: one run each (several seconds apiece).
BENCHMARK(BM_Replay_1MFlows)
    ->ArgNames({"provider", "replay_threads"})
    ->Unit(benchmark::kMillisecond)
    ->Args({1, 1})
    ->Args({1, 2})
    ->Iterations(1)
    ->Repetitions(1)
    ->UseRealTime();

// ---- The physical limit ----------------------------------------------------------------------

// `stdio_buffer`: 0 is libpcap's pcap_open_offline() as it is (glibc's 4 KiB stdio buffer, one
// read(2) per 4 KiB); 1048576 opens the FILE with a 1 MiB buffer as ctsim's TraceReader does
// (sim/trace_reader.cpp) - the limit the replay from the file is compared with.
void BM_Pcap_NextEx(benchmark::State& state) {
  std::string error;
  std::string path = trace(&error);
  if (path.empty()) return fail(state, error);
  const size_t buffer_size = size_t(state.range(0));
  std::unique_ptr<char[]> buffer;
  if (buffer_size != 0) buffer = std::make_unique_for_overwrite<char[]>(buffer_size);
  uint64_t packets = 0, bytes = 0;
  char errbuf[PCAP_ERRBUF_SIZE];
  for (auto _ : state) {
    pcap_t* p = nullptr;
    if (buffer_size == 0) {
      p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    } else if (FILE* f = std::fopen(path.c_str(), "rb")) {
      std::setvbuf(f, buffer.get(), _IOFBF, buffer_size);
      p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
      if (p == nullptr) std::fclose(f);
    } else {
      std::snprintf(errbuf, sizeof errbuf, "%s: cannot open", path.c_str());
    }
    if (p == nullptr) {
      fail(state, errbuf);
      break;
    }
    struct pcap_pkthdr* h;
    const u_char* data;
    while (pcap_next_ex(p, &h, &data) == 1) {
      benchmark::DoNotOptimize(data);
      bytes += h->caplen;
      ++packets;
    }
    pcap_close(p);
  }
  setPerItem(state, packets, "ns_per_pkt");
  state.SetBytesProcessed(int64_t(bytes));
}
BENCHMARK(BM_Pcap_NextEx)
    ->ArgName("stdio_buffer")
    ->Arg(0)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond);

void BM_TraceReader_File(benchmark::State& state) {
  std::string error;
  std::string path = trace(&error);
  if (path.empty()) return fail(state, error);
  uint64_t packets = 0;
  for (auto _ : state) {
    auto r = TraceReader::open(path);
    if (!r.ok()) {
      fail(state, r.status().message());
      break;
    }
    TraceRecord rec;
    while (r.value()->next(rec)) {
      benchmark::DoNotOptimize(rec.data);
      ++packets;
    }
  }
  setPerItem(state, packets, "ns_per_pkt");
}
BENCHMARK(BM_TraceReader_File)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()
