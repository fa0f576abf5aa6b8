#include "sim/conntrack/replay.h"

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <thread>
#include <vector>

#include "sim/conntrack/extract.h"
#include "sim/parser.h"

namespace ctsim::ct {
namespace {

// Offers a packet to the fast paths. IP fragments and ICMP errors are never matched in hardware
// here (they miss and go to software, which reassembles or relates them).
FastPathVerdict offerToFastPaths(const std::vector<FastPath*>& fast_paths, const TraceRecord& rec,
                                 uint16_t zone) {
  NetView nv = netView(rec.linktype, rec.data, rec.caplen);
  if (!nv.has_l3 || !nv.sane || nv.fragment) return FastPathVerdict::kMiss;
  CtPacket pkt;
  if (!extractCtPacket(nv.version, nv.l3, nv.l3_size, zone, &pkt) || pkt.icmp_related) {
    return FastPathVerdict::kMiss;
  }
  uint8_t flags = pkt.key.proto == kProtoTcp ? pkt.tcp_flags : 0;
  for (FastPath* fp : fast_paths) {
    FastPathVerdict v =
        fp->processFrame(rec.data, rec.caplen, rec.linktype, pkt.key, rec.wirelen, flags);
    if (v != FastPathVerdict::kMiss) return v;
  }
  return FastPathVerdict::kMiss;
}

}  // namespace

// Sits between the engine and ReplayOptions::hooks (which may be absent): counts every hook
// call, creation and removal into the summary and its timeline, then forwards. Without real
// hooks no connection is ever marked offloaded, so onUpdateBatch is never called and the engine
// behaves exactly as without hooks.
class Replayer::Observer final : public OffloadHooks {
 public:
  explicit Observer(Replayer& r) : r_(r) {}

  // OffloadHooks:
  void onConnAdd(Conn& conn, const PacketMeta& meta) override {
    ++r_.sum_.created[protoName(conn.key().af, conn.key().proto)][connStateName(conn.ext.state)];
    TimelineBucket& b = r_.bucketAt(r_.cur_ns_);
    ++b.conns_created;
    LifecycleRecorder* lc = r_.lifecycles_.get();
    if (lc) lc->onCreated(conn, meta.packet);
    if (ReplayHooks* h = r_.options_.hooks) {
      ++r_.sum_.hook_calls["conn_add"];
      ++b.hook_ops;
      if (lc) lc->beforeHook(conn);
      h->onConnAdd(conn, meta);
      if (lc) lc->afterHook(conn);
    }
  }
  void onEstablished(Conn& conn, const PacketMeta& meta) override {
    if (ReplayHooks* h = r_.options_.hooks) {
      ++r_.sum_.hook_calls["conn_established"];
      ++r_.bucketAt(r_.cur_ns_).hook_ops;
      if (r_.lifecycles_) r_.lifecycles_->onEstablished(conn);
      h->onEstablished(conn, meta);
    }
  }
  void onDelete(Conn& conn, DeleteReason reason) override {
    ++r_.sum_.removed[deleteReasonName(reason)][protoName(conn.key().af, conn.key().proto)]
                     [connStateName(conn.ext.state)];
    TimelineBucket& b = r_.bucketAt(r_.cur_ns_);
    ++b.conns_removed;
    LifecycleRecorder* lc = r_.lifecycles_.get();
    if (ReplayHooks* h = r_.options_.hooks) {
      ++r_.sum_.hook_calls["conn_del"];
      ++b.hook_ops;
      if (lc) lc->beforeHook(conn);
      h->onDelete(conn, reason);
      if (lc) lc->afterHook(conn);
    }
    if (lc) lc->onDeleted(conn, reason);
  }
  void onUpdateBatch(std::span<Conn* const> conns, std::span<int64_t> last_used) override {
    if (ReplayHooks* h = r_.options_.hooks) {
      r_.sum_.hook_calls["conn_update"] += conns.size();
      r_.bucketAt(r_.cur_ns_).hook_ops += conns.size();
      if (r_.lifecycles_) r_.lifecycles_->beforeUpdates(conns);
      h->onUpdateBatch(conns, last_used);
      if (r_.lifecycles_) r_.lifecycles_->onUpdates(conns, last_used, r_.now_);
    }
  }

 private:
  Replayer& r_;
};

Result<ZoneMap> parseZoneMap(const std::string& text) {
  ZoneMap m;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = line.substr(0, line.find('#'));
    std::istringstream ls(line);
    std::string key, zone, extra;
    if (!(ls >> key)) continue;
    auto bad = [&](const std::string& why) {
      return Status(EINVAL, "line " + std::to_string(n) + ": " + why);
    };
    if (!(ls >> zone) || (ls >> extra)) return bad("expected 'VLAN ZONE'");
    auto number = [](const std::string& t, unsigned long max, unsigned long* out) {
      if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) {
        return false;
      }
      *out = std::stoul(t);
      return *out <= max;
    };
    unsigned long z = 0, v = 0;
    if (!number(zone, 65535, &z)) return bad("zone '" + zone + "' is not 0-65535");
    if (key == "untagged") {
      m.untagged = uint16_t(z);
    } else if (key == "*") {
      m.other = uint16_t(z);
    } else if (number(key, 4095, &v)) {
      m.by_vlan[uint16_t(v)] = uint16_t(z);
    } else {
      return bad("'" + key + "' is not a VLAN id, 'untagged' or '*'");
    }
  }
  return m;
}

const char* connStateName(ctsim_conn_state s) {
  switch (s) {
    case CTSIM_CS_NONE:
      return "NONE";
    case CTSIM_CS_TCP_SYN_SENT:
      return "TCP_SYN_SENT";
    case CTSIM_CS_TCP_SYN_RECV:
      return "TCP_SYN_RECV";
    case CTSIM_CS_TCP_ESTABLISHED:
      return "TCP_ESTABLISHED";
    case CTSIM_CS_TCP_FIN_WAIT:
      return "TCP_FIN_WAIT";
    case CTSIM_CS_TCP_TIME_WAIT:
      return "TCP_TIME_WAIT";
    case CTSIM_CS_TCP_CLOSE:
      return "TCP_CLOSE";
    case CTSIM_CS_OTHER_FIRST:
      return "OTHER_FIRST";
    case CTSIM_CS_OTHER_MULTIPLE:
      return "OTHER_MULTIPLE";
    case CTSIM_CS_OTHER_BIDIR:
      return "OTHER_BIDIR";
    case CTSIM_CS_ICMP_FIRST:
      return "ICMP_FIRST";
    case CTSIM_CS_ICMP_REPLY:
      return "ICMP_REPLY";
  }
  return "?";
}

std::string protoName(uint8_t af, uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return "tcp";
    case kProtoUdp:
      return "udp";
    case kProtoSctp:
      return "sctp";
    case kProtoIcmp:
      return af == CTSIM_AF_INET ? "icmp" : "proto1";
    case kProtoIcmpv6:
      return af == CTSIM_AF_INET6 ? "icmpv6" : "proto58";
    default:
      return "proto" + std::to_string(proto);
  }
}

Replayer::Replayer(ReplayOptions options)
    : options_(std::move(options)),
      observer_(std::make_unique<Observer>(*this)),
      lifecycles_(options_.lifecycles ? std::make_unique<LifecycleRecorder>() : nullptr),
      engine_(options_.engine) {
  engine_.setHooks(observer_.get());
}

Replayer::~Replayer() {
  if (lifecycles_) lifecycles_->detach();
}

TimelineBucket& Replayer::bucketAt(int64_t t_ns) {
  ReplaySummary& s = sum_;
  auto floorTo = [](int64_t t, int64_t step) { return t - ((t % step) + step) % step; };
  if (s.timeline_interval_ns == 0)
    s.timeline_interval_ns = std::max<int64_t>(1, options_.timeline_initial_ns);
  if (s.timeline.empty()) {
    TimelineBucket b;
    b.t_ns = floorTo(t_ns, s.timeline_interval_ns);
    s.timeline.push_back(b);
  }
  if (t_ns < s.timeline.front().t_ns) return s.timeline.front();  // time went backwards.
  for (;;) {
    int64_t base = s.timeline.front().t_ns;
    uint64_t idx = uint64_t(t_ns - base) / uint64_t(s.timeline_interval_ns);
    if (idx < std::max<size_t>(2, options_.timeline_max_buckets)) {
      while (s.timeline.size() <= idx) {
        TimelineBucket b;
        b.t_ns = base + int64_t(s.timeline.size()) * s.timeline_interval_ns;
        s.timeline.push_back(b);
      }
      return s.timeline[idx];
    }
    // Too many buckets: double the width, merging pairs (from a start aligned to it).
    int64_t step = s.timeline_interval_ns * 2;
    std::vector<TimelineBucket> merged;
    for (const TimelineBucket& b : s.timeline) {
      int64_t t = floorTo(b.t_ns, step);
      if (merged.empty() || merged.back().t_ns != t) {
        TimelineBucket m;
        m.t_ns = t;
        merged.push_back(m);
      }
      TimelineBucket& m = merged.back();
      m.packets += b.packets;
      m.bytes += b.bytes;
      m.fast_path_hits += b.fast_path_hits;
      m.conns_created += b.conns_created;
      m.conns_removed += b.conns_removed;
      m.hook_ops += b.hook_ops;
    }
    s.timeline = std::move(merged);
    s.timeline_interval_ns = step;
  }
}

std::optional<int64_t> Replayer::firstPacketNs(const ConnKey& key) const {
  auto it = first_packet_ns_.find(key);
  if (it == first_packet_ns_.end()) return std::nullopt;
  return it->second;
}

Result<ReplaySummary> Replayer::run(const std::string& path, const PacketFn& on_packet) {
  auto opened = TraceReader::open(path);
  if (!opened.ok()) return opened.status();
  TraceReader& reader = *opened.value();
  begin();
  TraceRecord rec;
  while (reader.next(rec)) process(rec, on_packet);
  return finish(reader.end());
}

void Replayer::begin() {
  sum_ = ReplaySummary();
  outcome_counts_.fill(0);
  state_counts_.fill(0);
  invalid_counts_.fill(0);
  cur_ns_ = 0;
  have_frozen_ = false;
  frozen_now_ = frozen_ns_ = now_ = 0;
}

void Replayer::process(const TraceRecord& rec, const PacketFn& on_packet) {
  ReplaySummary& sum = sum_;
  int64_t now_ns = observeTime(rec.ts_ns);
  int64_t now = now_;
  if (sum_.packets == 0) sum_.first_ns = rec.ts_ns;
  sum_.last_ns = rec.ts_ns;
  // Fast paths first learn the time (completions, hardware aging), so that a sweep's
  // conn_update sees the hardware as it is at `now`.
  for (FastPath* fp : options_.fast_paths) fp->setNow(now_ns);
  if (lifecycles_) lifecycles_->onPacketStart(now_ns);
  if (options_.hooks != nullptr) options_.hooks->onPacketStart(rec.index, now);
  if (options_.clock == ClockMode::kTrace && !options_.external_sweeps) engine_.maybeSweep(now);
  PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
  uint16_t zone = 0;
  if (options_.zone == ZoneMode::kVlan && pi.vlan_count > 0) zone = pi.vlan_ids[0];
  if (options_.zone == ZoneMode::kMap) {
    zone = options_.zone_map.zoneOf(pi.vlan_count > 0, pi.vlan_count > 0 ? pi.vlan_ids[0] : 0);
  }
  ++sum.packets;
  ++outcome_counts_[size_t(pi.outcome)];
  {
    TimelineBucket& b = bucketAt(rec.ts_ns);
    ++b.packets;
    b.bytes += rec.wirelen;
  }
  if (!options_.fast_paths.empty()) {
    FastPathVerdict fv = offerToFastPaths(options_.fast_paths, rec, zone);
    if (fv != FastPathVerdict::kMiss) ++bucketAt(rec.ts_ns).fast_path_hits;
    if (fv == FastPathVerdict::kConsumed) {
      ++sum.fast_path_consumed;
      Verdict hw;
      hw.fast_path = true;
      if (on_packet) on_packet(rec, hw);
      return;
    }
    if (fv == FastPathVerdict::kUp) ++sum.fast_path_up;
  }
  PacketMeta meta;
  meta.packet = rec.index;
  Verdict v = engine_.execute(rec.linktype, rec.data, rec.caplen, now, zone, options_.commit, meta);
  ++state_counts_[v.state];
  if (v.state & kCsInvalid) ++invalid_counts_[size_t(v.invalid)];
  if (v.created && v.conn != nullptr && !options_.fast_paths.empty()) {
    first_packet_ns_[v.conn->key()] = rec.ts_ns;
  }
  if (lifecycles_ && !v.held) {
    if (v.conn != nullptr && !(v.state & kCsRelated)) {
      lifecycles_->onSoftwarePacket(v, nullptr, options_.commit, rec.index);
    } else {
      // Rare: a packet without a connection of its own; its key names the flow.
      NetView nv = netView(rec.linktype, rec.data, rec.caplen);
      CtPacket pkt;
      bool have = nv.has_l3 && extractCtPacket(nv.version, nv.l3, nv.l3_size, zone, &pkt);
      lifecycles_->onSoftwarePacket(v, have ? &pkt.key : nullptr, options_.commit, rec.index);
    }
  }
  if (v.held) ++sum.held_fragments;
  if (v.reassembled) ++sum.reassembled;
  if (on_packet) on_packet(rec, v);
}

int64_t Replayer::observeTime(int64_t ts_ns) {
  cur_ns_ = ts_ns;
  if (options_.clock == ClockMode::kFrozen) {
    if (!have_frozen_) {
      frozen_now_ = traceTimeMs(ts_ns);
      frozen_ns_ = ts_ns;
      have_frozen_ = true;
    }
    now_ = frozen_now_;
    return frozen_ns_;
  }
  now_ = traceTimeMs(ts_ns);
  return ts_ns;
}

void Replayer::sweepAt(uint64_t packet, int64_t ts_ns) {
  observeTime(ts_ns);
  if (options_.hooks != nullptr) options_.hooks->onPacketStart(packet, now_);
  engine_.sweep(now_);
}

ReplaySummary Replayer::finish(const TraceEnd& end) {
  ReplaySummary& sum = sum_;
  for (size_t i = 0; i < outcome_counts_.size(); ++i) {
    if (outcome_counts_[i] != 0) {
      sum.by_outcome[std::string(outcomeName(Outcome(i)))] += outcome_counts_[i];
    }
  }
  for (size_t i = 0; i < state_counts_.size(); ++i) {
    if (state_counts_[i] != 0) sum.by_ct_state[formatCtState(uint8_t(i))] += state_counts_[i];
  }
  for (size_t i = 0; i < invalid_counts_.size(); ++i) {
    if (invalid_counts_[i] != 0) {
      sum.invalid_by_reason[invalidReasonName(InvalidReason(i))] += invalid_counts_[i];
    }
  }
  sum.trace_error = end.error;
  sum.trace_error_record = end.at_record;
  sum.trace_error_reason = end.reason;
  for (const Conn* c : engine_.connections()) {
    ++sum.conns[protoName(c->key().af, c->key().proto)][connStateName(c->ext.state)];
    if (c->expired(now_)) ++sum.conns_expired_at_end;
  }
  sum.engine = engine_.stats();
  sum.ipf = engine_.ipf().stats();
  if (options_.hooks != nullptr) options_.hooks->onTraceEnd();
  if (lifecycles_) lifecycles_->onTraceEnd();
  if (options_.flush_at_end) sum.flushed_at_end = engine_.flushAll();
  return sum;
}

}  // namespace ctsim::ct

namespace ctsim {
namespace {

uint16_t load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void store16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// RFC 1624 incremental update of the checksum at `field` for `n` bytes (even) changed from
// `before` to `after`. `udp`: a result of 0 is sent as 0xffff.
void adjustChecksum(uint8_t* field, const uint8_t* before, const uint8_t* after, size_t n,
                    bool udp) {
  uint32_t sum = uint16_t(~load16(field));
  for (size_t i = 0; i + 1 < n; i += 2) {
    sum += uint16_t(~load16(before + i));
    sum += load16(after + i);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t v = uint16_t(~sum);
  if (udp && v == 0) v = 0xffff;
  store16(field, v);
}

}  // namespace

namespace {

// Adds `offset` to the addresses of the IP header at `l3` (`size` bytes of it captured): IPv4
// + offset << 16 (the second octet, carrying into the first), IPv6 + offset in the second
// group. Fixes the IPv4 header checksum and the L4 checksum that covers the addresses (TCP,
// UDP, ICMPv6); in an ICMP or ICMPv6 error also the quoted packet, so that the error still
// relates to the offset connection (and the error's own checksum). `depth` bounds the
// recursion to one quoted packet.
void offsetIp(uint8_t version, uint8_t* l3, uint32_t size, uint16_t offset, int depth) {
  uint8_t before[32], after[32];
  uint32_t addr_off, addr_len, l4_off = 0;
  uint8_t proto = 0;
  bool l4 = false;
  if (version == 4) {
    if (size < 20) return;
    addr_off = 12;
    addr_len = 8;
    uint32_t ihl = uint32_t(l3[0] & 0x0f) * 4;
    bool first = (load16(l3 + 6) & 0x1fff) == 0;
    proto = l3[9];
    l4 = first && ihl >= 20;
    l4_off = ihl;
  } else {
    if (size < 40) return;
    addr_off = 8;
    addr_len = 32;
    uint32_t off = 0;
    int32_t frag_hdr = -1;
    bool fragment = false;
    proto = l3[6];  // the walk starts after the fixed header, at its next-header value.
    l4 = ct::walkIpv6Ext(l3 + 40, size - 40, &proto, &off, &frag_hdr, &fragment);
    l4_off = 40 + off;
  }
  std::copy(l3 + addr_off, l3 + addr_off + addr_len, before);
  for (uint32_t a = 0; a < addr_len; a += (version == 4 ? 4 : 16)) {
    uint8_t* p = l3 + addr_off + a;
    if (version == 4) {
      uint32_t v = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
      v += uint32_t(offset) << 16;
      p[0] = uint8_t(v >> 24);
      p[1] = uint8_t(v >> 16);
    } else {
      store16(p + 2, uint16_t(load16(p + 2) + offset));
    }
  }
  std::copy(l3 + addr_off, l3 + addr_off + addr_len, after);
  if (version == 4) adjustChecksum(l3 + 10, before, after, addr_len, false);
  if (!l4) return;
  bool icmp = (proto == kProtoIcmp && version == 4) || (proto == kProtoIcmpv6 && version == 6);
  if (icmp && depth == 0 && l4_off + 8 < size) {
    uint8_t type = l3[l4_off];
    bool error = version == 4 ? (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
                              : (type >= 1 && type <= 4);
    if (error) {
      // The quoted packet: its addresses (and header checksum) change; the error's checksum
      // covers those bytes, so it is adjusted by the difference too.
      uint8_t* inner = l3 + l4_off + 8;
      uint32_t inner_size = size - l4_off - 8;
      uint32_t span = inner_size & ~1u;  // every byte the rewrite may touch, in 16-bit words.
      std::vector<uint8_t> was(inner, inner + span);
      offsetIp(version, inner, inner_size, offset, depth + 1);
      if (l4_off + 4 <= size) adjustChecksum(l3 + l4_off + 2, was.data(), inner, span, false);
    }
  }
  uint32_t field = 0;
  bool udp = false;
  if (proto == kProtoTcp) {
    field = 16;
  } else if (proto == kProtoUdp) {
    field = 6;
    udp = true;
  } else if (proto == kProtoIcmpv6 && version == 6) {
    field = 2;
  } else {
    return;  // ICMPv4's checksum does not cover the addresses; others: none known.
  }
  if (l4_off + field + 2 > size) return;
  uint8_t* cs = l3 + l4_off + field;
  if (udp && version == 4 && load16(cs) == 0) return;  // no checksum.
  adjustChecksum(cs, before, after, addr_len, udp);
}

}  // namespace

void offsetAddresses(uint32_t linktype, uint8_t* frame, uint32_t caplen, uint16_t offset) {
  if (offset == 0) return;
  ct::NetView nv = ct::netView(linktype, frame, caplen);
  if (!nv.has_l3) return;
  offsetIp(nv.version, frame + (nv.l3 - frame), nv.l3_size, offset, 0);
}

Result<std::unique_ptr<TraceSource>> TraceSource::open(const Options& options) {
  if (options.paths.empty()) return Status(EINVAL, "no capture given");
  std::unique_ptr<TraceSource> s(new TraceSource(options));
  if (s->options_.loops == 0) s->options_.loops = 1;
  s->per_file_.assign(options.paths.size(), 0);
  Status st = s->openAll();
  if (!st.ok()) return st;
  return s;
}

Status TraceSource::openAll() {
  readers_.clear();
  heads_.assign(options_.paths.size(), TraceRecord());
  live_.assign(options_.paths.size(), false);
  for (const std::string& p : options_.paths) {
    auto r = TraceReader::open(p);
    if (!r.ok()) return Status(r.status().code(), p + ": " + r.status().message());
    readers_.push_back(std::move(r).value());
  }
  for (size_t i = 0; i < readers_.size(); ++i) live_[i] = pull(i);
  current_ = 0;
  // A later loop starts 1 ms after the previous one ended.
  if (any_) {
    int64_t first = INT64_MAX;
    for (size_t i = 0; i < readers_.size(); ++i) {
      if (live_[i] && (!options_.concat || i == 0)) first = std::min(first, heads_[i].ts_ns);
    }
    if (first != INT64_MAX) shift_ns_ = last_ns_ + 1000000 - first;
  }
  return Status();
}

bool TraceSource::pull(size_t i) {
  if (readers_[i]->next(heads_[i])) return true;
  const TraceEnd& e = readers_[i]->end();
  if (e.error && !end_.error) {
    end_ = e;
    end_.at_record = index_ + 1;
    end_.reason = options_.paths[i] + ": record " + std::to_string(e.at_record) + ": " + e.reason;
  }
  return false;
}

bool TraceSource::next(TraceRecord& rec) {
  // The previous record's reader advances only now: its data stayed valid until this call.
  if (pending_ != SIZE_MAX) {
    live_[pending_] = pull(pending_);
    pending_ = SIZE_MAX;
  }
  for (;;) {
    size_t pick = SIZE_MAX;
    if (options_.concat) {
      while (current_ < readers_.size() && !live_[current_]) {
        ++current_;
        // The next file starts 1 ms after the previous one ended.
        if (current_ < readers_.size() && live_[current_] && any_) {
          shift_ns_ = last_ns_ + 1000000 - heads_[current_].ts_ns;
        }
      }
      if (current_ < readers_.size()) pick = current_;
    } else {
      for (size_t i = 0; i < readers_.size(); ++i) {
        if (live_[i] && (pick == SIZE_MAX || heads_[i].ts_ns < heads_[pick].ts_ns)) pick = i;
      }
    }
    if (pick == SIZE_MAX) {
      if (loop_ + 1 >= options_.loops || end_.error) return false;
      ++loop_;
      if (!openAll().ok()) return false;
      continue;
    }
    rec = heads_[pick];
    rec.ts_ns += shift_ns_;
    if (loop_ > 0) {
      frame_.assign(rec.data, rec.data + rec.caplen);
      offsetAddresses(rec.linktype, frame_.data(), rec.caplen, uint16_t(loop_));
      rec.data = frame_.data();
    }
    rec.index = ++index_;
    last_ns_ = rec.ts_ns;
    any_ = true;
    ++per_file_[pick];
    pending_ = pick;
    return true;
  }
}

void Pacer::waitFor(uint64_t n, int64_t ts_ns) {
  if (!paced()) return;
  Clock::time_point now = Clock::now();
  if (!started_) {
    started_ = true;
    wall0_ = now;
    ts0_ = ts_ns;
    return;
  }
  double due_s = pps_ > 0 ? double(n) / pps_ : double(ts_ns - ts0_) / 1e9 / speed_;
  if (due_s < 0) return;
  Clock::time_point due =
      wall0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(due_s));
  if (due - now > std::chrono::microseconds(100)) std::this_thread::sleep_until(due);
}

}  // namespace ctsim
