#include "sim/conntrack/extract.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstring>

#include "sim/checksum.h"
#include "sim/parser.h"

namespace ctsim::ct {
namespace {

inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

constexpr int kMaxVlans = 2;             // OVS's default VLAN limit.
constexpr uint16_t kEthTypeMin = 0x600;  // below: an 802.3 length, maybe LLC/SNAP.

// The EtherType chain of an Ethernet-like header whose type field is `type` and whose payload
// starts at `payload`: up to two 802.1Q/802.1ad tags, then LLC/SNAP for 802.3 frames. Returns
// the final EtherType (0 when there is none) and moves `payload` past what it read.
uint16_t etherTypeChain(uint16_t type, const uint8_t* frame, uint32_t caplen, uint32_t* payload) {
  uint32_t off = *payload;
  for (int n = 0; (type == 0x8100 || type == 0x88a8) && n < kMaxVlans; ++n) {
    if (caplen < off || caplen - off < 4) break;  // OVS wants the tag and the next type.
    type = rd16(frame + off + 2);
    off += 4;
  }
  if (type < kEthTypeMin) {
    if (caplen < off || caplen - off < 8) return 0;
    const uint8_t* llc = frame + off;
    if (llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03 || llc[3] != 0 || llc[4] != 0 ||
        llc[5] != 0) {
      return 0;
    }
    type = rd16(llc + 6);
    off += 8;
    if (type < kEthTypeMin) return 0;
  }
  *payload = off;
  return type;
}

// The EtherType and L3 offset of a frame, as OVS sees it once its reader (or the conversion the
// oracle used) has made it Ethernet. Returns 0 when there is no L3.
uint16_t linkLayer(uint32_t linktype, const uint8_t* d, uint32_t caplen, uint32_t* l3off) {
  switch (linktype) {
    case kLinkEthernet:
      if (caplen < 14) return 0;
      *l3off = 14;
      return etherTypeChain(rd16(d + 12), d, caplen, l3off);
    case kLinkLinuxSll:
      if (caplen < 16) return 0;
      *l3off = 16;
      return etherTypeChain(rd16(d + 14), d, caplen, l3off);
    case kLinkLinuxSll2:
      if (caplen < 20) return 0;
      *l3off = 20;
      return etherTypeChain(rd16(d), d, caplen, l3off);
    case kLinkNull:
    case kLinkLoop: {
      if (caplen < 4) return 0;
      uint32_t be = rd32(d);
      uint32_t le =
          uint32_t(d[0]) | (uint32_t(d[1]) << 8) | (uint32_t(d[2]) << 16) | (uint32_t(d[3]) << 24);
      auto family = [](uint32_t af) -> uint16_t {
        if (af == 2) return kEthTypeIpv4;
        if (af == 10 || af == 24 || af == 28 || af == 30) return kEthTypeIpv6;
        return 0;
      };
      uint16_t et = family(be);
      if (et == 0 && linktype == kLinkNull) et = family(le);
      *l3off = 4;
      return et;
    }
    case kLinkRaw:
    case kLinkRawOpenBsd:
      if (caplen < 1) return 0;
      *l3off = 0;
      if ((d[0] >> 4) == 4) return kEthTypeIpv4;
      if ((d[0] >> 4) == 6) return kEthTypeIpv6;
      return 0;
    case kLinkIpv4:
      *l3off = 0;
      return kEthTypeIpv4;
    case kLinkIpv6:
      *l3off = 0;
      return kEthTypeIpv6;
    case kLinkPpp: {
      uint32_t off = 0;
      if (caplen >= 2 && d[0] == 0xff && d[1] == 0x03) off = 2;
      if (caplen < off + 1) return 0;
      uint16_t proto;
      if (d[off] & 1) {
        proto = d[off];
        off += 1;
      } else {
        if (caplen < off + 2) return 0;
        proto = rd16(d + off);
        off += 2;
      }
      *l3off = off;
      if (proto == 0x0021) return kEthTypeIpv4;
      if (proto == 0x0057) return kEthTypeIpv6;
      return 0;
    }
    default:
      return 0;
  }
}

IpAddr toIpAddr(const uint8_t bytes[16]) {
  IpAddr a;
  std::memcpy(a.bytes, bytes, 16);
  return a;
}

// A TCP/UDP/ICMPv6 checksum over `size` bytes of L4 with the pseudo-header of `key`.
bool pseudoChecksumOk(uint8_t version, const ConnKey& key, const uint8_t* l4, uint32_t size) {
  uint32_t sum = pseudoHeaderSum(version, toIpAddr(key.src), toIpAddr(key.dst), key.proto, size);
  return checksumFinish(checksumAdd(sum, l4, size)) == 0;
}

// Feeds bytes to a running CRC32c (Castagnoli, reflected), as SCTP uses it.
uint32_t crc32cUpdate(uint32_t crc, const uint8_t* p, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0x82f63b78u : 0u);
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

// The SCTP checksum of a packet of `size` >= 12 bytes (the field is little-endian on the wire).
bool sctpChecksumOk(const uint8_t* l4, uint32_t size) {
  uint32_t stored = uint32_t(l4[8]) | (uint32_t(l4[9]) << 8) | (uint32_t(l4[10]) << 16) |
                    (uint32_t(l4[11]) << 24);
  static const uint8_t kZero[4] = {0, 0, 0, 0};
  uint32_t crc = crc32cUpdate(0xffffffffu, l4, 8);
  crc = crc32cUpdate(crc, kZero, 4);
  crc = crc32cUpdate(crc, l4 + 12, size - 12);
  return (crc ^ 0xffffffffu) == stored;
}

// OVS's reading of the TCP window-scale option: 0x80 | min(shift, 14), or 0 without it.
uint8_t tcpWscale(const uint8_t* opt, int len) {
  uint8_t wscale = 0;
  while (len >= 3) {
    switch (opt[0]) {
      case 0:
        return wscale;
      case 1:
        ++opt;
        --len;
        break;
      case 3:
        wscale = uint8_t((opt[2] < 14 ? opt[2] : 14) | 0x80);
        [[fallthrough]];
      default: {
        int optlen = opt[1] < 2 ? 2 : opt[1];
        len -= optlen;
        opt += optlen;
      }
    }
  }
  return wscale;
}

// The IPv4 header of a datagram of `size` bytes: header length, or 0 when OVS's conntrack
// rejects it (short, bad IHL, a fragment, or a bad checksum when `check_csum`).
uint32_t ipv4Header(const uint8_t* ip, uint32_t size, bool check_csum) {
  if (size < 20) return 0;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < 20 || size < ihl) return 0;
  if (rd16(ip + 6) & 0x3fff) return 0;  // MF or a fragment offset.
  if (check_csum && checksumFinish(checksumAdd(0, ip, ihl)) != 0) return 0;
  return ihl;
}

// The IPv6 header and extension headers: offset of the upper layer, or 0 when rejected.
uint32_t ipv6Header(const uint8_t* ip, uint32_t size, uint8_t* proto) {
  if (size < 40) return 0;
  uint32_t off = 0;
  int32_t frag_hdr = -1;
  bool fragment = false;
  *proto = ip[6];
  if (!walkIpv6Ext(ip + 40, size - 40, proto, &off, &frag_hdr, &fragment) || fragment) return 0;
  return 40 + off;
}

bool isIcmpProto(uint8_t version, uint8_t proto) {
  return (version == 4 && proto == kProtoIcmp) || (version == 6 && proto == kProtoIcmpv6);
}

bool isEchoLike(uint8_t version, uint8_t type) {
  if (version == 6) return type == 128 || type == 129;
  return type == 0 || type == 8 || type == 13 || type == 14 || type == 15 || type == 16;
}

// The L4 part of the tuple quoted by an ICMP error (OVS extracts it without checksums and with
// a minimum of 8 bytes for IPv4 quotes, a full header for IPv6 quotes).
bool extractInnerL4(uint8_t version, ConnKey* key, const uint8_t* l4, uint32_t size) {
  uint32_t min_tcp = version == 4 ? 8 : 20;
  switch (key->proto) {
    case kProtoTcp:
      if (size < min_tcp) return false;
      key->ports.src = rd16(l4);
      key->ports.dst = rd16(l4 + 2);
      return key->ports.src != 0 && key->ports.dst != 0;
    case kProtoUdp:
    case kProtoSctp:
      if (size < 8) return false;
      key->ports.src = rd16(l4);
      key->ports.dst = rd16(l4 + 2);
      return key->ports.src != 0 && key->ports.dst != 0;
    default:
      break;
  }
  if (isIcmpProto(version, key->proto)) {
    if (size < 8) return false;
    if (!isEchoLike(version, l4[0]) || l4[1] != 0) return false;
    key->icmp.id = rd16(l4 + 4);
    key->icmp.type = l4[0];
    key->icmp.code = 0;
    return true;
  }
  return true;  // other protocols: no L4 fields in the key.
}

// An ICMP/ICMPv6 error: replaces the key by the quoted tuple, reversed.
bool extractIcmpError(uint8_t version, ConnKey* key, const uint8_t* quoted, uint32_t size) {
  ConnKey inner{};
  inner.af = key->af;
  inner.zone = key->zone;
  uint32_t l4off;
  if (version == 4) {
    l4off = ipv4Header(quoted, size, false);
    if (l4off == 0) return false;
    inner.proto = quoted[9];
    std::memcpy(inner.src, quoted + 12, 4);
    std::memcpy(inner.dst, quoted + 16, 4);
  } else {
    l4off = ipv6Header(quoted, size, &inner.proto);
    if (l4off == 0) return false;
    std::memcpy(inner.src, quoted + 8, 16);
    std::memcpy(inner.dst, quoted + 24, 16);
  }
  if (std::memcmp(inner.src, key->dst, 16) != 0) return false;  // must quote what was sent to us.
  if (!extractInnerL4(version, &inner, quoted + l4off, size - l4off)) return false;
  *key = reverseKey(inner);
  return true;
}

}  // namespace

bool walkIpv6Ext(const uint8_t* data, uint32_t size, uint8_t* proto, uint32_t* off,
                 int32_t* frag_hdr_off, bool* fragment) {
  uint32_t pos = 0;
  *frag_hdr_off = -1;
  *fragment = false;
  for (;;) {
    uint8_t p = *proto;
    if (p != kProtoHopOpts && p != kProtoRouting && p != kProtoDstOpts && p != kProtoAh &&
        p != kProtoFragment) {
      *off = pos;
      return true;
    }
    if (size - pos < 8) return false;
    const uint8_t* h = data + pos;
    if (p == kProtoFragment) {
      *frag_hdr_off = int32_t(pos);
      *proto = h[0];
      pos += 8;
      uint16_t offlg = rd16(h + 2);
      if (offlg != 0) {
        *fragment = true;
        if (offlg & 0xfff8) {  // a later fragment: nothing to parse after it.
          *proto = kProtoFragment;
          *off = pos;
          return true;
        }
      }
      continue;
    }
    uint32_t len = p == kProtoAh ? (h[1] + 2u) * 4u : (h[1] + 1u) * 8u;
    *proto = h[0];
    if (size - pos < len) return false;
    pos += len;
  }
}

NetView netView(uint32_t linktype, const uint8_t* frame, uint32_t caplen) {
  NetView v;
  uint32_t l3off = 0;
  uint16_t et = linkLayer(linktype, frame, caplen, &l3off);
  if (et != kEthTypeIpv4 && et != kEthTypeIpv6) return v;
  v.has_l3 = true;
  v.version = et == kEthTypeIpv4 ? 4 : 6;
  v.l3 = frame + l3off;
  v.l3_size = caplen > l3off ? caplen - l3off : 0;
  const uint8_t* ip = v.l3;
  uint32_t size = v.l3_size;
  if (v.version == 4) {
    if (size < 20) return v;
    uint32_t ihl = (ip[0] & 0x0f) * 4u;
    if (ihl < 20 || size < ihl) return v;
    uint32_t tot = rd16(ip + 2);
    if (tot > size || ihl > tot) return v;
    v.l3_size = tot;  // Ethernet padding is not part of the datagram.
    uint16_t frag = rd16(ip + 6);
    v.fragment = (frag & 0x3fff) != 0;
    v.l4_off = ihl;
    v.sane = true;
    return v;
  }
  if (size < 40) return v;
  uint32_t plen = rd16(ip + 4);
  if (plen + 40 > size) return v;
  v.l3_size = plen + 40;
  uint8_t proto = ip[6];
  uint32_t off = 0;
  int32_t frag_hdr = -1;
  bool fragment = false;
  if (!walkIpv6Ext(ip + 40, plen, &proto, &off, &frag_hdr, &fragment)) return v;
  v.fragment = fragment;
  v.l4_off = 40 + off;
  v.sane = true;
  return v;
}

namespace {

// Writes the key's last 8 bytes (ports or ICMP id/type/code, zone, af, proto) with one store.
// The key is hashed right after extraction, 8 bytes at a time: a load that needs several narrow
// stores still in flight cannot be forwarded from them and waits for them to reach the cache
// (perf: a fifth of a hot-flow packet's time in the hash's first instructions).
inline void sealTail(ConnKey& key, uint32_t l4_word) {
  static_assert(std::endian::native == std::endian::little, "tail word layout");
  static_assert(offsetof(ConnKey, ports) == 32 && offsetof(ConnKey, zone) == 36 &&
                offsetof(ConnKey, af) == 38 && offsetof(ConnKey, proto) == 39);
  uint64_t w = uint64_t(l4_word) | uint64_t(key.zone) << 32 | uint64_t(key.af) << 48 |
               uint64_t(key.proto) << 56;
  std::memcpy(&key.ports, &w, sizeof w);
}

inline uint32_t portsWord(uint16_t src, uint16_t dst) {
  return uint32_t(src) | uint32_t(dst) << 16;
}

}  // namespace

bool extractCtPacket(uint8_t version, const uint8_t* l3, uint32_t size, uint16_t zone,
                     CtPacket* out) {
  CtPacket& p = *out;
  p = CtPacket{};
  ConnKey& key = p.key;
  key.zone = zone;
  uint32_t l4off;
  if (version == 4) {
    l4off = ipv4Header(l3, size, true);
    if (l4off == 0) return false;
    key.af = CTSIM_AF_INET;
    key.proto = l3[9];
    // Each IPv4 address as one 8-byte store (the upper 12 bytes stay zero): see sealTail.
    uint32_t a = 0, b = 0;
    std::memcpy(&a, l3 + 12, 4);
    std::memcpy(&b, l3 + 16, 4);
    uint64_t wa = a, wb = b;
    std::memcpy(key.src, &wa, 8);
    std::memcpy(key.dst, &wb, 8);
  } else {
    l4off = ipv6Header(l3, size, &key.proto);
    if (l4off == 0) return false;
    key.af = CTSIM_AF_INET6;
    std::memcpy(key.src, l3 + 8, 16);
    std::memcpy(key.dst, l3 + 24, 16);
  }
  const uint8_t* l4 = l3 + l4off;
  uint32_t l4size = size - l4off;
  p.l4_type = l4size > 0 ? l4[0] : 0;

  if (key.proto == kProtoTcp) {
    if (l4size < 20) return false;
    uint32_t doff = (l4[12] >> 4) * 4u;
    if (doff < 20 || doff > l4size) return false;
    if (!pseudoChecksumOk(version, key, l4, l4size)) return false;
    uint16_t sport = rd16(l4), dport = rd16(l4 + 2);
    sealTail(key, portsWord(sport, dport));
    if (sport == 0 || dport == 0) return false;
    p.tcp_seq = rd32(l4 + 4);
    p.tcp_ack = rd32(l4 + 8);
    p.tcp_flags = l4[13];
    p.tcp_win = rd16(l4 + 14);
    p.tcp_payload = l4size - doff;
    p.tcp_wscale = tcpWscale(l4 + 20, int(doff) - 20);
    return true;
  }
  if (key.proto == kProtoUdp) {
    if (l4size < 8) return false;
    uint32_t ulen = rd16(l4 + 4);
    if (ulen < 8 || ulen > l4size) return false;
    bool no_csum = version == 4 && rd16(l4 + 6) == 0;
    if (!no_csum && !pseudoChecksumOk(version, key, l4, l4size)) return false;
    uint16_t sport = rd16(l4), dport = rd16(l4 + 2);
    sealTail(key, portsWord(sport, dport));
    return sport != 0 && dport != 0;
  }
  if (key.proto == kProtoSctp) {
    if (l4size < 12 || !sctpChecksumOk(l4, l4size)) return false;
    uint16_t sport = rd16(l4), dport = rd16(l4 + 2);
    sealTail(key, portsWord(sport, dport));
    return sport != 0 && dport != 0;
  }
  if (isIcmpProto(version, key.proto)) {
    bool csum_ok = version == 4 ? checksumFinish(checksumAdd(0, l4, l4size)) == 0
                                : pseudoChecksumOk(version, key, l4, l4size);
    if (!csum_ok || l4size < 8) return false;
    uint8_t type = l4[0], code = l4[1];
    if (isEchoLike(version, type)) {
      if (code != 0) return false;
      sealTail(key, uint32_t(rd16(l4 + 4)) | uint32_t(type) << 16);  // id, type, code 0.
      return true;
    }
    bool error = version == 4 ? (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
                              : (type >= 1 && type <= 4);
    if (!error) return false;
    if (!extractIcmpError(version, &key, l4 + 8, l4size - 8)) return false;
    p.icmp_related = true;
    return true;
  }
  return true;  // other protocols: tracked by addresses and protocol alone.
}

}  // namespace ctsim::ct
