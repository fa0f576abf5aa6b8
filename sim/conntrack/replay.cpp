#include "sim/conntrack/replay.h"

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
    FastPathVerdict v = fp->process(pkt.key, rec.wirelen, flags);
    if (v != FastPathVerdict::kMiss) return v;
  }
  return FastPathVerdict::kMiss;
}

}  // namespace

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

Replayer::Replayer(ReplayOptions options) : options_(options), engine_(options.engine) {
  engine_.setHooks(options_.hooks);
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
  have_frozen_ = false;
  frozen_now_ = frozen_ns_ = now_ = 0;
}

void Replayer::process(const TraceRecord& rec, const PacketFn& on_packet) {
  ReplaySummary& sum = sum_;
  int64_t now_ns;
  if (options_.clock == ClockMode::kFrozen) {
    if (!have_frozen_) {
      frozen_now_ = traceTimeMs(rec.ts_ns);
      frozen_ns_ = rec.ts_ns;
      have_frozen_ = true;
    }
    now_ = frozen_now_;
    now_ns = frozen_ns_;
  } else {
    now_ = traceTimeMs(rec.ts_ns);
    now_ns = rec.ts_ns;
  }
  int64_t now = now_;
  // Fast paths first learn the time (completions, hardware aging), so that a sweep's
  // conn_update sees the hardware as it is at `now`.
  for (FastPath* fp : options_.fast_paths) fp->setNow(now_ns);
  if (options_.hooks != nullptr) options_.hooks->onPacketStart(rec.index, now);
  if (options_.clock == ClockMode::kTrace) engine_.maybeSweep(now);
  PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
  uint16_t zone = 0;
  if (options_.zone == ZoneMode::kVlan && pi.vlan_count > 0) zone = pi.vlan_ids[0];
  ++sum.packets;
  ++sum.by_outcome[std::string(outcomeName(pi.outcome))];
  if (!options_.fast_paths.empty()) {
    FastPathVerdict fv = offerToFastPaths(options_.fast_paths, rec, zone);
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
  ++sum.by_ct_state[formatCtState(v.state)];
  if (v.created && v.conn != nullptr && !options_.fast_paths.empty()) {
    first_packet_ns_[v.conn->key()] = rec.ts_ns;
  }
  if (v.held) ++sum.held_fragments;
  if (v.reassembled) ++sum.reassembled;
  if (on_packet) on_packet(rec, v);
}

ReplaySummary Replayer::finish(const TraceEnd& end) {
  ReplaySummary& sum = sum_;
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
  if (options_.flush_at_end) sum.flushed_at_end = engine_.flushAll();
  return sum;
}

}  // namespace ctsim::ct
