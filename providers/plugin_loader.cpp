#include "providers/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

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
  if (uint32_t v = version(); v != CTSIM_PLUGIN_ABI_VERSION) {
    return fail(ELIBBAD, "plug-in ABI version " + std::to_string(v) + ", this ctsim expects " +
                             std::to_string(CTSIM_PLUGIN_ABI_VERSION));
  }
  int rc;
  std::vector<std::string> rejections;
  {
    ScopedCurrentRegistry current(&registry);
    Registry::StagingScope staging(registry, file);
    rc = init();
    if (rc == 0) staging.commit();
    rejections = staging.rejections();
  }  // Uncommitted registrations are dropped here, before the library goes away.
  if (rc != 0) {
    std::string why = "ctsim_plugin_init failed: " + std::string(std::strerror(rc)) + " (" +
                      std::to_string(rc) + ")";
    if (!rejections.empty()) why += "; registration refused: " + rejections.front();
    return fail(rc, why);
  }
  return Status();
}

}  // namespace

Status loadProviderLibrary(Registry& registry, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    if (!std::filesystem::exists(path, ec)) {
      return Status(ENOENT, path + ": no such plug-in file or folder");
    }
    return loadFile(registry, path);
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
    Status s = loadFile(registry, f);
    if (!s.ok()) return s;
  }
  return Status();
}

Status loadProviderLibraries(Registry& registry, const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    Status s = loadProviderLibrary(registry, p);
    if (!s.ok()) return s;
  }
  return Status();
}

}  // namespace ctsim
