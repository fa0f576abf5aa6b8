#include "sim/conntrack/conn_key.h"

#include <arpa/inet.h>

#include <cstdio>

#include "sim/packet.h"

namespace ctsim::ct {
namespace {

// 64-bit FNV-1a over a byte range.
uint64_t fnv(const uint8_t* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

bool isIcmp(const ConnKey& k) {
  return (k.af == CTSIM_AF_INET && k.proto == kProtoIcmp) ||
         (k.af == CTSIM_AF_INET6 && k.proto == kProtoIcmpv6);
}

}  // namespace

size_t keyHash(const ConnKey& k) {
  // Symmetric in the two endpoints: each endpoint (address + its port) is hashed alone and the
  // two are combined with xor, then the rest of the key is mixed in.
  uint16_t sport = isIcmp(k) ? k.icmp.id : k.ports.src;
  uint16_t dport = isIcmp(k) ? k.icmp.id : k.ports.dst;
  uint64_t hs = fnv(reinterpret_cast<const uint8_t*>(&sport), 2, fnv(k.src, 16));
  uint64_t hd = fnv(reinterpret_cast<const uint8_t*>(&dport), 2, fnv(k.dst, 16));
  uint8_t rest[4] = {uint8_t(k.zone), uint8_t(k.zone >> 8), k.af, k.proto};
  uint64_t h = fnv(rest, sizeof rest, hs ^ hd);
  return size_t(h ^ (h >> 29));
}

uint8_t reverseIcmpType(uint8_t af, uint8_t type) {
  if (af == CTSIM_AF_INET6) {
    if (type == 128) return 129;
    if (type == 129) return 128;
    return type;
  }
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

ConnKey reverseKey(const ConnKey& k) {
  ConnKey r = k;
  std::memcpy(r.src, k.dst, 16);
  std::memcpy(r.dst, k.src, 16);
  if (isIcmp(k)) {
    r.icmp.type = reverseIcmpType(k.af, k.icmp.type);
  } else {
    r.ports.src = k.ports.dst;
    r.ports.dst = k.ports.src;
  }
  return r;
}

std::string formatKey(const ConnKey& k) {
  char a[INET6_ADDRSTRLEN] = {}, b[INET6_ADDRSTRLEN] = {};
  int family = k.af == CTSIM_AF_INET6 ? AF_INET6 : AF_INET;
  inet_ntop(family, k.src, a, sizeof a);
  inet_ntop(family, k.dst, b, sizeof b);
  const char* proto = k.proto == kProtoTcp    ? "tcp"
                      : k.proto == kProtoUdp  ? "udp"
                      : k.proto == kProtoSctp ? "sctp"
                      : isIcmp(k)             ? (k.af == CTSIM_AF_INET6 ? "icmpv6" : "icmp")
                                              : nullptr;
  char buf[192];
  bool v6 = k.af == CTSIM_AF_INET6;
  if (isIcmp(k)) {
    std::snprintf(buf, sizeof buf, "%s %s -> %s id=%u type=%u code=%u zone=%u", proto, a, b,
                  k.icmp.id, k.icmp.type, k.icmp.code, k.zone);
  } else if (proto != nullptr) {
    std::snprintf(buf, sizeof buf,
                  v6 ? "%s [%s]:%u -> [%s]:%u zone=%u" : "%s %s:%u -> %s:%u zone=%u", proto, a,
                  k.ports.src, b, k.ports.dst, k.zone);
  } else {
    std::snprintf(buf, sizeof buf, "proto%u %s -> %s zone=%u", k.proto, a, b, k.zone);
  }
  return buf;
}

}  // namespace ctsim::ct
