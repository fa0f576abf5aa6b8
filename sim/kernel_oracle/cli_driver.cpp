// Test-only stand-in for the `ctsim` binary with just the oracle command, until cli/ builds
// cmd_oracle.cpp into ctsim.
#include <CLI/CLI.hpp>

namespace ctsim::cli {
void addOracleCommand(CLI::App& app, int& exit_code);
}  // namespace ctsim::cli

int main(int argc, char** argv) {
  CLI::App app{"ctsim (oracle test driver)"};
  app.require_subcommand(1);
  int exit_code = 0;
  ctsim::cli::addOracleCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
