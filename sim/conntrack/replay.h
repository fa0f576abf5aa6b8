#pragma once
// The replay core: trace -> parser -> conntrack engine, one packet per conntrack call, commit on
// every packet, on a trace clock (now = the packet's capture time in ms, sweeps as trace time
// passes) or a frozen clock (now never moves: nothing expires).

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "sim/conntrack/conntrack.h"
#include "sim/packet.h"
#include "sim/status.h"
#include "sim/trace_reader.h"

namespace ctsim::ct {

enum class ClockMode : uint8_t {
  kTrace,   // now = capture time in ms (floor), sweeps every sweep interval of trace time.
  kFrozen,  // now = the first packet's capture time for every packet; no sweeps.
};
enum class ZoneMode : uint8_t {
  kZero,  // every packet in zone 0.
  kVlan,  // the outer VLAN id (0 when untagged).
};

struct ReplayOptions {
  ClockMode clock = ClockMode::kTrace;  // time source.
  ZoneMode zone = ZoneMode::kZero;      // zone selection.
  bool commit = true;                   // commit every packet.
  ConntrackConfig engine;               // engine configuration.
};

// The capture time of a record in ms, as OVS's pcap reader gives it to conntrack:
// sec * 1000 + floor(sub-second part in ms).
inline int64_t traceTimeMs(int64_t ts_ns) {
  return ts_ns >= 0 ? ts_ns / 1000000 : -((-ts_ns + 999999) / 1000000);
}

// Everything counted over one replay.
struct ReplaySummary {
  uint64_t packets = 0;                         // records replayed.
  std::map<std::string, uint64_t> by_ct_state;  // "new|trk" -> packets.
  std::map<std::string, uint64_t> by_outcome;   // parser outcome -> packets.
  uint64_t held_fragments = 0;                  // packets held for reassembly.
  uint64_t reassembled = 0;                     // packets that completed a datagram.
  // Connections left in the table at the end (a trace-clock replay has swept some):
  // protocol ("tcp", "udp", ...) -> state ("TCP_ESTABLISHED", ...) -> count.
  std::map<std::string, std::map<std::string, uint64_t>> conns;
  uint64_t conns_expired_at_end = 0;  // of those, expired at the last `now`.
  ConntrackStats engine;              // engine counters.
  IpfStats ipf;                       // reassembly counters.
  bool trace_error = false;           // the trace ended on an unreadable record.
  uint64_t trace_error_record = 0;    // its number.
  std::string trace_error_reason;     // libpcap's reason.
};

// The name of a connection's coarse state ("TCP_ESTABLISHED", "OTHER_BIDIR", ...).
const char* connStateName(ctsim_conn_state s);
// "tcp", "udp", "sctp", "icmp", "icmpv6" or "proto<N>".
std::string protoName(uint8_t af, uint8_t proto);

class Replayer {
 public:
  explicit Replayer(ReplayOptions options = {});

  // The engine, e.g. to set hooks or limits before run().
  Conntrack& engine() { return engine_; }

  // Replays a capture. `on_packet` (optional) sees every record and its verdict, in order.
  Result<ReplaySummary> run(
      const std::string& path,
      const std::function<void(const TraceRecord&, const Verdict&)>& on_packet = {});

 private:
  ReplayOptions options_;
  Conntrack engine_;
};

}  // namespace ctsim::ct
