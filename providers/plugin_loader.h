#pragma once
// Loading provider plug-ins: shared objects exporting ctsim_plugin_abi_version() and
// ctsim_plugin_init() (see <ctsim/ct_offload.h>).

#include <string>
#include <vector>

#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim {

// Loads 'path' into 'registry': a .so file, or every *.so directly in a folder, in name order.
// Per file: dlopen(RTLD_NOW), check ctsim_plugin_abi_version() == CTSIM_PLUGIN_ABI_VERSION, run
// ctsim_plugin_init() with 'registry' current; the classes it registers get the file path as
// origin and are published only when init returns 0.  A load failure, a missing entry point, an
// ABI mismatch or a failing init is one error naming the file, and nothing from that file stays
// registered.  Stops at the first failing file (earlier files of a folder stay loaded); an
// empty folder is an error (ENOENT).  Loaded libraries are never unloaded: a registry may still
// reference their classes until it is destroyed.  Not for concurrent use on one registry.
// With 'isolate', each file runs in a child process instead (providers/isolate/isolate.h), its
// calls bounded by 'watchdog_ms' (0: no bound).  Exceptions thrown by a plug-in's entry points
// are caught and reported as that file's error.
struct PluginLoadOptions {
  bool isolate = false;  // --isolate: one child process per plug-in file.
  int watchdog_ms = 0;   // --watchdog-ms: per-call reply limit of isolated plug-ins (0: none).
};
Status loadProviderLibrary(Registry& registry, const std::string& path,
                           const PluginLoadOptions& options = {});
// loadProviderLibrary for each path, in order; stops at the first error.
Status loadProviderLibraries(Registry& registry, const std::vector<std::string>& paths,
                             const PluginLoadOptions& options = {});

}  // namespace ctsim
