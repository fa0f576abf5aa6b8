// `ctsim oracle kernel FILE`: replays a capture through the Linux kernel's conntrack in a
// namespace rig that ctsim builds and removes itself (sim/kernel_oracle/rig.h), then prints the
// kernel's final table as JSON in the shape of ../shared/traces/oracle/kernel/<file>.json.
//
//   --output PATH   write the table there instead of stdout
//   --compare       also compare it with ctsim's final table (trace clock, no end flush) and
//                   print the differences, each with the rule of differences.tsv that explains
//                   it ("-" when none); exit 1 when one is unexplained
//   --differences PATH  the rules file (default: sim/kernel_oracle/differences.tsv of the source)
//   --clock trace|frozen  ctsim's clock for --compare (default trace)
//   --rig auto|bridge|routed  the kernel rig (rig.h; default auto: bridge when br_netfilter is
//                   there, else routed)
//
// Exit codes: 0, 1 (unexplained differences), 2 (bad input, or the kernel cannot be used here:
// the one reason is printed).  SIGINT stops the replay early; the namespaces go away with the
// process whatever happens.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "cli/commands.h"
#ifdef CTSIM_HAVE_KERNEL_ORACLE
#include "providers/kernel_ct/netns.h"
#include "sim/kernel_oracle/compare.h"
#include "sim/kernel_oracle/rig.h"
#endif

#ifndef CTSIM_DIFFERENCES_DEFAULT
#define CTSIM_DIFFERENCES_DEFAULT "sim/kernel_oracle/differences.tsv"
#endif

namespace ctsim::cli {

namespace {

struct OracleArgs {
  std::string file;                                     // the capture.
  std::string output;                                   // "" = stdout.
  bool compare = false;                                 // also compare with ctsim.
  std::string differences = CTSIM_DIFFERENCES_DEFAULT;  // rules file.
  std::string clock = "trace";                          // ctsim's clock for --compare.
  std::string rig = "auto";                             // the kernel rig.
};

int runOracle(const OracleArgs& a) {
#ifndef CTSIM_HAVE_KERNEL_ORACLE
  (void)a;
  std::fprintf(stderr,
               "ctsim oracle kernel: not built: libnetfilter_conntrack or libmnl missing\n");
  return kExitBadInput;
#else
  kern::Interrupt::install();
  oracle::RigStats st;
  auto mode = oracle::parseRigMode(a.rig);
  if (!mode.ok()) {
    std::fprintf(stderr, "ctsim oracle kernel: %s\n", mode.status().message().c_str());
    return kExitBadInput;
  }
  oracle::RigMode built = mode.value();
  auto table = oracle::replayThroughKernel(a.file, &st, mode.value(), &built);
  if (!table.ok()) {
    std::fprintf(stderr, "ctsim oracle kernel: %s: %s\n", a.file.c_str(),
                 table.status().message().c_str());
    return kExitBadInput;
  }
  std::string text = oracle::formatTable(table.value());
  if (a.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream out(a.output, std::ios::binary);
    out << text;
    if (!out) {
      std::fprintf(stderr, "ctsim oracle kernel: cannot write %s\n", a.output.c_str());
      return kExitBadInput;
    }
  }
  std::fprintf(stderr,
               "ctsim oracle kernel: %s: %s rig, %llu records, %llu sent (%llu not IP, %llu not "
               "sent), "
               "%llu VLAN-stripped, %llu IPv4 checksums fixed, %llu source MACs fixed; %zu "
               "entries%s\n",
               a.file.c_str(), oracle::rigModeName(built), (unsigned long long)st.records,
               (unsigned long long)st.sent, (unsigned long long)st.not_ip,
               (unsigned long long)st.send_failed, (unsigned long long)st.vlan_stripped,
               (unsigned long long)st.ip_csum_fixed, (unsigned long long)st.mac_fixed,
               table.value().size(), kern::Interrupt::interrupted() ? " (interrupted)" : "");
  if (!a.compare) return kExitOk;
  auto rules = oracle::loadDifferenceRules(a.differences);
  if (!rules.ok()) {
    std::fprintf(stderr, "ctsim oracle kernel: %s\n", rules.status().message().c_str());
    return kExitBadInput;
  }
  ct::ClockMode clock = a.clock == "frozen" ? ct::ClockMode::kFrozen : ct::ClockMode::kTrace;
  auto mine = oracle::ctsimFinalTable(a.file, clock);
  if (!mine.ok()) {
    std::fprintf(stderr, "ctsim oracle kernel: %s\n", mine.status().message().c_str());
    return kExitBadInput;
  }
  auto diffs =
      oracle::compareTables(mine.value(), oracle::kernelRows(table.value()), rules.value(), clock);
  size_t unexplained = 0;
  for (const oracle::Difference& d : diffs) {
    if (d.rule.empty()) unexplained++;
    std::fprintf(stderr, "  %-12s %-40s %s  [%s]\n", d.kind.c_str(), d.key.c_str(),
                 d.detail.c_str(), d.rule.empty() ? "-" : d.rule.c_str());
  }
  std::fprintf(stderr, "ctsim oracle kernel: %zu differences, %zu unexplained\n", diffs.size(),
               unexplained);
  return unexplained ? kExitFailure : kExitOk;
#endif
}

}  // namespace

void addOracleCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<OracleArgs>();
  CLI::App* oracle = app.add_subcommand("oracle", "Other conntrack implementations as oracles");
  oracle->require_subcommand(1);
  CLI::App* cmd = oracle->add_subcommand(
      "kernel", "Replay a capture through the Linux kernel's conntrack and dump its table");
  cmd->add_option("FILE", args->file, "pcap or pcapng capture")->required();
  cmd->add_option("-o,--output", args->output, "write the JSON table here (default stdout)");
  cmd->add_flag("--compare", args->compare,
                "compare with ctsim's final table; exit 1 on an unexplained difference");
  cmd->add_option("--differences", args->differences, "known differences (rule<TAB>reason)");
  cmd->add_option("--clock", args->clock, "ctsim's clock for --compare: trace or frozen")
      ->check(CLI::IsMember({"trace", "frozen"}));
  cmd->add_option("--rig", args->rig, "kernel rig: auto (default), bridge or routed")
      ->check(CLI::IsMember({"auto", "bridge", "routed"}));
  cmd->callback([args, &exit_code]() { exit_code = runOracle(*args); });
}

}  // namespace ctsim::cli
