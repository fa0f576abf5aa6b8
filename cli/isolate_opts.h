#pragma once
// `--isolate` and `--watchdog-ms` for commands that load provider plug-ins (issue 10).

#include <CLI/CLI.hpp>

#include "providers/plugin_loader.h"

namespace ctsim::cli {

// Default per-call limit of isolated plug-ins when --watchdog-ms is not given (generous: a
// healthy provider answers in microseconds; this only turns a hang into a fault).
inline constexpr int kDefaultWatchdogMs = 10000;

// Adds --isolate (each --provider-lib file in a child process, providers/isolate/isolate.h) and
// --watchdog-ms N (per-call limit for isolated plug-ins; 0: none; default kDefaultWatchdogMs) to
// 'cmd', filling 'options' once parsed.  A watchdog without --isolate is refused at parse time:
// an in-process callback cannot be abandoned safely.
void addIsolateOptions(CLI::App& cmd, PluginLoadOptions& options);

}  // namespace ctsim::cli
