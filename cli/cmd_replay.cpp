// `ctsim replay FILE`: replays a capture through the conntrack engine, one packet per call.
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
// `--json` prints the summary as JSON; `--no-summary` leaves it out.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "providers/builtin.h"
#include "providers/fast_path.h"
#ifdef CTSIM_HAVE_DPDK
#include "providers/dpdk/eal.h"
#include "providers/dpdk/pcap_port.h"
#endif
#include "providers/plugin_loader.h"
#include "providers/registry.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"

namespace ctsim::cli {
namespace {

struct ReplayArgs {
  std::string file;                    // the capture.
  std::string clock = "trace";         // trace | frozen.
  std::string emit = "none";           // none | ct-state | events | hooks.
  std::string zone_from = "none";      // none | vlan.
  bool json = false;                   // summary as JSON.
  bool no_summary = false;             // no summary at all.
  bool no_seq_check = false;           // TCP sequence checks off.
  std::string profile = "strict";      // hook profile.
  std::vector<std::string> providers;  // built-in provider specs, in order.
  std::vector<std::string> libs;       // plug-in paths, in order.
  // Registration order of providers and libraries as given on the command line: false for the
  // next --provider, true for the next --provider-lib.
  std::vector<bool> order;
  bool offload = false;        // --profile, --provider or --provider-lib given.
  std::string input = "file";  // file (libpcap) | dpdk (net_pcap through the DPDK EAL).
  std::string eal_args;        // DPDK EAL arguments (empty: ctsim's defaults).
};

// Percentiles of a sample set (nearest rank), in the sample's unit.
struct Percentiles {
  uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p99_9 = 0, max = 0;
};
Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.count = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t rank = size_t(std::ceil(q * double(v.size())));
    return v[rank == 0 ? 0 : std::min(rank, v.size()) - 1];
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.p99_9 = at(0.999);
  p.max = v.back();
  return p;
}
nlohmann::json percentilesJson(const Percentiles& p) {
  return {{"count", p.count}, {"p50", p.p50},     {"p90", p.p90},
          {"p99", p.p99},     {"p99.9", p.p99_9}, {"max", p.max}};
}

// One provider's fast path at the end of a replay.
struct FastPathReport {
  std::string name;
  FastPathStats stats;
  Percentiles offload_latency_us;    // first packet of the connection -> entry active.
  Percentiles insertion_latency_us;  // conn_add request -> entry active.
};

// What the offload part of a replay reports.
struct OffloadReport {
  Profile profile = Profile::kStrict;
  ct::HookCounts counts;
  std::vector<ProviderInfo> providers;
  std::vector<FastPathReport> fast_paths;
  uint64_t fast_path_consumed = 0;  // packets handled in a fast path only.
  uint64_t fast_path_up = 0;        // packets hit in a fast path and sent up too.
};

double ratio(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : double(a) / double(b); }

nlohmann::json fastPathJson(const FastPathReport& f) {
  const FastPathStats& s = f.stats;
  nlohmann::json series = nlohmann::json::array();
  for (const FastPathOccupancySample& o : s.occupancy) {
    series.push_back({o.t_ns, o.entries, o.active});
  }
  return {{"name", f.name},
          {"config", s.config},
          {"hits", {{"packets", s.hit_packets}, {"bytes", s.hit_bytes}}},
          {"sent_up", {{"packets", s.up_packets}, {"bytes", s.up_bytes}}},
          {"misses", {{"packets", s.miss_packets}, {"bytes", s.miss_bytes}}},
          {"misses_before_active",
           {{"packets", s.miss_pending_packets}, {"bytes", s.miss_pending_bytes}}},
          {"hit_ratio",
           {{"packets", ratio(s.hit_packets, s.hit_packets + s.miss_packets)},
            {"bytes", ratio(s.hit_bytes, s.hit_bytes + s.miss_bytes)}}},
          {"occupancy",
           {{"capacity", s.capacity},
            {"entries", s.entries},
            {"peak", s.entries_peak},
            {"active", s.active},
            {"interval_ns", s.occupancy_interval_ns},
            {"series", series}}},
          {"failures", s.failures},
          {"counters", s.counters},
          {"offload_latency_us", percentilesJson(f.offload_latency_us)},
          {"insertion_latency_us", percentilesJson(f.insertion_latency_us)}};
}

nlohmann::json offloadJson(const OffloadReport& r) {
  nlohmann::json j;
  j["profile"] = profileName(r.profile);
  j["netdev"] = {{"name", "p0"}, {"port", 1}};
  const ct::HookCounts& c = r.counts;
  j["hooks"] = {{"conn_add", c.add},
                {"conn_add_failed", c.add_failed},
                {"conn_established", c.est},
                {"conn_del_requested", c.del_requested},
                {"conn_del", c.del},
                {"conn_del_at_end", c.del_at_end},
                {"conn_update", c.upd},
                {"conn_update_kept", c.upd_kept},
                {"update_batches", c.upd_batches},
                {"shutdown_flushes", c.shutdown_flushes}};
  j["providers"] = nlohmann::json::array();
  for (const ProviderInfo& p : r.providers) {
    nlohmann::json calls;
    for (int i = 0; i < kCallbackCount; ++i) {
      calls[callbackName(static_cast<Callback>(i))] = p.calls[size_t(i)];
    }
    nlohmann::json latency = nlohmann::json::object();
    for (int i = 0; i < kCallbackCount; ++i) {
      const LatencySummary& l = p.latency[size_t(i)];
      if (l.count == 0) continue;
      latency[callbackName(static_cast<Callback>(i))] = {
          {"count", l.count}, {"mean", double(l.sum_ns) / double(l.count)},
          {"p50", l.p50_ns},  {"p90", l.p90_ns},
          {"p99", l.p99_ns},  {"p99.9", l.p999_ns},
          {"max", l.max_ns}};
    }
    j["providers"].push_back(
        {{"name", p.name}, {"origin", p.origin}, {"calls", calls}, {"call_latency_ns", latency}});
  }
  j["fast_path_packets"] = {{"consumed", r.fast_path_consumed}, {"sent_up", r.fast_path_up}};
  j["fast_paths"] = nlohmann::json::array();
  for (const FastPathReport& f : r.fast_paths) j["fast_paths"].push_back(fastPathJson(f));
  return j;
}

void printOffloadText(FILE* out, const OffloadReport& r) {
  const ct::HookCounts& c = r.counts;
  std::fprintf(out, "offload (profile %s, netdev p0 port 1):\n", profileName(r.profile));
  std::fprintf(out,
               "  hook calls: conn_add %llu (%llu failed), conn_established %llu, conn_del %llu "
               "of %llu removals (%llu at the end flush), conn_update %llu (%llu kept) in %llu "
               "batches, shutdown flush %llu\n",
               (unsigned long long)c.add, (unsigned long long)c.add_failed,
               (unsigned long long)c.est, (unsigned long long)c.del,
               (unsigned long long)c.del_requested, (unsigned long long)c.del_at_end,
               (unsigned long long)c.upd, (unsigned long long)c.upd_kept,
               (unsigned long long)c.upd_batches, (unsigned long long)c.shutdown_flushes);
  for (const ProviderInfo& p : r.providers) {
    std::string calls;
    for (int i = 0; i < kCallbackCount; ++i) {
      if (p.calls[size_t(i)] == 0) continue;
      calls += std::string(calls.empty() ? "" : ", ") + callbackName(static_cast<Callback>(i)) +
               " " + std::to_string(p.calls[size_t(i)]);
    }
    std::fprintf(out, "  provider %s (%s): %s\n", p.name.c_str(), p.origin.c_str(),
                 calls.empty() ? "no calls" : calls.c_str());
    std::string lat;
    for (Callback cb : {Callback::kConnAdd, Callback::kConnDel, Callback::kConnUpdate}) {
      const LatencySummary& l = p.latency[static_cast<size_t>(cb)];
      if (l.count == 0) continue;
      lat += std::string(lat.empty() ? "" : "; ") + callbackName(cb) + " p50 " +
             std::to_string(l.p50_ns) + " p99 " + std::to_string(l.p99_ns) + " max " +
             std::to_string(l.max_ns);
    }
    if (!lat.empty()) std::fprintf(out, "    call latency (wall, ns): %s\n", lat.c_str());
  }
  if (!r.fast_paths.empty()) {
    std::fprintf(out, "  packets handled in a fast path only: %llu (hit but sent up: %llu)\n",
                 (unsigned long long)r.fast_path_consumed, (unsigned long long)r.fast_path_up);
  }
  for (const FastPathReport& f : r.fast_paths) {
    const FastPathStats& s = f.stats;
    std::fprintf(out,
                 "  fast path %s: hit ratio %.1f%% of packets, %.1f%% of bytes; entries peak %llu "
                 "of capacity %llu, %llu at the end\n",
                 f.name.c_str(), 100 * ratio(s.hit_packets, s.hit_packets + s.miss_packets),
                 100 * ratio(s.hit_bytes, s.hit_bytes + s.miss_bytes),
                 (unsigned long long)s.entries_peak, (unsigned long long)s.capacity,
                 (unsigned long long)s.entries);
    const Percentiles& l = f.offload_latency_us;
    std::fprintf(out,
                 "    offload latency (first packet -> active, trace time, us): n %llu, p50 %.1f, "
                 "p90 %.1f, p99 %.1f, p99.9 %.1f, max %.1f\n",
                 (unsigned long long)l.count, l.p50, l.p90, l.p99, l.p99_9, l.max);
    std::string fails;
    for (const auto& [cause, n] : s.failures) {
      fails += std::string(fails.empty() ? "" : ", ") + cause + " " + std::to_string(n);
    }
    std::fprintf(out, "    failures: %s\n", fails.empty() ? "none" : fails.c_str());
  }
}

nlohmann::json summaryJson(const std::string& file, const ct::ReplaySummary& s,
                           const OffloadReport* offload) {
  nlohmann::json j;
  j["file"] = file;
  j["packets"] = s.packets;
  j["fast_path_consumed"] = s.fast_path_consumed;
  j["ct_state"] = s.by_ct_state;
  j["outcomes"] = s.by_outcome;
  j["fragments"] = {{"held", s.held_fragments},
                    {"reassembled", s.reassembled},
                    {"ipf_accepted", s.ipf.accepted},
                    {"ipf_completed", s.ipf.completed},
                    {"ipf_too_small", s.ipf.too_small},
                    {"ipf_overlap", s.ipf.overlap},
                    {"ipf_over_limit", s.ipf.over_limit},
                    {"ipf_expired_lists", s.ipf.expired_lists},
                    {"ipf_reassembly_failed", s.ipf.reass_failed}};
  j["connections"] = s.conns;
  j["connections_expired_at_end"] = s.conns_expired_at_end;
  j["connections_flushed_at_end"] = s.flushed_at_end;
  j["engine"] = {{"created", s.engine.conns_created},   {"removed", s.engine.conns_removed},
                 {"limit_drops", s.engine.limit_drops}, {"tcp_port_reuse", s.engine.port_reuse},
                 {"sweeps", s.engine.sweeps},           {"swept", s.engine.swept}};
  if (s.trace_error) {
    j["trace_error"] = {{"record", s.trace_error_record}, {"reason", s.trace_error_reason}};
  }
  if (offload != nullptr) j["offload"] = offloadJson(*offload);
  return j;
}

void printSummaryText(FILE* out, const std::string& file, const ct::ReplaySummary& s,
                      const OffloadReport* offload) {
  std::fprintf(out, "%s: %llu packets", file.c_str(), (unsigned long long)s.packets);
  if (s.fast_path_consumed != 0) {
    std::fprintf(out, " (%llu handled in a fast path only, the rest by the engine)",
                 (unsigned long long)s.fast_path_consumed);
  }
  std::fprintf(out, "\n");
  std::fprintf(out, "packets by ct_state:\n");
  for (const auto& [k, v] : s.by_ct_state) {
    std::fprintf(out, "  %-16s %llu\n", k.c_str(), (unsigned long long)v);
  }
  std::fprintf(out, "packets by parser outcome:\n");
  for (const auto& [k, v] : s.by_outcome) {
    std::fprintf(out, "  %-16s %llu\n", k.c_str(), (unsigned long long)v);
  }
  std::fprintf(out, "fragments: held %llu, reassembled %llu, too small %llu, overlap %llu\n",
               (unsigned long long)s.held_fragments, (unsigned long long)s.reassembled,
               (unsigned long long)s.ipf.too_small, (unsigned long long)s.ipf.overlap);
  std::fprintf(out,
               "connections left in the table, by protocol and state (%llu expired at the end):\n",
               (unsigned long long)s.conns_expired_at_end);
  for (const auto& [proto, states] : s.conns) {
    for (const auto& [st, n] : states) {
      std::fprintf(out, "  %-8s %-16s %llu\n", proto.c_str(), st.c_str(), (unsigned long long)n);
    }
  }
  std::fprintf(out, "engine: created %llu, removed %llu, limit drops %llu, port reuse %llu\n",
               (unsigned long long)s.engine.conns_created,
               (unsigned long long)s.engine.conns_removed, (unsigned long long)s.engine.limit_drops,
               (unsigned long long)s.engine.port_reuse);
  if (s.trace_error) {
    std::fprintf(out, "trace ended at record %llu: %s\n", (unsigned long long)s.trace_error_record,
                 s.trace_error_reason.c_str());
  }
  if (offload != nullptr) printOffloadText(out, *offload);
}

void writeOut(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

int runReplay(const ReplayArgs& a) {
  auto profile = parseProfile(a.profile);
  if (!profile.ok()) {
    std::fprintf(stderr, "ctsim replay: %s\n", profile.status().message().c_str());
    return kExitBadInput;
  }
  ct::ReplayOptions opt;
  opt.clock = a.clock == "frozen" ? ct::ClockMode::kFrozen : ct::ClockMode::kTrace;
  opt.zone = a.zone_from == "vlan" ? ct::ZoneMode::kVlan : ct::ZoneMode::kZero;
  opt.engine.tcp_seq_check = !a.no_seq_check;

#ifdef CTSIM_HAVE_DPDK
  if (!a.eal_args.empty() || a.input == "dpdk") {
    Status eal = dpdk::ensureEal(a.eal_args);
    if (!eal.ok() && eal.code() != EALREADY) {
      std::fprintf(stderr, "ctsim replay: %s\n", eal.message().c_str());
      return kExitBadInput;
    }
  }
#endif

  // Offload: the registry, its providers in the order given, the hooks.
  std::unique_ptr<Registry> registry;
  std::unique_ptr<ct::RegistryHooks> hooks;
  ct::HooksOracleWriter hooks_writer;
  bool emit_events = a.emit == "events", emit_hooks = a.emit == "hooks";
  if (a.offload || emit_events || emit_hooks) {
    registry = std::make_unique<Registry>(profile.value());
    registry->setTiming(true);  // per-provider, per-callback wall-clock latency.
    size_t next_provider = 0, next_lib = 0;
    for (bool lib : a.order) {
      Status st = lib ? loadProviderLibrary(*registry, a.libs[next_lib++])
                      : addBuiltinProvider(*registry, a.providers[next_provider++]);
      if (!st.ok()) {
        std::fprintf(stderr, "ctsim replay: %s\n", st.message().c_str());
        return kExitBadInput;
      }
    }
    hooks = std::make_unique<ct::RegistryHooks>(*registry);
    if (emit_events) {
      hooks->setListener([](const ct::HookEvent& e) { writeOut(ct::formatHookEvent(e)); }, true);
    } else if (emit_hooks) {
      hooks->setListener([&](const ct::HookEvent& e) { hooks_writer.onEvent(e); }, false);
    }
    opt.engine = ct::hookProfileConfig(profile.value(), opt.engine);
    opt.hooks = hooks.get();
  }

  bool emit_ct_state = a.emit == "ct-state";
  std::string line;
  auto on_packet = [&](const TraceRecord& rec, const ct::Verdict& v) {
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
  if (registry) opt.fast_paths = fastPathsOf(*registry);
  ct::Replayer replayer(opt);
  Result<ct::ReplaySummary> result = Status(EINVAL, "no input");
  if (a.input == "dpdk") {
#ifdef CTSIM_HAVE_DPDK
    // Frames through DPDK's net_pcap driver into mbufs, in bursts, as a DPDK datapath receives
    // them; the file header (link type) is read by libpcap first.
    auto header = TraceReader::open(a.file);
    if (!header.ok()) {
      result = header.status();
    } else {
      uint32_t linktype = header.value()->linktype();
      replayer.begin();
      TraceRecord rec;
      uint64_t n = 0;
      Status st = dpdk::forEachFrame(a.file, [&](const uint8_t* data, uint32_t len, int64_t ts) {
        rec.index = ++n;
        rec.ts_ns = ts;
        rec.caplen = rec.wirelen = len;
        rec.linktype = linktype;
        rec.data = data;
        replayer.process(rec, on_packet);
      });
      TraceEnd end;
      if (!st.ok()) {
        end.error = true;
        end.at_record = n + 1;
        end.reason = st.message();
      }
      result = replayer.finish(end);
    }
#else
    std::fprintf(stderr, "ctsim replay: --input dpdk: this ctsim was built without DPDK\n");
    return kExitBadInput;
#endif
  } else {
    result = replayer.run(a.file, on_packet);
  }
  if (!result.ok()) {
    std::fprintf(stderr, "ctsim replay: %s: %s\n", a.file.c_str(),
                 result.status().message().c_str());
    return kExitBadInput;
  }
  OffloadReport report;
  if (hooks) {
    if (emit_hooks) writeOut(hooks_writer.finalLine(hooks->counts()) + "\n");
    hooks->shutdown();  // switch shutdown: provider flush(), after the end-of-trace flush.
    report.profile = profile.value();
    report.counts = hooks->counts();
    report.providers = registry->providers();
    report.fast_path_consumed = result.value().fast_path_consumed;
    report.fast_path_up = result.value().fast_path_up;
    for (Provider* p : registry->providerObjects()) {
      FastPath* fp = fastPathOf(*p);
      if (fp == nullptr) continue;
      FastPathReport f;
      f.name = p->name();
      f.stats = fp->stats();
      std::vector<double> offload, insertion;
      for (const FastPathOffloadSample& o : f.stats.offload_latency) {
        insertion.push_back(double(o.active_ns - o.request_ns) / 1e3);
        auto first = replayer.firstPacketNs(o.key);
        offload.push_back(double(o.active_ns - first.value_or(o.request_ns)) / 1e3);
      }
      f.offload_latency_us = percentiles(std::move(offload));
      f.insertion_latency_us = percentiles(std::move(insertion));
      report.fast_paths.push_back(std::move(f));
    }
  }
  std::fflush(stdout);
  if (a.no_summary) return kExitOk;
  FILE* out = a.emit != "none" ? stderr : stdout;
  const OffloadReport* off = hooks ? &report : nullptr;
  if (a.json) {
    std::string text = summaryJson(a.file, result.value(), off).dump(2);
    std::fprintf(out, "%s\n", text.c_str());
  } else {
    printSummaryText(out, a.file, result.value(), off);
  }
  return kExitOk;
}

}  // namespace

void addReplayCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand("replay", "Replay a capture through the conntrack engine");
  cmd->add_option("FILE", args->file, "pcap or pcapng capture")->required();
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
  cmd->add_option("--zone-from", args->zone_from, "zone: none (0) or vlan (outer VLAN id)")
      ->check(CLI::IsMember({"none", "vlan"}));
  cmd->add_flag("--json", args->json, "summary as JSON");
  cmd->add_option("--input", args->input,
                  "file: read the capture with libpcap (default); dpdk: through DPDK's net_pcap "
                  "driver into mbufs (microsecond timestamps)")
      ->check(CLI::IsMember({"file", "dpdk"}));
  cmd->add_option("--eal-args", args->eal_args,
                  "DPDK EAL arguments (default: --no-huge --no-pci --no-shconf -m 512 ...)");
  cmd->add_flag("--no-summary", args->no_summary, "print no summary");
  cmd->add_flag("--no-tcp-seq-check", args->no_seq_check, "disable TCP sequence checking");
  cmd->callback([args, cmd, profile, provider, lib, &exit_code]() {
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
    exit_code = runReplay(*args);
  });
}

}  // namespace ctsim::cli
