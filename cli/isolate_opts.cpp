#include "cli/isolate_opts.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"

namespace ctsim::cli {
namespace {

void giveUp(void*, const std::string& provider, Callback c, int ms) {
  std::fprintf(stderr,
               "ctsim replay: provider %s did not return from %s within %d ms; an in-process call "
               "cannot be abandoned (run plug-ins with --isolate); giving up\n",
               provider.c_str(), callbackName(c), ms);
  std::fflush(stderr);
  ::_exit(kExitFailure);
}

}  // namespace

void addIsolateOptions(CLI::App& cmd, RobustnessOptions& options) {
  cmd.add_flag("--isolate", options.isolate,
               "run each --provider-lib plug-in in a child process: a crash or hang in it becomes "
               "a fault of that provider (named in the report) and the replay goes on");
  cmd.add_option("--watchdog-ms", options.watchdog_ms,
                 "per-call limit: an isolated plug-in not answering within N ms is a fault (child "
                 "killed; default 10000 with --isolate); an in-process provider exceeding it ends "
                 "the replay with exit 1 (default: no limit); 0 = no limit")
      ->check(CLI::NonNegativeNumber);
}

void armWatchdog(Registry& registry, const RobustnessOptions& options) {
  if (int ms = options.inProcessWatchdogMs(); ms > 0) registry.setWatchdog(ms, &giveUp, nullptr);
}

}  // namespace ctsim::cli
