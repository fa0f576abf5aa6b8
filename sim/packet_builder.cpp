#include "sim/packet_builder.h"

#include <arpa/inet.h>

#include <cstdlib>

#include "sim/checksum.h"

namespace ctsim {
namespace {

void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = uint8_t(x >> 8);
  v[at + 1] = uint8_t(x);
}
void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  put16(v, at, uint16_t(x >> 16));
  put16(v, at + 2, uint16_t(x));
}
void append16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(uint8_t(x >> 8));
  v.push_back(uint8_t(x));
}

}  // namespace

IpAddr ipAddr(const std::string& text) {
  IpAddr a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes) == 1) return a;
  if (inet_pton(AF_INET6, text.c_str(), a.bytes) == 1) return a;
  std::abort();  // a malformed literal in test or generator code.
}

PacketBuilder& PacketBuilder::link(uint32_t linktype) {
  linktype_ = linktype;
  return *this;
}
PacketBuilder& PacketBuilder::vlan(uint16_t vid, uint16_t tpid) {
  vlans_.emplace_back(tpid, vid);
  return *this;
}
PacketBuilder& PacketBuilder::nonIp(uint16_t ethertype, size_t len) {
  non_ip_ethertype_ = ethertype;
  non_ip_len_ = len;
  return *this;
}
PacketBuilder& PacketBuilder::ipv4(const std::string& src, const std::string& dst) {
  ip_version_ = 4;
  src_ = ipAddr(src);
  dst_ = ipAddr(dst);
  return *this;
}
PacketBuilder& PacketBuilder::ipv6(const std::string& src, const std::string& dst) {
  ip_version_ = 6;
  src_ = ipAddr(src);
  dst_ = ipAddr(dst);
  return *this;
}
PacketBuilder& PacketBuilder::ip(uint8_t version, const IpAddr& src, const IpAddr& dst) {
  ip_version_ = version;
  src_ = src;
  dst_ = dst;
  return *this;
}
PacketBuilder& PacketBuilder::ttl(uint8_t ttl) {
  ttl_ = ttl;
  return *this;
}
PacketBuilder& PacketBuilder::ipv4Options(std::vector<uint8_t> options) {
  ipv4_options_ = std::move(options);
  while (ipv4_options_.size() % 4 != 0) ipv4_options_.push_back(0);
  return *this;
}
PacketBuilder& PacketBuilder::dontFragment() {
  df_ = true;
  return *this;
}
PacketBuilder& PacketBuilder::fragment(uint16_t offset_bytes, bool more, uint32_t id) {
  is_fragment_ = true;
  frag_offset_ = offset_bytes;
  frag_more_ = more;
  frag_id_ = id;
  return *this;
}
PacketBuilder& PacketBuilder::ipv6Ext(uint8_t type, size_t len) {
  ipv6_ext_.emplace_back(type, len);
  return *this;
}
PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                                  uint32_t ack, uint16_t window) {
  proto_ = kProtoTcp;
  sport_ = sport;
  dport_ = dport;
  tcp_flags_ = flags;
  tcp_seq_ = seq;
  tcp_ack_ = ack;
  tcp_window_ = window;
  return *this;
}
PacketBuilder& PacketBuilder::tcpMss(uint16_t mss) {
  tcp_options_.insert(tcp_options_.end(), {2, 4, uint8_t(mss >> 8), uint8_t(mss)});
  return *this;
}
PacketBuilder& PacketBuilder::tcpWscale(uint8_t shift) {
  tcp_options_.insert(tcp_options_.end(), {1, 3, 3, shift});  // NOP-padded.
  return *this;
}
PacketBuilder& PacketBuilder::tcpSackPermitted() {
  tcp_options_.insert(tcp_options_.end(), {1, 1, 4, 2});
  return *this;
}
PacketBuilder& PacketBuilder::tcpTimestamps(uint32_t tsval, uint32_t tsecr) {
  std::vector<uint8_t> o = {1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0};
  put32(o, 4, tsval);
  put32(o, 8, tsecr);
  tcp_options_.insert(tcp_options_.end(), o.begin(), o.end());
  return *this;
}
PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
  proto_ = kProtoUdp;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
PacketBuilder& PacketBuilder::sctp(uint16_t sport, uint16_t dport, uint32_t vtag) {
  proto_ = kProtoSctp;
  sport_ = sport;
  dport_ = dport;
  sctp_vtag_ = vtag;
  return *this;
}
PacketBuilder& PacketBuilder::icmpEcho(bool request, uint16_t id, uint16_t seq) {
  if (ip_version_ == 6) {
    icmp(request ? 128 : 129, 0);
  } else {
    icmp(request ? 8 : 0, 0);
  }
  icmp_rest_[0] = uint8_t(id >> 8);
  icmp_rest_[1] = uint8_t(id);
  icmp_rest_[2] = uint8_t(seq >> 8);
  icmp_rest_[3] = uint8_t(seq);
  return *this;
}
PacketBuilder& PacketBuilder::icmp(uint8_t type, uint8_t code) {
  proto_ = ip_version_ == 6 ? kProtoIcmpv6 : kProtoIcmp;
  icmp_type_ = type;
  icmp_code_ = code;
  return *this;
}
PacketBuilder& PacketBuilder::icmpError(uint8_t type, uint8_t code, std::vector<uint8_t> quoted) {
  icmp(type, code);
  payload_ = std::move(quoted);
  return *this;
}
PacketBuilder& PacketBuilder::ipProto(uint8_t proto) {
  proto_ = proto;
  return *this;
}
PacketBuilder& PacketBuilder::rawL4(uint8_t proto, std::vector<uint8_t> bytes) {
  proto_ = proto;
  raw_l4_ = true;
  payload_ = std::move(bytes);
  return *this;
}
PacketBuilder& PacketBuilder::payload(size_t len, uint8_t fill) {
  payload_.assign(len, fill);
  return *this;
}
PacketBuilder& PacketBuilder::payload(std::vector<uint8_t> bytes) {
  payload_ = std::move(bytes);
  return *this;
}
PacketBuilder& PacketBuilder::badIpChecksum() {
  bad_ip_csum_ = true;
  return *this;
}
PacketBuilder& PacketBuilder::badL4Checksum() {
  bad_l4_csum_ = true;
  return *this;
}

std::vector<uint8_t> PacketBuilder::buildL4() const {
  std::vector<uint8_t> l4;
  if (raw_l4_) return payload_;
  bool later_fragment = is_fragment_ && frag_offset_ != 0;
  size_t csum_at = SIZE_MAX;
  if (!later_fragment) {
    switch (proto_) {
      case kProtoTcp: {
        std::vector<uint8_t> opts = tcp_options_;
        while (opts.size() % 4 != 0) opts.push_back(0);
        l4.assign(20 + opts.size(), 0);
        put16(l4, 0, sport_);
        put16(l4, 2, dport_);
        put32(l4, 4, tcp_seq_);
        put32(l4, 8, tcp_ack_);
        l4[12] = uint8_t((l4.size() / 4) << 4);
        l4[13] = tcp_flags_;
        put16(l4, 14, tcp_window_);
        std::copy(opts.begin(), opts.end(), l4.begin() + 20);
        csum_at = 16;
        break;
      }
      case kProtoUdp:
        l4.assign(8, 0);
        put16(l4, 0, sport_);
        put16(l4, 2, dport_);
        put16(l4, 4, uint16_t(8 + payload_.size()));
        csum_at = 6;
        break;
      case kProtoSctp:
        l4.assign(12, 0);
        put16(l4, 0, sport_);
        put16(l4, 2, dport_);
        put32(l4, 4, sctp_vtag_);
        break;
      case kProtoIcmp:
      case kProtoIcmpv6:
        l4.assign(8, 0);
        l4[0] = icmp_type_;
        l4[1] = icmp_code_;
        std::copy(icmp_rest_, icmp_rest_ + 4, l4.begin() + 4);
        csum_at = 2;
        break;
      default:
        break;
    }
  }
  l4.insert(l4.end(), payload_.begin(), payload_.end());
  if (csum_at != SIZE_MAX && !is_fragment_) {
    uint32_t sum = proto_ == kProtoIcmp
                       ? 0
                       : pseudoHeaderSum(ip_version_, src_, dst_, proto_, uint32_t(l4.size()));
    uint16_t c = checksumFinish(checksumAdd(sum, l4.data(), l4.size()));
    if (proto_ == kProtoUdp && c == 0) c = 0xffff;
    if (bad_l4_csum_) c ^= 0x5a5a;
    put16(l4, csum_at, c);
  }
  return l4;
}

std::vector<uint8_t> PacketBuilder::buildIp() const {
  std::vector<uint8_t> l4 = buildL4();
  std::vector<uint8_t> ip;
  if (ip_version_ == 4) {
    size_t ihl = 20 + ipv4_options_.size();
    ip.assign(ihl, 0);
    ip[0] = uint8_t(0x40 | (ihl / 4));
    put16(ip, 2, uint16_t(ihl + l4.size()));
    put16(ip, 4, uint16_t(frag_id_));
    uint16_t frag = uint16_t(frag_offset_ / 8);
    if (frag_more_) frag |= 0x2000;
    if (df_) frag |= 0x4000;
    put16(ip, 6, frag);
    ip[8] = ttl_;
    ip[9] = proto_;
    std::copy(src_.bytes, src_.bytes + 4, ip.begin() + 12);
    std::copy(dst_.bytes, dst_.bytes + 4, ip.begin() + 16);
    std::copy(ipv4_options_.begin(), ipv4_options_.end(), ip.begin() + 20);
    uint16_t c = checksumFinish(checksumAdd(0, ip.data(), ihl));
    if (bad_ip_csum_) c ^= 0x5a5a;
    put16(ip, 10, c);
  } else {
    std::vector<uint8_t> ext;
    std::vector<std::pair<uint8_t, size_t>> chain = ipv6_ext_;
    if (is_fragment_) chain.emplace_back(kProtoFragment, 8);
    uint8_t first = chain.empty() ? proto_ : chain[0].first;
    for (size_t i = 0; i < chain.size(); ++i) {
      auto [type, len] = chain[i];
      uint8_t next = i + 1 < chain.size() ? chain[i + 1].first : proto_;
      size_t at = ext.size();
      ext.resize(at + len, 0);
      ext[at] = next;
      if (type == kProtoFragment) {
        uint16_t offlg = uint16_t((frag_offset_ & 0xfff8) | (frag_more_ ? 1 : 0));
        put16(ext, at + 2, offlg);
        put32(ext, at + 4, frag_id_);
      } else if (type == kProtoAh) {
        ext[at + 1] = uint8_t(len / 4 - 2);
      } else {
        ext[at + 1] = uint8_t(len / 8 - 1);
      }
    }
    ip.assign(40, 0);
    ip[0] = 0x60;
    put16(ip, 4, uint16_t(ext.size() + l4.size()));
    ip[6] = first;
    ip[7] = ttl_;
    std::copy(src_.bytes, src_.bytes + 16, ip.begin() + 8);
    std::copy(dst_.bytes, dst_.bytes + 16, ip.begin() + 24);
    ip.insert(ip.end(), ext.begin(), ext.end());
  }
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

std::vector<uint8_t> PacketBuilder::build() const {
  std::vector<uint8_t> body;
  uint16_t et = non_ip_ethertype_ != 0 ? non_ip_ethertype_ : (ip_version_ == 6 ? 0x86dd : 0x0800);
  if (non_ip_ethertype_ != 0) {
    body.assign(non_ip_len_, 0x11);
  } else {
    body = buildIp();
  }
  std::vector<uint8_t> f;
  switch (linktype_) {
    case kLinkEthernet: {
      f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
      for (auto [tpid, vid] : vlans_) {
        append16(f, tpid);
        append16(f, vid);
      }
      append16(f, et);
      break;
    }
    case kLinkLinuxSll:
      f.assign(14, 0);
      put16(f, 2, 1);  // ARPHRD_ETHER.
      put16(f, 4, 6);  // address length.
      append16(f, et);
      break;
    case kLinkLinuxSll2:
      f.assign(20, 0);
      put16(f, 0, et);
      put16(f, 8, 1);
      f[11] = 6;
      break;
    case kLinkNull: {  // little-endian family, as written on x86.
      uint32_t af = ip_version_ == 6 ? 24 : 2;
      f = {uint8_t(af), 0, 0, 0};
      break;
    }
    case kLinkLoop: {
      uint32_t af = ip_version_ == 6 ? 24 : 2;
      f = {0, 0, 0, uint8_t(af)};
      break;
    }
    case kLinkPpp:
      f = {0xff, 0x03};
      append16(f, ip_version_ == 6 ? 0x0057 : 0x0021);
      break;
    default:  // raw IP link types.
      break;
  }
  f.insert(f.end(), body.begin(), body.end());
  return f;
}

}  // namespace ctsim
