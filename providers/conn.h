#pragma once
// The concrete struct conn and struct netdev behind the opaque C declarations of
// <ctsim/ct_offload.h>.  The conntrack engine owns these objects (allocates or embeds them); the
// registry only reads the key and writes the offload fields; providers read them through the
// ctsim_* accessors.  Both are plain standard-layout structs with no constructors to run.
//
// Locking: the engine serialises everything that touches one conn (packets, sweep, dispatch of
// its callbacks), as OVS does with conn->lock.  The registry writes offload_mark and
// offload_acceptors during dispatch without a lock of its own.

#include <ctsim/ct_offload.h>

#include <cstdint>
#include <string>
#include <type_traits>

namespace ctsim {

// The registry's per-connection offload mark (OVS's CT_OFFLOAD_STATE_*).
enum class OffloadMark : uint8_t {
  kNone = 0,   // Not offloaded (initial; after conn_del).
  kAdded = 1,  // conn_add succeeded (per profile rules); conn_established not yet sent.
  kEst = 2,    // conn_established sent.
};

}  // namespace ctsim

// Global namespace, to complete the C forward declaration.
//
// Layout (x86-64, 80 bytes; opaque to providers, so free to change): key_fwd 0..39, tcp 40..63,
// offload_acceptors 64..71, state 72, offload_mark 73, 6 bytes of padding. The reverse key is
// not stored: with no NAT it is always reverseKey(key_fwd) (sim/conntrack/conn_key.h), which
// ctsim_conn_key_rev() returns by value and the engine's table compares against crosswise.
struct conn {
  ctsim_conn_key key_fwd{};  // Forward key: as the first packet carried it.
  ctsim_tcp_peer tcp[2]{};   // TCP peers, [CTSIM_DIR_ORIG] and [CTSIM_DIR_REPLY]; TCP only.
  // Strict profile: bit i set when the provider in registry slot i returned 0 from conn_add for
  // this connection.  Written by the registry only; unused by the rfc profiles.
  uint64_t offload_acceptors = 0;
  // Current state (engine-maintained), one byte: the engine derives the connection's timer
  // (and UDP/ICMP state) from it (sim/conntrack/conntrack.h).
  ctsim_conn_state state : 8 = CTSIM_CS_NONE;
  ctsim::OffloadMark offload_mark = ctsim::OffloadMark::kNone;  // Written by the registry only.
};

// An input device as providers see it.
struct netdev {
  std::string name;                   // Device name, e.g. "p0".
  odp_port_t port = CTSIM_PORT_NONE;  // Datapath port number.
};

static_assert(std::is_standard_layout_v<conn>, "the engine may embed struct conn");
static_assert(sizeof(conn) == 80, "layout documented above struct conn");

namespace ctsim {

// A dispatch context for 'c' as the engine builds it: key points at the forward key; the
// netdev (and its port) is that of the batch's first packet, or none for delete/update.
inline ct_offload_ctx makeCtx(const conn& c, netdev* in = nullptr) {
  return ct_offload_ctx{&c, in, in ? in->port : CTSIM_PORT_NONE, &c.key_fwd};
}

}  // namespace ctsim
