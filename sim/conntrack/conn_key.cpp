#include "sim/conntrack/conn_key.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "sim/packet.h"

namespace ctsim::ct {
namespace {

// 64x64 -> 128-bit multiply folded to 64 bits: the mixing step of wyhash-style hashes.
inline uint64_t mum(uint64_t a, uint64_t b) {
  __uint128_t r = __uint128_t(a) * b;
  return uint64_t(r) ^ uint64_t(r >> 64);
}
constexpr uint64_t kS0 = 0xa0761d6478bd642full, kS1 = 0xe7037ed1a0b428dbull,
                   kS2 = 0x8ebc6af09c88c6e3ull, kS3 = 0x589965cc75374cc3ull;

inline uint64_t word(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

}  // namespace

size_t keyHash(const ConnKey& k) {
  // Symmetric in the two endpoints: each endpoint (address + its port) is hashed alone and the
  // two are added, then the rest of the key is mixed in.
  uint16_t sport = isIcmpKey(k) ? k.icmp.id : k.ports.src;
  uint16_t dport = isIcmpKey(k) ? k.icmp.id : k.ports.dst;
  uint64_t hs = mum(word(k.src) ^ kS0, word(k.src + 8) ^ (uint64_t(sport) << 32) ^ kS1);
  uint64_t hd = mum(word(k.dst) ^ kS0, word(k.dst + 8) ^ (uint64_t(dport) << 32) ^ kS1);
  uint64_t rest = uint64_t(k.zone) | uint64_t(k.af) << 16 | uint64_t(k.proto) << 24;
  return size_t(mum((hs + hd) ^ kS2, rest ^ kS3));
}

uint64_t keyHashDirected(const ConnKey& k) {
  static_assert(sizeof(ConnKey) == 40, "five 64-bit words");
  const auto* p = reinterpret_cast<const uint8_t*>(&k);
  uint64_t h = mum(word(p) ^ kS0, word(p + 8) ^ kS1);
  h = mum(word(p + 16) ^ kS2 ^ h, word(p + 24) ^ kS3);
  return mum(word(p + 32) ^ kS1, h ^ kS0);
}

std::string formatKey(const ConnKey& k) {
  char a[INET6_ADDRSTRLEN] = {}, b[INET6_ADDRSTRLEN] = {};
  int family = k.af == CTSIM_AF_INET6 ? AF_INET6 : AF_INET;
  inet_ntop(family, k.src, a, sizeof a);
  inet_ntop(family, k.dst, b, sizeof b);
  const char* proto = k.proto == kProtoTcp    ? "tcp"
                      : k.proto == kProtoUdp  ? "udp"
                      : k.proto == kProtoSctp ? "sctp"
                      : isIcmpKey(k)          ? (k.af == CTSIM_AF_INET6 ? "icmpv6" : "icmp")
                                              : nullptr;
  char buf[192];
  bool v6 = k.af == CTSIM_AF_INET6;
  if (isIcmpKey(k)) {
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
