// `ctsim explain REPORT.json|FILE.jsonl [--conn SPEC]`, and the explanation options of `ctsim
// replay` (--explain, --explain-conn, --lifecycles, --no-lifecycles): see sim/explain/README.md.
#include <cstdio>
#include <fstream>
#include <string>

#include "cli/commands.h"
#include "cli/explain_cli.h"
#include "reports/report.h"
#include "sim/explain/explain.h"

namespace ctsim::cli {

void addExplainOptions(CLI::App& cmd, ExplainArgs& args) {
  cmd.add_flag("--explain", args.table,
               "after the summary, print why connections were not offloaded (reasons table)");
  cmd.add_option("--explain-conn", args.conn,
                 "print one connection's timeline: 'tcp 10.0.0.1:1234 10.0.0.2:80 zone 0' or a "
                 "packet number");
  cmd.add_option("--lifecycles", args.lifecycles,
                 "write one JSON line per connection (its lifecycle and explanation) to FILE");
  cmd.add_flag("--no-lifecycles", args.off, "keep no per-connection lifecycles (no explanations)");
}

void explainBeforeRun(ct::Replayer& replayer, Registry* registry) {
  if (registry != nullptr && replayer.lifecycles() != nullptr) {
    explain::attachRegistry(*replayer.lifecycles(), *registry);
  }
}

uint64_t explainPacketNumber(const ExplainArgs& args) {
  if (args.conn.empty()) return 0;
  auto q = explain::parseConnQuery(args.conn);
  return q.ok() ? q.value().packet : 0;
}

void explainSeePacket(const ExplainArgs& args, ct::Replayer& replayer, uint64_t wanted,
                      const TraceRecord& rec, const ct::Verdict& v) {
  if (wanted == 0 || rec.index != wanted || v.conn == nullptr) return;
  const ct::LifecycleRecorder* lc = replayer.lifecycles();
  if (lc == nullptr) return;
  if (const ct::Lifecycle* l = lc->lifecycleOf(*v.conn)) {
    args.packet_conn = l - lc->conns().data();
  }
}

Result<nlohmann::json> explainAfterRun(const ExplainArgs& args, ct::Replayer& replayer) {
  ct::LifecycleRecorder* rec = replayer.lifecycles();
  if (rec == nullptr) return nlohmann::json(nullptr);
  if (!args.lifecycles.empty()) {
    Status st = explain::writeLifecycles(*rec, args.lifecycles);
    if (!st.ok()) return st;
  }
  if (!args.conn.empty()) {
    auto q = explain::parseConnQuery(args.conn);
    if (!q.ok()) return Status(q.status().code(), "--explain-conn: " + q.status().message());
    std::optional<nlohmann::json> found;
    if (args.packet_conn >= 0 && size_t(args.packet_conn) < rec->conns().size()) {
      found = explain::lifecycleJson(*rec, rec->conns()[size_t(args.packet_conn)]);
    } else {
      found = explain::find(*rec, q.value());
    }
    args.output =
        found ? explain::renderTimeline(*found) : "no connection matches '" + args.conn + "'\n";
  }
  return explain::summaryJson(*rec);
}

void printExplain(const ExplainArgs& args, const nlohmann::json& report, std::FILE* out) {
  std::string text;
  if (args.table) {
    if (report.contains("explain") && report["explain"].is_object()) {
      text += explain::renderReasons(report["explain"]);
    } else {
      text += "no explanations (lifecycles were off)\n";
    }
  }
  text += args.output;
  std::fwrite(text.data(), 1, text.size(), out);
}

namespace {

int runExplain(const std::string& path, const std::string& conn) {
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "ctsim explain: %s\n", msg.c_str());
    return kExitBadInput;
  };
  std::ifstream in(path);
  if (!in) return fail("cannot open " + path);
  std::optional<explain::ConnQuery> query;
  if (!conn.empty()) {
    auto q = explain::parseConnQuery(conn);
    if (!q.ok()) return fail("--conn: " + q.status().message());
    query = q.value();
  }
  // A report is one JSON document; a lifecycles file is one JSON object per line.
  std::string first;
  std::getline(in, first);
  bool report = first.find("\"schema\"") != std::string::npos || first == "{";
  in.clear();
  in.seekg(0);
  if (report) {
    nlohmann::json r = nlohmann::json::parse(in, nullptr, false);
    if (r.is_discarded() || !r.is_object()) return fail(path + ": not a JSON report");
    if (!r.contains("explain") || !r["explain"].is_object()) {
      return fail(path + ": the report has no explanations (replayed with --no-lifecycles?)");
    }
    const nlohmann::json& e = r["explain"];
    if (!query) {
      std::string text = explain::renderReasons(e);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return kExitOk;
    }
    for (const nlohmann::json& l : e.value("examples", nlohmann::json::array())) {
      if (explain::matches(*query, l)) {
        std::string text = explain::renderTimeline(l);
        std::fwrite(text.data(), 1, text.size(), stdout);
        return kExitOk;
      }
    }
    std::fprintf(stderr,
                 "ctsim explain: %s: no such connection among the report's examples; replay with "
                 "--lifecycles FILE.jsonl to keep every connection\n",
                 path.c_str());
    return kExitFailure;
  }
  // Lifecycles: without --conn, the reasons counted from the lines.
  std::map<std::string, std::pair<uint64_t, uint64_t>> reasons;
  uint64_t n = 0, offloaded = 0;
  std::string line;
  for (uint64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    nlohmann::json l = nlohmann::json::parse(line, nullptr, false);
    if (l.is_discarded() || !l.is_object() || !l.contains("reason")) {
      return fail(path + ":" + std::to_string(lineno) + ": not a lifecycle line");
    }
    if (query) {
      if (explain::matches(*query, l)) {
        std::string text = explain::renderTimeline(l);
        std::fwrite(text.data(), 1, text.size(), stdout);
        return kExitOk;
      }
      continue;
    }
    ++n;
    if (l.value("offloaded", false)) {
      ++offloaded;
      continue;
    }
    auto& r = reasons[l["reason"].get<std::string>()];
    ++r.first;
    r.second += l.value("sw_packets", uint64_t(0)) + l.value("hw_packets", uint64_t(0));
  }
  if (query) {
    std::fprintf(stderr, "ctsim explain: %s: no connection matches '%s'\n", path.c_str(),
                 conn.c_str());
    return kExitFailure;
  }
  std::printf("%llu connections/flows, %llu offloaded, %llu not\n", (unsigned long long)n,
              (unsigned long long)offloaded, (unsigned long long)(n - offloaded));
  for (const auto& [reason, cp] : reasons) {
    std::printf("  %-26s %12llu %12llu\n", reason.c_str(), (unsigned long long)cp.first,
                (unsigned long long)cp.second);
  }
  return kExitOk;
}

}  // namespace

void addExplainCommand(CLI::App& app, int& exit_code) {
  auto path = std::make_shared<std::string>();
  auto conn = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "explain", "Why connections were not offloaded, from a saved report or --lifecycles file");
  cmd->add_option("FILE", *path, "a report (--report) or a lifecycles file (--lifecycles)")
      ->required();
  cmd->add_option("--conn", *conn,
                  "one connection's timeline: 'tcp 10.0.0.1:1234 10.0.0.2:80 zone 0' or a packet "
                  "number");
  cmd->callback([path, conn, &exit_code]() { exit_code = runExplain(*path, *conn); });
}

}  // namespace ctsim::cli
