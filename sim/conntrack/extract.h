#pragma once
// From a captured frame to what OVS's conntrack sees, step by step as OVS does it:
//   1. link layer: the EtherType below at most two VLAN tags (not below MPLS), and where L3 is;
//   2. the datapath's header sanity checks (flow extraction): IPv4/IPv6 lengths, Ethernet
//      padding, IPv6 extension headers, fragment flags;
//   3. (IP fragments go to the reassembler, see ipf.h);
//   4. conntrack's own key extraction: IPv4 header checksum, L4 lengths and checksums, ports
//      not zero, ICMP types, the tuple quoted by ICMP errors.
// Every step works on untrusted bytes: it never reads past the sizes it is given.

#include <cstdint>

#include "sim/conntrack/conn_key.h"
#include "sim/packet.h"

namespace ctsim::ct {

inline constexpr uint16_t kEthTypeIpv4 = 0x0800;
inline constexpr uint16_t kEthTypeIpv6 = 0x86dd;

// Step 1 and 2: the network-layer view of a frame.
struct NetView {
  bool has_l3 = false;          // the EtherType is IPv4 or IPv6 (else the frame is "not IP").
  uint8_t version = 0;          // 4 or 6 (from the EtherType, as OVS; not the version nibble).
  const uint8_t* l3 = nullptr;  // start of the IP header.
  uint32_t l3_size = 0;         // bytes from l3 on: the capture's rest, then without padding.
  bool sane = false;            // the sanity checks passed (OVS sets its L4 offset).
  uint32_t l4_off = 0;          // L4 offset from l3 (after IPv6 extension headers); when sane.
  bool fragment = false;        // IPv4 MF or offset; IPv6 fragment header with offlg != 0.
};

// Steps 1 and 2 for one frame of the given link type.
NetView netView(uint32_t linktype, const uint8_t* frame, uint32_t caplen);

// The IPv6 extension-header walk of OVS (hop-by-hop, routing, destination options, AH,
// fragment). On success sets *proto to the upper-layer protocol (IPPROTO_FRAGMENT for a later
// fragment), *off to its offset from `data`, *frag_hdr_off to the fragment header's offset or
// -1, and *fragment when a fragment header with a non-zero offset/flags word was met.
bool walkIpv6Ext(const uint8_t* data, uint32_t size, uint8_t* proto, uint32_t* off,
                 int32_t* frag_hdr_off, bool* fragment);

// Step 4: what conntrack extracts from an IP datagram.
struct CtPacket {
  ConnKey key{};              // the packet's key (for ICMP errors: the quoted tuple, reversed).
  bool icmp_related = false;  // an ICMP error whose quoted tuple made the key.
  uint8_t l4_type = 0;        // first L4 byte (ICMP type), for the "may it start" check.
  // TCP only.
  uint8_t tcp_flags = 0;     // flag bits.
  uint32_t tcp_seq = 0;      // sequence number.
  uint32_t tcp_ack = 0;      // acknowledgment number.
  uint16_t tcp_win = 0;      // raw window.
  uint32_t tcp_payload = 0;  // payload bytes.
  uint8_t tcp_wscale = 0;    // window-scale option as OVS reads it (0x80 | shift, or 0).
};

// Step 4 on an IP datagram of `size` bytes (padding already removed). False: the packet is
// invalid for conntrack. `version` is 4 or 6.
bool extractCtPacket(uint8_t version, const uint8_t* l3, uint32_t size, uint16_t zone,
                     CtPacket* out);

}  // namespace ctsim::ct
