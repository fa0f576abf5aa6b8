// `ctsim replay FILE...`: replays captures through the conntrack engine, one packet per call.
//
// Offload: `--provider NAME[:k=v,...]` (built-ins) and `--provider-lib PATH` (plug-ins), both
// repeatable and registered in the order given, make up the replay's registry; `--profile`
// (strict by default) selects the registry profile and the engine's defect fixes. Without any of
// these three options no hooks are installed at all (plain OVS conntrack, as before). Every
// packet comes in on netdev "p0", port 1. After the last packet the table is flushed (one
// conn_del per connection), then the switch shuts down (every provider's flush(), once).
//
// Output on stdout with `--emit`:
//   ct-state  one line per packet in exactly the format of OVS's test tool ("N: new|trk"; a
//             packet consumed by a provider's fast path never reaches conntrack: "N: hw"), so
//             that it diffs clean against the oracle files;
//   events    one line per hook call and provider reached: "WHERE: OP PROVIDER KEY", WHERE the
//             packet number (sweeps are attributed to the packet that triggered them), "end"
//             (end-of-trace flush) or "shutdown"; OP conn_add, conn_established, conn_del,
//             conn_update or flush; PROVIDER "-" when the registry reached none (e.g. a conn_del
//             its profile gates off); KEY the forward key ("tcp 10.0.0.1:1000 -> 10.0.0.2:80
//             zone=0"), absent for flush;
//   hooks     exactly the `.rfc-v2-hooks` oracle format (ct_state in 16 columns, then the hooks
//             of that packet; last line "flush: conn_del xN; totals: add= est= del= upd=").
// The summary then goes to stderr, never into that stream; without --emit it goes to stdout.
// `--json` prints the summary as JSON (the report, reports/README.md); `--no-summary` leaves it
// out; `--report F.json`, `--md F.md`, `--html F.html` write the report ("-": stdout, which then
// carries no text summary).
//
// Several captures are merged by timestamp (or, `--concat`, replayed one after another);
// `--loop N` replays the stream N times with addresses offset per loop (new flows); `--speed` and
// `--pps` pace records on the wall clock (simulated time stays the trace's); `--repeat N` runs the
// whole replay N times and reports every run's metrics. Progress: a live line on a terminal,
// `--stats S` one line every S seconds, `-q` none. SIGINT/SIGTERM end the replay cleanly: the
// table is flushed, the report written and marked incomplete, exit code 128 + signal.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/explain_cli.h"
#include "cli/isolate_opts.h"
#include "properties/script.h"
#include "providers/builtin.h"
#include "providers/fast_path.h"
#ifdef CTSIM_HAVE_DPDK
#include "providers/dpdk/eal.h"
#include "providers/dpdk/pcap_port.h"
#endif
#include "providers/plugin_loader.h"
#include "providers/registry.h"
#include "reports/report.h"
#include "reports/sha256.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"
#include "sim/conntrack/sharded.h"
#include "sim/record_oddities.h"

namespace ctsim::cli {
namespace {

struct ReplayArgs {
  std::vector<std::string> files;      // the captures.
  std::string clock = "trace";         // trace | frozen.
  std::string emit = "none";           // none | ct-state | events | hooks.
  std::string zone_from = "none";      // none | vlan | map:FILE.
  bool json = false;                   // summary as JSON.
  bool no_summary = false;             // no summary at all.
  bool no_seq_check = false;           // TCP sequence checks off.
  std::string profile = "strict";      // hook profile.
  std::vector<std::string> providers;  // built-in provider specs, in order.
  std::vector<std::string> libs;       // plug-in paths, in order.
  // Registration order of providers and libraries as given on the command line: false for the
  // next --provider, true for the next --provider-lib.
  std::vector<bool> order;
  bool offload = false;           // --profile, --provider or --provider-lib given.
  std::string input = "file";     // file (libpcap) | dpdk (net_pcap through the DPDK EAL).
  std::string eal_args;           // DPDK EAL arguments (empty: ctsim's defaults).
  std::string report;             // --report FILE.json ("-": stdout).
  std::string md;                 // --md FILE.md.
  std::string html;               // --html FILE.html.
  std::string speed = "top";      // top | realtime | xN.
  double pps = 0;                 // --pps N (0: off).
  uint64_t loops = 1;             // --loop N.
  bool concat = false;            // one capture after another.
  double stats_s = 0;             // --stats SECONDS (0: off).
  bool quiet = false;             // -q: no progress output.
  uint64_t repeat = 1;            // --repeat N.
  uint32_t threads = 1;           // --threads N: sharded replay.
  std::vector<std::string> argv;  // the full command line.
  RobustnessOptions robust;       // --isolate, --watchdog-ms (cli/isolate_opts.h).
  ExplainArgs explain;            // --explain, --explain-conn, --lifecycles (cmd_explain.cpp).
};

// Set by SIGINT/SIGTERM: the signal number.
volatile std::sig_atomic_t g_stop = 0;
void onStopSignal(int sig) {
  g_stop = sig;
  std::signal(sig, SIG_DFL);  // a second one ends the process at once.
}

// Restores the previous handlers on scope exit.
class StopSignals {
 public:
  StopSignals() {
    g_stop = 0;
    old_int_ = std::signal(SIGINT, onStopSignal);
    old_term_ = std::signal(SIGTERM, onStopSignal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);  // handlers before.
  void (*old_term_)(int);
};

void writeOut(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// Writes `text` to `path` ("-": stdout); false with a message on stderr on failure.
bool writeFileOrStdout(const std::string& path, const std::string& text) {
  if (path == "-") {
    writeOut(text);
    return true;
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size()) {
    std::fprintf(stderr, "ctsim replay: cannot write %s\n", path.c_str());
    if (f != nullptr) std::fclose(f);
    return false;
  }
  return std::fclose(f) == 0;
}

// Progress output: a live line on a terminal, or one line every `every_s` seconds.
class Progress {
 public:
  using Clock = std::chrono::steady_clock;
  Progress(bool live, double every_s, uint64_t total)
      : live_(live), every_s_(every_s), total_(total), start_(Clock::now()), last_(start_) {}
  bool on() const { return live_ || every_s_ > 0; }
  // Called per record; cheap unless a line is due.
  void tick(uint64_t packets, uint64_t conns, uint64_t offloaded) {
    if (!on() || (packets & 63) != 0) return;
    Clock::time_point now = Clock::now();
    double since = std::chrono::duration<double>(now - last_).count();
    if (since < (live_ ? 0.2 : every_s_)) return;
    last_ = now;
    print(now, packets, conns, offloaded, false);
  }
  void done(uint64_t packets, uint64_t conns, uint64_t offloaded) {
    if (live_) print(Clock::now(), packets, conns, offloaded, true);
  }

 private:
  void print(Clock::time_point now, uint64_t packets, uint64_t conns, uint64_t offloaded,
             bool final) {
    double el = std::chrono::duration<double>(now - start_).count();
    double pps = el > 0 ? double(packets) / el : 0;
    std::string eta = "?";
    if (total_ > 0 && pps > 0) {
      eta = std::to_string(int64_t(double(total_ > packets ? total_ - packets : 0) / pps)) + "s";
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "%.1fs: %llu packets, %.0f pps, %llu connections, %llu offloaded, ETA %s", el,
                  (unsigned long long)packets, pps, (unsigned long long)conns,
                  (unsigned long long)offloaded, eta.c_str());
    if (live_) {
      std::fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    } else {
      std::fprintf(stderr, "ctsim replay: %s\n", line);
    }
    std::fflush(stderr);
  }

  bool live_;       // redraw one line (terminal).
  double every_s_;  // periodic lines (0: off).
  uint64_t total_;  // records expected (0: unknown).
  Clock::time_point start_, last_;
};

// The replay's options for the report ("options" object).
nlohmann::json optionsJson(const ReplayArgs& a) {
  return {{"clock", a.clock},
          {"profile", a.offload ? nlohmann::json(a.profile) : nullptr},
          {"providers", a.providers},
          {"provider_libs", a.libs},
          {"isolate", a.robust.isolate},
          {"watchdog_ms", a.robust.watchdog_ms},  // -1: not given.
          {"zone_from", a.zone_from},
          {"speed", a.speed},
          {"pps", a.pps},
          {"loops", a.loops},
          {"concat", a.concat},
          {"repeat", a.repeat},
          {"threads", a.threads},
          {"input", a.input},
          {"tcp_seq_check", !a.no_seq_check}};
}

struct Setup {
  Profile profile = Profile::kStrict;
  ct::ReplayOptions options;  // without hooks and fast paths (per run).
  double speed = 0;           // pacing multiplier (0: top speed).
};

// The replay's registry: its providers registered in the order given.
Result<std::unique_ptr<Registry>> makeRegistry(const ReplayArgs& a, Profile profile) {
  auto registry = std::make_unique<Registry>(profile);
  registry->setTiming(true);  // per-provider, per-callback wall-clock latency.
  size_t next_provider = 0, next_lib = 0;
  for (bool lib : a.order) {
    Status st = lib ? loadProviderLibrary(*registry, a.libs[next_lib++], a.robust.pluginLoad())
                    : addBuiltinProvider(*registry, a.providers[next_provider++]);
    if (!st.ok()) return st;
  }
  armWatchdog(*registry, a.robust);  // after --isolate's forks: no thread is running then.
  return registry;
}

using HookErrors = std::map<std::string, std::map<std::string, uint64_t>>;

// Counts a failed conn_add or conn_update into op -> errno name -> count.
void countHookError(HookErrors& errors, const ct::HookEvent& e) {
  if (e.result != 0 && (e.op == ct::HookOp::kConnAdd || e.op == ct::HookOp::kConnUpdate)) {
    ++errors[ct::hookOpName(e.op)][reports::errnoName(e.result)];
  }
}

// Reads every record of the inputs (paced; until the end or a stop signal) into `fn`, then
// records how many came from each file. Returns how the stream ended.
Result<TraceEnd> readRecords(const ReplayArgs& a, const Setup& setup,
                             std::vector<uint64_t>& per_file,
                             const std::function<void(const TraceRecord&, uint64_t n)>& fn) {
  TraceSource::Options so;
  so.paths = a.files;
  so.concat = a.concat;
  so.loops = a.loops;
  auto source = TraceSource::open(so);
  if (!source.ok()) return source.status();
  TraceSource& src = *source.value();
  Pacer pacer(setup.speed, a.pps);
  TraceRecord rec;
  uint64_t n = 0;
  while (g_stop == 0 && src.next(rec)) {
    if (pacer.paced()) pacer.waitFor(n, rec.ts_ns);
    fn(rec, ++n);
  }
  per_file = src.recordsPerFile();
  return src.end();
}

// `--threads N` (N > 1): the replay sharded by flow over N engines (sim/conntrack/sharded.h).
Result<reports::RunData> runSharded(const ReplayArgs& a, const Setup& setup, bool emit,
                                    Progress& progress, std::vector<uint64_t>& per_file) {
  if (a.input == "dpdk") return Status(EINVAL, "--threads: not with --input dpdk");
  if (emit && (a.emit == "events" || a.emit == "hooks")) {
    return Status(EINVAL, "--threads: --emit events|hooks need one thread (calls interleave)");
  }
  if (a.explain.table || !a.explain.conn.empty() || !a.explain.lifecycles.empty()) {
    return Status(EINVAL, "--threads: --explain, --explain-conn and --lifecycles need one thread");
  }
  std::vector<ct::ReplayOptions> shards(a.threads, setup.options);
  for (ct::ReplayOptions& o : shards) o.lifecycles = false;  // no explanation when sharded.
  std::unique_ptr<Registry> registry;
  std::vector<std::unique_ptr<ct::RegistryHooks>> hooks;
  std::vector<HookErrors> errors(a.threads);
  if (a.offload) {
    auto made = makeRegistry(a, setup.profile);
    if (!made.ok()) return made.status();
    registry = std::move(made).value();
    for (Provider* p : registry->providerObjects()) {
      if (fastPathOf(*p) != nullptr) {
        return Status(EINVAL, std::string("--threads: provider ") + p->name() +
                                  " has a fast path; sharded replay supports providers without "
                                  "one (use --threads 1)");
      }
    }
    for (uint32_t i = 0; i < a.threads; ++i) {
      hooks.push_back(std::make_unique<ct::RegistryHooks>(*registry));
      HookErrors* mine = &errors[i];
      hooks[i]->setListener([mine](const ct::HookEvent& e) { countHookError(*mine, e); }, false);
      shards[i].engine = ct::hookProfileConfig(setup.profile, shards[i].engine);
      shards[i].hooks = hooks[i].get();
    }
  }
  // --emit ct-state: each shard keeps (record, state); written in record order at the end.
  bool emit_ct_state = emit && a.emit == "ct-state";
  std::vector<std::vector<std::pair<uint64_t, uint8_t>>> states(a.threads);
  ct::ShardedReplayer replayer(std::move(shards));
  auto wall0 = std::chrono::steady_clock::now();
  ct::ShardedReplayer::PacketFn on_packet;
  if (emit_ct_state) {
    on_packet = [&states](uint32_t shard, const TraceRecord& rec, const ct::Verdict& v) {
      states[shard].emplace_back(rec.index, v.state);
    };
  }
  replayer.begin(on_packet);
  uint64_t packets = 0;
  RecordOddities oddities;  // counted into the report (traces/hostile.md).
  auto end = readRecords(a, setup, per_file, [&](const TraceRecord& rec, uint64_t n) {
    oddities.see(rec);
    replayer.process(rec);
    packets = n;
    progress.tick(n, replayer.connsCreated(), 0);
  });
  if (!end.ok()) return end.status();
  reports::RunData run;
  run.summary = replayer.finish(end.value());
  run.record_oddities = oddities.counts();
  progress.done(packets, run.summary.engine.conns_created, 0);
  if (emit_ct_state) {
    std::vector<std::pair<uint64_t, uint8_t>> all;
    for (auto& s : states) all.insert(all.end(), s.begin(), s.end());
    std::sort(all.begin(), all.end());
    for (const auto& [index, state] : all) {
      writeOut(std::to_string(index) + ": " + ct::formatCtState(state) + "\n");
    }
  }
  run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (g_stop != 0) {
    run.complete = false;
    run.interrupted_by = g_stop == SIGINT ? "SIGINT" : "SIGTERM";
  }
  if (registry) {
    hooks[0]->shutdown();  // switch shutdown: provider flush(), once.
    reports::OffloadRun off;
    off.profile = setup.profile;
    for (size_t i = 0; i < hooks.size(); ++i) {
      ct::addHookCounts(off.counts, hooks[i]->counts());
      for (const auto& [op, by_errno] : errors[i]) {
        for (const auto& [name, count] : by_errno) off.errors[op][name] += count;
      }
    }
    off.providers = registry->providers();
    run.offload = std::move(off);
  }
  return run;
}

// One replay of every input. `emit`: this run writes the --emit stream.
Result<reports::RunData> runOnce(const ReplayArgs& a, const Setup& setup, bool emit,
                                 Progress& progress, std::vector<uint64_t>& per_file) {
  if (a.threads > 1) return runSharded(a, setup, emit, progress, per_file);
  ct::ReplayOptions opt = setup.options;
  // Offload: the registry, its providers in the order given, the hooks.
  std::unique_ptr<Registry> registry;
  std::unique_ptr<ct::RegistryHooks> hooks;
  ct::HooksOracleWriter hooks_writer;
  bool emit_events = emit && a.emit == "events", emit_hooks = emit && a.emit == "hooks";
  reports::RunData run;
  HookErrors errors;
  if (a.offload || a.emit == "events" || a.emit == "hooks") {
    auto made = makeRegistry(a, setup.profile);
    if (!made.ok()) return made.status();
    registry = std::move(made).value();
    hooks = std::make_unique<ct::RegistryHooks>(*registry);
    hooks->setListener(
        [&](const ct::HookEvent& e) {
          countHookError(errors, e);
          if (emit_events) writeOut(ct::formatHookEvent(e));
          if (emit_hooks) hooks_writer.onEvent(e);
        },
        emit_events);
    opt.engine = ct::hookProfileConfig(setup.profile, opt.engine);
    opt.hooks = hooks.get();
    opt.fast_paths = fastPathsOf(*registry);
  }

  opt.lifecycles = !a.explain.off;
  ct::Replayer replayer(opt);
  bool emit_ct_state = emit && a.emit == "ct-state";
  std::string line;
  uint64_t offloaded = 0;
  const uint64_t explain_packet = explainPacketNumber(a.explain);
  auto on_packet = [&](const TraceRecord& rec, const ct::Verdict& v) {
    if (v.fast_path) ++offloaded;
    if (explain_packet != 0) explainSeePacket(a.explain, replayer, explain_packet, rec, v);
    if (emit_ct_state) {
      line = std::to_string(rec.index);
      line += ": ";
      line += v.fast_path ? "hw" : ct::formatCtState(v.state);
      line += '\n';
      writeOut(line);
    } else if (emit_hooks) {
      writeOut(hooks_writer.packetLine(rec.index, v.state) + "\n");
    }
  };
  RecordOddities oddities;  // counted into the report (traces/hostile.md).
  explainBeforeRun(replayer, registry.get());
  auto wall0 = std::chrono::steady_clock::now();
  ct::ReplaySummary summary;
  if (a.input == "dpdk") {
#ifdef CTSIM_HAVE_DPDK
    // Frames through DPDK's net_pcap driver into mbufs, in bursts, as a DPDK datapath receives
    // them; the file header (link type) is read by libpcap first.
    auto header = TraceReader::open(a.files[0]);
    if (!header.ok())
      return Status(header.status().code(), a.files[0] + ": " + header.status().message());
    uint32_t linktype = header.value()->linktype();
    replayer.begin();
    TraceRecord rec;
    uint64_t n = 0;
    Status st = dpdk::forEachFrame(a.files[0], [&](const uint8_t* data, uint32_t len, int64_t ts) {
      rec.index = ++n;
      rec.ts_ns = ts;
      rec.caplen = rec.wirelen = len;
      rec.linktype = linktype;
      rec.data = data;
      oddities.see(rec);
      replayer.process(rec, on_packet);
    });
    TraceEnd end;
    if (!st.ok()) {
      end.error = true;
      end.at_record = n + 1;
      end.reason = st.message();
    }
    summary = replayer.finish(end);
    per_file.assign(1, n);
#else
    return Status(EINVAL, "--input dpdk: this ctsim was built without DPDK");
#endif
  } else {
    replayer.begin();
    uint64_t packets = 0;
    auto end = readRecords(a, setup, per_file, [&](const TraceRecord& rec, uint64_t n) {
      oddities.see(rec);
      replayer.process(rec, on_packet);
      packets = n;
      progress.tick(n, replayer.engine().stats().conns_created, offloaded);
    });
    if (!end.ok()) return end.status();
    summary = replayer.finish(end.value());
    progress.done(packets, summary.engine.conns_created, offloaded);
  }
  run.record_oddities = oddities.counts();
  run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (g_stop != 0) {
    run.complete = false;
    run.interrupted_by = g_stop == SIGINT ? "SIGINT" : "SIGTERM";
  }
  if (hooks) {
    if (emit_hooks) writeOut(hooks_writer.finalLine(hooks->counts()) + "\n");
    hooks->shutdown();  // switch shutdown: provider flush(), after the end-of-trace flush.
    reports::OffloadRun off;
    off.profile = setup.profile;
    off.counts = hooks->counts();
    off.providers = registry->providers();
    off.errors = errors;
    for (Provider* p : registry->providerObjects()) {
      FastPath* fp = fastPathOf(*p);
      if (fp == nullptr) continue;
      reports::FastPathRun f;
      f.name = p->name();
      f.stats = fp->stats();
      for (const FastPathOffloadSample& o : f.stats.offload_latency) {
        f.insertion_us.push_back(double(o.active_ns - o.request_ns) / 1e3);
        auto first = replayer.firstPacketNs(o.key);
        f.offload_us.push_back(double(o.active_ns - first.value_or(o.request_ns)) / 1e3);
      }
      off.fast_paths.push_back(std::move(f));
    }
    run.offload = std::move(off);
  }
  auto explained = explainAfterRun(a.explain, replayer);
  if (!explained.ok()) return explained.status();
  run.explain = std::move(explained).value();
  run.summary = std::move(summary);
  return run;
}

// This process's full command line (Linux: /proc/self/cmdline).
std::vector<std::string> processCommandLine() {
  std::vector<std::string> out;
  auto text = reports::readFile("/proc/self/cmdline");
  if (!text.ok()) return {"ctsim", "replay"};
  std::string cur;
  for (char c : text.value()) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Records in the captures (for the ETA), reading them once; 0 when unknown.
uint64_t countRecords(const std::vector<std::string>& files) {
  uint64_t n = 0;
  for (const std::string& f : files) {
    auto r = TraceReader::open(f);
    if (!r.ok()) return 0;
    TraceRecord rec;
    while (r.value()->next(rec)) ++n;
  }
  return n;
}

int runReplay(const ReplayArgs& a) {
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "ctsim replay: %s\n", msg.c_str());
    return kExitBadInput;
  };
  Setup setup;
  auto profile = parseProfile(a.profile);
  if (!profile.ok()) return fail(profile.status().message());
  setup.profile = profile.value();
  ct::ReplayOptions& opt = setup.options;
  opt.clock = a.clock == "frozen" ? ct::ClockMode::kFrozen : ct::ClockMode::kTrace;
  opt.engine.tcp_seq_check = !a.no_seq_check;
  if (a.zone_from == "vlan") {
    opt.zone = ct::ZoneMode::kVlan;
  } else if (a.zone_from.rfind("map:", 0) == 0) {
    std::string path = a.zone_from.substr(4);
    auto text = reports::readFile(path);
    if (!text.ok()) return fail("--zone-from: " + text.status().message());
    auto map = ct::parseZoneMap(text.value());
    if (!map.ok()) return fail("--zone-from " + path + ": " + map.status().message());
    opt.zone = ct::ZoneMode::kMap;
    opt.zone_map = map.value();
  } else if (a.zone_from != "none") {
    return fail("--zone-from: expected none, vlan or map:FILE, not '" + a.zone_from + "'");
  }
  if (a.speed == "realtime") {
    setup.speed = 1;
  } else if (a.speed.size() > 1 && a.speed[0] == 'x') {
    char* end = nullptr;
    setup.speed = std::strtod(a.speed.c_str() + 1, &end);
    if (*end != '\0' || !(setup.speed > 0)) return fail("--speed: bad multiplier " + a.speed);
  } else if (a.speed != "top") {
    return fail("--speed: expected top, realtime or xN, not '" + a.speed + "'");
  }
  if (a.pps < 0) return fail("--pps must be positive");
  if (a.pps > 0 && setup.speed > 0) return fail("--pps and --speed realtime|xN exclude each other");
  if (a.loops == 0 || a.repeat == 0) return fail("--loop and --repeat must be at least 1");
  if (a.input == "dpdk" &&
      (a.files.size() != 1 || a.loops != 1 || a.concat || a.pps > 0 || setup.speed > 0)) {
    return fail("--input dpdk takes one capture, without --loop, --concat, --speed or --pps");
  }

#ifdef CTSIM_HAVE_DPDK
  dpdk::ScopedEalStop eal_stop;  // rte_eal_cleanup on every way out, signals included.
  if (!a.eal_args.empty() || a.input == "dpdk") {
    Status eal = dpdk::ensureEal(a.eal_args);
    if (!eal.ok() && eal.code() != EALREADY) return fail(eal.message());
  }
#endif

  reports::ReportContext ctx;
  ctx.command_line = a.argv;
  ctx.options = optionsJson(a);
  for (const std::string& f : a.files) {
    reports::InputFile in;
    in.path = f;
    in.name = f.substr(f.find_last_of('/') == std::string::npos ? 0 : f.find_last_of('/') + 1);
    auto sha = reports::sha256File(f);
    if (!sha.ok()) return fail(f + ": " + sha.status().message());
    in.sha256 = sha.value();
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0) in.bytes = uint64_t(st.st_size);
    ctx.inputs.push_back(in);
  }

  bool live = !a.quiet && a.stats_s <= 0 && ::isatty(STDERR_FILENO) != 0;
  double every = a.quiet ? 0 : a.stats_s;
  uint64_t total = (live || every > 0) ? countRecords(a.files) * a.loops : 0;

  StopSignals signals;
  std::vector<reports::RunData> runs;
  std::vector<uint64_t> per_file;
  for (uint64_t r = 0; r < a.repeat && g_stop == 0; ++r) {
    Progress progress(live, every, total);
    auto run = runOnce(a, setup, r == 0, progress, per_file);
    if (!run.ok()) return fail(run.status().message());
    runs.push_back(std::move(run).value());
  }
  for (size_t i = 0; i < ctx.inputs.size() && i < per_file.size(); ++i) {
    ctx.inputs[i].records = per_file[i];
  }
  std::fflush(stdout);
  nlohmann::json report = reports::buildReport(ctx, runs);
  bool ok = true;
  if (!a.report.empty()) ok &= writeFileOrStdout(a.report, report.dump(2) + "\n");
  if (!a.md.empty()) ok &= writeFileOrStdout(a.md, reports::renderMarkdown(report));
  if (!a.html.empty()) {
    auto chart = reports::readFile(reports::chartJsPath());
    if (!chart.ok()) {
      return fail("--html needs Chart.js (Debian package libjs-chart.js): " +
                  chart.status().message());
    }
    ok &= writeFileOrStdout(a.html, reports::renderHtml(report, chart.value()));
  }
  bool stdout_taken = a.report == "-" || a.md == "-" || a.html == "-";
  if (!a.no_summary && !(stdout_taken && a.emit == "none")) {
    FILE* out = a.emit != "none" || stdout_taken ? stderr : stdout;
    std::string text = a.json ? report.dump(2) + "\n" : reports::renderText(report);
    std::fwrite(text.data(), 1, text.size(), out);
  }
  printExplain(a.explain, report, a.emit != "none" || stdout_taken ? stderr : stdout);
  std::fflush(stdout);
  if (!ok) return kExitFailure;
  if (g_stop != 0) return 128 + int(g_stop);
  return kExitOk;
}

// `--script`: replays a counterexample (properties/script.h): one ct_state line per packet, then
// one line per invariant violation; exit 1 when the failure reproduces.
int runCounterexampleScript(const std::string& path) {
  props::ScriptOutcome out;
  Status st = props::runScript(path, &out);
  if (!st.ok()) {
    std::fprintf(stderr, "ctsim replay: %s: %s\n", path.c_str(), st.message().c_str());
    return kExitBadInput;
  }
  for (size_t i = 0; i < out.report.states.size(); ++i) {
    std::printf("%zu: %s\n", i + 1, out.report.states[i].c_str());
  }
  for (const auto& v : out.report.violations) {
    std::printf("violation: %s\n", props::formatViolation(v).c_str());
  }
  return out.report.violations.empty() ? kExitOk : kExitFailure;
}

}  // namespace

void addReplayCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand("replay", "Replay captures through the conntrack engine");
  CLI::Option* files =
      cmd->add_option("FILE", args->files, "pcap or pcapng captures (merged by timestamp)");
  auto script = std::make_shared<std::string>();
  cmd->add_option("--script", *script,
                  "replay a counterexample script (a pcap plus time steps and provider faults, as "
                  "properties write them; see properties/README.md) and report its violations");
  cmd->add_option("--clock", args->clock, "trace: now = capture time; frozen: time stands still")
      ->check(CLI::IsMember({"trace", "frozen"}));
  cmd->add_option("--emit", args->emit,
                  "stdout: none, ct-state (oracle format), events (one line per hook call) or "
                  "hooks (the .rfc-v2-hooks oracle format)")
      ->check(CLI::IsMember({"none", "ct-state", "events", "hooks"}));
  CLI::Option* profile =
      cmd->add_option("--profile", args->profile,
                      "hook profile: strict (default; fixes facts §5), rfc-v1 or rfc-v2")
          ->check(CLI::IsMember({"rfc-v1", "rfc-v2", "strict"}));
  CLI::Option* provider =
      cmd->add_option("--provider", args->providers,
                      "register a built-in offload provider, NAME[:key=value,...] (repeatable; "
                      "dispatch order = order given, with --provider-lib)")
          ->allow_extra_args(false);
  addProviderLibOption(*cmd, args->libs);
  CLI::Option* lib = cmd->get_option("--provider-lib");
  lib->allow_extra_args(false);
  addIsolateOptions(*cmd, args->robust);
  cmd->add_option("--zone-from", args->zone_from,
                  "zone: none (0), vlan (outer VLAN id) or map:FILE (lines 'VLAN ZONE'; VLAN "
                  "may be 'untagged' or '*')");
  cmd->add_flag("--json", args->json, "summary as JSON (the report)");
  cmd->add_option("--report", args->report, "write the JSON report to FILE ('-': stdout)");
  cmd->add_option("--md", args->md, "write the Markdown summary to FILE ('-': stdout)");
  cmd->add_option("--html", args->html, "write the HTML report (Chart.js inlined) to FILE");
  cmd->add_option("--speed", args->speed,
                  "pacing on the wall clock: top (default), realtime or xN (N times realtime)");
  cmd->add_option("--pps", args->pps, "pace at N packets per second of wall time");
  cmd->add_option("--loop", args->loops, "replay the captures N times, addresses offset per loop");
  cmd->add_flag("--concat", args->concat, "captures one after another, not merged by timestamp");
  cmd->add_option("--repeat", args->repeat,
                  "run the whole replay N times; the report carries every run's metrics");
  cmd->add_option("--stats", args->stats_s, "print one line of statistics every SECONDS");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress output");
  cmd->add_option("--input", args->input,
                  "file: read the capture with libpcap (default); dpdk: through DPDK's net_pcap "
                  "driver into mbufs (microsecond timestamps)")
      ->check(CLI::IsMember({"file", "dpdk"}));
  cmd->add_option("--eal-args", args->eal_args,
                  "DPDK EAL arguments (default: --no-huge --no-pci --no-shconf -m 512 ...)");
  cmd->add_option("--threads", args->threads,
                  "shard the replay by flow over N engines, one thread each (same final table "
                  "and counters as one thread; providers without a fast path)")
      ->check(CLI::Range(1u, 64u));
  cmd->add_flag("--no-summary", args->no_summary, "print no summary");
  cmd->add_flag("--no-tcp-seq-check", args->no_seq_check, "disable TCP sequence checking");
  addExplainOptions(*cmd, args->explain);
  cmd->callback([args, cmd, profile, provider, lib, files, script, &exit_code]() {
    if (!script->empty()) {
      exit_code = runCounterexampleScript(*script);
      return;
    }
    if (files->count() == 0) {
      std::fprintf(stderr, "ctsim replay: FILE is required (or --script SCRIPT)\n");
      exit_code = kExitBadInput;
      return;
    }
    // Registration order: the command line's, --provider and --provider-lib interleaved.
    args->order.clear();
    for (const CLI::Option* o : cmd->parse_order()) {
      if (o == provider) args->order.push_back(false);
      if (o == lib) args->order.push_back(true);
    }
    size_t n_lib = 0;
    for (bool l : args->order) n_lib += l ? 1 : 0;
    if (n_lib != args->libs.size() || args->order.size() - n_lib != args->providers.size()) {
      args->order.assign(args->providers.size(), false);  // fallback: built-ins, then plug-ins.
      args->order.insert(args->order.end(), args->libs.size(), true);
    }
    args->offload = profile->count() > 0 || !args->providers.empty() || !args->libs.empty();
    args->argv = processCommandLine();
    exit_code = runReplay(*args);
  });
}

}  // namespace ctsim::cli
