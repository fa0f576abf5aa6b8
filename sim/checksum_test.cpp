#include "sim/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace ctsim {
namespace {

// RFC 1071 as written: big-endian 16-bit words, an odd last byte padded with zero.
uint16_t referenceChecksum(const std::vector<uint8_t>& d, size_t from, size_t to, uint32_t start) {
  uint64_t s = start;
  size_t i = from;
  for (; i + 1 < to; i += 2) s += (uint32_t(d[i]) << 8) | d[i + 1];
  if (i < to) s += uint32_t(d[i]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s & 0xffff);
}

// The word-at-a-time sum equals the byte-wise RFC 1071 sum for every length 0..300, at every
// alignment, chained over two segments split at an even offset, and from non-zero start sums.
TEST(Checksum, MatchesBytewiseReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(20261125);
  std::vector<uint8_t> buf(320);
  for (int round = 0; round < 4; ++round) {
    for (auto& b : buf) b = uint8_t(rng());
    if (round == 3) std::fill(buf.begin(), buf.end(), 0xff);  // maximal carries.
    for (size_t off = 0; off < 8; ++off) {
      for (size_t len = 0; off + len <= 300; ++len) {
        uint32_t start = round == 0 ? 0 : uint32_t(rng());
        uint16_t want = referenceChecksum(buf, off, off + len, start);
        ASSERT_EQ(checksumFinish(checksumAdd(start, buf.data() + off, len)), want)
            << "off " << off << " len " << len << " start " << start;
        size_t split = (len / 2) & ~size_t(1);
        uint32_t chained = checksumAdd(checksumAdd(start, buf.data() + off, split),
                                       buf.data() + off + split, len - split);
        ASSERT_EQ(checksumFinish(chained), want) << "split at " << split;
      }
    }
  }
}

// A header carrying its own correct checksum verifies to 0 (the receiver's check).
TEST(Checksum, HeaderWithItsChecksumVerifiesToZero) {
  std::vector<uint8_t> h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                            0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  uint16_t c = checksumFinish(checksumAdd(0, h.data(), h.size()));
  EXPECT_EQ(c, 0xb861);  // the sum of this header worked out by hand.
  h[10] = uint8_t(c >> 8);
  h[11] = uint8_t(c);
  EXPECT_EQ(checksumFinish(checksumAdd(0, h.data(), h.size())), 0);
}

}  // namespace
}  // namespace ctsim
