#include "sim/parser.h"

#include "sim/checksum.h"

namespace ctsim {
namespace {

inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr int kMaxVlanTags = 2;
constexpr int kMaxIpv6ExtHeaders = 16;

// One parse in progress. `cap` bounds every read; `end` is the end of the current IP datagram
// as its header declares it and `capend` = min(end, cap).
struct Parse {
  PacketInfo& pi;
  const uint8_t* d;
  uint32_t cap;
  uint32_t wire;
  const ParseOptions& opt;

  void truncated(Layer l) {
    pi.outcome = Outcome::kTruncated;
    pi.truncated_at = l;
  }
  void malformed(Malformation m) {
    pi.outcome = Outcome::kMalformed;
    pi.malformation = m;
  }
  // A header of `need` bytes at `off` inside a datagram ending at `end`: missing from the
  // datagram is malformed (`why`), missing from the capture is truncated (`layer`).
  bool require(uint32_t off, uint32_t need, uint32_t end, Layer layer, Malformation why) {
    if (off + need > end) {
      malformed(why);
      return false;
    }
    if (off + need > cap) {
      truncated(layer);
      return false;
    }
    return true;
  }

  void linkLayer();
  void etherType(uint16_t et, uint32_t off);
  void ip(uint32_t off, uint8_t expect_version);
  void ipv4(uint32_t off);
  void ipv6(uint32_t off);
  void l4(uint8_t proto, uint32_t off, uint32_t end);
  void tcpOptions(uint32_t off, uint32_t len);
  bool icmpInner(uint32_t off, uint32_t end);
  void l4Checksum(uint32_t off, uint32_t end);
};

void Parse::linkLayer() {
  switch (pi.linktype) {
    case kLinkEthernet:
      if (cap < 14) return truncated(Layer::kLink);
      return etherType(rd16(d + 12), 14);
    case kLinkLinuxSll:
      if (cap < 16) return truncated(Layer::kLink);
      return etherType(rd16(d + 14), 16);
    case kLinkLinuxSll2:
      if (cap < 20) return truncated(Layer::kLink);
      return etherType(rd16(d), 20);
    case kLinkNull:
    case kLinkLoop: {
      if (cap < 4) return truncated(Layer::kLink);
      uint32_t be = rd32(d);
      uint32_t le =
          uint32_t(d[0]) | (uint32_t(d[1]) << 8) | (uint32_t(d[2]) << 16) | (uint32_t(d[3]) << 24);
      auto family = [](uint32_t af) -> uint16_t {
        if (af == 2) return kEtherIpv4;
        if (af == 10 || af == 24 || af == 28 || af == 30) return kEtherIpv6;  // Linux, BSDs.
        return 0;
      };
      uint16_t et = family(be);
      if (et == 0 && pi.linktype == kLinkNull) et = family(le);
      if (et == 0) {
        pi.outcome = Outcome::kNotIp;
        return;
      }
      return etherType(et, 4);
    }
    case kLinkPpp: {
      uint32_t off = 0;
      if (cap >= 2 && d[0] == 0xff && d[1] == 0x03) off = 2;  // HDLC address and control.
      if (cap < off + 1) return truncated(Layer::kLink);
      uint16_t proto;
      if (d[off] & 1) {  // protocol field compressed to one byte.
        proto = d[off];
        off += 1;
      } else {
        if (cap < off + 2) return truncated(Layer::kLink);
        proto = rd16(d + off);
        off += 2;
      }
      pi.ethertype = proto;
      if (proto == 0x0021) return ip(off, 4);
      if (proto == 0x0057) return ip(off, 6);
      pi.outcome = Outcome::kNotIp;
      return;
    }
    case kLinkRaw:
    case kLinkRawOpenBsd:
      if (cap < 1) return truncated(Layer::kLink);
      return ip(0, 0);
    case kLinkIpv4:
      return ip(0, 4);
    case kLinkIpv6:
      return ip(0, 6);
    default:
      pi.outcome = Outcome::kUnsupportedLink;
      return;
  }
}

void Parse::etherType(uint16_t et, uint32_t off) {
  while (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
    if (pi.vlan_count == kMaxVlanTags) break;  // a third tag: not looked below, as OVS.
    if (cap < off + 4) return truncated(Layer::kVlan);
    pi.vlan_ids[pi.vlan_count++] = rd16(d + off) & 0x0fff;
    et = rd16(d + off + 2);
    off += 4;
  }
  pi.ethertype = et;
  if (et == kEtherIpv4) return ip(off, 4);
  if (et == kEtherIpv6) return ip(off, 6);
  pi.outcome = Outcome::kNotIp;
}

void Parse::ip(uint32_t off, uint8_t expect_version) {
  pi.l3_offset = uint16_t(off);
  if (cap < off + 1) return truncated(expect_version == 6 ? Layer::kIpv6 : Layer::kIpv4);
  uint8_t version = d[off] >> 4;
  if (expect_version == 0) expect_version = version;
  if (version != expect_version || (version != 4 && version != 6)) {
    return malformed(Malformation::kIpVersion);
  }
  if (version == 4) return ipv4(off);
  return ipv6(off);
}

void Parse::ipv4(uint32_t off) {
  if (cap < off + 20) return truncated(Layer::kIpv4);
  const uint8_t* h = d + off;
  uint32_t ihl = (h[0] & 0x0f) * 4u;
  if (ihl < 20) return malformed(Malformation::kIpv4HeaderLength);
  if (cap < off + ihl) return truncated(Layer::kIpv4);
  pi.ip_version = 4;
  pi.ipv4_options_len = uint16_t(ihl - 20);
  pi.ttl = h[8];
  pi.proto = h[9];
  std::memcpy(pi.src.bytes, h + 12, 4);
  std::memcpy(pi.dst.bytes, h + 16, 4);
  uint16_t frag = rd16(h + 6);
  pi.frag_id = rd16(h + 4);
  pi.dont_fragment = frag & 0x4000;
  pi.more_fragments = frag & 0x2000;
  pi.frag_offset = uint16_t((frag & 0x1fff) * 8u);
  pi.is_fragment = pi.more_fragments || pi.frag_offset != 0;
  if (opt.verify_checksums) {
    pi.ip_csum =
        checksumFinish(checksumAdd(0, h, ihl)) == 0 ? ChecksumState::kGood : ChecksumState::kBad;
  }
  uint32_t tot = rd16(h + 2);
  uint32_t wire_avail = (wire > cap ? wire : cap) - off;
  if (tot < ihl || tot > wire_avail) return malformed(Malformation::kIpv4TotalLength);
  pi.ip_len = tot;
  if (pi.frag_offset + (tot - ihl) > 65535) return malformed(Malformation::kFragmentOffset);
  uint32_t end = off + tot;
  if (pi.frag_offset != 0) {  // a later fragment: no L4 header in it.
    pi.l4_offset = uint16_t(off + ihl);
    pi.l4_len = tot - ihl;
    if (cap < end) truncated(Layer::kPayload);
    return;
  }
  l4(pi.proto, off + ihl, end);
}

void Parse::ipv6(uint32_t off) {
  if (cap < off + 40) return truncated(Layer::kIpv6);
  const uint8_t* h = d + off;
  pi.ip_version = 6;
  pi.ttl = h[7];
  std::memcpy(pi.src.bytes, h + 8, 16);
  std::memcpy(pi.dst.bytes, h + 24, 16);
  uint32_t plen = rd16(h + 4);
  uint32_t wire_avail = (wire > cap ? wire : cap) - off;
  if (40 + plen > wire_avail) return malformed(Malformation::kIpv6PayloadLength);
  pi.ip_len = 40 + plen;
  uint32_t end = off + 40 + plen;
  uint8_t nh = h[6];
  uint32_t cur = off + 40;
  for (int n = 0;; ++n) {
    if (n > kMaxIpv6ExtHeaders) return malformed(Malformation::kIpv6ExtChain);
    uint32_t len = 0;
    uint8_t bit = 0;
    switch (nh) {
      case kProtoHopOpts:
        bit = kExtHopByHop;
        break;
      case kProtoRouting:
        bit = kExtRouting;
        break;
      case kProtoDstOpts:
        bit = kExtDestOpts;
        break;
      case kProtoAh:
        bit = kExtAh;
        break;
      case kProtoFragment:
        bit = kExtFragment;
        break;
      case kProtoEsp:
        pi.ipv6_ext_seen |= kExtEsp;
        break;
      case kProtoNoNext:
        pi.ipv6_ext_seen |= kExtNoNext;
        break;
      default:
        break;
    }
    if (bit == 0) break;  // an upper-layer protocol, ESP or no-next-header ends the chain.
    if (!require(cur, bit == kExtFragment ? 8 : 2, end, Layer::kIpv6Ext,
                 Malformation::kIpv6ExtChain)) {
      return;
    }
    if (bit == kExtFragment) {
      len = 8;
    } else if (bit == kExtAh) {
      len = (d[cur + 1] + 2u) * 4u;
    } else {
      len = (d[cur + 1] + 1u) * 8u;
    }
    if (!require(cur, len, end, Layer::kIpv6Ext, Malformation::kIpv6ExtChain)) return;
    pi.ipv6_ext_seen |= bit;
    uint8_t next = d[cur];
    if (bit == kExtFragment) {
      uint16_t offlg = rd16(d + cur + 2);
      pi.frag_offset = offlg & 0xfff8;
      pi.more_fragments = offlg & 1;
      pi.frag_id = rd32(d + cur + 4);
      pi.is_fragment = true;
      if (pi.frag_offset + (end - cur - 8) > 65535) {
        return malformed(Malformation::kFragmentOffset);
      }
      if (pi.frag_offset != 0) {  // a later fragment: no L4 header in it.
        pi.proto = next;
        pi.l4_offset = uint16_t(cur + 8);
        pi.l4_len = end - cur - 8;
        if (cap < end) truncated(Layer::kPayload);
        return;
      }
    }
    nh = next;
    cur += len;
  }
  pi.proto = nh;
  l4(nh, cur, end);
}

void Parse::l4(uint8_t proto, uint32_t off, uint32_t end) {
  pi.proto = proto;
  pi.l4_offset = uint16_t(off);
  pi.l4_len = end - off;
  const uint8_t* h = d + off;
  switch (proto) {
    case kProtoTcp: {
      if (!require(off, 20, end, Layer::kTcp, Malformation::kL4TooShort)) return;
      pi.sport = rd16(h);
      pi.dport = rd16(h + 2);
      pi.tcp_seq = rd32(h + 4);
      pi.tcp_ack = rd32(h + 8);
      pi.tcp_flags = h[13];
      pi.tcp_window = rd16(h + 14);
      uint32_t doff = (h[12] >> 4) * 4u;
      pi.tcp_hdr_len = uint8_t(doff);
      if (doff < 20 || doff > pi.l4_len) return malformed(Malformation::kTcpDataOffset);
      if (cap < off + doff) return truncated(Layer::kTcp);
      tcpOptions(off + 20, doff - 20);
      pi.has_l4 = true;
      pi.payload_len = pi.l4_len - doff;
      break;
    }
    case kProtoUdp: {
      if (!require(off, 8, end, Layer::kUdp, Malformation::kL4TooShort)) return;
      pi.sport = rd16(h);
      pi.dport = rd16(h + 2);
      uint32_t ulen = rd16(h + 4);
      // A first fragment carries the length of the whole datagram.
      if (!pi.is_fragment && (ulen < 8 || ulen > pi.l4_len)) {
        return malformed(Malformation::kUdpLength);
      }
      pi.has_l4 = true;
      pi.payload_len = pi.l4_len - 8;
      break;
    }
    case kProtoSctp:
      if (!require(off, 12, end, Layer::kSctp, Malformation::kL4TooShort)) return;
      pi.sport = rd16(h);
      pi.dport = rd16(h + 2);
      pi.sctp_vtag = rd32(h + 4);
      pi.has_l4 = true;
      pi.payload_len = pi.l4_len - 12;
      break;
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if ((proto == kProtoIcmp) != (pi.ip_version == 4)) {  // ICMP over IPv6 or the reverse.
        pi.payload_len = pi.l4_len;
        break;
      }
      if (!require(off, 8, end, Layer::kIcmp, Malformation::kL4TooShort)) return;
      pi.icmp_type = h[0];
      pi.icmp_code = h[1];
      uint8_t t = h[0];
      bool error, echo_like;
      if (proto == kProtoIcmp) {
        error = t == 3 || t == 4 || t == 5 || t == 11 || t == 12;
        echo_like = t == 0 || t == 8 || (t >= 13 && t <= 18);
      } else {
        error = t >= 1 && t <= 4;
        echo_like = t == 128 || t == 129;
      }
      if (echo_like) pi.icmp_id = rd16(h + 4);
      pi.has_l4 = true;
      pi.payload_len = pi.l4_len - 8;
      if (error && !pi.is_fragment) {
        pi.icmp_is_error = true;
        if (!icmpInner(off + 8, end)) return;
      }
      break;
    }
    default:
      pi.payload_len = pi.l4_len;  // GRE, ESP and the rest: addresses and protocol only.
      break;
  }
  if (opt.verify_checksums) l4Checksum(off, end);
  if (cap < end) truncated(Layer::kPayload);
}

void Parse::tcpOptions(uint32_t off, uint32_t len) {
  const uint8_t* o = d + off;
  uint32_t i = 0;
  while (i < len) {
    uint8_t kind = o[i];
    if (kind == 0) break;  // end of options.
    if (kind == 1) {       // no-op.
      ++i;
      continue;
    }
    if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len) {
      pi.tcp_opts_bad = true;
      break;
    }
    uint8_t olen = o[i + 1];
    const uint8_t* v = o + i + 2;
    if (kind == 2 && olen == 4) {
      pi.tcp_has_mss = true;
      pi.tcp_mss = rd16(v);
    } else if (kind == 3 && olen == 3) {
      pi.tcp_has_wscale = true;
      pi.tcp_wscale = v[0];
    } else if (kind == 4 && olen == 2) {
      pi.tcp_sack_permitted = true;
    } else if (kind == 8 && olen == 10) {
      pi.tcp_has_timestamps = true;
      pi.tcp_tsval = rd32(v);
      pi.tcp_tsecr = rd32(v + 4);
    }
    i += olen;
  }
}

bool Parse::icmpInner(uint32_t off, uint32_t end) {
  InnerTuple& in = pi.inner;
  auto need = [&](uint32_t n) {
    return require(off, n, end, Layer::kIcmpInner, Malformation::kIcmpInner);
  };
  if (!need(1)) return false;
  uint8_t version = d[off] >> 4;
  if (version != pi.ip_version) {
    malformed(Malformation::kIcmpInner);
    return false;
  }
  uint32_t l4off;
  if (version == 4) {
    if (!need(20)) return false;
    uint32_t ihl = (d[off] & 0x0f) * 4u;
    if (ihl < 20) {
      malformed(Malformation::kIcmpInner);
      return false;
    }
    if ((rd16(d + off + 6) & 0x1fff) != 0) {  // the quote of a later fragment has no ports.
      malformed(Malformation::kIcmpInner);
      return false;
    }
    in.proto = d[off + 9];
    std::memcpy(in.src.bytes, d + off + 12, 4);
    std::memcpy(in.dst.bytes, d + off + 16, 4);
    l4off = off + ihl;
  } else {
    if (!need(40)) return false;
    std::memcpy(in.src.bytes, d + off + 8, 16);
    std::memcpy(in.dst.bytes, d + off + 24, 16);
    uint8_t nh = d[off + 6];
    l4off = off + 40;
    for (int n = 0; nh == kProtoHopOpts || nh == kProtoRouting || nh == kProtoDstOpts; ++n) {
      if (n > kMaxIpv6ExtHeaders ||
          !require(l4off, 2, end, Layer::kIcmpInner, Malformation::kIcmpInner)) {
        if (n > kMaxIpv6ExtHeaders) malformed(Malformation::kIcmpInner);
        return false;
      }
      uint32_t len = (d[l4off + 1] + 1u) * 8u;
      nh = d[l4off];
      l4off += len;
    }
    in.proto = nh;
  }
  if (!require(l4off, 8, end, Layer::kIcmpInner, Malformation::kIcmpInner)) return false;
  const uint8_t* l4 = d + l4off;
  if (in.proto == kProtoIcmp || in.proto == kProtoIcmpv6) {
    in.icmp_type = l4[0];
    in.icmp_code = l4[1];
    in.icmp_id = rd16(l4 + 4);
  } else {
    in.sport = rd16(l4);
    in.dport = rd16(l4 + 2);
  }
  in.ip_version = version;
  return true;
}

void Parse::l4Checksum(uint32_t off, uint32_t end) {
  uint8_t proto = pi.proto;
  bool icmp4 = proto == kProtoIcmp && pi.ip_version == 4;
  bool icmp6 = proto == kProtoIcmpv6 && pi.ip_version == 6;
  if (proto != kProtoTcp && proto != kProtoUdp && !icmp4 && !icmp6) return;
  if (pi.is_fragment || cap < end) {
    pi.l4_csum = ChecksumState::kUnverifiable;
    return;
  }
  uint32_t len = end - off;
  if (proto == kProtoUdp && rd16(d + off + 6) == 0) return;  // no checksum sent.
  uint32_t sum = icmp4 ? 0 : pseudoHeaderSum(pi.ip_version, pi.src, pi.dst, proto, len);
  sum = checksumAdd(sum, d + off, len);
  pi.l4_csum = checksumFinish(sum) == 0 ? ChecksumState::kGood : ChecksumState::kBad;
}

}  // namespace

bool isSupportedLinkType(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
    case kLinkEthernet:
    case kLinkPpp:
    case kLinkRaw:
    case kLinkRawOpenBsd:
    case kLinkLoop:
    case kLinkLinuxSll:
    case kLinkIpv4:
    case kLinkIpv6:
    case kLinkLinuxSll2:
      return true;
    default:
      return false;
  }
}

std::string linkTypeName(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
      return "NULL";
    case kLinkEthernet:
      return "EN10MB";
    case kLinkPpp:
      return "PPP";
    case kLinkRaw:
    case kLinkRawOpenBsd:
      return "RAW";
    case kLinkLoop:
      return "LOOP";
    case kLinkLinuxSll:
      return "LINUX_SLL";
    case kLinkIpv4:
      return "IPV4";
    case kLinkIpv6:
      return "IPV6";
    case kLinkLinuxSll2:
      return "LINUX_SLL2";
    default:
      return "DLT_" + std::to_string(linktype);
  }
}

PacketInfo parsePacket(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                       const ParseOptions& options) {
  PacketInfo pi;
  pi.linktype = linktype;
  pi.data = data;
  pi.caplen = caplen;
  pi.wirelen = wirelen;
  Parse p{pi, data, caplen, wirelen, options};
  p.linkLayer();
  return pi;
}

}  // namespace ctsim
