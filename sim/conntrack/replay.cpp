#include "sim/conntrack/replay.h"

#include "sim/parser.h"

namespace ctsim::ct {

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

Result<ReplaySummary> Replayer::run(
    const std::string& path,
    const std::function<void(const TraceRecord&, const Verdict&)>& on_packet) {
  auto opened = TraceReader::open(path);
  if (!opened.ok()) return opened.status();
  TraceReader& reader = *opened.value();
  ReplaySummary sum;
  TraceRecord rec;
  bool have_frozen = false;
  int64_t frozen_now = 0;
  int64_t now = 0;
  while (reader.next(rec)) {
    int64_t ts = traceTimeMs(rec.ts_ns);
    if (options_.clock == ClockMode::kFrozen) {
      if (!have_frozen) {
        frozen_now = ts;
        have_frozen = true;
      }
      now = frozen_now;
    } else {
      now = ts;
    }
    if (options_.hooks != nullptr) options_.hooks->onPacketStart(rec.index, now);
    if (options_.clock == ClockMode::kTrace) engine_.maybeSweep(now);
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
    uint16_t zone = 0;
    if (options_.zone == ZoneMode::kVlan && pi.vlan_count > 0) zone = pi.vlan_ids[0];
    PacketMeta meta;
    meta.packet = rec.index;
    Verdict v =
        engine_.execute(rec.linktype, rec.data, rec.caplen, now, zone, options_.commit, meta);
    ++sum.packets;
    ++sum.by_ct_state[formatCtState(v.state)];
    ++sum.by_outcome[std::string(outcomeName(pi.outcome))];
    if (v.held) ++sum.held_fragments;
    if (v.reassembled) ++sum.reassembled;
    if (on_packet) on_packet(rec, v);
  }
  const TraceEnd& end = reader.end();
  sum.trace_error = end.error;
  sum.trace_error_record = end.at_record;
  sum.trace_error_reason = end.reason;
  for (const Conn* c : engine_.connections()) {
    ++sum.conns[protoName(c->key().af, c->key().proto)][connStateName(c->ext.state)];
    if (c->expired(now)) ++sum.conns_expired_at_end;
  }
  sum.engine = engine_.stats();
  sum.ipf = engine_.ipf().stats();
  if (options_.hooks != nullptr) options_.hooks->onTraceEnd();
  if (options_.flush_at_end) sum.flushed_at_end = engine_.flushAll();
  return sum;
}

}  // namespace ctsim::ct
