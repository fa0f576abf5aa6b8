#pragma once
// `--isolate` and `--watchdog-ms` for commands that load providers (issue 10).

#include <CLI/CLI.hpp>

#include "providers/plugin_loader.h"
#include "providers/registry.h"

namespace ctsim::cli {

// Default per-call limit of isolated plug-ins when --watchdog-ms is not given (generous: a
// healthy provider answers in microseconds; this only turns a hang into a fault).
inline constexpr int kDefaultWatchdogMs = 10000;

struct RobustnessOptions {
  bool isolate = false;  // --isolate.
  int watchdog_ms = -1;  // --watchdog-ms (-1: not given).

  // How to load --provider-lib files: isolated with the given limit (default
  // kDefaultWatchdogMs), or in-process.
  PluginLoadOptions pluginLoad() const {
    return {isolate, watchdog_ms < 0 ? kDefaultWatchdogMs : watchdog_ms};
  }
  // The limit for in-process calls: only when --watchdog-ms was given (0: off).
  int inProcessWatchdogMs() const { return watchdog_ms < 0 ? 0 : watchdog_ms; }
};

// Adds --isolate (each --provider-lib file in a child process, providers/isolate/isolate.h) and
// --watchdog-ms N to 'cmd'.  Isolated plug-ins: a call not answered within N ms is a fault of
// that provider and the replay goes on.  In-process providers (built-ins, plug-ins without
// --isolate): a call running longer than N ms cannot be abandoned, so the command gives up with
// one line naming the provider and the callback, and exit code 1 (see armWatchdog).
void addIsolateOptions(CLI::App& cmd, RobustnessOptions& options);

// Starts 'registry''s watchdog for in-process calls when asked: on a hang, prints
// "ctsim COMMAND: provider NAME did not return from CALLBACK within N ms ..." to stderr and ends
// the process at once (_exit(1): the hung thread holds the engine; no report is written;
// isolated children, kernel namespaces and BPF objects go with the process).  Call it after
// the providers are registered: their init() is not watched.
void armWatchdog(Registry& registry, const RobustnessOptions& options);

}  // namespace ctsim::cli
