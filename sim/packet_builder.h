#pragma once
// PacketBuilder: builds well-formed frames (correct lengths and checksums unless told otherwise)
// for unit tests and for the trace generator. Not on the packet path: it allocates freely.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/packet.h"
#include "sim/parser.h"

namespace ctsim {

// Parses "10.0.0.1" or "2001:db8::1" into an IpAddr; aborts on a malformed literal (test input).
IpAddr ipAddr(const std::string& text);

class PacketBuilder {
 public:
  // Link layer (default Ethernet with zero-free MACs). For kLinkLinuxSll/Sll2/Null/Loop/Raw/Ipv4/
  // Ipv6/Ppp the matching header (or none) is written instead.
  PacketBuilder& link(uint32_t linktype);
  // Adds an 802.1Q (or, with tpid 0x88a8, 802.1ad) tag; call twice for QinQ.
  PacketBuilder& vlan(uint16_t vid, uint16_t tpid = 0x8100);
  // A non-IP EtherType (ARP, MPLS, ...) with `len` payload bytes instead of an IP packet.
  PacketBuilder& nonIp(uint16_t ethertype, size_t len = 28);

  PacketBuilder& ipv4(const std::string& src, const std::string& dst);
  PacketBuilder& ipv6(const std::string& src, const std::string& dst);
  PacketBuilder& ip(uint8_t version, const IpAddr& src, const IpAddr& dst);
  PacketBuilder& ttl(uint8_t ttl);
  PacketBuilder& ipv4Options(std::vector<uint8_t> options);  // padded to 4 bytes.
  PacketBuilder& dontFragment();
  // Makes the packet a fragment (IPv4 flags/offset, or an IPv6 fragment header). The L4 header
  // is written only when offset is 0.
  PacketBuilder& fragment(uint16_t offset_bytes, bool more, uint32_t id);
  // Adds an IPv6 extension header (hop-by-hop, routing, destination options or AH) of `len`
  // bytes (a multiple of 8; AH: of 4), in call order.
  PacketBuilder& ipv6Ext(uint8_t type, size_t len = 8);

  PacketBuilder& tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq = 0,
                     uint32_t ack = 0, uint16_t window = 65535);
  PacketBuilder& tcpMss(uint16_t mss);
  PacketBuilder& tcpWscale(uint8_t shift);
  PacketBuilder& tcpSackPermitted();
  PacketBuilder& tcpTimestamps(uint32_t tsval, uint32_t tsecr);
  PacketBuilder& udp(uint16_t sport, uint16_t dport);
  PacketBuilder& sctp(uint16_t sport, uint16_t dport, uint32_t vtag);
  // ICMP echo request/reply (ICMPv6 when the IP version is 6).
  PacketBuilder& icmpEcho(bool request, uint16_t id, uint16_t seq = 1);
  // Any ICMP/ICMPv6 type and code with a 4-byte rest-of-header of zeros.
  PacketBuilder& icmp(uint8_t type, uint8_t code);
  // An ICMP/ICMPv6 error quoting `quoted` (an IP packet, e.g. another builder's buildIp()).
  PacketBuilder& icmpError(uint8_t type, uint8_t code, std::vector<uint8_t> quoted);
  // Another IP protocol (GRE, ESP, ...) with only a payload.
  PacketBuilder& ipProto(uint8_t proto);
  // The IP payload verbatim under protocol `proto`: no L4 header or checksum is made (for
  // fragments cut from a datagram built elsewhere, or deliberately odd L4 bytes).
  PacketBuilder& rawL4(uint8_t proto, std::vector<uint8_t> bytes);

  PacketBuilder& payload(size_t len, uint8_t fill = 0xab);
  PacketBuilder& payload(std::vector<uint8_t> bytes);
  // Corrupts checksums after computing them.
  PacketBuilder& badIpChecksum();
  PacketBuilder& badL4Checksum();

  // The whole frame, link header included.
  std::vector<uint8_t> build() const;
  // The IP packet alone.
  std::vector<uint8_t> buildIp() const;

 private:
  std::vector<uint8_t> buildL4() const;

  uint32_t linktype_ = kLinkEthernet;
  std::vector<std::pair<uint16_t, uint16_t>> vlans_;  // (tpid, vid).
  uint16_t non_ip_ethertype_ = 0;
  size_t non_ip_len_ = 0;
  uint8_t ip_version_ = 4;
  IpAddr src_, dst_;
  uint8_t ttl_ = 64;
  std::vector<uint8_t> ipv4_options_;
  bool df_ = false;
  bool is_fragment_ = false;
  uint16_t frag_offset_ = 0;
  bool frag_more_ = false;
  uint32_t frag_id_ = 0;
  std::vector<std::pair<uint8_t, size_t>> ipv6_ext_;
  uint8_t proto_ = 0;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t tcp_flags_ = 0;
  uint32_t tcp_seq_ = 0, tcp_ack_ = 0;
  uint16_t tcp_window_ = 0;
  std::vector<uint8_t> tcp_options_;
  uint32_t sctp_vtag_ = 0;
  uint8_t icmp_type_ = 0, icmp_code_ = 0;
  uint8_t icmp_rest_[4] = {};
  std::vector<uint8_t> payload_;
  bool raw_l4_ = false;
  bool bad_ip_csum_ = false;
  bool bad_l4_csum_ = false;
};

}  // namespace ctsim
