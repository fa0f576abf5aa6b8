#include "sim/checksum.h"

#include <bit>
#include <cstring>

namespace ctsim {

uint32_t checksumAdd(uint32_t sum, const uint8_t* data, size_t len) {
  // RFC 1071 §2(B): the sum is byte-order independent, so add host-order words eight bytes at a
  // time and swap the folded result into network order once at the end.
  uint64_t s = 0;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    s += (w & 0xffffffffu) + (w >> 32);
  }
  for (; i + 2 <= len; i += 2) {
    uint16_t w;
    std::memcpy(&w, data + i, 2);
    s += w;
  }
  if (i < len) {
    uint8_t last[2] = {data[i], 0};  // an odd last byte is the high byte of a zero-padded word.
    uint16_t w;
    std::memcpy(&w, last, 2);
    s += w;
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  if constexpr (std::endian::native == std::endian::little) s = ((s & 0xff) << 8) | (s >> 8);
  uint64_t t = uint64_t(sum) + s;
  while (t >> 32) t = (t & 0xffffffffu) + (t >> 32);
  return uint32_t(t);
}

uint16_t checksumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum & 0xffff);
}

uint32_t pseudoHeaderSum(uint8_t ip_version, const IpAddr& src, const IpAddr& dst, uint8_t proto,
                         uint32_t l4_len) {
  size_t alen = ip_version == 4 ? 4 : 16;
  uint32_t sum = checksumAdd(0, src.bytes, alen);
  sum = checksumAdd(sum, dst.bytes, alen);
  uint8_t tail[8] = {uint8_t(l4_len >> 24),
                     uint8_t(l4_len >> 16),
                     uint8_t(l4_len >> 8),
                     uint8_t(l4_len),
                     0,
                     0,
                     0,
                     proto};
  return checksumAdd(sum, tail, sizeof tail);
}

}  // namespace ctsim
