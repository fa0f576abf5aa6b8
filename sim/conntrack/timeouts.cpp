#include "sim/conntrack/timeouts.h"

namespace ctsim::ct {
namespace {

constexpr std::string_view kNames[kTimeoutCount] = {
    "tcp_syn_sent", "tcp_syn_recv", "tcp_established", "tcp_fin_wait", "tcp_time_wait", "tcp_close",
    "udp_first",    "udp_single",   "udp_multiple",    "icmp_first",   "icmp_reply",
};

}  // namespace

std::string_view timeoutName(Timeout t) { return kNames[size_t(t)]; }

bool parseTimeoutName(std::string_view name, Timeout* out) {
  for (int i = 0; i < kTimeoutCount; ++i) {
    if (kNames[i] == name) {
      *out = Timeout(i);
      return true;
    }
  }
  return false;
}

TimeoutPolicy TimeoutPolicy::defaults() {
  TimeoutPolicy p;
  p.set(Timeout::kTcpSynSent, 30);
  p.set(Timeout::kTcpSynRecv, 30);
  p.set(Timeout::kTcpEstablished, 24 * 60 * 60);
  p.set(Timeout::kTcpFinWait, 15 * 60);
  p.set(Timeout::kTcpTimeWait, 45);
  p.set(Timeout::kTcpClose, 30);
  p.set(Timeout::kUdpFirst, 60);
  p.set(Timeout::kUdpSingle, 60);
  p.set(Timeout::kUdpMultiple, 30);
  p.set(Timeout::kIcmpFirst, 60);
  p.set(Timeout::kIcmpReply, 30);
  return p;
}

}  // namespace ctsim::ct
