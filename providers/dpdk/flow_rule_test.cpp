// The connection -> rte_flow rule translation, checked item by item without a port or EAL.
#include "providers/dpdk/flow_rule.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "providers/test_util.h"

namespace ctsim::dpdk {
namespace {

std::vector<rte_flow_item_type> itemTypes(const FlowRule& r) {
  std::vector<rte_flow_item_type> v;
  for (const rte_flow_item& i : r.pattern) v.push_back(i.type);
  return v;
}

std::vector<rte_flow_action_type> actionTypes(const FlowRule& r) {
  std::vector<rte_flow_action_type> v;
  for (const rte_flow_action& a : r.actions) v.push_back(a.type);
  return v;
}

ctsim_tcp_peer peer(uint8_t state, uint32_t seqlo, uint32_t seqhi, uint16_t max_win,
                    uint8_t wscale) {
  ctsim_tcp_peer p{};
  p.state = state;
  p.seqlo = seqlo;
  p.seqhi = seqhi;
  p.max_win = max_win;
  p.wscale = wscale;
  return p;
}

// IPv4 TCP: ETH(any) / IPV4 exact addresses and protocol / TCP exact ports; CONNTRACK, AGE,
// COUNT, JUMP; ingress in the configured group.
TEST(FlowRule, Ipv4TcpPatternAndActions) {
  conn c = ctsim::testing::makeConn(1234, 6);
  FlowConn fc;
  fc.key = c.key_fwd;
  fc.has_tcp = true;
  fc.tcp[0] = peer(CTSIM_TCPS_ESTABLISHED, 1000, 70000, 65535, 0);
  fc.tcp[1] = peer(CTSIM_TCPS_ESTABLISHED, 5000, 66000, 29200, 0);
  FlowRuleOptions o;
  o.peer_port = 3;
  o.group = 2;
  o.jump_group = 9;
  o.age_s = 30;
  auto r = buildFlowRule(fc, o);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const FlowRule& f = *r.value();
  EXPECT_EQ(f.attr.group, 2u);
  EXPECT_EQ(f.attr.ingress, 1u);
  EXPECT_EQ(f.attr.egress, 0u);
  EXPECT_EQ(itemTypes(f),
            (std::vector<rte_flow_item_type>{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_IPV4,
                                             RTE_FLOW_ITEM_TYPE_TCP, RTE_FLOW_ITEM_TYPE_END}));
  EXPECT_EQ(f.pattern[0].spec, nullptr);  // Any Ethernet.
  EXPECT_EQ(f.pattern[0].mask, nullptr);
  const auto* ip = static_cast<const rte_flow_item_ipv4*>(f.pattern[1].spec);
  const auto* ipm = static_cast<const rte_flow_item_ipv4*>(f.pattern[1].mask);
  EXPECT_EQ(ip->hdr.src_addr, htonl(0x0a000001));  // 10.0.0.1
  EXPECT_EQ(ip->hdr.dst_addr, htonl(0x0a000002));  // 10.0.0.2
  EXPECT_EQ(ip->hdr.next_proto_id, 6);
  EXPECT_EQ(ipm->hdr.src_addr, 0xffffffffu);
  EXPECT_EQ(ipm->hdr.dst_addr, 0xffffffffu);
  EXPECT_EQ(ipm->hdr.next_proto_id, 0xff);
  EXPECT_EQ(ipm->hdr.type_of_service, 0);  // Nothing else matched.
  EXPECT_EQ(ipm->hdr.time_to_live, 0);
  EXPECT_EQ(f.pattern[1].last, nullptr);
  const auto* tcp = static_cast<const rte_flow_item_tcp*>(f.pattern[2].spec);
  const auto* tcpm = static_cast<const rte_flow_item_tcp*>(f.pattern[2].mask);
  EXPECT_EQ(tcp->hdr.src_port, htons(1234));
  EXPECT_EQ(tcp->hdr.dst_port, htons(80));
  EXPECT_EQ(tcpm->hdr.src_port, 0xffff);
  EXPECT_EQ(tcpm->hdr.dst_port, 0xffff);
  EXPECT_EQ(tcpm->hdr.tcp_flags, 0);
  EXPECT_EQ(actionTypes(f),
            (std::vector<rte_flow_action_type>{
                RTE_FLOW_ACTION_TYPE_CONNTRACK, RTE_FLOW_ACTION_TYPE_AGE,
                RTE_FLOW_ACTION_TYPE_COUNT, RTE_FLOW_ACTION_TYPE_JUMP, RTE_FLOW_ACTION_TYPE_END}));
  const auto* ct = static_cast<const rte_flow_action_conntrack*>(f.actions[0].conf);
  EXPECT_EQ(ct->peer_port, 3);
  EXPECT_EQ(ct->state, RTE_FLOW_CONNTRACK_STATE_ESTABLISHED);
  EXPECT_EQ(static_cast<const rte_flow_action_age*>(f.actions[1].conf)->timeout, 30u);
  EXPECT_EQ(static_cast<const rte_flow_action_jump*>(f.actions[3].conf)->group, 9u);
  EXPECT_EQ(f.actions[4].conf, nullptr);
}

// IPv6 UDP: ETH / IPV6 exact addresses and next header / UDP exact ports; no CONNTRACK (TCP
// only) and no AGE without an aging time.
TEST(FlowRule, Ipv6UdpPatternAndActions) {
  FlowConn fc;
  fc.key.af = CTSIM_AF_INET6;
  fc.key.proto = 17;
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", fc.key.src), 1);
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::ff", fc.key.dst), 1);
  fc.key.ports.src = 5353;
  fc.key.ports.dst = 53;
  auto r = buildFlowRule(fc, FlowRuleOptions{});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const FlowRule& f = *r.value();
  EXPECT_EQ(itemTypes(f),
            (std::vector<rte_flow_item_type>{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_IPV6,
                                             RTE_FLOW_ITEM_TYPE_UDP, RTE_FLOW_ITEM_TYPE_END}));
  const auto* ip = static_cast<const rte_flow_item_ipv6*>(f.pattern[1].spec);
  const auto* ipm = static_cast<const rte_flow_item_ipv6*>(f.pattern[1].mask);
  EXPECT_EQ(std::memcmp(ip->hdr.src_addr, fc.key.src, 16), 0);
  EXPECT_EQ(std::memcmp(ip->hdr.dst_addr, fc.key.dst, 16), 0);
  EXPECT_EQ(ip->hdr.proto, 17);
  const uint8_t ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(std::memcmp(ipm->hdr.src_addr, ones, 16), 0);
  EXPECT_EQ(std::memcmp(ipm->hdr.dst_addr, ones, 16), 0);
  EXPECT_EQ(ipm->hdr.proto, 0xff);
  EXPECT_EQ(ipm->hdr.vtc_flow, 0u);
  const auto* udp = static_cast<const rte_flow_item_udp*>(f.pattern[2].spec);
  const auto* udpm = static_cast<const rte_flow_item_udp*>(f.pattern[2].mask);
  EXPECT_EQ(udp->hdr.src_port, htons(5353));
  EXPECT_EQ(udp->hdr.dst_port, htons(53));
  EXPECT_EQ(udpm->hdr.src_port, 0xffff);
  EXPECT_EQ(udpm->hdr.dst_port, 0xffff);
  EXPECT_EQ(actionTypes(f),
            (std::vector<rte_flow_action_type>{
                RTE_FLOW_ACTION_TYPE_COUNT, RTE_FLOW_ACTION_TYPE_JUMP, RTE_FLOW_ACTION_TYPE_END}));
}

// The CONNTRACK fields come from the pf peers: window scale (0xF when not negotiated), the
// sequence bounds, the scaled max window, FIN bookkeeping, and the rule's direction.
TEST(FlowRule, ConntrackFieldsFromTcpState) {
  const ctsim_tcp_peer orig = peer(CTSIM_TCPS_CLOSING, 2000, 90000, 1000, 0x80 | 7);
  const ctsim_tcp_peer reply = peer(CTSIM_TCPS_ESTABLISHED, 7000, 130000, 500, 0x80 | 2);
  FlowRuleOptions o;
  o.peer_port = 1;
  rte_flow_action_conntrack ct = conntrackAction(orig, reply, true, o);
  EXPECT_EQ(ct.peer_port, 1);
  EXPECT_EQ(ct.is_original_dir, 1u);
  EXPECT_EQ(ct.enable, 1u);
  EXPECT_EQ(ct.state, RTE_FLOW_CONNTRACK_STATE_FIN_WAIT);
  EXPECT_EQ(ct.live_connection, 0u);
  EXPECT_EQ(ct.liberal_mode, 0u);
  EXPECT_EQ(ct.max_ack_window, 7);
  EXPECT_EQ(ct.retransmission_limit, 5);
  EXPECT_EQ(ct.original_dir.scale, 7u);
  EXPECT_EQ(ct.original_dir.close_initiated, 1u);
  EXPECT_EQ(ct.original_dir.last_ack_seen, 1u);
  EXPECT_EQ(ct.original_dir.sent_end, 2000u);
  EXPECT_EQ(ct.original_dir.reply_end, 90000u);
  EXPECT_EQ(ct.original_dir.max_win, 1000u << 7);
  EXPECT_EQ(ct.original_dir.max_ack, 7000u);
  EXPECT_EQ(ct.reply_dir.scale, 2u);
  EXPECT_EQ(ct.reply_dir.close_initiated, 0u);
  EXPECT_EQ(ct.reply_dir.sent_end, 7000u);
  EXPECT_EQ(ct.reply_dir.reply_end, 130000u);
  EXPECT_EQ(ct.reply_dir.max_win, 500u << 2);
  EXPECT_EQ(ct.reply_dir.max_ack, 2000u);
  // Unscaled peers report scale 0xF and the raw window; the reply rule is not original.
  const ctsim_tcp_peer plain = peer(CTSIM_TCPS_ESTABLISHED, 1, 2, 3000, 0);
  rte_flow_action_conntrack rev = conntrackAction(plain, plain, false, o);
  EXPECT_EQ(rev.original_dir.scale, 0xFu);
  EXPECT_EQ(rev.original_dir.max_win, 3000u);
  EXPECT_EQ(rev.is_original_dir, 0u);
  EXPECT_EQ(rev.last_direction, 0u);
  EXPECT_EQ(rev.state, RTE_FLOW_CONNTRACK_STATE_ESTABLISHED);
  EXPECT_EQ(rev.live_connection, 1u);
}

// pf peer states map onto the six rte_flow conntrack states through a connection's life.
TEST(FlowRule, ConntrackStateThroughALifetime) {
  struct Case {
    uint8_t orig, reply;
    rte_flow_conntrack_state want;
  };
  const Case cases[] = {
      {CTSIM_TCPS_SYN_SENT, CTSIM_TCPS_CLOSED, RTE_FLOW_CONNTRACK_STATE_SYN_RECV},
      {CTSIM_TCPS_SYN_SENT, CTSIM_TCPS_SYN_SENT, RTE_FLOW_CONNTRACK_STATE_SYN_RECV},
      {CTSIM_TCPS_ESTABLISHED, CTSIM_TCPS_ESTABLISHED, RTE_FLOW_CONNTRACK_STATE_ESTABLISHED},
      {CTSIM_TCPS_CLOSING, CTSIM_TCPS_ESTABLISHED, RTE_FLOW_CONNTRACK_STATE_FIN_WAIT},
      {CTSIM_TCPS_ESTABLISHED, CTSIM_TCPS_CLOSING, RTE_FLOW_CONNTRACK_STATE_FIN_WAIT},
      {CTSIM_TCPS_FIN_WAIT_2, CTSIM_TCPS_ESTABLISHED, RTE_FLOW_CONNTRACK_STATE_CLOSE_WAIT},
      {CTSIM_TCPS_FIN_WAIT_2, CTSIM_TCPS_CLOSING, RTE_FLOW_CONNTRACK_STATE_LAST_ACK},
      {CTSIM_TCPS_CLOSING, CTSIM_TCPS_CLOSING, RTE_FLOW_CONNTRACK_STATE_LAST_ACK},
      {CTSIM_TCPS_FIN_WAIT_2, CTSIM_TCPS_FIN_WAIT_2, RTE_FLOW_CONNTRACK_STATE_TIME_WAIT},
      {CTSIM_TCPS_TIME_WAIT, CTSIM_TCPS_TIME_WAIT, RTE_FLOW_CONNTRACK_STATE_TIME_WAIT},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(conntrackState(peer(c.orig, 0, 0, 0, 0), peer(c.reply, 0, 0, 0, 0)), c.want)
        << int(c.orig) << "/" << int(c.reply);
  }
}

// Protocols other than TCP/UDP are ENOTSUP, unknown families EINVAL; errors read clearly.
TEST(FlowRule, UnsupportedKeysAndErrorText) {
  FlowConn icmp;
  icmp.key = ctsim::testing::makeConn(1, 1).key_fwd;
  auto r = buildFlowRule(icmp, FlowRuleOptions{});
  EXPECT_EQ(r.status().code(), ENOTSUP);
  EXPECT_NE(r.status().message().find("TCP and UDP only"), std::string::npos);
  FlowConn bad;
  bad.key.proto = 6;
  bad.key.af = 0;
  EXPECT_EQ(buildFlowRule(bad, FlowRuleOptions{}).status().code(), EINVAL);
  rte_flow_error e{};
  e.type = RTE_FLOW_ERROR_TYPE_ACTION;
  e.message = "conntrack not supported";
  EXPECT_EQ(flowErrorText("rte_flow_validate", -ENOTSUP, e),
            "rte_flow_validate: conntrack not supported (rte_flow_error type " +
                std::to_string(static_cast<int>(RTE_FLOW_ERROR_TYPE_ACTION)) + ", errno " +
                std::to_string(ENOTSUP) + ": " + std::strerror(ENOTSUP) + ")");
}

}  // namespace
}  // namespace ctsim::dpdk
