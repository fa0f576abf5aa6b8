#pragma once
// The result of parsing one captured frame: a small, fixed-size description that points into the
// capture buffer (nothing of the packet is copied but the addresses). Every frame gets exactly
// one Outcome; the fields that were reached before the outcome was decided stay filled in.
//
// Tunnels (GRE, VXLAN, Geneve, GTP, IP-in-IP) are not decapsulated: the outer IP header and its
// L4 header make the tuple, as in Open vSwitch's conntrack. MPLS frames are "not IP".

#include <cstdint>
#include <cstring>
#include <string_view>

namespace ctsim {

// The one outcome of every frame.
enum class Outcome : uint8_t {
  kParsed,           // every header up to L4 (or up to the last one that exists) was read.
  kTruncated,        // the capture ends before the IP datagram does; truncated_at says where.
  kMalformed,        // a header contradicts itself or the frame; malformation says how.
  kNotIp,            // a frame of a supported link type that does not carry IPv4 or IPv6.
  kUnsupportedLink,  // the capture's link type is not one ctsim parses.
};
inline constexpr int kOutcomeCount = 5;

// The layer in which a truncated capture ends.
enum class Layer : uint8_t {
  kNone,
  kLink,       // link-layer header (Ethernet, SLL, SLL2, NULL/LOOP, PPP).
  kVlan,       // an 802.1Q/802.1ad tag.
  kIpv4,       // IPv4 header (including options).
  kIpv6,       // IPv6 fixed header.
  kIpv6Ext,    // an IPv6 extension header.
  kTcp,        // TCP header (including options).
  kUdp,        // UDP header.
  kSctp,       // SCTP common header.
  kIcmp,       // ICMP or ICMPv6 header.
  kIcmpInner,  // the IP + L4 header quoted by an ICMP error.
  kPayload,    // all headers are complete; the L4 payload is cut.
};
inline constexpr int kLayerCount = 12;

// Why a frame is malformed.
enum class Malformation : uint8_t {
  kNone,
  kIpVersion,          // the IP version nibble does not match the link layer's EtherType.
  kIpv4HeaderLength,   // IHL below 5.
  kIpv4TotalLength,    // total length below the header length, or above what the frame holds.
  kIpv6PayloadLength,  // payload length above what the frame holds (or a jumbogram).
  kIpv6ExtChain,       // an extension header runs past the datagram, or too many of them.
  kFragmentOffset,     // a fragment that would end past 65535 bytes.
  kTcpDataOffset,      // TCP data offset below 5 or beyond the segment.
  kUdpLength,          // UDP length below 8 or above the IP payload.
  kL4TooShort,         // the IP payload is shorter than the L4 header it announces.
  kIcmpInner,          // the quoted packet of an ICMP error is not a parsable IP + L4 header.
};
inline constexpr int kMalformationCount = 11;

// Result of checksum verification for one header.
enum class ChecksumState : uint8_t {
  kNotChecked,  // verification off, or the header has no checksum (IPv6; UDP/IPv4 with 0).
  kGood,
  kBad,
  kUnverifiable,  // not all bytes are present (truncated capture, IP fragment).
};

// An IPv4 address is kept in the first 4 bytes, network order; the rest is zero.
struct IpAddr {
  uint8_t bytes[16] = {};

  bool operator==(const IpAddr& o) const { return std::memcmp(bytes, o.bytes, 16) == 0; }
  auto operator<=>(const IpAddr& o) const { return std::memcmp(bytes, o.bytes, 16) <=> 0; }
};

// TCP flag bits as on the wire.
enum TcpFlag : uint8_t {
  kTcpFin = 0x01,
  kTcpSyn = 0x02,
  kTcpRst = 0x04,
  kTcpPsh = 0x08,
  kTcpAck = 0x10,
  kTcpUrg = 0x20,
  kTcpEce = 0x40,
  kTcpCwr = 0x80,
};

// The tuple quoted by an ICMP error (its inner IP header and the first 8 bytes of its L4).
struct InnerTuple {
  uint8_t ip_version = 0;  // 4 or 6; 0 when not parsed.
  uint8_t proto = 0;       // inner IP protocol.
  IpAddr src;              // inner source address.
  IpAddr dst;              // inner destination address.
  uint16_t sport = 0;      // TCP/UDP/SCTP source port (host order).
  uint16_t dport = 0;      // TCP/UDP/SCTP destination port (host order).
  uint8_t icmp_type = 0;   // inner ICMP type, when proto is ICMP/ICMPv6.
  uint8_t icmp_code = 0;   // inner ICMP code.
  uint16_t icmp_id = 0;    // inner ICMP identifier (host order).
};

// Bits of PacketInfo::ipv6_ext_seen.
enum Ipv6Ext : uint8_t {
  kExtHopByHop = 0x01,
  kExtRouting = 0x02,
  kExtFragment = 0x04,
  kExtDestOpts = 0x08,
  kExtAh = 0x10,
  kExtEsp = 0x20,
  kExtNoNext = 0x40,
};

// Everything the parser learnt of one frame.
struct PacketInfo {
  Outcome outcome = Outcome::kParsed;               // the one outcome of the frame.
  Layer truncated_at = Layer::kNone;                // for kTruncated: where the capture ends.
  Malformation malformation = Malformation::kNone;  // for kMalformed: why.

  // Link layer.
  uint32_t linktype = 0;      // DLT_* value of the capture.
  uint16_t ethertype = 0;     // EtherType after VLAN tags (or SLL protocol, or derived).
  uint8_t vlan_count = 0;     // 0, 1 or 2 tags.
  uint16_t vlan_ids[2] = {};  // VIDs, outer first.

  // Network layer.
  uint8_t ip_version = 0;         // 4 or 6; 0 for non-IP.
  uint8_t proto = 0;              // final IP protocol (after IPv6 extension headers).
  uint8_t ttl = 0;                // TTL or hop limit.
  uint8_t ipv6_ext_seen = 0;      // Ipv6Ext bits of the extension headers met.
  uint16_t l3_offset = 0;         // offset of the IP header in the frame.
  uint16_t l4_offset = 0;         // offset of the L4 header (valid when has_l4).
  uint16_t ipv4_options_len = 0;  // bytes of IPv4 options.
  uint32_t ip_len = 0;            // length of the IP datagram on the wire (header + payload).
  IpAddr src;                     // source address.
  IpAddr dst;                     // destination address.
  bool is_fragment = false;       // IPv4 MF or offset != 0, or an IPv6 fragment header.
  bool more_fragments = false;    // MF flag.
  bool dont_fragment = false;     // IPv4 DF flag.
  uint16_t frag_offset = 0;       // fragment offset in bytes.
  uint32_t frag_id = 0;           // IPv4 identification or IPv6 fragment identification.

  // Transport layer.
  bool has_l4 = false;       // the L4 header below was read completely.
  uint16_t sport = 0;        // TCP/UDP/SCTP source port (host order).
  uint16_t dport = 0;        // TCP/UDP/SCTP destination port (host order).
  uint32_t l4_len = 0;       // L4 header + payload length per the IP header.
  uint32_t payload_len = 0;  // L4 payload length per the IP header.

  uint8_t tcp_flags = 0;      // TcpFlag bits.
  uint32_t tcp_seq = 0;       // sequence number.
  uint32_t tcp_ack = 0;       // acknowledgment number.
  uint16_t tcp_window = 0;    // raw (unscaled) window.
  uint8_t tcp_hdr_len = 0;    // header length in bytes.
  bool tcp_opts_bad = false;  // an option's length ran past the header (parsing stopped there).
  bool tcp_has_mss = false;
  uint16_t tcp_mss = 0;
  bool tcp_has_wscale = false;
  uint8_t tcp_wscale = 0;
  bool tcp_sack_permitted = false;
  bool tcp_has_timestamps = false;
  uint32_t tcp_tsval = 0;
  uint32_t tcp_tsecr = 0;

  uint32_t sctp_vtag = 0;  // SCTP verification tag.

  uint8_t icmp_type = 0;       // ICMP/ICMPv6 type.
  uint8_t icmp_code = 0;       // ICMP/ICMPv6 code.
  uint16_t icmp_id = 0;        // identifier of echo-like messages (host order).
  bool icmp_is_error = false;  // an error message that quotes a packet.
  InnerTuple inner;            // the quoted tuple, when icmp_is_error and parsed.

  // Checksums (when verification is on).
  ChecksumState ip_csum = ChecksumState::kNotChecked;  // IPv4 header checksum.
  ChecksumState l4_csum = ChecksumState::kNotChecked;  // TCP/UDP/ICMP/ICMPv6 checksum.

  // The frame.
  const uint8_t* data = nullptr;  // start of the frame (not owned).
  uint32_t caplen = 0;            // captured bytes.
  uint32_t wirelen = 0;           // bytes on the wire.
};

// IP protocol numbers ctsim names.
enum IpProto : uint8_t {
  kProtoHopOpts = 0,
  kProtoIcmp = 1,
  kProtoTcp = 6,
  kProtoUdp = 17,
  kProtoRouting = 43,
  kProtoFragment = 44,
  kProtoGre = 47,
  kProtoEsp = 50,
  kProtoAh = 51,
  kProtoIcmpv6 = 58,
  kProtoNoNext = 59,
  kProtoDstOpts = 60,
  kProtoSctp = 132,
};

std::string_view outcomeName(Outcome o);
std::string_view layerName(Layer l);
std::string_view malformationName(Malformation m);
std::string_view checksumStateName(ChecksumState c);

}  // namespace ctsim
