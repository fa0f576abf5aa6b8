#pragma once
// Each ctsim subcommand adds itself to the CLI11 application through one of these functions.
// Commands report bad input as one line on stderr and exit code 2.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ctsim::cli {

// Exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the job ran and found a failure (test, regression).
inline constexpr int kExitBadInput = 2;  // bad input: missing file, not a capture, bad option.

// `ctsim trace-info FILE...`
void addTraceInfoCommand(CLI::App& app, int& exit_code);

// `ctsim replay FILE... [--clock trace|frozen] [--emit none|ct-state|events|hooks]
// [--zone-from none|vlan|map:FILE] [--profile rfc-v1|rfc-v2|strict] [--provider NAME[:k=v,...]]...
// [--provider-lib PATH]... [--input file|dpdk] [--eal-args S] [--report F] [--md F] [--html F]
// [--speed top|realtime|xN] [--pps N] [--loop N] [--concat] [--repeat N] [--stats S] [-q]
// [--json] [--no-summary] [--no-tcp-seq-check] [--explain] [--explain-conn SPEC]
// [--lifecycles F.jsonl] [--no-lifecycles]`
void addReplayCommand(CLI::App& app, int& exit_code);

// `ctsim report render|compare|merge|validate ...` (reports/README.md)
void addReportCommand(CLI::App& app, int& exit_code);

// `ctsim oracle kernel FILE [-o OUT] [--compare [--differences PATH] [--clock trace|frozen]]`
void addOracleCommand(CLI::App& app, int& exit_code);

// `ctsim conformance --provider NAME[:opts] | --provider-lib PATH [--profile rfc-v1|rfc-v2|strict]
// [--junit FILE] [--seed N] [--filter TEXT|GLOB] [--cases N] [--trace FILE]...
// [--counterexample-dir DIR] [--list-invariants]`
void addConformanceCommand(CLI::App& app, int& exit_code);

// `ctsim gen OUT.pcap [options]`
void addGenCommand(CLI::App& app, int& exit_code);

// `ctsim explain REPORT.json|FILE.jsonl [--conn SPEC]`: the reasons table of a saved report, or
// one connection's timeline from a report's examples or a --lifecycles file.
void addExplainCommand(CLI::App& app, int& exit_code);

// The explanation options of `ctsim replay` (cmd_explain.cpp keeps their logic).
struct ExplainArgs {
  bool table = false;          // --explain: the reasons table after the summary.
  std::string conn;            // --explain-conn SPEC: that connection's timeline.
  std::string lifecycles;      // --lifecycles FILE.jsonl: one JSON line per connection.
  bool off = false;            // --no-lifecycles: keep none (no explanation at all).
  mutable std::string output;  // what the run printed for --explain-conn (set by the run).
  // --explain-conn N: the connection packet N belonged to (set by the run when packet N went to
  // software and matched a connection; otherwise the connection packet N created is looked up).
  mutable int64_t packet_conn = -1;  // its index in the replay's lifecycles, or -1.
};
void addExplainOptions(CLI::App& cmd, ExplainArgs& args);

// `ctsim providers [--provider-lib PATH]... [--profile rfc-v1|rfc-v2|strict] [--json]`
void addProvidersCommand(CLI::App& app, int& exit_code);
// Adds the repeatable `--provider-lib PATH` option (.so or folder). Load the paths with
// ctsim::loadProviderLibraries(registry, paths) from "providers/plugin_loader.h".
void addProviderLibOption(CLI::App& cmd, std::vector<std::string>& paths);

}  // namespace ctsim::cli
