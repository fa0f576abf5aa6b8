#include "sim/conntrack/conntrack.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <new>

#include "sim/conntrack/l4_proto.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

namespace ctsim::ct {
namespace {

constexpr ctsim_conn_state coarseState(Timeout t) {
  switch (t) {
    case Timeout::kTcpSynSent:
      return CTSIM_CS_TCP_SYN_SENT;
    case Timeout::kTcpSynRecv:
      return CTSIM_CS_TCP_SYN_RECV;
    case Timeout::kTcpEstablished:
      return CTSIM_CS_TCP_ESTABLISHED;
    case Timeout::kTcpFinWait:
      return CTSIM_CS_TCP_FIN_WAIT;
    case Timeout::kTcpTimeWait:
      return CTSIM_CS_TCP_TIME_WAIT;
    case Timeout::kTcpClose:
      return CTSIM_CS_TCP_CLOSE;
    case Timeout::kUdpFirst:
      return CTSIM_CS_OTHER_FIRST;
    case Timeout::kUdpSingle:
      return CTSIM_CS_OTHER_MULTIPLE;
    case Timeout::kUdpMultiple:
      return CTSIM_CS_OTHER_BIDIR;
    case Timeout::kIcmpFirst:
      return CTSIM_CS_ICMP_FIRST;
    case Timeout::kIcmpReply:
      return CTSIM_CS_ICMP_REPLY;
  }
  return CTSIM_CS_NONE;
}

}  // namespace

Timeout timerOfState(ctsim_conn_state s) {
  // coarseState inverted once; CTSIM_CS_NONE (not armed yet) reads as a fresh Conn's kUdpFirst.
  static constexpr auto kTimers = [] {
    std::array<Timeout, CTSIM_CS_ICMP_REPLY + 1> t{};
    t.fill(Timeout::kUdpFirst);
    for (int i = 0; i < kTimeoutCount; ++i) t[coarseState(Timeout(i))] = Timeout(i);
    return t;
  }();
  return size_t(s) < kTimers.size() ? kTimers[s] : Timeout::kUdpFirst;
}

const char* deleteReasonName(DeleteReason r) {
  switch (r) {
    case DeleteReason::kSweep:
      return "sweep";
    case DeleteReason::kUpdateFailed:
      return "update-failed";
    case DeleteReason::kFlushAll:
      return "flush";
    case DeleteReason::kFlushZone:
      return "flush-zone";
    case DeleteReason::kFlushTuple:
      return "flush-tuple";
    case DeleteReason::kDestroy:
      return "destroy";
    case DeleteReason::kReplaced:
      return "replaced";
  }
  return "?";
}

Conntrack::Conntrack(ConntrackConfig config)
    : config_(config), ipf_(config.ipf), exp_lists_(kExpLists) {
  for (uint32_t i = 0; i < kExpLists; ++i)
    exp_lists_[i].prev = exp_lists_[i].next = kFirstSentinel + i;
}

Conntrack::~Conntrack() {
  // No hooks (destroy() is the caller's choice): the storage goes, connections and all.
  for (auto& chunk : chunks_) ASAN_UNPOISON_MEMORY_REGION(chunk.data(), chunk.bytes());
}

Conn* Conntrack::allocConn(uint32_t* id) {
  if (free_ != kNoNode) {
    *id = free_;
    Conn* c = connAt(free_);
    ASAN_UNPOISON_MEMORY_REGION(c, sizeof(Conn));
    free_ = c->exp.next;
    *c = Conn{};
    return c;
  }
  if (chunk_used_ == kConnChunk) {
    chunks_.emplace_back(kConnChunk);
    chunk_used_ = 0;
  }
  *id = uint32_t((chunks_.size() - 1) * kConnChunk + chunk_used_);
  return ::new (static_cast<void*>(&chunks_.back()[chunk_used_++])) Conn{};
}

void Conntrack::freeConn(Conn* c, uint32_t id) {
  c->exp.next = free_;
  free_ = id;
  // Under AddressSanitizer a freed connection is poisoned until reused, so that a provider
  // keeping a pointer past conn_del is caught as with a heap allocation.
  ASAN_POISON_MEMORY_REGION(c, sizeof(Conn));
}

void Conntrack::setZoneTimeoutPolicy(uint16_t zone, const TimeoutPolicy& policy) {
  zone_policies_[zone] = policy;
}

uint32_t Conntrack::secondsFor(uint16_t zone, Timeout t) const {
  if (!zone_policies_.empty()) {
    auto it = zone_policies_.find(zone);
    if (it != zone_policies_.end()) return it->second.get(t);
  }
  return default_policy_.get(t);
}

void Conntrack::setTimer(Conn& c, Timeout timer, int64_t now) {
  c.expiration = now + int64_t(secondsFor(c.key().zone, timer)) * 1000;
  c.ext.state = coarseState(timer);
}

bool Conntrack::seqCheckBypassed(const Conn& c) const {
  if (!config_.tcp_seq_check) return true;
  return config_.skip_seq_check_offloaded && c.ext.offload_mark != OffloadMark::kNone;
}

Conn* Conntrack::lookup(const ConnKey& key, int64_t now, bool* reply) {
  bool rep = false;
  // Expired connections are invisible until swept.
  Conn* c = table_.forEach(key, [&](Conn* cand, bool r) {
    rep = r;
    return !cand->expired(now);
  });
  // A key equal to its own reverse indexes a connection twice: the forward entry is the truth.
  if (c != nullptr && reply != nullptr) *reply = rep && !keyEqual(c->key(), key);
  return c;
}

size_t Conntrack::zoneConnCount(uint16_t zone) const {
  auto it = zone_count_.find(zone);
  return it == zone_count_.end() ? 0 : it->second;
}

std::vector<const Conn*> Conntrack::connections() const {
  std::vector<const Conn*> out;
  out.reserve(n_conn_);
  for (uint32_t h = kFirstSentinel; h < kNoNode; ++h) {
    for (uint32_t id = link(h).next; id != h; id = link(id).next) out.push_back(connAt(id));
  }
  return out;
}

const char* invalidReasonName(InvalidReason r) {
  switch (r) {
    case InvalidReason::kNone:
      return "none";
    case InvalidReason::kNotIp:
      return "not_ip";
    case InvalidReason::kFragment:
      return "fragment";
    case InvalidReason::kHeaderOrChecksum:
      return "header_or_checksum";
    case InvalidReason::kL4State:
      return "l4_state";
    case InvalidReason::kCannotStart:
      return "cannot_start";
    case InvalidReason::kIcmpErrorUnmatched:
      return "icmp_error_unmatched";
  }
  return "?";
}

// Inlined in both callers: a call more would cost the hot flow a nanosecond or two.
[[gnu::always_inline]] inline void Conntrack::executeView(const NetView& nv,
                                                          const CtPacket* extracted, int64_t now,
                                                          uint16_t zone, bool commit,
                                                          const PacketMeta& meta, Verdict* out) {
  ++stats_.packets;
  Verdict& v = *out;
  bool in_batch = true;
  if (!nv.has_l3) {
    v.state = kCsInvalid | kCsTracked;
    v.invalid = InvalidReason::kNotIp;
  } else {
    std::vector<uint8_t> datagram;
    switch (ipf_.preprocess(nv, zone, now, &datagram)) {
      case Ipf::Verdict::kInvalid:
        v.state = kCsInvalid | kCsTracked;
        v.invalid = InvalidReason::kFragment;
        break;
      case Ipf::Verdict::kHeld:
        v.held = true;
        in_batch = false;
        break;
      case Ipf::Verdict::kCompleted: {
        in_batch = false;
        CtPacket p;
        if (extractCtPacket(nv.version, datagram.data(), uint32_t(datagram.size()), zone, &p)) {
          process(p, now, commit, meta, &v);
        } else {
          v.state = kCsInvalid | kCsTracked;
          v.invalid = InvalidReason::kHeaderOrChecksum;
        }
        v.reassembled = true;
        break;
      }
      case Ipf::Verdict::kNotFragment: {
        if (extracted != nullptr) {
          process(*extracted, now, commit, meta, &v);
          break;
        }
        CtPacket p;
        if (nv.sane && extractCtPacket(nv.version, nv.l3, nv.l3_size, zone, &p)) {
          process(p, now, commit, meta, &v);
        } else {
          v.state = kCsInvalid | kCsTracked;
          v.invalid = InvalidReason::kHeaderOrChecksum;
        }
        break;
      }
    }
  }
  ipf_.postprocess(now, in_batch);
}

Verdict Conntrack::execute(uint32_t linktype, const uint8_t* frame, uint32_t caplen, int64_t now,
                           uint16_t zone, bool commit, const PacketMeta& meta) {
  Verdict v;
  executeView(netView(linktype, frame, caplen), nullptr, now, zone, commit, meta, &v);
  return v;
}

void Conntrack::executeBatch(uint32_t linktype, std::span<const uint8_t* const> frames,
                             std::span<const uint32_t> caplens, int64_t now, uint16_t zone,
                             bool commit, std::span<const PacketMeta> metas,
                             std::span<Verdict> out) {
  size_t n = std::min({frames.size(), caplens.size(), out.size()});
  bool with_metas = metas.size() >= n;
  for (size_t i = 0; i < n; i += kMaxBatch) {
    executeGroup(linktype, frames.data() + i, caplens.data() + i, std::min(kMaxBatch, n - i), now,
                 zone, commit, with_metas ? metas.data() + i : nullptr, out.data() + i);
  }
}

namespace {

// Prefetches the cache lines of [p, p + bytes) for writing.
void prefetchRange(const void* p, size_t bytes) {
  auto a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(63);
  auto end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (; a < end; a += 64) __builtin_prefetch(reinterpret_cast<const void*>(a), 1);
}

// What a frame's parse needs first: the link, IP and transport headers.
constexpr uint32_t kHeaderBytes = 128;

}  // namespace

void Conntrack::executeGroup(uint32_t linktype, const uint8_t* const* frames,
                             const uint32_t* caplens, size_t n, int64_t now, uint16_t zone,
                             bool commit, const PacketMeta* metas, Verdict* out) {
  NetView nv[kMaxBatch];
  CtPacket pkt[kMaxBatch];
  bool extracted[kMaxBatch];
  uint64_t hash[kMaxBatch];
  // 1. The frames' headers, all of them in flight at once.
  for (size_t i = 0; i < n; ++i) prefetchRange(frames[i], std::min(caplens[i], kHeaderBytes));
  // 2. Parse and extract (functions of the bytes alone, so doing them early changes nothing).
  // netView() constructs nv[i] in place: copying its result (narrow stores, then wide loads)
  // stalled on store forwarding (perf: a third of the batch's own time at 1 K flows).
  for (size_t i = 0; i < n; ++i) {
    ::new (static_cast<void*>(&nv[i])) NetView(netView(linktype, frames[i], caplens[i]));
    extracted[i] = nv[i].has_l3 && nv[i].sane && !nv[i].fragment &&
                   extractCtPacket(nv[i].version, nv[i].l3, nv[i].l3_size, zone, &pkt[i]);
  }
  // 3. Hash the keys (in a loop of its own, so that the key's wide loads do not wait on the
  // extraction's narrow stores), start loading their home slots.
  for (size_t i = 0; i < n; ++i) {
    if (!extracted[i]) continue;
    hash[i] = ConnTable::hash(pkt[i].key);
    table_.prefetchHome(hash[i]);
  }
  // 4. The connections the slots point to.
  for (size_t i = 0; i < n; ++i) {
    if (!extracted[i]) continue;
    if (const Conn* c = table_.candidate(hash[i])) prefetchRange(c, sizeof(Conn));
  }
  // 5. Each packet in order, exactly as execute().
  static const PacketMeta kNoMeta;
  for (size_t i = 0; i < n; ++i) {
    out[i] = Verdict{};
    executeView(nv[i], extracted[i] ? &pkt[i] : nullptr, now, zone, commit,
                metas != nullptr ? metas[i] : kNoMeta, &out[i]);
  }
}

Verdict Conntrack::executeIp(uint8_t version, const uint8_t* l3, uint32_t size, int64_t now,
                             uint16_t zone, bool commit, const PacketMeta& meta) {
  ++stats_.packets;
  CtPacket p;
  if (!extractCtPacket(version, l3, size, zone, &p)) {
    Verdict v;
    v.state = kCsInvalid | kCsTracked;
    v.invalid = InvalidReason::kHeaderOrChecksum;
    return v;
  }
  Verdict v;
  process(p, now, commit, meta, &v);
  return v;
}

void Conntrack::process(const CtPacket& p, int64_t now, bool commit, const PacketMeta& meta,
                        Verdict* out) {
  Verdict& v = *out;
  uint8_t state = 0;
  bool reply = false;
  Conn* c = lookup(p.key, now, &reply);
  bool create = false;
  if (c != nullptr) {
    if (p.icmp_related) {
      state |= kCsRelated | (reply ? kCsReply : 0);
    } else {
      c->countPacket(reply);
      switch (l4Ops(c->key().proto).update(*this, *c, p, reply, now)) {
        case UpdateResult::kValid:
          state = uint8_t((state | kCsEstablished | (reply ? kCsReply : 0)) & ~kCsNew);
          break;
        case UpdateResult::kValidNew:
          state |= kCsNew;
          break;
        case UpdateResult::kInvalid:
          state = kCsInvalid;
          v.invalid = InvalidReason::kL4State;
          break;
        case UpdateResult::kNew:
          // Port reuse: the old connection expires now (the sweep removes it) and the packet
          // makes a new one.
          c->expiration = 0;
          ++stats_.port_reuse;
          create = true;
          c = nullptr;
          break;
      }
    }
  } else if (p.icmp_related) {
    state = kCsInvalid;  // an error about nothing we track.
    v.invalid = InvalidReason::kIcmpErrorUnmatched;
  } else {
    create = true;
  }
  if (create) {
    reply = false;
    c = this->create(p, now, commit, &state);
    v.created = c != nullptr;
    if (state & kCsInvalid) v.invalid = InvalidReason::kCannotStart;
  }
  v.state = uint8_t(state | kCsTracked);
  v.conn = c;
  v.reply = reply;

  // Offload call sites (facts §3).
  if (hooks_ != nullptr && c != nullptr) {
    if (v.created) {
      hooks_->onConnAdd(*c, meta);
    } else if (reply && (v.state & kCsEstablished) && c->ext.offload_mark == OffloadMark::kAdded) {
      hooks_->onEstablished(*c, meta);
    }
  }
}

Conn* Conntrack::create(const CtPacket& p, int64_t now, bool commit, uint8_t* state) {
  const L4Ops& ops = l4Ops(p.key.proto);
  if (!ops.valid_new(p)) {
    *state = kCsInvalid;
    return nullptr;
  }
  *state = kCsNew;
  if (!commit) return nullptr;
  uint16_t zone = p.key.zone;
  auto zl = zone_limits_.find(zone);
  if (zl != zone_limits_.end()
          ? zoneConnCount(zone) >= zl->second
          : (default_zone_limit_ != 0 && zoneConnCount(zone) >= default_zone_limit_)) {
    ++stats_.limit_drops;
    return nullptr;
  }
  if (config_.strict.replace_expired) {
    // Strict: the expired connections of this tuple go first, so that one tuple never has two.
    Conn* stale[8];
    size_t n_stale = 0;
    do {
      n_stale = 0;
      table_.forEach(p.key, [&](Conn* cand, bool) {
        if (std::find(stale, stale + n_stale, cand) == stale + n_stale) stale[n_stale++] = cand;
        return n_stale == std::size(stale);
      });
      for (size_t k = 0; k < n_stale; ++k) clean(stale[k], DeleteReason::kReplaced);
    } while (n_stale == std::size(stale));
  }
  if (n_conn_ >= config_.conn_limit || n_conn_ >= kMaxConns) {
    ++stats_.limit_drops;
    return nullptr;
  }
  uint32_t id;
  Conn* c = allocConn(&id);
  c->ext.key_fwd = p.key;
  c->id = next_id_++;
  c->created_ms = now;
  c->packets[0] = 1;
  ops.new_conn(*this, *c, p, now);
  insert(c, id);
  ++stats_.conns_created;
  return c;
}

void Conntrack::insert(Conn* c, uint32_t id) {
  table_.insert(c, false);
  table_.insert(c, true);
  uint32_t h = kFirstSentinel + next_list_;
  next_list_ = (next_list_ + 1) % kExpLists;
  ExpLink& head = link(h);
  c->exp.prev = head.prev;
  c->exp.next = h;
  link(head.prev).next = id;
  head.prev = id;
  ++n_conn_;
  ++zone_count_[c->key().zone];
}

void Conntrack::clean(Conn* c, DeleteReason reason) {
  if (hooks_ != nullptr) hooks_->onDelete(*c, reason);
  table_.erase(c, false);
  table_.erase(c, true);
  auto zc = zone_count_.find(c->key().zone);
  if (zc != zone_count_.end() && --zc->second == 0) zone_count_.erase(zc);
  --n_conn_;
  ++stats_.conns_removed;
  uint32_t id = idOf(*c);
  link(c->exp.prev).next = c->exp.next;
  link(c->exp.next).prev = c->exp.prev;
  freeConn(c, id);
}

bool Conntrack::maybeSweep(int64_t now) {
  if (next_sweep_ms_ == INT64_MIN) {
    next_sweep_ms_ = now + config_.sweep_interval_ms;
    return false;
  }
  if (now < next_sweep_ms_) return false;
  sweep(now);
  next_sweep_ms_ = now + config_.sweep_interval_ms;
  return true;
}

size_t Conntrack::sweep(int64_t now) {
  ++stats_.sweeps;
  size_t bound = std::max<size_t>(1, config_.conn_limit / 64);
  size_t visited = 0;
  std::vector<Conn*> expired;
  uint32_t i = next_sweep_;
  for (uint32_t n = 0; n < kExpLists; ++n, i = (i + 1) % kExpLists) {
    if (visited > bound) {
      ++stats_.sweep_bound_hits;
      break;
    }
    uint32_t h = kFirstSentinel + i;
    for (uint32_t id = link(h).next; id != h; id = link(id).next) {
      ++visited;
      Conn* c = connAt(id);
      if (c->expired(now)) expired.push_back(c);
    }
  }
  next_sweep_ = i;
  stats_.swept += visited;

  std::vector<Conn*> offloaded;
  size_t removed = 0;
  for (Conn* c : expired) {
    if (hooks_ != nullptr && c->ext.offload_mark != OffloadMark::kNone) {
      offloaded.push_back(c);
    } else {
      clean(c, DeleteReason::kSweep);
      ++removed;
    }
  }
  if (!offloaded.empty()) {
    std::vector<int64_t> last_used(offloaded.size(), 0);
    stats_.updates += offloaded.size();
    hooks_->onUpdateBatch(offloaded, last_used);
    for (size_t k = 0; k < offloaded.size(); ++k) {
      Conn* c = offloaded[k];
      int64_t ts = last_used[k];
      bool keep = ts != 0;
      int64_t until = std::max(c->expiration, now + config_.sweep_interval_ms);
      if (keep && config_.strict.update_checks_timestamp) {
        until = ts + int64_t(secondsFor(c->key().zone, c->timer())) * 1000;
        keep = until > now;
      }
      if (keep) {
        c->expiration = until;
      } else {
        clean(c, DeleteReason::kUpdateFailed);
        ++removed;
      }
    }
  }
  return removed;
}

size_t Conntrack::flushAll() {
  size_t n = 0;
  for (uint32_t h = kFirstSentinel; h < kNoNode; ++h) {
    for (uint32_t id; (id = link(h).next) != h; ++n) clean(connAt(id), DeleteReason::kFlushAll);
  }
  return n;
}

size_t Conntrack::flushZone(uint16_t zone) {
  size_t n = 0;
  for (uint32_t h = kFirstSentinel; h < kNoNode; ++h) {
    for (uint32_t id = link(h).next; id != h;) {
      Conn* c = connAt(id);
      id = c->exp.next;
      if (c->key().zone == zone) {
        clean(c, DeleteReason::kFlushZone);
        ++n;
      }
    }
  }
  return n;
}

size_t Conntrack::flushTuple(const ConnKey& key, int64_t now) {
  Conn* c = lookup(key, now);
  if (c == nullptr) return 0;
  clean(c, DeleteReason::kFlushTuple);
  return 1;
}

void Conntrack::destroy() {
  for (uint32_t h = kFirstSentinel; h < kNoNode; ++h) {
    for (uint32_t id; (id = link(h).next) != h;) clean(connAt(id), DeleteReason::kDestroy);
  }
}

}  // namespace ctsim::ct
