// ctsim: the one binary. Subcommands live in cmd_*.cpp and register through cli/commands.h.
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ctsim: a simulation and verification testbed for conntrack offload providers"};
  app.require_subcommand(1);
  int exit_code = ctsim::cli::kExitOk;
  ctsim::cli::addTraceInfoCommand(app, exit_code);
  ctsim::cli::addProvidersCommand(app, exit_code);
  ctsim::cli::addGenCommand(app, exit_code);
  ctsim::cli::addReplayCommand(app, exit_code);
  ctsim::cli::addReportCommand(app, exit_code);
  ctsim::cli::addOracleCommand(app, exit_code);
  ctsim::cli::addConformanceCommand(app, exit_code);
  ctsim::cli::addExplainCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : ctsim::cli::kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ctsim: %s\n", e.what());
    return ctsim::cli::kExitFailure;
  }
  return exit_code;
}
