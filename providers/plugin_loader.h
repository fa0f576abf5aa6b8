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
Status loadProviderLibrary(Registry& registry, const std::string& path);
// loadProviderLibrary for each path, in order; stops at the first error.
Status loadProviderLibraries(Registry& registry, const std::vector<std::string>& paths);

}  // namespace ctsim
