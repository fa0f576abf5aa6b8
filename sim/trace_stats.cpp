#include "sim/trace_stats.h"

#include <cstring>
#include <string_view>
#include <unordered_set>

namespace ctsim {
namespace {

// A flow with its two endpoints put in a canonical order, so both directions are one flow.
struct FlowKey {
  uint8_t bytes[40];
  bool operator==(const FlowKey& o) const { return std::memcmp(bytes, o.bytes, 40) == 0; }
};
struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(k.bytes), sizeof k.bytes));
  }
};

// Builds the folded key of a packet; false when the packet has no flow identity (non-IP, a later
// fragment, an L4 header that was not read).
bool foldedKey(const PacketInfo& pi, FlowKey& key) {
  if (pi.ip_version == 0 || (pi.is_fragment && pi.frag_offset != 0)) return false;
  uint32_t a_port = 0, b_port = 0;
  switch (pi.proto) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoSctp:
      if (!pi.has_l4) return false;
      a_port = pi.sport;
      b_port = pi.dport;
      break;
    case kProtoIcmp:
    case kProtoIcmpv6:
      if (!pi.has_l4) return false;
      // Echo-like messages fold by identifier; the rest by type.
      a_port = b_port = pi.icmp_id != 0 ? pi.icmp_id : 0x10000u | pi.icmp_type;
      break;
    default:
      break;
  }
  std::memset(key.bytes, 0, sizeof key.bytes);
  bool a_first =
      std::memcmp(pi.src.bytes, pi.dst.bytes, 16) < 0 || (pi.src == pi.dst && a_port <= b_port);
  const IpAddr& lo = a_first ? pi.src : pi.dst;
  const IpAddr& hi = a_first ? pi.dst : pi.src;
  uint32_t lo_port = a_first ? a_port : b_port;
  uint32_t hi_port = a_first ? b_port : a_port;
  std::memcpy(key.bytes, lo.bytes, 16);
  std::memcpy(key.bytes + 16, hi.bytes, 16);
  std::memcpy(key.bytes + 32, &lo_port, 3);
  std::memcpy(key.bytes + 35, &hi_port, 3);
  key.bytes[38] = pi.proto;
  key.bytes[39] = pi.ip_version;
  return true;
}

}  // namespace

std::string_view l4FamilyName(L4Family f) {
  switch (f) {
    case L4Family::kTcp:
      return "tcp";
    case L4Family::kUdp:
      return "udp";
    case L4Family::kIcmp:
      return "icmp";
    case L4Family::kOther:
      return "other";
  }
  return "?";
}

L4Family l4FamilyOf(const PacketInfo& pi) {
  switch (pi.proto) {
    case kProtoTcp:
      return L4Family::kTcp;
    case kProtoUdp:
      return L4Family::kUdp;
    case kProtoIcmp:
    case kProtoIcmpv6:
      return L4Family::kIcmp;
    default:
      return L4Family::kOther;
  }
}

Result<TraceStats> collectTraceStats(const std::string& path, const ParseOptions& options) {
  auto opened = TraceReader::open(path);
  if (!opened.ok()) return opened.status();
  TraceReader& reader = *opened.value();
  TraceStats st;
  st.path = path;
  st.format = reader.format();
  st.big_endian = reader.bigEndian();
  st.linktype = reader.linktype();
  st.snaplen = reader.snaplen();
  st.mixed_interfaces = reader.mixedInterfaces();
  std::array<std::unordered_set<FlowKey, FlowKeyHash>, kL4FamilyCount> flows;
  TraceRecord rec;
  while (reader.next(rec)) {
    if (st.records == 0) {
      st.first_ts_ns = st.min_ts_ns = st.max_ts_ns = rec.ts_ns;
    } else {
      if (rec.ts_ns < st.last_ts_ns) ++st.ts_backwards;
      st.min_ts_ns = std::min(st.min_ts_ns, rec.ts_ns);
      st.max_ts_ns = std::max(st.max_ts_ns, rec.ts_ns);
    }
    st.last_ts_ns = rec.ts_ns;
    ++st.records;
    st.captured_bytes += rec.caplen;
    st.wire_bytes += rec.wirelen;
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen, options);
    ++st.outcomes[size_t(pi.outcome)];
    if (pi.outcome == Outcome::kTruncated) ++st.truncated_at[size_t(pi.truncated_at)];
    if (pi.outcome == Outcome::kMalformed) ++st.malformed_why[size_t(pi.malformation)];
    if (pi.ip_version == 0) continue;
    ++(pi.ip_version == 4 ? st.ipv4 : st.ipv6);
    if (pi.is_fragment) ++st.fragments;
    if (pi.ip_csum == ChecksumState::kBad) ++st.ip_csum_bad;
    if (pi.l4_csum == ChecksumState::kBad) ++st.l4_csum_bad;
    L4Family fam = l4FamilyOf(pi);
    ++st.l4_packets[size_t(fam)];
    if (pi.proto == kProtoIcmpv6) ++st.icmpv6_packets;
    if (pi.proto == kProtoSctp) ++st.sctp_packets;
    FlowKey key;
    if (foldedKey(pi, key)) flows[size_t(fam)].insert(key);
  }
  for (int i = 0; i < kL4FamilyCount; ++i) st.flows[i] = flows[i].size();
  st.end = reader.end();
  return st;
}

}  // namespace ctsim
