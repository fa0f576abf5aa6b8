#include "providers/dpdk/dpdk_provider.h"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_hash.h>
#include <rte_memory.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>
#include <vector>

#include "providers/conn.h"
#include "providers/dpdk/eal.h"
#include "providers/dpdk/flow_rule.h"
#include "providers/emu_hw/distribution.h"

namespace ctsim::dpdk {

namespace {

constexpr const char* kKnownOptions =
    "name, capacity, can_offload, insert_latency, aging, aging_scan, granularity, mirror, "
    "sample_interval, port, jump_group";
constexpr uint64_t kMinCapacity = 8;  // One rte_hash bucket.

Result<uint64_t> parseU64(const std::string& where, std::string_view v, uint64_t max) {
  uint64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || x > max) {
    return Status(EINVAL, where + ": expected an integer from 0 to " + std::to_string(max) +
                              ", got '" + std::string(v) + "'");
  }
  return x;
}

Result<bool> parseBool(const std::string& where, std::string_view v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return Status(EINVAL, where + ": expected true or false, got '" + std::string(v) + "'");
}

std::string keyText(const ctsim_conn_key& k) {
  std::ostringstream o;
  auto addr = [&](const uint8_t* a) {
    if (k.af == CTSIM_AF_INET) {
      o << int(a[0]) << "." << int(a[1]) << "." << int(a[2]) << "." << int(a[3]);
    } else {
      o << "[";
      for (int i = 0; i < 16; i += 2) o << (i ? ":" : "") << std::hex << (a[i] << 8 | a[i + 1]);
      o << std::dec << "]";
    }
  };
  o << "proto " << int(k.proto) << " ";
  addr(k.src);
  o << ":" << k.ports.src << " -> ";
  addr(k.dst);
  o << ":" << k.ports.dst;
  return o.str();
}

std::atomic<uint64_t> g_instances{0};  // For unique rte_hash names.

}  // namespace

std::string Config::describe() const {
  std::ostringstream o;
  o << "name=" << name << " capacity=" << capacity
    << " can_offload=" << (can_offload ? "true" : "false")
    << " insert_latency=" << emu_hw::formatDuration(insert_latency_ns)
    << " aging=" << emu_hw::formatDuration(aging_ns)
    << " aging_scan=" << emu_hw::formatDuration(aging_scan_ns)
    << " granularity=" << emu_hw::formatDuration(granularity_ns)
    << " mirror=" << (mirror ? "true" : "false")
    << " sample_interval=" << emu_hw::formatDuration(sample_interval_ns);
  if (port >= 0) o << " port=" << port << " jump_group=" << jump_group;
  return o.str();
}

Result<Config> parseConfig(const ProviderSpec& spec) {
  Config c;
  for (const auto& option : spec.options) {
    const std::string& key = option.first;
    const std::string& v = option.second;  // (named, not bound: lambdas capture it; clang 14)
    const std::string where = "dpdk: " + key;
    auto duration = [&](int64_t& dst) -> Status {
      auto x = emu_hw::parseDuration(where, v);
      if (!x.ok()) return x.status();
      dst = x.value();
      return Status();
    };
    auto boolean = [&](bool& dst) -> Status {
      auto x = parseBool(where, v);
      if (!x.ok()) return x.status();
      dst = x.value();
      return Status();
    };
    Status s;
    if (key == "name") {
      if (v.empty()) return Status(EINVAL, where + ": empty name");
      c.name = v;
    } else if (key == "capacity") {
      auto x = parseU64(where, v, UINT32_MAX / 2);
      if (!x.ok()) return x.status();
      if (x.value() < kMinCapacity) {
        return Status(EINVAL, where + ": at least " + std::to_string(kMinCapacity) +
                                  " (one rte_hash bucket), got '" + v + "'");
      }
      c.capacity = x.value();
    } else if (key == "can_offload") {
      s = boolean(c.can_offload);
    } else if (key == "insert_latency") {
      s = duration(c.insert_latency_ns);
    } else if (key == "aging") {
      s = duration(c.aging_ns);
    } else if (key == "aging_scan") {
      s = duration(c.aging_scan_ns);
      if (s.ok() && c.aging_scan_ns <= 0) return Status(EINVAL, where + ": must be positive");
    } else if (key == "granularity") {
      s = duration(c.granularity_ns);
      if (s.ok() && (c.granularity_ns < 1000000 || c.granularity_ns % 1000000 != 0)) {
        return Status(EINVAL, where + ": must be a whole number of milliseconds (conn_update " +
                                  "answers in ms), got '" + v + "'");
      }
    } else if (key == "mirror") {
      s = boolean(c.mirror);
    } else if (key == "sample_interval") {
      s = duration(c.sample_interval_ns);
    } else if (key == "port") {
      auto x = parseU64(where, v, RTE_MAX_ETHPORTS - 1);
      if (!x.ok()) return x.status();
      c.port = static_cast<int>(x.value());
    } else if (key == "jump_group") {
      auto x = parseU64(where, v, UINT32_MAX);
      if (!x.ok()) return x.status();
      c.jump_group = static_cast<uint32_t>(x.value());
    } else {
      return Status(EINVAL, "dpdk: unknown option '" + key + "' (known: " + kKnownOptions + ")");
    }
    if (!s.ok()) return s;
  }
  return c;
}

Result<std::unique_ptr<Provider>> makeDpdk(const ProviderSpec& spec) {
  auto c = parseConfig(spec);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Provider>(std::make_unique<DpdkProvider>(std::move(c).value()));
}

// ---- DpdkProvider ----------------------------------------------------------------------------

DpdkProvider::DpdkProvider(Config config) : config_(std::move(config)) {
  stats_.capacity = config_.capacity;
  stats_.occupancy_interval_ns = config_.sample_interval_ns;
  stats_.config = config_.describe();
}

DpdkProvider::~DpdkProvider() {
  std::lock_guard lock(mu_);
  for (auto& [c, e] : conns_) destroyFlowsLocked(e.get());
  if (hash_) rte_hash_free(hash_);
}

Status DpdkProvider::start() {
  std::lock_guard lock(mu_);
  return startLocked();
}

Status DpdkProvider::startLocked() {
  if (start_tried_) return start_status_;
  start_tried_ = true;
  Status eal = ensureEal();
  if (!ealUsable(eal)) {
    start_status_ = Status(eal.code(), config_.name + ": " + eal.message());
    return start_status_;
  }
  const std::string hname = "ctsim_dpdk_" + std::to_string(++g_instances);
  rte_hash_parameters p{};
  p.name = hname.c_str();
  p.entries = static_cast<uint32_t>(config_.capacity);
  p.key_len = sizeof(ctsim_conn_key);
  p.hash_func = nullptr;  // DPDK's default (CRC32 on x86).
  p.hash_func_init_val = 0;
  p.socket_id = SOCKET_ID_ANY;
  p.extra_flag = 0;  // No extendable buckets, no lock-free or multi-writer support: our mutex.
  hash_ = rte_hash_create(&p);
  if (!hash_) {
    const int err = rte_errno > 0 ? rte_errno : ENOMEM;
    start_status_ =
        Status(err, config_.name + ": rte_hash_create(" + std::to_string(config_.capacity) +
                        " entries): " + rte_strerror(err));
    return start_status_;
  }
  if (config_.port >= 0) {
    port_ok_ = rte_eth_dev_is_valid_port(static_cast<uint16_t>(config_.port));
    if (!port_ok_) {
      flow_error_ = config_.name + ": port " + std::to_string(config_.port) +
                    ": no such DPDK port (" + std::to_string(rte_eth_dev_count_avail()) +
                    " available; with EAL args '" + ealArgs() +
                    "'); connections stay in the software table";
    }
  }
  return start_status_;
}

CallbackMask DpdkProvider::callbacks() const {
  return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
         bit(Callback::kConnEstablished) | bit(Callback::kCanOffload) | bit(Callback::kFlush);
}

std::optional<EntryInfo> DpdkProvider::entry(const ctsim_conn_key& key) const {
  std::lock_guard lock(mu_);
  if (!hash_) return std::nullopt;
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &key, &data) < 0) return std::nullopt;
  const Entry* e = static_cast<const Entry*>(data);
  return EntryInfo{e->active_ns >= 0,     e->packets,   e->bytes,
                   e->request_ns,         e->active_ns, e->last_used_ns,
                   e->flows[0] != nullptr};
}

std::string DpdkProvider::flowError() const {
  std::lock_guard lock(mu_);
  return flow_error_;
}

// ---- Time ----

void DpdkProvider::syncClockLocked() {
  long long ms = ctsim_now_ms();
  int64_t t = ms > 0 ? static_cast<int64_t>(ms) * 1000000 : 0;
  advanceLocked(std::max(t, now_ns_), t > 0);
}

void DpdkProvider::sampleLocked(int64_t t_ns) {
  stats_.occupancy.push_back(FastPathOccupancySample{t_ns, stats_.entries, stats_.active});
}

void DpdkProvider::activateLocked(Entry* e, int64_t t_ns) {
  e->active_ns = t_ns;
  e->last_used_ns = t_ns;
  stats_.active += e->keys();
  count("add_completed");
  stats_.offload_latency.push_back(FastPathOffloadSample{e->fwd, e->request_ns, e->active_ns});
}

void DpdkProvider::advanceLocked(int64_t t_ns, bool start) {
  auto align_up = [](int64_t t, int64_t step) { return (t / step + (t % step != 0)) * step; };
  if (!clock_started_ && start) {
    clock_started_ = true;
    now_ns_ = t_ns;
    if (config_.sample_interval_ns > 0) {
      next_sample_ns_ = align_up(t_ns, config_.sample_interval_ns);
    }
    next_scan_ns_ = align_up(t_ns, config_.aging_scan_ns);
  }
  now_ns_ = std::max(now_ns_, t_ns);
  while (!pending_.empty()) {
    Entry* e = pending_.front();
    const int64_t due = e->request_ns + config_.insert_latency_ns;
    if (due > now_ns_) break;
    pending_.pop_front();
    activateLocked(e, due);
  }
  if (!clock_started_) return;
  if (config_.aging_ns > 0 && next_scan_ns_ <= now_ns_) {
    // The walks between the last one and now see the same idle entries (no hit can happen
    // between two setNow calls), so the last due walk stands for all of them.
    const int64_t walk = now_ns_ - (now_ns_ - next_scan_ns_) % config_.aging_scan_ns;
    ageWalkLocked(walk);
    next_scan_ns_ = walk + config_.aging_scan_ns;
  }
  const int64_t interval = config_.sample_interval_ns;
  if (interval > 0 && next_sample_ns_ <= now_ns_) {
    if ((now_ns_ - next_sample_ns_) / interval > FastPathStats::kOccupancyMaxGap) {
      sampleLocked(next_sample_ns_);
      next_sample_ns_ += ((now_ns_ - next_sample_ns_) / interval) * interval;
      count("occupancy_gaps");
    }
    while (next_sample_ns_ <= now_ns_) {
      sampleLocked(next_sample_ns_);
      next_sample_ns_ += interval;
    }
  }
}

void DpdkProvider::ageWalkLocked(int64_t t_ns) {
  if (!hash_) return;
  count("aging_walks");
  std::vector<Entry*> idle;
  const void* key = nullptr;
  void* data = nullptr;
  uint32_t next = 0;
  while (rte_hash_iterate(hash_, &key, &data, &next) >= 0) {
    Entry* e = static_cast<Entry*>(data);
    // Each entry once: at its forward key.
    if (std::memcmp(key, &e->fwd, sizeof e->fwd) != 0) continue;
    if (e->active_ns >= 0 && e->last_used_ns + config_.aging_ns <= t_ns) idle.push_back(e);
  }
  // Removed after the walk: rte_hash_iterate must not see the table change under it.
  for (Entry* e : idle) {
    removeFromTableLocked(e);
    count("aged");
  }
}

void DpdkProvider::removeFromTableLocked(Entry* e) {
  destroyFlowsLocked(e);
  if (!e->in_table) return;
  rte_hash_del_key(hash_, &e->fwd);
  if (!e->one_key) rte_hash_del_key(hash_, &e->rev);
  e->in_table = false;
  stats_.entries -= e->keys();
  if (e->active_ns >= 0) {
    stats_.active -= e->keys();
  } else {
    std::erase(pending_, e);
  }
}

// ---- rte_flow ----

void DpdkProvider::programFlowsLocked(const ct_offload_ctx& ctx, Entry* e) {
  auto refuse = [&](const std::string& why) {
    flow_error_ = why;
    fail("flow_refused");
    count("flow_fallback");
    if (!flow_warned_) {
      flow_warned_ = true;
      if (Registry* r = currentRegistry()) r->warn(why);
    }
  };
  if (!port_ok_) {
    refuse(flow_error_);
    return;
  }
  FlowConn fc;
  ctsim_tcp_peer peers[2];
  fc.has_tcp = ctsim_conn_tcp_peer(ctx.conn, CTSIM_DIR_ORIG, &peers[0]) == 0 &&
               ctsim_conn_tcp_peer(ctx.conn, CTSIM_DIR_REPLY, &peers[1]) == 0;
  if (fc.has_tcp) std::copy(peers, peers + 2, fc.tcp);
  FlowRuleOptions fo;
  fo.peer_port = static_cast<uint16_t>(config_.port);
  fo.jump_group = config_.jump_group;
  fo.age_s = static_cast<uint32_t>((config_.aging_ns + 999999999) / 1000000000);
  const uint16_t port = static_cast<uint16_t>(config_.port);
  for (int dir = 0; dir < (e->one_key ? 1 : 2); dir++) {
    fc.key = dir == 0 ? e->fwd : e->rev;
    fc.original_dir = dir == 0;
    auto rule = buildFlowRule(fc, fo);
    if (!rule.ok()) {
      count("flow_unsupported");
      refuse(config_.name + ": " + rule.status().message() + "; the connection stays in the " +
             "software table");
      destroyFlowsLocked(e);
      return;
    }
    FlowRule& fr = *rule.value();
    rte_flow_error err{};
    const char* call = "rte_flow_validate";
    int ret = rte_flow_validate(port, &fr.attr, fr.pattern.data(), fr.actions.data(), &err);
    if (ret == 0) {
      call = "rte_flow_create";
      e->flows[dir] = rte_flow_create(port, &fr.attr, fr.pattern.data(), fr.actions.data(), &err);
      if (!e->flows[dir]) ret = -(rte_errno > 0 ? rte_errno : EIO);
    }
    if (ret != 0) {
      refuse(config_.name + ": port " + std::to_string(config_.port) + " refused the rule for " +
             keyText(fc.key) + ": " + flowErrorText(call, ret, err) +
             "; the connection stays in the software table");
      destroyFlowsLocked(e);
      return;
    }
  }
  count("flow_created");
}

void DpdkProvider::destroyFlowsLocked(Entry* e) {
  for (rte_flow*& f : e->flows) {
    if (!f) continue;
    rte_flow_error err{};
    if (rte_flow_destroy(static_cast<uint16_t>(config_.port), f, &err) != 0) {
      fail("flow_destroy");
    }
    f = nullptr;
  }
}

// ---- Callbacks ----

int DpdkProvider::connAdd(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  count("conn_add");
  if (!startLocked().ok()) {
    fail("eal");
    return ENODEV;
  }
  if (conns_.count(ctx.conn)) {
    fail("duplicate_conn");
    return EEXIST;
  }
  auto e = std::make_unique<Entry>();
  e->fwd = ctx.key ? *ctx.key : *ctsim_conn_key_fwd(ctx.conn);
  e->rev = ctsim_conn_key_rev(ctx.conn);
  e->one_key = std::memcmp(&e->fwd, &e->rev, sizeof e->fwd) == 0;
  if (rte_hash_lookup(hash_, &e->fwd) >= 0 || rte_hash_lookup(hash_, &e->rev) >= 0) {
    fail("exists");
    return EEXIST;
  }
  if (stats_.entries + e->keys() > config_.capacity) {
    fail("full");
    return ENOSPC;
  }
  int ret = rte_hash_add_key_data(hash_, &e->fwd, e.get());
  if (ret == 0 && !e->one_key) {
    ret = rte_hash_add_key_data(hash_, &e->rev, e.get());
    if (ret != 0) rte_hash_del_key(hash_, &e->fwd);
  }
  if (ret != 0) {
    // Free key slots remained, but cuckoo displacement found no bucket entry.
    fail(ret == -ENOSPC ? "bucket_full" : "insert_error");
    return ret == -ENOSPC ? ENOSPC : -ret;
  }
  e->in_table = true;
  e->request_ns = now_ns_;
  stats_.entries += e->keys();
  stats_.entries_peak = std::max(stats_.entries_peak, stats_.entries);
  Entry* raw = e.get();
  conns_.emplace(ctx.conn, std::move(e));
  if (config_.insert_latency_ns == 0) {
    activateLocked(raw, now_ns_);
  } else {
    pending_.push_back(raw);
  }
  if (config_.port >= 0) programFlowsLocked(ctx, raw);
  return 0;
}

void DpdkProvider::connDel(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  count("conn_del");
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end()) {
    count("del_unknown");
    return;
  }
  removeFromTableLocked(it->second.get());
  conns_.erase(it);
}

long long DpdkProvider::connUpdate(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  count("conn_update");
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end()) return 0;
  const Entry& e = *it->second;
  if (!e.in_table || e.active_ns < 0) return 0;
  const int64_t g = config_.granularity_ns;
  return std::max<long long>(e.last_used_ns / g * g / 1000000, 1);
}

void DpdkProvider::connEstablished(const ct_offload_ctx&) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  count("conn_established");
}

bool DpdkProvider::canOffload(const ct_offload_ctx&) { return config_.can_offload; }

void DpdkProvider::flush() {
  std::lock_guard lock(mu_);
  syncClockLocked();
  count("flush");
  for (auto& [c, e] : conns_) destroyFlowsLocked(e.get());
  if (hash_) rte_hash_reset(hash_);
  conns_.clear();
  pending_.clear();
  stats_.entries = 0;
  stats_.active = 0;
}

// ---- Fast path ----

void DpdkProvider::setNow(int64_t now_ns) {
  std::lock_guard lock(mu_);
  advanceLocked(std::max(now_ns, now_ns_), true);
}

FastPathVerdict DpdkProvider::process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                                      uint8_t tcp_flags) {
  std::lock_guard lock(mu_);
  void* data = nullptr;
  if (!hash_ || rte_hash_lookup_data(hash_, &pkt_key, &data) < 0) {
    return countMiss(stats_, bytes, false);
  }
  Entry* e = static_cast<Entry*>(data);
  if (e->active_ns < 0) {
    return countMiss(stats_, bytes, true);
  }
  e->packets++;
  e->bytes += bytes;
  e->last_used_ns = now_ns_;
  return countHit(stats_, bytes, pkt_key.proto, tcp_flags, config_.mirror);
}

FastPathStats DpdkProvider::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ctsim::dpdk
