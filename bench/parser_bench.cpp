// Parser: nanoseconds per packet of parsePacket() over captures held in memory (no I/O in the
// loop), a generated trace and the whole public corpus, with and without checksum verification.
#include <string>

#include "bench/bench_util.h"
#include "sim/parser.h"

namespace ctsim::bench {
namespace {

// The generated trace: 20,000 connections of the default mix (about 330 K packets).
const LoadedTrace* generated(std::string* error) {
  static LoadedTrace t;
  static std::string err;
  static bool done = false;
  if (!done) {
    done = true;
    std::string path = generatedTrace(scaled(20000, 200), 20000, &err);
    if (!path.empty()) loadTrace(path, t, &err);
  }
  if (t.records.empty()) {
    *error = err.empty() ? "generated trace is empty" : err;
    return nullptr;
  }
  return &t;
}

// Every file of the public corpus, one after the other.
const LoadedTrace* corpus(std::string* error) {
  static LoadedTrace t;
  static bool done = false;
  if (!done) {
    done = true;
    for (const std::string& f : corpusFiles()) {
      std::string ignored;  // a file libpcap cannot open at all is left out.
      loadTrace(f, t, &ignored);
    }
  }
  if (t.records.empty()) {
    *error = corpusMissing();
    return nullptr;
  }
  return &t;
}

void runParse(benchmark::State& state, const LoadedTrace* t, bool checksums) {
  ParseOptions opt;
  opt.verify_checksums = checksums;
  const size_t n = t->records.size();
  size_t i = 0;
  uint64_t packets = 0, parsed = 0;
  for (auto _ : state) {
    const TraceRecord& r = t->records[i];
    PacketInfo p = parsePacket(r.linktype, r.data, r.caplen, r.wirelen, opt);
    benchmark::DoNotOptimize(p);
    parsed += p.outcome == Outcome::kParsed;
    if (++i == n) i = 0;
    ++packets;
  }
  setPerItem(state, packets, "ns_per_pkt");
  state.counters["trace_packets"] = double(n);
  state.counters["parsed_share"] = packets ? double(parsed) / double(packets) : 0;
}

void BM_Parse_Generated(benchmark::State& state) {
  std::string error;
  const LoadedTrace* t = generated(&error);
  if (t == nullptr) return fail(state, error);
  runParse(state, t, state.range(0) != 0);
}
BENCHMARK(BM_Parse_Generated)->ArgName("checksums")->Arg(1)->Arg(0);

void BM_Parse_Corpus(benchmark::State& state) {
  std::string error;
  const LoadedTrace* t = corpus(&error);
  if (t == nullptr) return skip(state, error);
  runParse(state, t, state.range(0) != 0);
}
BENCHMARK(BM_Parse_Corpus)->ArgName("checksums")->Arg(1)->Arg(0);

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()
