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

namespace ctsim::ct {

using ConnKey = ctsim_conn_key;

inline bool keyEqual(const ConnKey& a, const ConnKey& b) {
  return std::memcmp(&a, &b, sizeof(ConnKey)) == 0;
}

// A hash that is the same for a key and its reverse (as OVS's conn_key_hash).
size_t keyHash(const ConnKey& k);
// A hash of the key as it is (a key and its reverse hash differently), for the engine's table.
uint64_t keyHashDirected(const ConnKey& k);

// The ICMP type a reply to an echo-like `type` carries (echo, timestamp, info; ICMPv6 echo), or
// `type` itself when it has no pair.
uint8_t reverseIcmpType(uint8_t af, uint8_t type);

// The key of the other direction: addresses and ports swapped, ICMP type reversed.
ConnKey reverseKey(const ConnKey& k);

// "tcp 10.0.0.1:1234 -> 10.0.0.2:80 zone 0" (for logs, events and tests).
std::string formatKey(const ConnKey& k);

struct ConnKeyHash {
  size_t operator()(const ConnKey& k) const { return keyHash(k); }
};
struct ConnKeyEq {
  bool operator()(const ConnKey& a, const ConnKey& b) const { return keyEqual(a, b); }
};

}  // namespace ctsim::ct
