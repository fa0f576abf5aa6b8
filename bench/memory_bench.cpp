// Memory: bytes per tracked connection with 1 M UDP connections in the engine (its own binary, so
// that nothing measured before has grown the heap; each run starts from malloc_trim() and a
// reset of the peak RSS).
//
// Counters (bytes per connection unless named sizeof_*):
//   peak_bytes_per_conn   (VmHWM after the fill - VmRSS before) / connections: the peak RSS
//                         delta, which includes the hash table's growth steps (old and new bucket
//                         arrays coexist while rehashing). The figure of the ≤ 160 B target.
//   rss_bytes_per_conn    (VmRSS after - VmRSS before) / connections.
//   heap_bytes_per_conn   bytes handed out by malloc (mallinfo2) after - before, / connections:
//                         what the structures take, malloc's own overhead per chunk excluded.
//   sizeof_Conn, sizeof_conn, sizeof_ConnKey: ct::Conn (engine), struct conn (provider-visible
//                         part, embedded in ct::Conn) and the key (one stored per connection:
//                         the reverse key is derived; the index holds two 8-byte slots).
// hooks:1 adds the registry + dummy provider behind the hooks; the dummy provider remembers every
// connection it accepted, so that figure includes a provider's own table.
// items_per_second: connections created per second while filling.
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "sim/conntrack/conn_key.h"

namespace ctsim::bench {
namespace {

void BM_Memory_PerConn(benchmark::State& state) {
  const uint64_t conns = scaled(uint64_t(state.range(0)), 10000);
  const bool dummy = state.range(1) != 0;
  double peak = 0, rss = 0, heap = 0;
  uint64_t created = 0;
  bool complete = true;
  for (auto _ : state) {
    state.PauseTiming();
    bool reset = resetPeak();
    MemoryReading before = readMemory();
    std::vector<uint8_t> frame;
    state.ResumeTiming();
    {
      EngineBed bed(dummy);
      if (!bed.error.empty()) {
        fail(state, bed.error);
        break;
      }
      for (uint64_t i = 0; i < conns; ++i) {
        writeUdpFrame(i, false, 18, frame);
        created += bed.run(frame.data(), uint32_t(frame.size())).created;
      }
      state.PauseTiming();
      MemoryReading after = readMemory();
      if (!reset) state.SetLabel("VmHWM could not be reset: peak is the process's");
      complete = bed.engine->connCount() == conns;
      peak = (double(after.hwm) - double(before.rss)) / double(conns);
      rss = (double(after.rss) - double(before.rss)) / double(conns);
      heap = (double(after.heap) - double(before.heap)) / double(conns);
    }  // the engine (and its conn_del calls) is not measured.
    state.ResumeTiming();
    if (!complete) {
      fail(state, "not every connection was created");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(created));
  state.counters["conns"] = double(conns);
  state.counters["peak_bytes_per_conn"] = peak;
  state.counters["rss_bytes_per_conn"] = rss;
  state.counters["heap_bytes_per_conn"] = heap;
  state.counters["sizeof_Conn"] = double(sizeof(ct::Conn));
  state.counters["sizeof_conn"] = double(sizeof(::conn));
  state.counters["sizeof_ConnKey"] = double(sizeof(ct::ConnKey));
}
BENCHMARK(BM_Memory_PerConn)
    ->ArgNames({"conns", "hooks"})
    ->Args({1000000, 0})
    ->Args({1000000, 1})
    ->Iterations(1)
    ->Repetitions(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()
