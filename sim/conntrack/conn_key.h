#pragma once
// The connection key: OVS's struct conn_key as the provider ABI spells it (ctsim_conn_key:
// zone, address family, protocol, both addresses, and ports or ICMP id/type/code). All bytes a
// key does not use are zero, so keys compare and hash as plain bytes.
//
// OVS keeps an ICMP type for each endpoint; for the echo-like messages that may form a key the
// destination type is always the reverse of the source type, so one type (the sender's) is kept.

#include <ctsim/ct_offload.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "sim/packet.h"

namespace ctsim::ct {

using ConnKey = ctsim_conn_key;

inline bool keyEqual(const ConnKey& a, const ConnKey& b) {
  return std::memcmp(&a, &b, sizeof(ConnKey)) == 0;
}

// A hash that is the same for a key and its reverse (as OVS's conn_key_hash).
size_t keyHash(const ConnKey& k);
// A hash of the key as it is (a key and its reverse hash differently), for the engine's table.
uint64_t keyHashDirected(const ConnKey& k);

// True for an ICMP key over IPv4 or an ICMPv6 key over IPv6 (the key holds id/type/code).
inline bool isIcmpKey(const ConnKey& k) {
  return (k.af == CTSIM_AF_INET && k.proto == kProtoIcmp) ||
         (k.af == CTSIM_AF_INET6 && k.proto == kProtoIcmpv6);
}

// The ICMP type a reply to an echo-like `type` carries (echo, timestamp, info; ICMPv6 echo), or
// `type` itself when it has no pair. An involution: reversing twice gives `type` back.
inline uint8_t reverseIcmpType(uint8_t af, uint8_t type) {
  if (af == CTSIM_AF_INET6) return type == 128 ? 129 : type == 129 ? 128 : type;
  switch (type) {
    case 8:
      return 0;
    case 0:
      return 8;
    case 13:
      return 14;
    case 14:
      return 13;
    case 15:
      return 16;
    case 16:
      return 15;
    default:
      return type;
  }
}

// The key of the other direction: addresses and ports swapped, ICMP type reversed (no NAT, so
// this is what replies carry). An involution: reverseKey(reverseKey(k)) == k. A connection does
// not store it: the engine's table and the ctsim_conn_key_rev() accessor derive it from the
// forward key with this function.
inline ConnKey reverseKey(const ConnKey& k) {
  ConnKey r = k;
  std::memcpy(r.src, k.dst, 16);
  std::memcpy(r.dst, k.src, 16);
  if (isIcmpKey(k)) {
    r.icmp.type = reverseIcmpType(k.af, k.icmp.type);
  } else {
    r.ports.src = k.ports.dst;
    r.ports.dst = k.ports.src;
  }
  return r;
}

// keyEqual(k, reverseKey(fwd)), without building the reverse key: k's addresses and ports are
// compared crosswise against fwd's (the ConnTable's test of a reply-direction entry).
inline bool keyEqualReverse(const ConnKey& k, const ConnKey& fwd) {
  if (std::memcmp(k.src, fwd.dst, 16) != 0 || std::memcmp(k.dst, fwd.src, 16) != 0) return false;
  if (k.zone != fwd.zone || k.af != fwd.af || k.proto != fwd.proto) return false;
  if (isIcmpKey(fwd)) {
    return k.icmp.id == fwd.icmp.id && k.icmp.code == fwd.icmp.code &&
           k.icmp.type == reverseIcmpType(fwd.af, fwd.icmp.type);
  }
  return k.ports.src == fwd.ports.dst && k.ports.dst == fwd.ports.src;
}

// "tcp 10.0.0.1:1234 -> 10.0.0.2:80 zone 0" (for logs, events and tests).
std::string formatKey(const ConnKey& k);

struct ConnKeyHash {
  size_t operator()(const ConnKey& k) const { return keyHash(k); }
};
struct ConnKeyEq {
  bool operator()(const ConnKey& a, const ConnKey& b) const { return keyEqual(a, b); }
};

}  // namespace ctsim::ct
