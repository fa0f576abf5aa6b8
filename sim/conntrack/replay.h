#pragma once
// The replay core: trace -> parser -> conntrack engine, one packet per conntrack call, commit on
// every packet, on a trace clock (now = the packet's capture time in ms, sweeps as trace time
// passes) or a frozen clock (now never moves: nothing expires).
//
// Offload: with ReplayOptions::hooks set, the engine calls them at the RFC's call sites, and the
// replay tells them its progress (packet number and `now` before each packet's sweep and
// processing, then the end of the trace); after the last packet the whole table is flushed
// through the engine's flush-all path (one conn_del per connection, as OVS's oracle shows).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "providers/fast_path.h"
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

// Offload hooks driven by a replay: the engine's OffloadHooks plus the replay's progress, so
// that an implementation can keep its clock and attribute calls made outside a packet.
class ReplayHooks : public OffloadHooks {
 public:
  // Before record `packet` (1-based) is swept for and processed at `now` (ms).
  virtual void onPacketStart(uint64_t packet, int64_t now) = 0;
  // After the last record, before the end-of-trace flush of the table.
  virtual void onTraceEnd() = 0;
};

struct ReplayOptions {
  ClockMode clock = ClockMode::kTrace;  // time source.
  ZoneMode zone = ZoneMode::kZero;      // zone selection.
  bool commit = true;                   // commit every packet.
  ConntrackConfig engine;               // engine configuration.
  ReplayHooks* hooks = nullptr;         // offload hooks (not owned); none by default.
  bool flush_at_end = true;             // flush the table after the last packet.
  // The datapath model: providers' fast paths (not owned), in registration order. Each packet
  // meets them first: the first that does not miss decides; a consumed packet never reaches
  // the engine (software learns of it only through conn_update), one sent up or missed
  // everywhere goes on to the engine. Fast paths run on trace time in ns (the frozen clock
  // holds it at the first packet's time).
  std::vector<FastPath*> fast_paths;
};

// The capture time of a record in ms, as OVS's pcap reader gives it to conntrack:
// sec * 1000 + floor(sub-second part in ms).
inline int64_t traceTimeMs(int64_t ts_ns) {
  return ts_ns >= 0 ? ts_ns / 1000000 : -((-ts_ns + 999999) / 1000000);
}

// Everything counted over one replay.
struct ReplaySummary {
  uint64_t packets = 0;                         // records replayed.
  uint64_t fast_path_consumed = 0;              // of those, consumed by a fast path (no ct_state).
  uint64_t fast_path_up = 0;                    // hit a fast path but were sent up to software.
  std::map<std::string, uint64_t> by_ct_state;  // "new|trk" -> packets.
  std::map<std::string, uint64_t> by_outcome;   // parser outcome -> packets.
  uint64_t held_fragments = 0;                  // packets held for reassembly.
  uint64_t reassembled = 0;                     // packets that completed a datagram.
  // Connections left in the table at the end (a trace-clock replay has swept some):
  // protocol ("tcp", "udp", ...) -> state ("TCP_ESTABLISHED", ...) -> count.
  std::map<std::string, std::map<std::string, uint64_t>> conns;
  uint64_t conns_expired_at_end = 0;  // of those, expired at the last `now`.
  uint64_t flushed_at_end = 0;        // connections removed by the end-of-trace flush.
  ConntrackStats engine;              // engine counters, before the end-of-trace flush.
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

  using PacketFn = std::function<void(const TraceRecord&, const Verdict&)>;

  // Replays a capture. `on_packet` (optional) sees every record and its verdict, in order.
  Result<ReplaySummary> run(const std::string& path, const PacketFn& on_packet = {});

  // The same, driven from outside (records from another source, e.g. a DPDK port): begin(),
  // then process() for each record in order, then finish() with how the source ended.
  void begin();
  void process(const TraceRecord& rec, const PacketFn& on_packet = {});
  ReplaySummary finish(const TraceEnd& end);

  // With fast paths: the capture time (ns) of the packet that created the connection whose
  // forward key is `key`, for offload latency (first packet -> entry active).
  std::optional<int64_t> firstPacketNs(const ConnKey& key) const;

 private:
  ReplayOptions options_;
  Conntrack engine_;
  // With fast paths only: first-packet time of each connection created, by forward key.
  std::unordered_map<ConnKey, int64_t, ConnKeyHash, ConnKeyEq> first_packet_ns_;
  ReplaySummary sum_;         // the replay in progress.
  bool have_frozen_ = false;  // the frozen clock has been set from the first record.
  int64_t frozen_now_ = 0;    // frozen clock, ms.
  int64_t frozen_ns_ = 0;     // frozen clock, ns (fast paths).
  int64_t now_ = 0;           // the last record's `now`, ms.
};

}  // namespace ctsim::ct
