#pragma once
// Internet checksum (RFC 1071) helpers for verification and for building packets.

#include <cstddef>
#include <cstdint>

#include "sim/packet.h"

namespace ctsim {

// Adds `len` bytes to a running 32-bit one's-complement sum (bytes taken as big-endian words; an
// odd last byte is padded with zero).
uint32_t checksumAdd(uint32_t sum, const uint8_t* data, size_t len);
// Folds a running sum to 16 bits and complements it: the value to store in a checksum field, or
// 0 when verifying a header whose checksum field was included.
uint16_t checksumFinish(uint32_t sum);
// The running sum of the TCP/UDP/ICMPv6 pseudo-header for either IP version.
uint32_t pseudoHeaderSum(uint8_t ip_version, const IpAddr& src, const IpAddr& dst, uint8_t proto,
                         uint32_t l4_len);

}  // namespace ctsim
