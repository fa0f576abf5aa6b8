#include "providers/broken/broken.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "providers/conn.h"

namespace ctsim::broken {

const std::vector<BrokenInfo>& brokenProviders() {
  static const std::vector<BrokenInfo> table = {
      {"broken-capacity-lie", Defect::kCapacityLie, "capacity-respected",
       "claims 4 slots, holds any number of entries"},
      {"broken-del-unknown", Defect::kDelUnknown, "contract.conn_del.unknown-harmless",
       "conn_del of an unknown connection wipes its table"},
      {"broken-double-add", Defect::kDoubleAdd, "add-once",
       "conn_add re-dispatches conn_add for the same connection"},
      {"broken-est-twice", Defect::kEstTwice, "est-once",
       "conn_established re-dispatches conn_established"},
      {"broken-flush-keeps", Defect::kFlushKeeps, "contract.flush.drops-all",
       "flush() keeps every entry and keeps answering for it"},
      {"broken-slow", Defect::kSlow, "contract.threading.bounded-time",
       "every callback spins 1 ms"},
      {"broken-stale", Defect::kStale, "contract.conn_update.zero-when-unknown",
       "conn_update answers the add time forever, never 0"},
  };
  return table;
}

Result<std::unique_ptr<Provider>> makeBrokenProvider(const ProviderSpec& spec) {
  for (const BrokenInfo& b : brokenProviders()) {
    if (spec.name != b.name) continue;
    std::string name = b.name;
    for (const auto& [k, v] : spec.options) {
      if (k != "name") {
        return Status(EINVAL, spec.name + ": unknown option '" + k + "' (known: name)");
      }
      name = v;
    }
    return std::unique_ptr<Provider>(std::make_unique<BrokenProvider>(name, b.defect));
  }
  return std::unique_ptr<Provider>();
}

BrokenProvider::BrokenProvider(std::string name, Defect defect)
    : name_(std::move(name)), defect_(defect) {
  stats_.capacity = defect == Defect::kCapacityLie ? 4 : 0;
  stats_.config = "broken " + name_;
}

CallbackMask BrokenProvider::callbacks() const {
  return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
         bit(Callback::kConnEstablished) | bit(Callback::kCanOffload) | bit(Callback::kFlush);
}

std::string BrokenProvider::keyBytes(const ctsim_conn_key& k) {
  return std::string(reinterpret_cast<const char*>(&k), sizeof k);
}

void BrokenProvider::slow() const {
  if (defect_ != Defect::kSlow) return;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  while (std::chrono::steady_clock::now() < until) {
  }
}

int BrokenProvider::connAdd(const ct_offload_ctx& ctx) {
  slow();
  std::lock_guard lock(mu_);
  Held h;
  h.fwd = *ctsim_conn_key_fwd(ctx.conn);
  h.rev = ctsim_conn_key_rev(ctx.conn);
  h.added_ms = h.last_used = std::max(ctsim_now_ms(), 1LL);
  held_[ctx.conn] = h;
  keys_[keyBytes(h.fwd)] = ctx.conn;
  keys_[keyBytes(h.rev)] = ctx.conn;
  if (defect_ == Defect::kStale) stale_[ctx.conn] = h.added_ms;
  stats_.entries = held_.size();
  stats_.active = held_.size();
  stats_.entries_peak = std::max(stats_.entries_peak, stats_.entries);
  if (defect_ == Defect::kDoubleAdd && !redispatching_) {
    redispatching_ = true;
    ct_offload_conn_add(&ctx);  // The defect: a second conn_add for one connection.
    redispatching_ = false;
  }
  return 0;
}

void BrokenProvider::connDel(const ct_offload_ctx& ctx) {
  slow();
  std::lock_guard lock(mu_);
  auto it = held_.find(ctx.conn);
  if (it == held_.end()) {
    if (defect_ == Defect::kDelUnknown) {  // The defect: forgets everything.
      held_.clear();
      keys_.clear();
      stats_.entries = stats_.active = 0;
    }
    return;
  }
  keys_.erase(keyBytes(it->second.fwd));
  keys_.erase(keyBytes(it->second.rev));
  held_.erase(it);
  stats_.entries = stats_.active = held_.size();
}

long long BrokenProvider::connUpdate(const ct_offload_ctx& ctx) {
  slow();
  std::lock_guard lock(mu_);
  if (defect_ == Defect::kStale) {
    auto s = stale_.find(ctx.conn);
    if (s != stale_.end()) return s->second;  // The defect: stale, and never 0.
    return 1;
  }
  auto it = held_.find(ctx.conn);
  if (it == held_.end()) return 0;
  return std::max(it->second.last_used, 1LL);
}

void BrokenProvider::connEstablished(const ct_offload_ctx& ctx) {
  slow();
  std::lock_guard lock(mu_);
  if (defect_ == Defect::kEstTwice && !redispatching_) {
    redispatching_ = true;
    ct_offload_conn_established(&ctx);  // The defect: established twice.
    redispatching_ = false;
  }
}

bool BrokenProvider::canOffload(const ct_offload_ctx&) {
  slow();
  return true;
}

void BrokenProvider::flush() {
  slow();
  std::lock_guard lock(mu_);
  if (defect_ == Defect::kFlushKeeps) return;  // The defect: nothing is dropped.
  held_.clear();
  keys_.clear();
  stats_.entries = stats_.active = 0;
}

void BrokenProvider::setNow(int64_t now_ns) {
  std::lock_guard lock(mu_);
  now_ns_ = std::max(now_ns_, now_ns);
}

FastPathVerdict BrokenProvider::process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                                        uint8_t tcp_flags) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(keyBytes(pkt_key));
  if (it == keys_.end()) return countMiss(stats_, bytes, false);
  auto h = held_.find(it->second);
  if (h != held_.end()) h->second.last_used = now_ns_ / 1000000;
  return countHit(stats_, bytes, pkt_key.proto, tcp_flags, /*mirror=*/true);
}

FastPathStats BrokenProvider::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ctsim::broken
