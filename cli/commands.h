#pragma once
// Each ctsim subcommand adds itself to the CLI11 application through one of these functions.
// Commands report bad input as one line on stderr and exit code 2.

#include <CLI/CLI.hpp>

namespace ctsim::cli {

// Exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the job ran and found a failure (test, regression).
inline constexpr int kExitBadInput = 2;  // bad input: missing file, not a capture, bad option.

// `ctsim trace-info FILE...`
void addTraceInfoCommand(CLI::App& app, int& exit_code);

}  // namespace ctsim::cli
