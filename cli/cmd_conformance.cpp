// `ctsim conformance`: the provider contract, the invariants and trace replays against one
// provider (properties/conformance.h), with a readable summary and JUnit XML.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "properties/conformance.h"
#include "properties/invariants.h"
#include "providers/registry.h"

namespace ctsim::cli {

void addConformanceCommand(CLI::App& app, int& exit_code) {
  struct Args {
    std::string provider;
    std::vector<std::string> libs;
    std::string profile = "strict";
    std::string junit;
    uint64_t seed = 1;
    std::string filter;
    int cases = 12;
    std::vector<std::string> traces;
    std::string counterexamples;
    bool list = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "conformance",
      "Run the provider contract, the invariants and trace replays against one provider");
  cmd->add_option("--provider", args->provider, "built-in or broken provider, NAME[:k=v,...]");
  cmd->add_option("--provider-lib", args->libs,
                  "provider plug-in (.so); its first class is tested");
  cmd->add_option("--profile", args->profile, "rfc-v1, rfc-v2 or strict (default strict)");
  cmd->add_option("--junit", args->junit, "write JUnit XML to FILE");
  cmd->add_option("--seed", args->seed, "seed of every random choice (default 1)");
  cmd->add_option("--filter", args->filter, "run only tests whose name contains TEXT (or glob)");
  cmd->add_option("--cases", args->cases, "random scenarios per run (default 12)");
  cmd->add_option("--trace", args->traces, "also replay this capture (repeatable)");
  cmd->add_option("--counterexample-dir", args->counterexamples,
                  "write each invariant's first failing scenario there as .script + .pcap");
  cmd->add_flag("--list-invariants", args->list, "list the invariants and exit");
  cmd->callback([args, &exit_code] {
    if (args->list) {
      for (const props::InvariantInfo& i : props::invariantCatalog()) {
        std::printf("%-28s %s  [%s]\n", i.name, i.statement, i.source);
      }
      exit_code = kExitOk;
      return;
    }
    if (args->provider.empty() == args->libs.empty()) {
      std::fprintf(stderr, "ctsim conformance: give exactly one of --provider or --provider-lib\n");
      exit_code = kExitBadInput;
      return;
    }
    auto profile = parseProfile(args->profile);
    if (!profile.ok()) {
      std::fprintf(stderr, "ctsim conformance: %s\n", profile.status().message().c_str());
      exit_code = kExitBadInput;
      return;
    }
    props::ConformanceOptions opt;
    opt.provider_spec = args->provider;
    opt.provider_libs = args->libs;
    opt.profile = profile.value();
    opt.seed = args->seed;
    opt.filter = args->filter;
    opt.cases = args->cases;
    opt.traces = args->traces;
    opt.counterexample_dir = args->counterexamples;
    auto rep = props::runConformance(opt);
    if (!rep.ok()) {
      std::fprintf(stderr, "ctsim conformance: %s\n", rep.status().message().c_str());
      exit_code = kExitBadInput;
      return;
    }
    std::fputs(props::formatSummary(rep.value()).c_str(), stdout);
    if (!args->junit.empty()) {
      std::ofstream out(args->junit);
      out << props::junitXml(rep.value());
      out.close();
      if (!out) {
        std::fprintf(stderr, "ctsim conformance: cannot write %s\n", args->junit.c_str());
        exit_code = kExitBadInput;
        return;
      }
    }
    exit_code = rep.value().ok() ? kExitOk : kExitFailure;
  });
}

}  // namespace ctsim::cli
