#include "sim/conntrack/lifecycle.h"

#include <algorithm>
#include <climits>
#include <limits>

#include "sim/conntrack/timeouts.h"

namespace ctsim::ct {
namespace {

constexpr int64_t kPendingExpiry = INT64_MIN;  // UpdateEvent::expiry_ms not yet known.

uint8_t clampErrno(long long e) { return e < 0 || e > 254 ? 255 : uint8_t(e); }

uint32_t deltaUs(int64_t from_ns, int64_t to_ns) {
  int64_t us = (to_ns - from_ns) / 1000;
  if (us < 0) return 0;
  return us >= int64_t(kNever) ? kNever - 1 : uint32_t(us);
}

// The entry's state and counters as a note gives them.
void counters(ProviderPart& p, const EntryNote& note) {
  if (!note.active) p.flags |= ProviderPart::kNoActive;
  if (note.stuck) p.flags |= ProviderPart::kStuck;
  p.consumed = uint32_t(std::min<uint64_t>(note.consumed, UINT32_MAX));
  p.hits = uint32_t(std::min<uint64_t>(note.hits, UINT32_MAX));
}

template <typename T>
void bump(T& counter) {
  if (counter != std::numeric_limits<T>::max()) ++counter;
}

}  // namespace

const char* lifeEndName(LifeEnd e) {
  switch (e) {
    case LifeEnd::kAlive:
      return "alive";
    case LifeEnd::kExpired:
      return "expired";
    case LifeEnd::kHwIdle:
      return "hw_idle";
    case LifeEnd::kFlushed:
      return "flushed";
    case LifeEnd::kAliveAtEnd:
      return "alive_at_end";
    case LifeEnd::kReplaced:
      return "replaced";
    case LifeEnd::kDestroyed:
      return "destroyed";
  }
  return "?";
}

const char* noConnName(NoConn n) {
  switch (n) {
    case NoConn::kNone:
      return "none";
    case NoConn::kNotCommitted:
      return "not_committed";
    case NoConn::kInvalid:
      return "invalid";
    case NoConn::kRelated:
      return "related";
    case NoConn::kLimit:
      return "limit";
  }
  return "?";
}

void LifecycleRecorder::attach(Registry& registry, std::vector<std::string> names,
                               std::vector<FastPath*> fps) {
  detach();
  registry_ = &registry;
  provider_names_ = std::move(names);
  fast_paths_ = std::move(fps);
  fast_paths_.resize(provider_names_.size(), nullptr);
  provider_fp_.assign(provider_names_.size(), false);
  for (size_t i = 0; i < fast_paths_.size(); ++i) {
    // A fast path that reports no entry events is followed like a provider without one.
    if (fast_paths_[i] != nullptr && !fast_paths_[i]->setObserver(this)) fast_paths_[i] = nullptr;
    provider_fp_[i] = fast_paths_[i] != nullptr;
  }
  registry.setCallObserver(this);
}

void LifecycleRecorder::detach() {
  if (registry_ != nullptr) registry_->setCallObserver(nullptr);
  for (FastPath* fp : fast_paths_) {
    if (fp != nullptr) fp->setObserver(nullptr);
  }
  registry_ = nullptr;
}

uint32_t LifecycleRecorder::indexOf(const Conn& c) const {
  if (c.id < id_base_ || c.id - id_base_ >= conns_.size()) return kNoIndex;
  return uint32_t(c.id - id_base_);
}

int LifecycleRecorder::providerOf(const FastPath& fp) const {
  for (size_t i = 0; i < fast_paths_.size(); ++i) {
    if (fast_paths_[i] == &fp) return int(i);
  }
  return -1;
}

uint16_t LifecycleRecorder::internReason(const char* text) {
  if (text == nullptr) return 0;
  auto it = reason_index_.find(text);
  if (it != reason_index_.end()) return it->second;
  if (reasons_.size() >= 0xfffe) return 0xffff;  // "(more reasons than kept)": see reasons().
  reasons_.emplace_back(text);
  uint16_t idx = uint16_t(reasons_.size());
  reason_index_.emplace(text, idx);
  return idx;
}

void LifecycleRecorder::onPacketStart(int64_t t_ns) {
  if (!started_) {
    started_ = true;
    first_ns_ = t_ns;
  }
  now_ns_ = std::max(now_ns_, t_ns);
  if (!pending_.empty()) resolvePending();
}

void LifecycleRecorder::resolvePending() {
  for (const auto& [ev, c] : pending_) {
    UpdateEvent& u = updates_[ev];
    if (u.expiry_ms != kPendingExpiry) continue;  // removed meanwhile (already resolved).
    u.expiry_ms = c->expiration;
    Lifecycle& r = conns_[u.conn];
    r.flags |= Lifecycle::kUpdKept;
    if (u.stale) r.flags |= Lifecycle::kStaleKept;
  }
  pending_.clear();
}

void LifecycleRecorder::onCreated(const Conn& c, uint64_t packet) {
  if (conns_.empty()) id_base_ = c.id;
  if (c.id < id_base_) return;
  size_t idx = size_t(c.id - id_base_);
  if (idx >= conns_.size()) conns_.resize(idx + 1);
  Lifecycle& r = conns_[idx];
  r.key = c.key();
  r.packet = packet;
  r.created_ns = now_ns_;
  r.sw_at_active = 1;  // its first packet went through software (counted in sw_packets later).
}

void LifecycleRecorder::afterHook(const Conn& c) {
  uint32_t idx = indexOf(c);
  current_ = kNoIndex;
  current_conn_ = nullptr;
  if (idx == kNoIndex) return;
  if (c.ext.offload_mark != OffloadMark::kNone) conns_[idx].flags |= Lifecycle::kMarked;
}

void LifecycleRecorder::onEstablished(const Conn& c) {
  uint32_t idx = indexOf(c);
  if (idx == kNoIndex) return;
  Lifecycle& r = conns_[idx];
  if (r.est_us == kNever) r.est_us = deltaUs(r.created_ns, now_ns_);
  r.flags |= Lifecycle::kEstablished;
}

void LifecycleRecorder::onDeleted(const Conn& c, DeleteReason reason) {
  live_.erase(&c.ext);
  uint32_t idx = indexOf(c);
  if (idx == kNoIndex) return;
  Lifecycle& r = conns_[idx];
  switch (reason) {
    case DeleteReason::kSweep:
      r.end = LifeEnd::kExpired;
      break;
    case DeleteReason::kUpdateFailed:
      r.end = LifeEnd::kHwIdle;
      break;
    case DeleteReason::kFlushAll:
      r.end = at_end_ ? LifeEnd::kAliveAtEnd : LifeEnd::kFlushed;
      break;
    case DeleteReason::kFlushZone:
    case DeleteReason::kFlushTuple:
      r.end = LifeEnd::kFlushed;
      break;
    case DeleteReason::kDestroy:
      r.end = LifeEnd::kDestroyed;
      break;
    case DeleteReason::kReplaced:
      r.end = LifeEnd::kReplaced;
      break;
  }
  r.end_ns = now_ns_;
  // Its conn_update answers still open (several sweeps may run between two packets) are
  // settled now, while the connection is intact: the last one by this removal.
  for (uint32_t ev = r.first_update; ev != 0;) {
    UpdateEvent& u = updates_[ev - 1];
    if (u.expiry_ms == kPendingExpiry) {
      if (u.next == 0 && reason == DeleteReason::kUpdateFailed) {
        u.expiry_ms = -1;
      } else {
        u.expiry_ms = c.expiration;
        r.flags |= Lifecycle::kUpdKept;
        if (u.stale) r.flags |= Lifecycle::kStaleKept;
      }
    }
    ev = u.next;
  }
}

void LifecycleRecorder::beforeUpdates(std::span<Conn* const> conns) {
  batch_index_.clear();
  batch_answer_.assign(conns.size(), 0);
  for (size_t k = 0; k < conns.size(); ++k) batch_index_.emplace(&conns[k]->ext, uint32_t(k));
}

void LifecycleRecorder::onUpdates(std::span<Conn* const> conns, std::span<const int64_t> last_used,
                                  int64_t now) {
  const TimeoutPolicy policy = TimeoutPolicy::defaults();
  for (size_t k = 0; k < conns.size() && k < last_used.size(); ++k) {
    uint32_t idx = indexOf(*conns[k]);
    if (idx == kNoIndex) continue;
    Lifecycle& r = conns_[idx];
    UpdateEvent u;
    u.conn = idx;
    u.t_ms = now;
    // The provider's own answer when it was seen (the rfc profiles hand the engine only "some
    // timestamp came back"), else what the engine got.
    u.answer = k < batch_answer_.size() && batch_answer_[k] != 0 ? batch_answer_[k] : last_used[k];
    u.expiry_ms = kPendingExpiry;
    u.stale = u.answer != 0 && u.answer + int64_t(policy.get(conns[k]->timer())) * 1000 <= now;
    updates_.push_back(u);
    uint32_t ev = uint32_t(updates_.size());
    if (r.first_update == 0) {
      r.first_update = ev;
    } else {
      uint32_t last = r.first_update;
      while (updates_[last - 1].next != 0) last = updates_[last - 1].next;
      updates_[last - 1].next = ev;
    }
    bump(r.updates);
    pending_.emplace_back(ev - 1, conns[k]);
  }
  batch_index_.clear();
  batch_answer_.clear();
}

void LifecycleRecorder::onTraceEnd() {
  if (!pending_.empty()) resolvePending();
  at_end_ = true;
}

void LifecycleRecorder::onSoftwarePacket(const Verdict& v, const ConnKey* key, bool commit,
                                         uint64_t packet) {
  if (v.held || v.fast_path) return;
  NoConn kind = NoConn::kNone;
  ConnKey k{};
  if (v.conn != nullptr) {
    if (!(v.state & kCsRelated)) {
      uint32_t idx = indexOf(*v.conn);
      if (idx == kNoIndex) return;
      Lifecycle& r = conns_[idx];
      bump(r.sw_packets);
      if (!v.created && !(r.flags & Lifecycle::kHwActive)) bump(r.sw_at_active);
      return;
    }
    kind = NoConn::kRelated;  // an ICMP error about v.conn: kept under that connection's key.
    k = v.conn->key();
  } else {
    if (!commit) {
      kind = NoConn::kNotCommitted;
    } else if (v.state & kCsInvalid) {
      kind = NoConn::kInvalid;
    } else if (v.state & kCsNew) {
      kind = NoConn::kLimit;
    } else {
      return;
    }
    if (key != nullptr) k = *key;
  }
  // Connection-less flows are found by their key in either direction, per kind.
  auto find = [&](const ConnKey& key2) -> Lifecycle* {
    auto it = flow_index_.find(key2);
    if (it == flow_index_.end()) return nullptr;
    Lifecycle& f = flows_[it->second];
    return f.no_conn == kind ? &f : nullptr;
  };
  Lifecycle* f = find(k);
  if (f == nullptr) f = find(reverseKey(k));
  if (f == nullptr) {
    Lifecycle r;
    r.key = k;
    r.packet = packet;
    r.created_ns = now_ns_;
    r.no_conn = kind;
    flows_.push_back(r);
    flow_index_.emplace(k, uint32_t(flows_.size() - 1));
    f = &flows_.back();
  }
  bump(f->sw_packets);
  bump(f->sw_at_active);
}

void LifecycleRecorder::onProviderAnswer(size_t index, Callback cb, const ct_offload_ctx& ctx,
                                         long long result, const char* reason) {
  if (cb == Callback::kConnUpdate) {
    auto it = batch_index_.find(ctx.conn);
    if (it != batch_index_.end() && batch_answer_[it->second] == 0) {
      batch_answer_[it->second] = result;
    }
    return;
  }
  if (cb != Callback::kCanOffload && cb != Callback::kConnAdd && cb != Callback::kConnDel) return;
  if (current_ == kNoIndex) return;
  if (index >= size_t(kLifecycleProviders)) {
    if (cb != Callback::kConnDel) ++overflow_providers_;
    return;
  }
  ProviderPart& p = conns_[current_].parts[index];
  switch (cb) {
    case Callback::kCanOffload:
      p.flags |= ProviderPart::kAsked;
      if (result != 0) p.flags |= ProviderPart::kCanYes;
      if (result == 0 && reason != nullptr) p.decline = internReason(reason);
      break;
    case Callback::kConnAdd:
      p.flags |= ProviderPart::kAddCalled;
      if (result == 0) {
        p.flags |= ProviderPart::kAccepted;
        accepted_protos_.set(conns_[current_].key.proto);
        if (index < provider_fp_.size() && provider_fp_[index] && ctx.conn != nullptr) {
          live_[ctx.conn] = current_;
        }
      } else {
        p.add_error = clampErrno(result);
        if (reason != nullptr) p.decline = internReason(reason);
      }
      break;
    default:
      p.flags |= ProviderPart::kDelCalled;
      break;
  }
}

void LifecycleRecorder::onEntry(const FastPath& fp, const conn* owner, const ctsim_conn_key& fwd,
                                const EntryNote& note) {
  int pi = providerOf(fp);
  if (pi < 0 || pi >= kLifecycleProviders) return;
  uint32_t idx = kNoIndex;
  if (owner != nullptr && owner == current_conn_) {
    idx = current_;  // during its own conn_add (e.g. an insertion without latency).
  } else if (owner != nullptr) {
    auto it = live_.find(owner);
    if (it != live_.end()) idx = it->second;
  } else {
    auto it = ghosts_.find(fwd);
    if (it != ghosts_.end()) idx = it->second;
  }
  if (idx == kNoIndex || idx >= conns_.size()) return;
  Lifecycle& r = conns_[idx];
  ProviderPart& p = r.parts[pi];
  switch (note.event) {
    case EntryEvent::kActive:
      if (p.active_us == kNever) p.active_us = deltaUs(r.created_ns, note.t_ns);
      r.flags |= Lifecycle::kHwActive;
      break;
    case EntryEvent::kRefused:
      p.flags |= ProviderPart::kRefusedLater;
      p.add_error = clampErrno(note.error);
      break;
    case EntryEvent::kDetached:
      p.flags |= ProviderPart::kDetached;
      if (note.orphaned) p.flags |= ProviderPart::kOrphaned;
      counters(p, note);
      ghosts_[fwd] = idx;
      break;
    case EntryEvent::kStrayHit:
      bump(p.stray_hits);
      break;
    case EntryEvent::kRemoved:
      p.gone = uint8_t(uint8_t(note.gone) + 1);
      if (owner == nullptr) {
        ghosts_.erase(fwd);
      } else {
        counters(p, note);
      }
      break;
  }
}

size_t LifecycleRecorder::memoryBytes() const {
  auto mapBytes = [](const auto& m, size_t node) {
    return m.size() * node + m.bucket_count() * sizeof(void*);
  };
  return conns_.capacity() * sizeof(Lifecycle) + flows_.capacity() * sizeof(Lifecycle) +
         updates_.capacity() * sizeof(UpdateEvent) + mapBytes(flow_index_, sizeof(ConnKey) + 24) +
         mapBytes(live_, 32) + mapBytes(ghosts_, sizeof(ConnKey) + 24);
}

}  // namespace ctsim::ct
