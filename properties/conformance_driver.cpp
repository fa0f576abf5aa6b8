// A stand-in `ctsim` holding only the conformance command, for tests until cli/ builds
// cmd_conformance.cpp into the real binary.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"

namespace ctsim::cli {
void addConformanceCommand(CLI::App& app, int& exit_code);
}  // namespace ctsim::cli

int main(int argc, char** argv) {
  CLI::App app{"ctsim (conformance only)"};
  app.require_subcommand(1);
  int exit_code = ctsim::cli::kExitOk;
  ctsim::cli::addConformanceCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : ctsim::cli::kExitBadInput;
  }
  return exit_code;
}
