// TCP connection tracking: pf's sequence/window tracking as OVS adopted it.
#include "sim/conntrack/l4_proto.h"
#include "sim/packet.h"

namespace ctsim::ct {
namespace {

constexpr uint8_t kWscaleFlag = 0x80;     // the peer sent a window-scale option.
constexpr uint8_t kWscaleUnknown = 0x40;  // picked up mid-stream: scaling unknown.
constexpr uint8_t kWscaleMask = 0x0f;
constexpr int kMaxWscale = 14;
constexpr int kMaxAckWindow = 0xffff + 1500;

inline bool seqGt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }
inline bool seqGeq(uint32_t a, uint32_t b) { return int32_t(a - b) >= 0; }

// Flag combinations pf's normaliser rejects.
bool invalidFlags(uint8_t f) {
  if (f & kTcpSyn) {
    if (f & (kTcpRst | kTcpFin)) return true;
  } else if ((f & (kTcpAck | kTcpRst)) == 0) {
    return true;
  }
  if ((f & kTcpAck) == 0 && (f & (kTcpFin | kTcpPsh | kTcpUrg))) return true;
  return false;
}

bool tcpValidNew(const CtPacket& p) {
  if (invalidFlags(p.tcp_flags)) return false;
  // A SYN+ACK may not open a connection; a SYN or a mid-stream segment may.
  return !((p.tcp_flags & kTcpSyn) && (p.tcp_flags & kTcpAck));
}

void tcpNewConn(Conntrack& ct, Conn& c, const CtPacket& p, int64_t now) {
  ctsim_tcp_peer& src = c.ext.tcp[CTSIM_DIR_ORIG];
  ctsim_tcp_peer& dst = c.ext.tcp[CTSIM_DIR_REPLY];
  src = ctsim_tcp_peer{};
  dst = ctsim_tcp_peer{};
  src.seqlo = p.tcp_seq;
  src.seqhi = src.seqlo + p.tcp_payload + 1;
  if (p.tcp_flags & kTcpSyn) {
    src.seqhi++;
    src.wscale = p.tcp_wscale;
  } else {
    src.wscale = kWscaleUnknown;
    dst.wscale = kWscaleUnknown;
  }
  uint32_t win = p.tcp_win > 1 ? p.tcp_win : 1;
  if (src.wscale & kWscaleMask) {
    uint32_t div = 1u << (src.wscale & kWscaleMask);
    win = (win + div - 1) / div;
  }
  src.max_win = uint16_t(win);
  if (p.tcp_flags & kTcpFin) src.seqhi++;
  dst.seqhi = 1;
  dst.max_win = 1;
  src.state = CTSIM_TCPS_SYN_SENT;
  dst.state = CTSIM_TCPS_CLOSED;
  ct.setTimer(c, Timeout::kTcpSynSent, now);
}

UpdateResult tcpUpdate(Conntrack& ct, Conn& c, const CtPacket& p, bool reply, int64_t now) {
  ctsim_tcp_peer* src = &c.ext.tcp[reply ? 1 : 0];  // the sender of the packet.
  ctsim_tcp_peer* dst = &c.ext.tcp[reply ? 0 : 1];  // its receiver.
  uint8_t flags = p.tcp_flags;
  if (invalidFlags(flags)) return UpdateResult::kInvalid;

  if ((flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
    if (dst->state >= CTSIM_TCPS_FIN_WAIT_2 && src->state >= CTSIM_TCPS_FIN_WAIT_2) {
      src->state = dst->state = CTSIM_TCPS_CLOSED;  // port reuse: a new connection.
      return UpdateResult::kNew;
    }
    if (src->state <= CTSIM_TCPS_SYN_SENT) {  // a SYN again: still opening.
      src->state = CTSIM_TCPS_SYN_SENT;
      ct.setTimer(c, Timeout::kTcpSynSent, now);
      return UpdateResult::kValidNew;
    }
  }

  uint8_t sws = 0, dws = 0;
  if ((src->wscale & kWscaleFlag) && (dst->wscale & kWscaleFlag) && !(flags & kTcpSyn)) {
    sws = src->wscale & kWscaleMask;
    dws = dst->wscale & kWscaleMask;
  } else if ((src->wscale & kWscaleUnknown) && (dst->wscale & kWscaleUnknown) &&
             !(flags & kTcpSyn)) {
    sws = dws = kMaxWscale;
  }

  bool first_from_src = src->state < CTSIM_TCPS_SYN_SENT;
  if (first_from_src && (flags & kTcpRst) && ct.config().strict.validate_responder_rst &&
      dst->state == CTSIM_TCPS_SYN_SENT) {
    // Strict (facts §5.5): the responder's RST must acknowledge the SYN it answers: ACK set and
    // ack = ISN + 1 (RFC 793, SYN-SENT: ISS < SEG.ACK <= SND.NXT). dst->seqlo is the ISN.
    uint32_t a = p.tcp_ack;
    if (!(flags & kTcpAck) || a != dst->seqlo + 1) {
      return UpdateResult::kInvalid;
    }
  }

  uint16_t win = p.tcp_win;
  uint32_t seq = p.tcp_seq;
  const uint32_t orig_seq = seq;
  uint32_t ack = p.tcp_ack;
  uint32_t end = seq + p.tcp_payload;
  bool check_ackskew = true;
  if (first_from_src) {
    // The first packet from this side initialises it.
    if (flags & kTcpSyn) {
      end++;
      if (dst->wscale & kWscaleFlag) {
        src->wscale = p.tcp_wscale;
        if (src->wscale & kWscaleFlag) {
          sws = src->wscale & kWscaleMask;
          uint32_t div = 1u << sws;
          win = uint16_t((uint32_t(win) + div - 1) / div);
          dws = dst->wscale & kWscaleMask;
        } else {
          dst->max_win = uint16_t(dst->max_win << (dst->wscale & kWscaleMask));
          dst->wscale = 0;
        }
      }
    }
    if (flags & kTcpFin) end++;
    src->seqlo = seq;
    src->state = CTSIM_TCPS_SYN_SENT;
    int32_t span = int32_t(dst->max_win) << dws;
    uint32_t fwd = uint32_t(span > 1 ? span : 1);
    if (src->seqhi == 1 || seqGeq(end + fwd, src->seqhi)) {
      src->seqhi = end + fwd;
      check_ackskew = false;  // picking up a connection: no ack-skew check.
    }
    if (win > src->max_win) src->max_win = win;
  } else {
    if (flags & kTcpSyn) end++;
    if (flags & kTcpFin) end++;
  }

  if ((flags & kTcpAck) == 0) {
    ack = dst->seqlo;
  } else if (ack == 0 && (flags & (kTcpAck | kTcpRst)) == (kTcpAck | kTcpRst)) {
    ack = dst->seqlo;  // stacks that send RST|ACK with no ack number.
  }
  if (seq == end) {  // no data: any sequence number of the window will do.
    seq = src->seqlo;
    end = seq;
  }

  int32_t ackskew = check_ackskew ? int32_t(dst->seqlo - ack) : 0;
  uint32_t back = uint32_t(int32_t(dst->max_win) << dws);
  bool in_window = seqGeq(src->seqhi, end) && seqGeq(seq, src->seqlo - back) &&
                   ackskew >= -kMaxAckWindow &&
                   int64_t(ackskew) <= (int64_t(kMaxAckWindow) << sws) &&
                   ((flags & kTcpRst) == 0 || orig_seq == src->seqlo ||
                    orig_seq == src->seqlo + 1 || orig_seq + 1 == src->seqlo);
  uint32_t scaled_win = uint32_t(win) << sws;
  if (in_window || ct.seqCheckBypassed(c)) {
    if (src->max_win < win) src->max_win = win;
    if (seqGt(end, src->seqlo)) src->seqlo = end;
    if (seqGeq(ack + scaled_win, dst->seqhi)) dst->seqhi = ack + (scaled_win > 1 ? scaled_win : 1);
    if ((flags & kTcpSyn) && src->state < CTSIM_TCPS_SYN_SENT) src->state = CTSIM_TCPS_SYN_SENT;
    if ((flags & kTcpFin) && src->state < CTSIM_TCPS_CLOSING) src->state = CTSIM_TCPS_CLOSING;
    if (flags & kTcpAck) {
      if (dst->state == CTSIM_TCPS_SYN_SENT) {
        dst->state = CTSIM_TCPS_ESTABLISHED;
      } else if (dst->state == CTSIM_TCPS_CLOSING) {
        dst->state = CTSIM_TCPS_FIN_WAIT_2;
      }
    }
    if (flags & kTcpRst) src->state = dst->state = CTSIM_TCPS_TIME_WAIT;

    if (src->state >= CTSIM_TCPS_FIN_WAIT_2 && dst->state >= CTSIM_TCPS_FIN_WAIT_2) {
      ct.setTimer(c, Timeout::kTcpClose, now);
    } else if (src->state >= CTSIM_TCPS_CLOSING && dst->state >= CTSIM_TCPS_CLOSING) {
      ct.setTimer(c, Timeout::kTcpTimeWait, now);
    } else if (src->state < CTSIM_TCPS_ESTABLISHED || dst->state < CTSIM_TCPS_ESTABLISHED) {
      ct.setTimer(c, Timeout::kTcpSynRecv, now);
    } else if (src->state >= CTSIM_TCPS_CLOSING || dst->state >= CTSIM_TCPS_CLOSING) {
      ct.setTimer(c, Timeout::kTcpFinWait, now);
    } else {
      ct.setTimer(c, Timeout::kTcpEstablished, now);
    }
    return UpdateResult::kValid;
  }
  // The loose branch: shotgun SYNs, picked-up streams and packets just after a close pass within
  // a window either way, without refreshing the timer.
  if ((dst->state < CTSIM_TCPS_SYN_SENT || dst->state >= CTSIM_TCPS_FIN_WAIT_2 ||
       src->state >= CTSIM_TCPS_FIN_WAIT_2) &&
      seqGeq(src->seqhi + kMaxAckWindow, end) && seqGeq(seq, src->seqlo - kMaxAckWindow)) {
    if (src->max_win < win) src->max_win = win;
    if (seqGt(end, src->seqlo)) src->seqlo = end;
    if (seqGeq(ack + scaled_win, dst->seqhi)) dst->seqhi = ack + (scaled_win > 1 ? scaled_win : 1);
    if ((flags & kTcpFin) && src->state < CTSIM_TCPS_CLOSING) src->state = CTSIM_TCPS_CLOSING;
    if (flags & kTcpRst) src->state = dst->state = CTSIM_TCPS_TIME_WAIT;
    return UpdateResult::kValid;
  }
  return UpdateResult::kInvalid;
}

}  // namespace

const L4Ops kTcpOps = {tcpValidNew, tcpNewConn, tcpUpdate};

}  // namespace ctsim::ct
