#include "providers/builtin.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "providers/conn.h"
#include "providers/dpdk/builtin_entry.h"
#include "providers/emu_hw/emu_hw.h"
#include "providers/kernel_ct/builtin_entry.h"
#include "providers/tc_bpf/builtin_entry.h"

namespace ctsim {

namespace {

using Json = nlohmann::ordered_json;

Result<bool> parseBool(const std::string& where, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return Status(EINVAL, where + ": expected true or false, got '" + v + "'");
}

Result<int> parseInt(const std::string& where, const std::string& v) {
  int x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < 0) {
    return Status(EINVAL, where + ": expected a non-negative integer, got '" + v + "'");
  }
  return x;
}

Status unknownOption(const ProviderSpec& spec, const std::string& key, const char* known) {
  return Status(EINVAL, spec.name + ": unknown option '" + key + "' (known: " + known + ")");
}

Result<std::unique_ptr<Provider>> makeDummy(const ProviderSpec& spec) {
  std::string name = "dummy";
  bool can = true;
  int add_error = 0;
  for (const auto& [k, v] : spec.options) {
    if (k == "name") {
      name = v;
    } else if (k == "can_offload") {
      auto b = parseBool("dummy: can_offload", v);
      if (!b.ok()) return b.status();
      can = b.value();
    } else if (k == "add_error") {
      auto n = parseInt("dummy: add_error", v);
      if (!n.ok()) return n.status();
      add_error = n.value();
    } else {
      return unknownOption(spec, k, "name, can_offload, add_error");
    }
  }
  return std::unique_ptr<Provider>(std::make_unique<DummyProvider>(name, can, add_error));
}

Result<std::unique_ptr<Provider>> makeRecorder(const ProviderSpec& spec) {
  std::string name = "recorder", path = "-";
  bool can = true;
  for (const auto& [k, v] : spec.options) {
    if (k == "name") {
      name = v;
    } else if (k == "path") {
      path = v;
    } else if (k == "can_offload") {
      auto b = parseBool("recorder: can_offload", v);
      if (!b.ok()) return b.status();
      can = b.value();
    } else {
      return unknownOption(spec, k, "name, path, can_offload");
    }
  }
  std::FILE* owned = nullptr;
  if (path != "-") {
    owned = std::fopen(path.c_str(), "w");
    if (!owned) {
      int err = errno;
      return Status(err, "recorder: cannot open " + path + ": " + std::strerror(err));
    }
  }
  return std::unique_ptr<Provider>(
      std::make_unique<RecorderProvider>(name, owned ? owned : stdout, owned, can));
}

std::string addrToString(uint8_t af, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN] = "";
  inet_ntop(af == CTSIM_AF_INET6 ? AF_INET6 : AF_INET, a, buf, sizeof buf);
  return buf;
}

Json keyJson(const ctsim_conn_key& k) {
  Json j;
  j["af"] = k.af;
  j["proto"] = k.proto;
  j["src"] = addrToString(k.af, k.src);
  j["dst"] = addrToString(k.af, k.dst);
  if (k.proto == 1 || k.proto == 58) {
    j["icmp_id"] = k.icmp.id;
    j["icmp_type"] = k.icmp.type;
    j["icmp_code"] = k.icmp.code;
  } else {
    j["sport"] = k.ports.src;
    j["dport"] = k.ports.dst;
  }
  return j;
}

}  // namespace

Result<ProviderSpec> parseProviderSpec(std::string_view text) {
  ProviderSpec spec;
  size_t colon = text.find(':');
  spec.name = std::string(text.substr(0, colon));
  if (spec.name.empty()) {
    return Status(EINVAL, "provider spec '" + std::string(text) + "': empty provider name");
  }
  if (colon == std::string_view::npos) return spec;
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status(EINVAL, "provider spec '" + std::string(text) + "': expected key=value, got '" +
                                std::string(item) + "'");
    }
    std::string key(item.substr(0, eq));
    for (const auto& kv : spec.options) {
      if (kv.first == key) {
        return Status(EINVAL,
                      "provider spec '" + std::string(text) + "': option '" + key + "' repeated");
      }
    }
    spec.options.emplace_back(std::move(key), std::string(item.substr(eq + 1)));
  }
  return spec;
}

const std::vector<BuiltinProvider>& builtinProviders() {
  static const std::vector<BuiltinProvider> table = {
      dpdk::builtinEntry(),
      {"dummy", "the RFC's dummy; options name=, can_offload=BOOL, add_error=ERRNO", makeDummy},
      {"emu-hw",
       "emulated NIC table with a fast path; options profile=NAME, capacity=N, program_at=, "
       "insert_latency=, rate=, queue=, aging=, seed=... (providers/emu_hw/emu_hw.h)",
       emu_hw::makeEmuHw},
      kernel_ct::builtinEntry(),
      {"recorder", "one JSON line per callback; options name=, path=FILE|-, can_offload=BOOL",
       makeRecorder},
      tc_bpf::builtinEntry(),
  };
  return table;
}

Result<std::unique_ptr<Provider>> makeBuiltinProvider(const ProviderSpec& spec) {
  for (const BuiltinProvider& b : builtinProviders()) {
    if (spec.name == b.name) return b.make(spec);
  }
  std::string known;
  for (const BuiltinProvider& b : builtinProviders())
    known += (known.empty() ? "" : ", ") + std::string(b.name);
  return Status(EINVAL, "unknown provider '" + spec.name + "' (built-in: " + known + ")");
}

Status addBuiltinProvider(Registry& registry, std::string_view text) {
  auto spec = parseProviderSpec(text);
  if (!spec.ok()) return spec.status();
  auto provider = makeBuiltinProvider(spec.value());
  if (!provider.ok()) return provider.status();
  std::string name = provider.value()->name();
  if (int err = registry.registerProvider(std::move(provider).value(), kOriginBuiltin)) {
    return Status(err, "cannot register provider " + name + ": " + std::strerror(err));
  }
  return Status();
}

Status registerBuiltinProviders(Registry& registry) {
  for (const BuiltinProvider& b : builtinProviders()) {
    if (b.unavailable) continue;
    Status s = addBuiltinProvider(registry, b.name);
    if (!s.ok()) return s;
  }
  return Status();
}

std::string keyToJson(const ctsim_conn_key& key) { return keyJson(key).dump(); }

// ---- dummy -----------------------------------------------------------------------------------

DummyProvider::DummyProvider(std::string name, bool can_offload, int add_error)
    : name_(std::move(name)), can_offload_(can_offload), add_error_(add_error) {}

CallbackMask DummyProvider::callbacks() const {
  return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
         bit(Callback::kConnEstablished) | bit(Callback::kCanOffload) | bit(Callback::kFlush);
}

DummyProvider::Stripe& DummyProvider::stripeOf(const conn* c) {
  // Connections are at least 64 bytes apart: drop the low bits, mix the rest.
  uint64_t h = (reinterpret_cast<uintptr_t>(c) >> 6) * 0x9e3779b97f4a7c15ull;
  return stripes_[h >> 58];  // 64 stripes.
}

DummyProvider::Stats DummyProvider::stats() const {
  Stats sum;
  for (const Stripe& s : stripes_) {
    std::lock_guard lock(s.mu);
    sum.adds += s.stats.adds;
    sum.dels += s.stats.dels;
    sum.updates += s.stats.updates;
    sum.ests += s.stats.ests;
    sum.duplicate_adds += s.stats.duplicate_adds;
    sum.duplicate_ests += s.stats.duplicate_ests;
    sum.unknown_dels += s.stats.unknown_dels;
  }
  sum.flushes = stripes_[0].stats.flushes;  // flush() counts once, in stripe 0.
  return sum;
}

size_t DummyProvider::connections() const {
  size_t n = 0;
  for (const Stripe& s : stripes_) {
    std::lock_guard lock(s.mu);
    n += s.established.size();
  }
  return n;
}

int DummyProvider::connAdd(const ct_offload_ctx& ctx) {
  Stripe& s = stripeOf(ctx.conn);
  std::lock_guard lock(s.mu);
  s.stats.adds++;
  if (add_error_) return add_error_;
  if (!s.established.emplace(ctx.conn, 0).second) s.stats.duplicate_adds++;
  return 0;
}

void DummyProvider::connDel(const ct_offload_ctx& ctx) {
  Stripe& s = stripeOf(ctx.conn);
  std::lock_guard lock(s.mu);
  s.stats.dels++;
  if (s.established.erase(ctx.conn) == 0) s.stats.unknown_dels++;
}

long long DummyProvider::connUpdate(const ct_offload_ctx& ctx) {
  long long now = ctsim_now_ms();
  Stripe& s = stripeOf(ctx.conn);
  std::lock_guard lock(s.mu);
  s.stats.updates++;
  if (!s.established.count(ctx.conn)) return 0;
  return std::max(now, 1LL);
}

void DummyProvider::connEstablished(const ct_offload_ctx& ctx) {
  Stripe& s = stripeOf(ctx.conn);
  std::lock_guard lock(s.mu);
  s.stats.ests++;
  auto it = s.established.find(ctx.conn);
  if (it != s.established.end() && ++it->second > 1) s.stats.duplicate_ests++;
}

bool DummyProvider::canOffload(const ct_offload_ctx&) { return can_offload_; }

void DummyProvider::flush() {
  for (Stripe& s : stripes_) {
    std::lock_guard lock(s.mu);
    if (&s == &stripes_[0]) s.stats.flushes++;
    s.established.clear();
  }
}

// ---- recorder --------------------------------------------------------------------------------

RecorderProvider::RecorderProvider(std::string name, std::FILE* out, std::FILE* owned,
                                   bool can_offload)
    : name_(std::move(name)), out_(out), owned_(owned), can_offload_(can_offload) {}

RecorderProvider::~RecorderProvider() {
  if (owned_) std::fclose(owned_);
}

CallbackMask RecorderProvider::callbacks() const {
  return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
         bit(Callback::kConnEstablished) | bit(Callback::kCanOffload) | bit(Callback::kFlush);
}

void RecorderProvider::write(const char* op, const ct_offload_ctx* ctx) {
  Json j;
  j["time"] = ctsim_now_ms();
  j["op"] = op;
  j["provider"] = name_;
  const ctsim_conn_key* key = ctx ? (ctx->key ? ctx->key : ctsim_conn_key_fwd(ctx->conn)) : nullptr;
  j["zone"] = key ? Json(key->zone) : Json(nullptr);
  j["key"] = key ? keyJson(*key) : Json(nullptr);
  const char* dev = ctx ? ctsim_netdev_name(ctx->netdev_in) : nullptr;
  j["netdev"] = dev ? Json(dev) : Json(nullptr);
  j["port"] = ctx && ctx->netdev_in ? Json(ctx->input_port_id) : Json(nullptr);
  std::string line = j.dump() + "\n";
  std::lock_guard lock(mu_);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
}

int RecorderProvider::connAdd(const ct_offload_ctx& ctx) {
  write("conn_add", &ctx);
  return 0;
}
void RecorderProvider::connDel(const ct_offload_ctx& ctx) { write("conn_del", &ctx); }
long long RecorderProvider::connUpdate(const ct_offload_ctx& ctx) {
  write("conn_update", &ctx);
  return 0;
}
void RecorderProvider::connEstablished(const ct_offload_ctx& ctx) {
  write("conn_established", &ctx);
}
bool RecorderProvider::canOffload(const ct_offload_ctx& ctx) {
  write("can_offload", &ctx);
  return can_offload_;
}
void RecorderProvider::flush() { write("flush", nullptr); }

}  // namespace ctsim
