// `ctsim replay FILE`: replays a capture through the conntrack engine, one packet per call.
//
// Output: with `--emit ct-state`, one line per packet on stdout in exactly the format of OVS's
// test tool ("N: new|trk"), so that the output diffs clean against the oracle files; the summary
// then goes to stderr, never into that stream. Without --emit the summary goes to stdout.
// `--json` prints the summary as JSON; `--no-summary` leaves it out.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "sim/conntrack/replay.h"

namespace ctsim::cli {
namespace {

struct ReplayArgs {
  std::string file;                // the capture.
  std::string clock = "trace";     // trace | frozen.
  std::string emit = "none";       // none | ct-state.
  std::string zone_from = "none";  // none | vlan.
  bool json = false;               // summary as JSON.
  bool no_summary = false;         // no summary at all.
  bool no_seq_check = false;       // TCP sequence checks off.
};

nlohmann::json summaryJson(const std::string& file, const ct::ReplaySummary& s) {
  nlohmann::json j;
  j["file"] = file;
  j["packets"] = s.packets;
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
  j["engine"] = {{"created", s.engine.conns_created},   {"removed", s.engine.conns_removed},
                 {"limit_drops", s.engine.limit_drops}, {"tcp_port_reuse", s.engine.port_reuse},
                 {"sweeps", s.engine.sweeps},           {"swept", s.engine.swept}};
  if (s.trace_error) {
    j["trace_error"] = {{"record", s.trace_error_record}, {"reason", s.trace_error_reason}};
  }
  return j;
}

void printSummaryText(FILE* out, const std::string& file, const ct::ReplaySummary& s) {
  std::fprintf(out, "%s: %llu packets\n", file.c_str(), (unsigned long long)s.packets);
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
}

int runReplay(const ReplayArgs& a) {
  ct::ReplayOptions opt;
  opt.clock = a.clock == "frozen" ? ct::ClockMode::kFrozen : ct::ClockMode::kTrace;
  opt.zone = a.zone_from == "vlan" ? ct::ZoneMode::kVlan : ct::ZoneMode::kZero;
  opt.engine.tcp_seq_check = !a.no_seq_check;
  ct::Replayer replayer(opt);
  bool emit = a.emit == "ct-state";
  std::string line;
  auto on_packet = [&](const TraceRecord& rec, const ct::Verdict& v) {
    if (!emit) return;
    line = std::to_string(rec.index);
    line += ": ";
    line += ct::formatCtState(v.state);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  };
  auto result = replayer.run(a.file, on_packet);
  if (!result.ok()) {
    std::fprintf(stderr, "ctsim replay: %s: %s\n", a.file.c_str(),
                 result.status().message().c_str());
    return kExitBadInput;
  }
  std::fflush(stdout);
  if (a.no_summary) return kExitOk;
  FILE* out = emit ? stderr : stdout;
  if (a.json) {
    std::string text = summaryJson(a.file, result.value()).dump(2);
    std::fprintf(out, "%s\n", text.c_str());
  } else {
    printSummaryText(out, a.file, result.value());
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
  cmd->add_option("--emit", args->emit, "per-packet output: none, or ct-state (oracle format)")
      ->check(CLI::IsMember({"none", "ct-state"}));
  cmd->add_option("--zone-from", args->zone_from, "zone: none (0) or vlan (outer VLAN id)")
      ->check(CLI::IsMember({"none", "vlan"}));
  cmd->add_flag("--json", args->json, "summary as JSON");
  cmd->add_flag("--no-summary", args->no_summary, "print no summary");
  cmd->add_flag("--no-tcp-seq-check", args->no_seq_check, "disable TCP sequence checking");
  cmd->callback([args, &exit_code]() { exit_code = runReplay(*args); });
}

}  // namespace ctsim::cli
