#pragma once
// Shared pieces of the benchmark binaries (bench/*_bench.cpp): frames, traces held in memory,
// the corpus, temporary files, memory readings and the common main().
//
// Every binary is a Google Benchmark program. Figures that a target reads are published as
// custom counters (benchmark::State::counters) so that they land in the JSON output by name:
//   ns_per_pkt, ns_per_op   nanoseconds per packet / operation (lower is better), from the
//                           real time of the measured loop;
//   items_per_second        set by SetItemsProcessed (packets, operations or connections / s).
// CTSIM_BENCH_SMOKE=1 shrinks every workload (the ctest smoke run: proves the code runs, measures
// nothing).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "providers/registry.h"
#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/trace_reader.h"

namespace ctsim::bench {

// True under CTSIM_BENCH_SMOKE=1: workloads shrink to a few hundred items.
bool smoke();
// `n`, or `small` in smoke mode.
uint64_t scaled(uint64_t n, uint64_t small);

// ---- Frames ----------------------------------------------------------------------------------

// Fixed-size frames laid out back to back (`stride` bytes each).
struct FrameArena {
  uint32_t linktype = 1;  // DLT_EN10MB.
  uint32_t stride = 0;    // bytes per frame.
  std::vector<uint8_t> bytes;
  size_t size() const { return stride == 0 ? 0 : bytes.size() / stride; }
  const uint8_t* frame(size_t i) const { return bytes.data() + i * stride; }
};

// Ethernet/IPv4/UDP frames of `n` distinct flows, flow i from 10.(i>>16).(i>>8).(i) port
// 1024 + i % 60000 to 192.168.0.1:53, `payload` bytes of payload, a valid IPv4 header checksum
// and UDP checksum 0 (none, as IPv4 allows). `reply`: the reverse direction of each flow.
FrameArena udpFlows(uint64_t n, bool reply = false, size_t payload = 18);
// One frame of flow i (as udpFlows) written into `out` (stride bytes).
void writeUdpFrame(uint64_t i, bool reply, size_t payload, std::vector<uint8_t>& out);

// ---- Engines ---------------------------------------------------------------------------------

inline constexpr int64_t kNow = 1764000000000;  // ms; the fixed `now` of engine benchmarks.

// A conntrack engine, bare or with RegistryHooks over a Registry (strict profile, the replay's
// default once offload is on) holding the builtin `dummy` provider: every connection created is
// dispatched (conn_add), every removal too (conn_del).
struct EngineBed {
  std::unique_ptr<Registry> registry;
  std::unique_ptr<ct::RegistryHooks> hooks;
  std::unique_ptr<ct::Conntrack> engine;  // declared last: destroyed first (its conn_del calls).
  std::string error;                      // why the set-up failed.

  explicit EngineBed(bool dummy);
  ~EngineBed();
  // One Ethernet frame, committed in zone 0.
  ct::Verdict run(const uint8_t* frame, uint32_t len, int64_t now = kNow) {
    return engine->execute(1 /* DLT_EN10MB */, frame, len, now, 0, true);
  }
};

// ---- Traces in memory ------------------------------------------------------------------------

// A capture read into memory: records whose data point into one arena.
struct LoadedTrace {
  std::vector<TraceRecord> records;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> arenas;  // one per file read.
  uint64_t bytes = 0;                                         // captured bytes.
};
// Reads every record of `path` (appending to `out`); false (and `error`) when it cannot be
// opened. A damaged file keeps the records before the damage.
bool loadTrace(const std::string& path, LoadedTrace& out, std::string* error);

// A generated trace (traces/generator.h) written once per process into a temporary folder,
// removed at exit. `flows` connections, seed 1, `cps` connections per second. Empty on failure
// (`error` says why).
std::string generatedTrace(uint64_t flows, double cps, std::string* error,
                           uint32_t mice_exchanges = 3, double elephant_share = 0.01);

// ---- Corpus ----------------------------------------------------------------------------------

// $CTSIM_CORPUS, else ../shared/traces beside the source tree.
std::filesystem::path corpusDir();
// The capture files of corpusDir()/public (MANIFEST.tsv excluded), sorted; empty when absent.
std::vector<std::string> corpusFiles();
// "corpus not found at ... (set CTSIM_CORPUS ...)".
std::string corpusMissing();

// ---- Memory ----------------------------------------------------------------------------------

struct MemoryReading {
  uint64_t rss = 0;   // VmRSS, bytes.
  uint64_t hwm = 0;   // VmHWM (peak RSS), bytes.
  uint64_t heap = 0;  // bytes handed out by malloc (mallinfo2 uordblks + hblkhd).
};
MemoryReading readMemory();
// Returns freed heap pages to the system (malloc_trim) and resets VmHWM to the current RSS
// (/proc/self/clear_refs "5"); false when the reset is refused.
bool resetPeak();

// ---- Outcomes --------------------------------------------------------------------------------

// The benchmark cannot run on this machine (no corpus, provider unavailable): skipped, with
// the reason in the output.
void skip(benchmark::State& state, const std::string& why);
// The benchmark found its own set-up broken (a frame not tracked, a count that does not add
// up): skipped with the reason, and in smoke mode the process aborts so that ctest fails.
void fail(benchmark::State& state, const std::string& why);

// ---- Counters --------------------------------------------------------------------------------

// Sets items processed and the ns-per-item counter `name` ("ns_per_pkt", "ns_per_op") from the
// real time of the run: benchmark::Counter(items, kIsRate | kInvert) scaled to ns.
void setPerItem(benchmark::State& state, uint64_t items, const char* name);

// The benchmark's main(): adds ctsim's context (build type, sanitizers, CPU model, the load
// note of $CTSIM_BENCH_NOTE, git revision of $CTSIM_BENCH_GIT) and runs the benchmarks.
int benchMain(int argc, char** argv);

}  // namespace ctsim::bench

#define CTSIM_BENCH_MAIN() \
  int main(int argc, char** argv) { return ::ctsim::bench::benchMain(argc, argv); }
