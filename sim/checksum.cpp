#include "sim/checksum.h"

namespace ctsim {

uint32_t checksumAdd(uint32_t sum, const uint8_t* data, size_t len) {
  uint64_t s = sum;
  size_t i = 0;
  for (; i + 1 < len; i += 2) s += (uint32_t(data[i]) << 8) | data[i + 1];
  if (i < len) s += uint32_t(data[i]) << 8;
  while (s >> 32) s = (s & 0xffffffffu) + (s >> 32);
  return uint32_t(s);
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
