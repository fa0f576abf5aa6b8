#pragma once
// Per-packet conntrack state bits, in OVS's order, and their text form as OVS's test tool prints
// it ("new|trk", "est|rpl|trk", "0" when no bit is set).

#include <cstdint>
#include <string>

namespace ctsim::ct {

// ct_state bits (OVS's CS_* order: new, est, rel, rpl, inv, trk, snat, dnat).
enum CtState : uint8_t {
  kCsNew = 0x01,          // the packet starts or may start a connection.
  kCsEstablished = 0x02,  // part of an established (accepted) connection.
  kCsRelated = 0x04,      // related to a connection (ICMP error quoting it).
  kCsReply = 0x08,        // travels in the reply direction.
  kCsInvalid = 0x10,      // could not be tracked or failed a check.
  kCsTracked = 0x20,      // went through conntrack.
  kCsSrcNat = 0x40,       // source NAT applied.
  kCsDstNat = 0x80,       // destination NAT applied.
};
inline constexpr int kCtStateBits = 8;

// "new|trk", ... in bit order; "0" for no bits.
std::string formatCtState(uint8_t state);
// The short name of one bit ("new", "est", ...), or "?" for a value that is not a single bit.
const char* ctStateBitName(uint8_t bit);

}  // namespace ctsim::ct
