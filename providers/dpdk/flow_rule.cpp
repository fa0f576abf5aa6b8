#include "providers/dpdk/flow_rule.h"

#include <rte_byteorder.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ctsim::dpdk {

namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

rte_flow_tcp_dir_param dirParam(const ctsim_tcp_peer& self, const ctsim_tcp_peer& other) {
  rte_flow_tcp_dir_param p{};
  const bool scaled = (self.wscale & 0x80) != 0;
  const unsigned shift = std::min<unsigned>(self.wscale & 0x0f, 14);
  p.scale = scaled ? shift : 0xF;  // 0xF: scaling disabled.
  p.close_initiated = self.state >= CTSIM_TCPS_CLOSING;
  p.last_ack_seen = self.state >= CTSIM_TCPS_ESTABLISHED;
  p.data_unacked = 0;        // Unknown to pf's state: assume all acknowledged.
  p.sent_end = self.seqlo;   // pf seqlo: highest sequence sent (+ length).
  p.reply_end = self.seqhi;  // pf seqhi: highest sequence acceptable from this side.
  p.max_win = scaled ? static_cast<uint32_t>(self.max_win) << shift : self.max_win;
  p.max_ack = other.seqlo;  // Best estimate: this side acknowledged all the other sent.
  return p;
}

}  // namespace

rte_flow_conntrack_state conntrackState(const ctsim_tcp_peer& orig, const ctsim_tcp_peer& reply) {
  const uint8_t lo = std::min(orig.state, reply.state);
  const uint8_t hi = std::max(orig.state, reply.state);
  if (lo >= CTSIM_TCPS_FIN_WAIT_2) return RTE_FLOW_CONNTRACK_STATE_TIME_WAIT;
  if (lo >= CTSIM_TCPS_CLOSING) return RTE_FLOW_CONNTRACK_STATE_LAST_ACK;
  if (hi >= CTSIM_TCPS_FIN_WAIT_2) return RTE_FLOW_CONNTRACK_STATE_CLOSE_WAIT;
  if (hi >= CTSIM_TCPS_CLOSING) return RTE_FLOW_CONNTRACK_STATE_FIN_WAIT;
  if (lo >= CTSIM_TCPS_ESTABLISHED) return RTE_FLOW_CONNTRACK_STATE_ESTABLISHED;
  return RTE_FLOW_CONNTRACK_STATE_SYN_RECV;
}

rte_flow_action_conntrack conntrackAction(const ctsim_tcp_peer& orig, const ctsim_tcp_peer& reply,
                                          bool original_dir, const FlowRuleOptions& options) {
  rte_flow_action_conntrack ct{};
  ct.peer_port = options.peer_port;
  ct.is_original_dir = original_dir;
  ct.enable = 1;
  ct.state = conntrackState(orig, reply);
  ct.live_connection = ct.state == RTE_FLOW_CONNTRACK_STATE_ESTABLISHED;
  ct.selective_ack = 0;
  ct.challenge_ack_passed = 0;
  ct.last_direction = original_dir;
  ct.liberal_mode = 0;
  ct.max_ack_window = options.max_ack_window;
  ct.retransmission_limit = options.retransmission_limit;
  ct.original_dir = dirParam(orig, reply);
  ct.reply_dir = dirParam(reply, orig);
  ct.last_window = 0;  // The last packet is not known to the provider interface.
  ct.last_index = RTE_FLOW_CONNTRACK_FLAG_NONE;
  ct.last_seq = 0;
  ct.last_ack = 0;
  ct.last_end = 0;
  return ct;
}

Result<std::unique_ptr<FlowRule>> buildFlowRule(const FlowConn& conn,
                                                const FlowRuleOptions& options) {
  const ctsim_conn_key& k = conn.key;
  if (k.af != CTSIM_AF_INET && k.af != CTSIM_AF_INET6) {
    return Status(EINVAL, "rte_flow rule: address family " + std::to_string(k.af) +
                              " is neither IPv4 nor IPv6");
  }
  if (k.proto != kProtoTcp && k.proto != kProtoUdp) {
    return Status(ENOTSUP, "rte_flow rule: IP protocol " + std::to_string(k.proto) +
                               " not offloaded (TCP and UDP only)");
  }
  auto r = std::make_unique<FlowRule>();
  r->attr.group = options.group;
  r->attr.ingress = 1;

  r->pattern.push_back(rte_flow_item{RTE_FLOW_ITEM_TYPE_ETH, nullptr, nullptr, nullptr});
  if (k.af == CTSIM_AF_INET) {
    std::memcpy(&r->ipv4_spec.hdr.src_addr, k.src, 4);  // Both network byte order.
    std::memcpy(&r->ipv4_spec.hdr.dst_addr, k.dst, 4);
    r->ipv4_spec.hdr.next_proto_id = k.proto;
    r->ipv4_mask.hdr.src_addr = RTE_BE32(0xffffffff);
    r->ipv4_mask.hdr.dst_addr = RTE_BE32(0xffffffff);
    r->ipv4_mask.hdr.next_proto_id = 0xff;
    r->pattern.push_back(
        rte_flow_item{RTE_FLOW_ITEM_TYPE_IPV4, &r->ipv4_spec, nullptr, &r->ipv4_mask});
  } else {
    std::memcpy(r->ipv6_spec.hdr.src_addr, k.src, 16);
    std::memcpy(r->ipv6_spec.hdr.dst_addr, k.dst, 16);
    r->ipv6_spec.hdr.proto = k.proto;
    std::memset(r->ipv6_mask.hdr.src_addr, 0xff, 16);
    std::memset(r->ipv6_mask.hdr.dst_addr, 0xff, 16);
    r->ipv6_mask.hdr.proto = 0xff;
    r->pattern.push_back(
        rte_flow_item{RTE_FLOW_ITEM_TYPE_IPV6, &r->ipv6_spec, nullptr, &r->ipv6_mask});
  }
  if (k.proto == kProtoTcp) {
    r->tcp_spec.hdr.src_port = rte_cpu_to_be_16(k.ports.src);
    r->tcp_spec.hdr.dst_port = rte_cpu_to_be_16(k.ports.dst);
    r->tcp_mask.hdr.src_port = RTE_BE16(0xffff);
    r->tcp_mask.hdr.dst_port = RTE_BE16(0xffff);
    r->pattern.push_back(
        rte_flow_item{RTE_FLOW_ITEM_TYPE_TCP, &r->tcp_spec, nullptr, &r->tcp_mask});
  } else {
    r->udp_spec.hdr.src_port = rte_cpu_to_be_16(k.ports.src);
    r->udp_spec.hdr.dst_port = rte_cpu_to_be_16(k.ports.dst);
    r->udp_mask.hdr.src_port = RTE_BE16(0xffff);
    r->udp_mask.hdr.dst_port = RTE_BE16(0xffff);
    r->pattern.push_back(
        rte_flow_item{RTE_FLOW_ITEM_TYPE_UDP, &r->udp_spec, nullptr, &r->udp_mask});
  }
  r->pattern.push_back(rte_flow_item{RTE_FLOW_ITEM_TYPE_END, nullptr, nullptr, nullptr});

  if (k.proto == kProtoTcp && conn.has_tcp) {
    r->conntrack = conntrackAction(conn.tcp[CTSIM_DIR_ORIG], conn.tcp[CTSIM_DIR_REPLY],
                                   conn.original_dir, options);
    r->actions.push_back(rte_flow_action{RTE_FLOW_ACTION_TYPE_CONNTRACK, &r->conntrack});
  }
  if (options.age_s > 0) {
    r->age.timeout = std::min<uint32_t>(options.age_s, 0xffffff);
    r->age.context = nullptr;  // The rte_flow handle is reported when aged.
    r->actions.push_back(rte_flow_action{RTE_FLOW_ACTION_TYPE_AGE, &r->age});
  }
  r->count.id = 0;
  r->actions.push_back(rte_flow_action{RTE_FLOW_ACTION_TYPE_COUNT, &r->count});
  r->jump.group = options.jump_group;
  r->actions.push_back(rte_flow_action{RTE_FLOW_ACTION_TYPE_JUMP, &r->jump});
  r->actions.push_back(rte_flow_action{RTE_FLOW_ACTION_TYPE_END, nullptr});
  return r;
}

std::string flowErrorText(const char* call, int ret, const rte_flow_error& error) {
  const int err = ret < 0 ? -ret : ret;
  std::string s = std::string(call) + ": " + (error.message ? error.message : "(no message)");
  s += " (rte_flow_error type " + std::to_string(static_cast<int>(error.type)) + ", errno " +
       std::to_string(err) + ": " + std::strerror(err) + ")";
  return s;
}

}  // namespace ctsim::dpdk
