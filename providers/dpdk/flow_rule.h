#pragma once
// The translation of one direction of a connection into an rte_flow rule, as a real NIC would
// be programmed by an OVS with conntrack offload:
//   attr    ingress, group 'group'
//   pattern ETH (any) / IPV4 or IPV6 (exact src, dst, next protocol) / TCP or UDP (exact
//           ports) / END
//   actions CONNTRACK (TCP only: the peer state, from ctsim_conn_tcp_peer) / AGE (timeout in
//           seconds) / COUNT / JUMP (to 'jump_group', where a real pipeline matches the
//           conntrack result and continues) / END
// The builder is a pure function: no EAL, no port.  The rule owns the storage its items and
// actions point into, so it is neither copyable nor movable (hold it by unique_ptr).
//
// Not modelled: the zone (a real pipeline matches it through a TAG/META item set by an earlier
// table), and sharing one indirect CONNTRACK action between the two directions
// (rte_flow_action_handle_create); here each direction carries its own CONNTRACK action, with
// is_original_dir telling them apart.

#include <ctsim/ct_offload.h>
#include <rte_flow.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/status.h"

namespace ctsim::dpdk {

// What the builder needs to know about a connection.
struct FlowConn {
  ctsim_conn_key key{};      // The key of the direction this rule matches.
  bool original_dir = true;  // The rule matches the original (initiator's) direction.
  bool has_tcp = false;      // 'tcp' is valid (a TCP connection with peer state).
  ctsim_tcp_peer tcp[2]{};   // [CTSIM_DIR_ORIG], [CTSIM_DIR_REPLY], when has_tcp.
};

// Rule parameters that do not come from the connection.
struct FlowRuleOptions {
  uint16_t peer_port = 0;            // CONNTRACK peer_port (the port the rule goes to).
  uint32_t group = 0;                // attr.group of the rule.
  uint32_t jump_group = 1;           // JUMP target group.
  uint32_t age_s = 0;                // AGE timeout in seconds (24 bits); 0 = no AGE action.
  uint8_t max_ack_window = 7;        // CONNTRACK max_ack_window (as testpmd's example).
  uint8_t retransmission_limit = 5;  // CONNTRACK retransmission_limit (ditto).
};

// One rte_flow rule with its storage.
struct FlowRule {
  FlowRule() = default;
  FlowRule(const FlowRule&) = delete;
  FlowRule& operator=(const FlowRule&) = delete;

  rte_flow_attr attr{};                   // Ingress, group.
  rte_flow_item_ipv4 ipv4_spec{};         // IPv4 spec (when IPv4).
  rte_flow_item_ipv4 ipv4_mask{};         // IPv4 mask: addresses and protocol exact.
  rte_flow_item_ipv6 ipv6_spec{};         // IPv6 spec (when IPv6).
  rte_flow_item_ipv6 ipv6_mask{};         // IPv6 mask: addresses and next header exact.
  rte_flow_item_tcp tcp_spec{};           // TCP ports (when TCP).
  rte_flow_item_tcp tcp_mask{};           // TCP mask: both ports exact.
  rte_flow_item_udp udp_spec{};           // UDP ports (when UDP).
  rte_flow_item_udp udp_mask{};           // UDP mask: both ports exact.
  rte_flow_action_conntrack conntrack{};  // CONNTRACK configuration (TCP only).
  rte_flow_action_age age{};              // AGE configuration.
  rte_flow_action_count count{};          // COUNT configuration (id 0, not shared).
  rte_flow_action_jump jump{};            // JUMP target.
  std::vector<rte_flow_item> pattern;     // Items, ending with END; point into this object.
  std::vector<rte_flow_action> actions;   // Actions, ending with END; ditto.
};

// Builds the rule for 'conn'.  ENOTSUP for protocols other than TCP and UDP, EINVAL for an
// address family other than IPv4/IPv6.
Result<std::unique_ptr<FlowRule>> buildFlowRule(const FlowConn& conn,
                                                const FlowRuleOptions& options);

// The rte_flow conntrack state for pf peer states (orig, reply): SYN_RECV during the handshake
// (rte_flow has no SYN_SENT), ESTABLISHED, FIN_WAIT after a first FIN, CLOSE_WAIT once it is
// acknowledged, LAST_ACK after the second FIN, TIME_WAIT once both are acknowledged.
rte_flow_conntrack_state conntrackState(const ctsim_tcp_peer& orig, const ctsim_tcp_peer& reply);

// The CONNTRACK action configuration for a TCP connection's peers.
rte_flow_action_conntrack conntrackAction(const ctsim_tcp_peer& orig, const ctsim_tcp_peer& reply,
                                          bool original_dir, const FlowRuleOptions& options);

// "rte_flow_validate: <message> (type N, errno E: <strerror>)" for a refused call.
std::string flowErrorText(const char* call, int ret, const rte_flow_error& error);

}  // namespace ctsim::dpdk
