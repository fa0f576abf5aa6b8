// UDP, SCTP and every other IP protocol: FIRST -> MULTIPLE -> BIDIR; ICMP echo-like: FIRST ->
// REPLY.
#include "sim/conntrack/l4_proto.h"
#include "sim/packet.h"

namespace ctsim::ct {
namespace {

// The timer of each OtherState, one to one (as OVS's other_timeouts), so a connection stores
// only its coarse state (CTSIM_CS_OTHER_FIRST, _MULTIPLE, _BIDIR in OtherState's order) and the
// state is read back from it.
constexpr Timeout kOtherTimers[] = {Timeout::kUdpFirst, Timeout::kUdpSingle, Timeout::kUdpMultiple};
static_assert(CTSIM_CS_OTHER_MULTIPLE == CTSIM_CS_OTHER_FIRST + 1 &&
              CTSIM_CS_OTHER_BIDIR == CTSIM_CS_OTHER_FIRST + 2);

OtherState otherState(const Conn& c) { return OtherState(c.ext.state - CTSIM_CS_OTHER_FIRST); }
// ICMP: FIRST arms kIcmpFirst (CTSIM_CS_ICMP_FIRST), REPLY kIcmpReply (CTSIM_CS_ICMP_REPLY).
IcmpState icmpState(const Conn& c) {
  return c.ext.state == CTSIM_CS_ICMP_REPLY ? IcmpState::kReply : IcmpState::kFirst;
}

bool otherValidNew(const CtPacket&) { return true; }

void otherNewConn(Conntrack& ct, Conn& c, const CtPacket&, int64_t now) {
  ct.setTimer(c, kOtherTimers[size_t(OtherState::kFirst)], now);
}

UpdateResult otherUpdate(Conntrack& ct, Conn& c, const CtPacket&, bool reply, int64_t now) {
  OtherState state = otherState(c);
  if (reply && state != OtherState::kBidir) {
    state = OtherState::kBidir;
  } else if (state == OtherState::kFirst) {
    state = OtherState::kMultiple;
  }
  ct.setTimer(c, kOtherTimers[size_t(state)], now);
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
  ct.setTimer(c, Timeout::kIcmpFirst, now);
}

UpdateResult icmpUpdate(Conntrack& ct, Conn& c, const CtPacket&, bool reply, int64_t now) {
  bool replied = reply || icmpState(c) == IcmpState::kReply;
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
