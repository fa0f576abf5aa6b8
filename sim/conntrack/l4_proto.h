#pragma once
// Per-protocol behaviour behind an ops table, as OVS's struct ct_l4_proto: whether a packet may
// start a connection, the new connection's initial state, and the update of a connection by a
// packet. TCP follows pf's window tracking; UDP, SCTP and every other protocol share the
// FIRST/MULTIPLE/BIDIR machine; ICMP and ICMPv6 echo-like exchanges have FIRST/REPLY.

#include <cstdint>

#include "sim/conntrack/conntrack.h"

namespace ctsim::ct {

// The outcome of updating a connection with a packet (OVS's ct_update_res).
enum class UpdateResult : uint8_t {
  kValid,     // accepted: `est` (with `rpl` in the reply direction).
  kValidNew,  // accepted, but the connection is not yet established: `new`.
  kInvalid,   // rejected: `inv`.
  kNew,       // the connection is over; the packet starts a new one (TCP port reuse).
};

struct L4Ops {
  // May this packet start a connection?
  bool (*valid_new)(const CtPacket& p);
  // Initialises a new connection (protocol state and first timer).
  void (*new_conn)(Conntrack& ct, Conn& c, const CtPacket& p, int64_t now);
  // Updates the connection with a packet of the given direction.
  UpdateResult (*update)(Conntrack& ct, Conn& c, const CtPacket& p, bool reply, int64_t now);
};

extern const L4Ops kTcpOps;
extern const L4Ops kOtherOps;
extern const L4Ops kIcmp4Ops;
extern const L4Ops kIcmp6Ops;

// The ops of an IP protocol (by number only, as OVS).
const L4Ops& l4Ops(uint8_t proto);

}  // namespace ctsim::ct
