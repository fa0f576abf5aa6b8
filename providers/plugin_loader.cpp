#include "providers/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "providers/isolate/isolate.h"

namespace ctsim {

namespace {

using AbiVersionFn = uint32_t (*)();
using InitFn = int (*)();

Status loadFile(Registry& registry, const std::string& file) {
  // A bare name would make dlopen search the library path instead of opening this file.
  const std::string path = file.find('/') == std::string::npos ? "./" + file : file;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return Status(ELIBBAD, file + ": cannot load plug-in: " + (why ? why : "unknown error"));
  }
  auto fail = [&](int code, const std::string& why) {
    dlclose(handle);
    return Status(code, file + ": " + why);
  };
  auto version = reinterpret_cast<AbiVersionFn>(dlsym(handle, "ctsim_plugin_abi_version"));
  if (!version) return fail(ELIBBAD, "not a ctsim plug-in: missing ctsim_plugin_abi_version");
  auto init = reinterpret_cast<InitFn>(dlsym(handle, "ctsim_plugin_init"));
  if (!init) return fail(ELIBBAD, "not a ctsim plug-in: missing ctsim_plugin_init");
  uint32_t v = 0;
  try {
    v = version();
  } catch (...) {
    return fail(ELIBBAD, "ctsim_plugin_abi_version " + describeCurrentException());
  }
  if (v != CTSIM_PLUGIN_ABI_VERSION) {
    return fail(ELIBBAD, "plug-in ABI version " + std::to_string(v) + ", this ctsim expects " +
                             std::to_string(CTSIM_PLUGIN_ABI_VERSION));
  }
  int rc;
  std::vector<std::string> rejections;
  std::string thrown;
  {
    ScopedCurrentRegistry current(&registry);
    Registry::StagingScope staging(registry, file);
    try {
      rc = init();
    } catch (...) {
      rc = EIO;
      thrown = describeCurrentException();
    }
    if (rc == 0) staging.commit();
    rejections = staging.rejections();
  }  // Uncommitted registrations are dropped here, before the library goes away.
  if (rc != 0) {
    std::string why =
        "ctsim_plugin_init failed: " +
        (thrown.empty() ? std::string(std::strerror(rc)) + " (" + std::to_string(rc) + ")"
                        : thrown);
    if (!rejections.empty()) why += "; registration refused: " + rejections.front();
    return fail(rc, why);
  }
  return Status();
}

Status loadOne(Registry& registry, const std::string& file, const PluginLoadOptions& options) {
  if (options.isolate) return isolate::loadIsolated(registry, file, options.watchdog_ms);
  return loadFile(registry, file);
}

}  // namespace

Status loadProviderLibrary(Registry& registry, const std::string& path,
                           const PluginLoadOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    if (!std::filesystem::exists(path, ec)) {
      return Status(ENOENT, path + ": no such plug-in file or folder");
    }
    return loadOne(registry, path, options);
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".so") {
      files.push_back(entry.path().string());
    }
  }
  if (ec) return Status(ec.value(), path + ": " + ec.message());
  if (files.empty()) return Status(ENOENT, path + ": no .so files in this folder");
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    Status s = loadOne(registry, f, options);
    if (!s.ok()) return s;
  }
  return Status();
}

Status loadProviderLibraries(Registry& registry, const std::vector<std::string>& paths,
                             const PluginLoadOptions& options) {
  for (const std::string& p : paths) {
    Status s = loadProviderLibrary(registry, p, options);
    if (!s.ok()) return s;
  }
  return Status();
}

}  // namespace ctsim
