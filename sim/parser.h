#pragma once
// The packet parser: frame bytes -> PacketInfo. Zero-copy, never reads past the captured length,
// allocates nothing and throws nothing; untrusted input only ever changes the Outcome.

#include <cstdint>
#include <string>

#include "sim/packet.h"

namespace ctsim {

// Link types (DLT_* values as libpcap reports them) that the parser understands.
enum LinkType : uint32_t {
  kLinkNull = 0,         // BSD loopback: 4-byte address family in the writer's byte order.
  kLinkEthernet = 1,     // DLT_EN10MB.
  kLinkPpp = 9,          // PPP, with or without the HDLC address/control bytes.
  kLinkRaw = 12,         // DLT_RAW (LINKTYPE_RAW 101 in files): IPv4 or IPv6 by version nibble.
  kLinkRawOpenBsd = 14,  // DLT_RAW as OpenBSD numbers it.
  kLinkLoop = 108,       // OpenBSD loopback: address family in network byte order.
  kLinkLinuxSll = 113,   // Linux cooked capture v1.
  kLinkIpv4 = 228,       // raw IPv4.
  kLinkIpv6 = 229,       // raw IPv6.
  kLinkLinuxSll2 = 276,  // Linux cooked capture v2.
};

// True when the parser reads frames of this link type.
bool isSupportedLinkType(uint32_t linktype);
// A short name for a link type ("EN10MB", "LINUX_SLL", ...), or "DLT_<n>" when unknown.
std::string linkTypeName(uint32_t linktype);

struct ParseOptions {
  bool verify_checksums = true;  // verify IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums.
};

// Parses one frame of `caplen` captured bytes (`wirelen` on the wire) of the given link type.
// Reads at most `caplen` bytes from `data`.
PacketInfo parsePacket(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                       const ParseOptions& options = {});

}  // namespace ctsim
