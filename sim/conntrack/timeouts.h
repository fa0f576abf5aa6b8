#pragma once
// Connection timeouts: OVS's timers, its default timeout policy and per-zone overrides.

#include <array>
#include <cstdint>
#include <string_view>

namespace ctsim::ct {

// The timeout policy attributes of OVS (ct_dpif_tp_attr), in seconds.
enum class Timeout : uint8_t {
  kTcpSynSent,      // first TCP packet seen, or a SYN retransmitted.
  kTcpSynRecv,      // TCP opening (one peer not yet established).
  kTcpEstablished,  // both peers established.
  kTcpFinWait,      // one peer closing.
  kTcpTimeWait,     // both peers closing.
  kTcpClose,        // both peers at FIN_WAIT_2 or later (or reset).
  kUdpFirst,        // UDP/SCTP/other: one packet.
  kUdpSingle,       // more packets, one direction.
  kUdpMultiple,     // both directions.
  kIcmpFirst,       // ICMP request.
  kIcmpReply,       // ICMP reply seen.
};
inline constexpr int kTimeoutCount = 11;

// The attribute's name as OVS spells it ("tcp_syn_sent", ...).
std::string_view timeoutName(Timeout t);
// Parses a name from timeoutName(); false when unknown.
bool parseTimeoutName(std::string_view name, Timeout* out);

// A timeout policy: seconds for every attribute.
struct TimeoutPolicy {
  std::array<uint32_t, kTimeoutCount> seconds{};  // indexed by Timeout.

  // OVS's default policy: TCP 30/30/86400/900/45/30, UDP 60/60/30, ICMP 60/30.
  static TimeoutPolicy defaults();
  uint32_t get(Timeout t) const { return seconds[size_t(t)]; }
  void set(Timeout t, uint32_t s) { seconds[size_t(t)] = s; }
};

}  // namespace ctsim::ct
