#include "cli/isolate_opts.h"

#include <memory>

namespace ctsim::cli {

void addIsolateOptions(CLI::App& cmd, PluginLoadOptions& options) {
  options.watchdog_ms = kDefaultWatchdogMs;
  CLI::Option* isolate = cmd.add_flag(
      "--isolate", options.isolate,
      "run each --provider-lib plug-in in a child process: a crash or hang in it becomes a fault "
      "of that provider (named in the report) and the replay goes on");
  cmd.add_option("--watchdog-ms", options.watchdog_ms,
                 "with --isolate: a plug-in callback not answered within N ms is a fault (the "
                 "child is killed); 0 waits forever (default 10000)")
      ->check(CLI::NonNegativeNumber)
      ->needs(isolate);
}

}  // namespace ctsim::cli
