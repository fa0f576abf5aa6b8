// Shared pieces of the benchmark binaries; see bench_util.h.
#include "bench/bench_util.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>

#include "providers/builtin.h"
#include "sim/checksum.h"
#include "sim/packet_builder.h"
#include "traces/generator.h"

namespace ctsim::bench {

bool smoke() {
  static const bool on = [] {
    const char* v = std::getenv("CTSIM_BENCH_SMOKE");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return on;
}

uint64_t scaled(uint64_t n, uint64_t small) { return smoke() ? std::min(n, small) : n; }

// ---- Frames ----------------------------------------------------------------------------------

namespace {

constexpr size_t kEth = 14;  // Ethernet header.

// The template frame of flow 0 in one direction (PacketBuilder computes everything once).
const std::vector<uint8_t>& templateFrame(bool reply, size_t payload) {
  static std::mutex mu;
  static std::vector<uint8_t> cache[2][64];
  std::lock_guard<std::mutex> lock(mu);
  std::vector<uint8_t>& f = cache[reply ? 1 : 0][std::min<size_t>(payload, 63)];
  if (f.empty()) {
    PacketBuilder b;
    if (reply) {
      b.ipv4("192.168.0.1", "10.0.0.0").udp(53, 1024);
    } else {
      b.ipv4("10.0.0.0", "192.168.0.1").udp(1024, 53);
    }
    f = b.payload(std::min<size_t>(payload, 63)).build();
  }
  return f;
}

}  // namespace

void writeUdpFrame(uint64_t i, bool reply, size_t payload, std::vector<uint8_t>& out) {
  const std::vector<uint8_t>& t = templateFrame(reply, payload);
  out.assign(t.begin(), t.end());
  uint8_t* ip = out.data() + kEth;
  const uint8_t addr[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
  const uint16_t port = uint16_t(1024 + i % 60000);
  // The client's address and port: source of a forward frame, destination of a reply.
  std::memcpy(ip + (reply ? 16 : 12), addr, 4);
  uint8_t* udp = ip + 20;
  uint8_t* p = udp + (reply ? 2 : 0);
  p[0] = uint8_t(port >> 8);
  p[1] = uint8_t(port);
  udp[6] = udp[7] = 0;  // no UDP checksum (IPv4).
  ip[10] = ip[11] = 0;
  uint16_t c = checksumFinish(checksumAdd(0, ip, 20));
  ip[10] = uint8_t(c >> 8);
  ip[11] = uint8_t(c);
}

FrameArena udpFlows(uint64_t n, bool reply, size_t payload) {
  FrameArena a;
  std::vector<uint8_t> f;
  writeUdpFrame(0, reply, payload, f);
  a.stride = uint32_t(f.size());
  a.bytes.resize(n * a.stride);
  for (uint64_t i = 0; i < n; ++i) {
    writeUdpFrame(i, reply, payload, f);
    std::memcpy(a.bytes.data() + i * a.stride, f.data(), a.stride);
  }
  return a;
}

// ---- Engines ---------------------------------------------------------------------------------

EngineBed::EngineBed(bool dummy) {
  ct::ConntrackConfig cfg;
  if (dummy) {
    registry = std::make_unique<Registry>(Profile::kStrict);
    registry->setLogSink(nullptr, nullptr);
    Status st = addBuiltinProvider(*registry, "dummy");
    if (!st.ok()) error = "dummy provider: " + st.message();
    hooks = std::make_unique<ct::RegistryHooks>(*registry);
    hooks->setNow(kNow);
    cfg = ct::hookProfileConfig(Profile::kStrict, cfg);
  }
  engine = std::make_unique<ct::Conntrack>(cfg);
  if (hooks) engine->setHooks(hooks.get());
}

EngineBed::~EngineBed() { engine.reset(); }

// ---- Traces ----------------------------------------------------------------------------------

bool loadTrace(const std::string& path, LoadedTrace& out, std::string* error) {
  auto r = TraceReader::open(path);
  if (!r.ok()) {
    if (error) *error = path + ": " + r.status().message();
    return false;
  }
  // Offsets first, pointers once the file's arena is complete (it never moves afterwards).
  auto arena = std::make_unique<std::vector<uint8_t>>();
  size_t first = out.records.size();
  std::vector<size_t> offsets;
  TraceRecord rec;
  while (r.value()->next(rec)) {
    offsets.push_back(arena->size());
    arena->insert(arena->end(), rec.data, rec.data + rec.caplen);
    out.records.push_back(rec);
    out.bytes += rec.caplen;
  }
  for (size_t i = 0; i < offsets.size(); ++i) {
    out.records[first + i].data = arena->data() + offsets[i];
  }
  out.arenas.push_back(std::move(arena));
  return true;
}

namespace {

// The temporary folder of this process, removed at exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ctsim-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

TempDir& tempDir() {
  static TempDir d;
  return d;
}

}  // namespace

std::string generatedTrace(uint64_t flows, double cps, std::string* error, uint32_t mice_exchanges,
                           double elephant_share) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (tempDir().path.empty()) {
    if (error) *error = "cannot create a temporary folder";
    return "";
  }
  std::string name = "gen-" + std::to_string(flows) + "-" + std::to_string(uint64_t(cps)) + "-" +
                     std::to_string(mice_exchanges) + "-" +
                     std::to_string(uint64_t(elephant_share * 1e6)) + ".pcap";
  std::filesystem::path p = tempDir().path / name;
  if (std::filesystem::exists(p)) return p.string();
  traces::GenConfig cfg;
  cfg.seed = 1;
  cfg.flows = flows;
  cfg.cps = cps;
  cfg.mice_exchanges = mice_exchanges;
  cfg.elephant_share = elephant_share;
  auto g = traces::generate(cfg, p.string());
  if (!g.ok()) {
    if (error) *error = "generator: " + g.status().message();
    return "";
  }
  return p.string();
}

// ---- Corpus ----------------------------------------------------------------------------------

std::filesystem::path corpusDir() {
  if (const char* env = std::getenv("CTSIM_CORPUS"); env != nullptr && *env != '\0') return env;
  return CTSIM_CORPUS_DEFAULT;
}

std::vector<std::string> corpusFiles() {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::path dir = corpusDir() / "public";
  if (!std::filesystem::exists(dir / "MANIFEST.tsv", ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().filename() != "MANIFEST.tsv") {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string corpusMissing() {
  return "corpus not found at " + (corpusDir() / "public" / "MANIFEST.tsv").string() +
         " (set CTSIM_CORPUS to the folder that holds public/MANIFEST.tsv)";
}

// ---- Memory ----------------------------------------------------------------------------------

MemoryReading readMemory() {
  MemoryReading m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %llu kB", &kb) == 1) m.rss = kb * 1024;
    if (std::sscanf(line.c_str(), "VmHWM: %llu kB", &kb) == 1) m.hwm = kb * 1024;
  }
  struct mallinfo2 mi = mallinfo2();
  m.heap = uint64_t(mi.uordblks) + uint64_t(mi.hblkhd);
  return m;
}

bool resetPeak() {
  malloc_trim(0);
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return bool(out);
}

// ---- Outcomes --------------------------------------------------------------------------------

void skip(benchmark::State& state, const std::string& why) { state.SkipWithError(why.c_str()); }

void fail(benchmark::State& state, const std::string& why) {
  if (smoke()) {
    std::fprintf(stderr, "ctsim bench: broken set-up: %s\n", why.c_str());
    std::abort();
  }
  state.SkipWithError(("broken set-up: " + why).c_str());
}

// ---- Counters --------------------------------------------------------------------------------

void setPerItem(benchmark::State& state, uint64_t items, const char* name) {
  state.SetItemsProcessed(int64_t(items));
  // kIsRate divides by the run's seconds; kInvert turns items/s into s/item; the 1e-9 factor
  // makes that nanoseconds per item.
  state.counters[name] = benchmark::Counter(
      double(items) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---- main ------------------------------------------------------------------------------------

namespace {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
      }
    }
  }
  return "unknown";
}

}  // namespace

int benchMain(int argc, char** argv) {
  benchmark::AddCustomContext("ctsim_cpu_model", cpuModel());
  benchmark::AddCustomContext("ctsim_build_type", CTSIM_BUILD_TYPE);
  benchmark::AddCustomContext("ctsim_sanitizers", CTSIM_SANITIZERS);
  benchmark::AddCustomContext("ctsim_online_cpus", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)));
  if (const char* note = std::getenv("CTSIM_BENCH_NOTE"); note != nullptr && *note != '\0') {
    benchmark::AddCustomContext("ctsim_note", note);
  }
  if (const char* git = std::getenv("CTSIM_BENCH_GIT"); git != nullptr && *git != '\0') {
    benchmark::AddCustomContext("ctsim_git", git);
  }
  if (smoke()) benchmark::AddCustomContext("ctsim_smoke", "1");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ctsim::bench
