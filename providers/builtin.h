#pragma once
// Built-in providers (dummy, recorder; emu-hw lives in providers/emu_hw/), the provider spec
// syntax "name:key=value,..." and the name -> factory table.  Built-ins are registered by
// explicit calls, never static constructors.

#include <array>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim {

// A parsed provider spec: "dummy", "recorder:path=out.jsonl", "dummy:name=d2,add_error=5".
struct ProviderSpec {
  std::string name;                                          // Factory name.
  std::vector<std::pair<std::string, std::string>> options;  // In order; keys unique.
};
// EINVAL for an empty name, an option without '=' or with an empty key, or a repeated key.
Result<ProviderSpec> parseProviderSpec(std::string_view text);

// A built-in provider type.
struct BuiltinProvider {
  const char* name;  // Factory name, also the default provider name.
  const char* help;  // One line, with the options.
  Result<std::unique_ptr<Provider>> (*make)(const ProviderSpec& spec);
  // Why this built-in is not available in this build (e.g. "not built: libdpdk not found at
  // configure time"), nullptr when it is.  Unavailable ones are listed, never registered.
  const char* unavailable = nullptr;
};
// The built-in table, sorted by name.
const std::vector<BuiltinProvider>& builtinProviders();
// Makes the provider a spec names; EINVAL for an unknown name or option, or a bad value.
Result<std::unique_ptr<Provider>> makeBuiltinProvider(const ProviderSpec& spec);
// Parses 'spec', makes the provider and registers it with origin "builtin".
Status addBuiltinProvider(Registry& registry, std::string_view spec);
// Registers every available built-in with default options (what `ctsim providers` lists).
Status registerBuiltinProviders(Registry& registry);

// The RFC's dummy provider: can offload everything (option can_offload=false: nothing), records
// added connections, counts each callback, answers conn_update with ctsim_now_ms() (at least 1,
// since 0 means unknown) for a known connection, forgets all on flush.
// Options: name=NAME, can_offload=BOOL, add_error=ERRNO (conn_add fails with it).
class DummyProvider final : public Provider {
 public:
  struct Stats {
    uint64_t adds = 0, dels = 0, updates = 0, ests = 0, flushes = 0;
    uint64_t duplicate_adds = 0;  // conn_add for a connection already recorded.
    uint64_t duplicate_ests = 0;  // conn_established twice for one connection.
    uint64_t unknown_dels = 0;    // conn_del for a connection never (successfully) added.
  };
  explicit DummyProvider(std::string name = "dummy", bool can_offload = true, int add_error = 0);

  Stats stats() const;
  size_t connections() const;  // Currently recorded.

  // Provider:
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  void connEstablished(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;

 private:
  // The recorded connections and counters, split into stripes by the connection's address,
  // each under its own lock on cache lines of its own: shards of a sharded replay (and OVS's
  // PMD threads) call at once, and one lock made them wait for each other (a futex wait and a
  // context switch per collision: `--threads 2` ran slower than one thread).
  struct alignas(64) Stripe {
    mutable std::mutex mu;                             // Guards the members below.
    std::unordered_map<const conn*, int> established;  // Recorded conn -> est count.
    Stats stats;
  };
  static constexpr size_t kStripes = 64;
  Stripe& stripeOf(const conn* c);

  const std::string name_;
  const bool can_offload_;
  const int add_error_;
  std::array<Stripe, kStripes> stripes_;
};

// Writes every callback with its context as one JSON line:
//   {"time":T,"op":"conn_add","provider":"recorder","zone":0,"key":{...},"netdev":"p0","port":1}
// time is ctsim_now_ms(); key has af, proto, src, dst and sport/dport or icmp_id/type/code;
// netdev and port are null without a netdev; flush has no key.  conn_add returns 0, conn_update
// 0, can_offload the option (default true).  Options: name=NAME, path=FILE ("-" = stdout, the
// default), can_offload=BOOL.
class RecorderProvider final : public Provider {
 public:
  // 'out' is not owned; 'owned' (may be null) is closed on destruction.
  RecorderProvider(std::string name, std::FILE* out, std::FILE* owned, bool can_offload);
  ~RecorderProvider() override;

  // Provider:
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  void connEstablished(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;

 private:
  void write(const char* op, const ct_offload_ctx* ctx);

  const std::string name_;
  std::FILE* const out_;
  std::FILE* const owned_;
  const bool can_offload_;
  std::mutex mu_;  // Serialises lines.
};

// One JSON object for a key (used by the recorder; also handy in tests and tools).
std::string keyToJson(const ctsim_conn_key& key);

}  // namespace ctsim
