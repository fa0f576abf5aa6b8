// UDP, SCTP and every other IP protocol: FIRST -> MULTIPLE -> BIDIR; ICMP echo-like: FIRST ->
// REPLY.
#include "sim/conntrack/l4_proto.h"
#include "sim/packet.h"

namespace ctsim::ct {
namespace {

constexpr Timeout kOtherTimers[] = {Timeout::kUdpFirst, Timeout::kUdpSingle, Timeout::kUdpMultiple};

bool otherValidNew(const CtPacket&) { return true; }

void otherNewConn(Conntrack& ct, Conn& c, const CtPacket&, int64_t now) {
  c.l4_state = uint8_t(OtherState::kFirst);
  ct.setTimer(c, kOtherTimers[c.l4_state], now);
}

UpdateResult otherUpdate(Conntrack& ct, Conn& c, const CtPacket&, bool reply, int64_t now) {
  auto state = OtherState(c.l4_state);
  if (reply && state != OtherState::kBidir) {
    state = OtherState::kBidir;
  } else if (state == OtherState::kFirst) {
    state = OtherState::kMultiple;
  }
  c.l4_state = uint8_t(state);
  ct.setTimer(c, kOtherTimers[c.l4_state], now);
  // `new` until a reply has been seen.
  return state == OtherState::kBidir ? UpdateResult::kValid : UpdateResult::kValidNew;
}

// ICMP: echo, timestamp and information requests may start a connection.
bool icmp4ValidNew(const CtPacket& p) {
  return p.l4_type == 8 || p.l4_type == 13 || p.l4_type == 15;
}
// ICMPv6: echo requests only.
bool icmp6ValidNew(const CtPacket& p) { return p.l4_type == 128; }

void icmpNewConn(Conntrack& ct, Conn& c, const CtPacket&, int64_t now) {
  c.l4_state = uint8_t(IcmpState::kFirst);
  ct.setTimer(c, Timeout::kIcmpFirst, now);
}

UpdateResult icmpUpdate(Conntrack& ct, Conn& c, const CtPacket&, bool reply, int64_t now) {
  if (reply && IcmpState(c.l4_state) == IcmpState::kFirst) c.l4_state = uint8_t(IcmpState::kReply);
  bool replied = IcmpState(c.l4_state) == IcmpState::kReply;
  ct.setTimer(c, replied ? Timeout::kIcmpReply : Timeout::kIcmpFirst, now);
  return replied ? UpdateResult::kValid : UpdateResult::kValidNew;
}

}  // namespace

const L4Ops kOtherOps = {otherValidNew, otherNewConn, otherUpdate};
const L4Ops kIcmp4Ops = {icmp4ValidNew, icmpNewConn, icmpUpdate};
const L4Ops kIcmp6Ops = {icmp6ValidNew, icmpNewConn, icmpUpdate};

const L4Ops& l4Ops(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return kTcpOps;
    case kProtoIcmp:
      return kIcmp4Ops;
    case kProtoIcmpv6:
      return kIcmp6Ops;
    default:
      return kOtherOps;
  }
}

}  // namespace ctsim::ct
