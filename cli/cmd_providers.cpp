// `ctsim providers [--provider-lib PATH]... [--profile P] [--json]`: lists the registered offload
// providers (built-ins, then plug-ins in load order, i.e. dispatch order) with their origin and
// the callbacks each has.  Also the reusable --provider-lib option for other commands.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "providers/builtin.h"
#include "providers/plugin_loader.h"
#include "providers/registry.h"

namespace ctsim::cli {

void addProviderLibOption(CLI::App& cmd, std::vector<std::string>& paths) {
  cmd.add_option("--provider-lib", paths,
                 "Load offload provider plug-ins from a .so file or a folder of them "
                 "(repeatable; see <ctsim/ct_offload.h>)");
}

namespace {

struct ProvidersOptions {
  std::vector<std::string> libs;
  std::string profile = "strict";
  bool json = false;
};

// Registry warnings are held back so that a failure prints exactly one line.
void collectWarning(void* arg, const std::string& message) {
  static_cast<std::vector<std::string>*>(arg)->push_back(message);
}

std::vector<std::string> callbackNames(CallbackMask mask) {
  std::vector<std::string> names;
  for (int i = 0; i < kCallbackCount; i++) {
    auto c = static_cast<Callback>(i);
    if (mask & bit(c)) names.push_back(callbackName(c));
  }
  return names;
}

int runProviders(const ProvidersOptions& opts) {
  auto profile = parseProfile(opts.profile);
  if (!profile.ok()) {
    std::fprintf(stderr, "ctsim providers: %s\n", profile.status().message().c_str());
    return kExitBadInput;
  }
  std::vector<std::string> warnings;
  Registry registry(profile.value());
  registry.setLogSink(collectWarning, &warnings);
  Status s = registerBuiltinProviders(registry);
  if (s.ok()) s = loadProviderLibraries(registry, opts.libs);
  if (!s.ok()) {
    std::fprintf(stderr, "ctsim providers: %s\n", s.message().c_str());
    return kExitBadInput;
  }
  for (const std::string& w : warnings) std::fprintf(stderr, "ctsim: warning: %s\n", w.c_str());

  const std::vector<ProviderInfo> providers = registry.providers();
  if (opts.json) {
    nlohmann::ordered_json out;
    out["profile"] = profileName(registry.profile());
    out["providers"] = nlohmann::ordered_json::array();
    for (const ProviderInfo& p : providers) {
      out["providers"].push_back(
          {{"name", p.name}, {"origin", p.origin}, {"callbacks", callbackNames(p.callbacks)}});
    }
    out["unavailable"] = nlohmann::ordered_json::array();
    for (const BuiltinProvider& b : builtinProviders()) {
      if (b.unavailable)
        out["unavailable"].push_back({{"name", b.name}, {"reason", b.unavailable}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  size_t wn = 4, wo = 6;
  for (const ProviderInfo& p : providers) {
    wn = std::max(wn, p.name.size());
    wo = std::max(wo, p.origin.size());
  }
  std::printf("%-*s  %-*s  %s\n", static_cast<int>(wn), "NAME", static_cast<int>(wo), "ORIGIN",
              "CALLBACKS");
  for (const ProviderInfo& p : providers) {
    std::string cbs;
    for (const std::string& c : callbackNames(p.callbacks)) cbs += (cbs.empty() ? "" : " ") + c;
    std::printf("%-*s  %-*s  %s\n", static_cast<int>(wn), p.name.c_str(), static_cast<int>(wo),
                p.origin.c_str(), cbs.c_str());
  }
  // Built-ins this build lacks, with the reason (e.g. dpdk without libdpdk).
  for (const BuiltinProvider& b : builtinProviders()) {
    if (b.unavailable) {
      std::printf("%-*s  %-*s  %s\n", static_cast<int>(wn), b.name, static_cast<int>(wo),
                  kOriginBuiltin, b.unavailable);
    }
  }
  return kExitOk;
}

}  // namespace

void addProvidersCommand(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ProvidersOptions>();
  CLI::App* cmd = app.add_subcommand(
      "providers", "List the offload providers: built-ins and plug-ins, origin, callbacks");
  addProviderLibOption(*cmd, opts->libs);
  cmd->add_option(
      "--profile", opts->profile,
      "Registry profile: strict (default; rejects classes without conn_add, conn_del or "
      "can_offload), rfc-v1 or rfc-v2");
  cmd->add_flag("--json", opts->json, "Print JSON instead of a table");
  cmd->callback([opts, &exit_code] { exit_code = runProviders(*opts); });
}

}  // namespace ctsim::cli
