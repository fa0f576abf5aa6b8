#pragma once
// The replay core: trace -> parser -> conntrack engine, one packet per conntrack call, commit on
// every packet, on a trace clock (now = the packet's capture time in ms, sweeps as trace time
// passes) or a frozen clock (now never moves: nothing expires).
//
// Offload: with ReplayOptions::hooks set, the engine calls them at the RFC's call sites, and the
// replay tells them its progress (packet number and `now` before each packet's sweep and
// processing, then the end of the trace); after the last packet the whole table is flushed
// through the engine's flush-all path (one conn_del per connection, as OVS's oracle shows).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "providers/fast_path.h"
#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/lifecycle.h"
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
  kMap,   // the outer VLAN id looked up in ReplayOptions::zone_map.
};

// `--zone-from map:FILE`: outer VLAN id -> zone. One entry per line, "VLAN ZONE", where VLAN is
// a number (1-4094), "untagged" or "*" (every VLAN not listed; default: zone 0); '#' starts a
// comment.
struct ZoneMap {
  std::unordered_map<uint16_t, uint16_t> by_vlan;  // tagged frames.
  uint16_t untagged = 0;                           // frames without a tag.
  uint16_t other = 0;                              // tags not in by_vlan.
  uint16_t zoneOf(bool tagged, uint16_t vlan) const {
    if (!tagged) return untagged;
    auto it = by_vlan.find(vlan);
    return it == by_vlan.end() ? other : it->second;
  }
};
// Parses a zone map file's text; EINVAL naming the line on a bad one.
Result<ZoneMap> parseZoneMap(const std::string& text);

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
  ZoneMap zone_map;  // for ZoneMode::kMap.
  // Sweeps are driven from outside through Replayer::sweepAt() (sharded replay: one schedule for
  // every shard) instead of by this replay's own packets.
  bool external_sweeps = false;
  // Keep every connection's lifecycle (sim/conntrack/lifecycle.h): on by default, it costs one
  // fixed-size record per connection and a counter increment per packet.
  bool lifecycles = true;
  // Timeline: counters per bucket of trace time (see ReplaySummary::timeline). The bucket width
  // starts here and doubles (merging pairs) whenever more than timeline_max_buckets are needed.
  int64_t timeline_initial_ns = 1000000;  // 1 ms.
  size_t timeline_max_buckets = 400;
};

// One bucket of trace time: what happened in [t_ns, t_ns + interval).
struct TimelineBucket {
  int64_t t_ns = 0;             // bucket start (trace time).
  uint64_t packets = 0;         // records replayed.
  uint64_t bytes = 0;           // their wire bytes.
  uint64_t fast_path_hits = 0;  // packets that hit a fast path (consumed or sent up).
  uint64_t conns_created = 0;   // connections created.
  uint64_t conns_removed = 0;   // connections removed (sweep, flush, replaced...).
  uint64_t hook_ops = 0;        // offload hook calls (conn_add, conn_established, conn_del,
                                // one per connection of a conn_update batch).
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
  std::map<std::string, uint64_t> invalid_by_reason;  // of the inv packets: reason -> packets.
  std::map<std::string, uint64_t> by_outcome;         // parser outcome -> packets.
  uint64_t held_fragments = 0;                        // packets held for reassembly.
  uint64_t reassembled = 0;                           // packets that completed a datagram.
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
  // Connections created, by protocol ("tcp"...) and the state they were created in.
  std::map<std::string, std::map<std::string, uint64_t>> created;
  // Connections removed, by reason ("sweep", "flush_all"...), protocol and state at removal.
  std::map<std::string, std::map<std::string, std::map<std::string, uint64_t>>> removed;
  // Offload hook calls by op ("conn_add", "conn_established", "conn_del", "conn_update").
  std::map<std::string, uint64_t> hook_calls;
  int64_t first_ns = 0;  // capture time of the first and last record (0 when none).
  int64_t last_ns = 0;
  // Trace-time series (see TimelineBucket), buckets of timeline_interval_ns from the first
  // record's time rounded down to the interval; empty buckets included.
  int64_t timeline_interval_ns = 0;
  std::vector<TimelineBucket> timeline;
};

// The name of a connection's coarse state ("TCP_ESTABLISHED", "OTHER_BIDIR", ...).
const char* connStateName(ctsim_conn_state s);
// "tcp", "udp", "sctp", "icmp", "icmpv6" or "proto<N>".
std::string protoName(uint8_t af, uint8_t proto);

class Replayer {
 public:
  explicit Replayer(ReplayOptions options = {});
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

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

  // The clock as a record of capture time `ts_ns` would set it, without a packet (sharded
  // replay: every shard's clock follows the whole stream), the time later events are counted
  // at in the timeline included. Returns the fast paths' ns time.
  int64_t observeTime(int64_t ts_ns);
  // A sweep pass for ReplayOptions::external_sweeps at the clock of a record of capture time
  // `ts_ns`, attributed to record `packet` (as the sweep a replay runs before that record).
  void sweepAt(uint64_t packet, int64_t ts_ns);
  // The lifecycles of this replay (nullptr when ReplayOptions::lifecycles is off). Attach the
  // registry to it before run()/begin() to follow provider answers and fast-path entries.
  LifecycleRecorder* lifecycles() { return lifecycles_.get(); }

  // With fast paths: the capture time (ns) of the packet that created the connection whose
  // forward key is `key`, for offload latency (first packet -> entry active).
  std::optional<int64_t> firstPacketNs(const ConnKey& key) const;

 private:
  class Observer;  // counts hook calls, creations and removals; forwards to options_.hooks.
  TimelineBucket& bucketAt(int64_t t_ns);

  ReplayOptions options_;
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<LifecycleRecorder> lifecycles_;  // when options_.lifecycles.
  Conntrack engine_;
  int64_t cur_ns_ = 0;  // the current record's capture time (timeline attribution).
  // With fast paths only: first-packet time of each connection created, by forward key.
  std::unordered_map<ConnKey, int64_t, ConnKeyHash, ConnKeyEq> first_packet_ns_;
  ReplaySummary sum_;  // the replay in progress.
  // Per-packet counters kept as arrays (no string or map work per packet); folded into sum_'s
  // maps by finish().
  std::array<uint64_t, kOutcomeCount> outcome_counts_{};
  std::array<uint64_t, 256> state_counts_{};  // by ct_state bits.
  std::array<uint64_t, kInvalidReasonCount> invalid_counts_{};
  bool have_frozen_ = false;  // the frozen clock has been set from the first record.
  int64_t frozen_now_ = 0;    // frozen clock, ms.
  int64_t frozen_ns_ = 0;     // frozen clock, ns (fast paths).
  int64_t now_ = 0;           // the last record's `now`, ms.
};

}  // namespace ctsim::ct

namespace ctsim {

// The records of one or more captures as one stream, for `ctsim replay`:
//   merge (default): by timestamp across files (ties: the earlier file first);
//   concat: one file after the other, each later file shifted in time to start 1 ms after the
//           previous one ended (simulated time must not go backwards);
//   loops: the whole stream again `loops` times, each loop shifted in time the same way and with
//          every IP address offset by the loop number (IPv4: added to the second octet; IPv6:
//          to the second 16-bit group; checksums adjusted), so each loop's flows are new flows,
//          as tcpreplay's --unique-ip. Addresses quoted inside ICMP errors are not rewritten.
// Records are numbered 1.. across the whole stream.
class TraceSource {
 public:
  struct Options {
    std::vector<std::string> paths;  // captures, in the order given.
    bool concat = false;             // one after another instead of merged by timestamp.
    uint64_t loops = 1;              // passes over the whole stream (>= 1).
  };
  // Opens every file (the first that fails: its error, message prefixed with the path).
  static Result<std::unique_ptr<TraceSource>> open(const Options& options);

  // The next record (data valid until the next call); false at the end.
  bool next(TraceRecord& rec);
  // How the stream ended: the first unreadable record of any file ("PATH: reason").
  const TraceEnd& end() const { return end_; }
  // Records delivered from each file (summed over loops), in the order of Options::paths.
  const std::vector<uint64_t>& recordsPerFile() const { return per_file_; }
  uint64_t loop() const { return loop_; }  // current loop, 0-based.

 private:
  explicit TraceSource(Options options) : options_(std::move(options)) {}
  Status openAll();
  bool pull(size_t i);  // reads file i's next record into heads_[i]; false at its end.

  Options options_;
  std::vector<std::unique_ptr<TraceReader>> readers_;
  std::vector<TraceRecord> heads_;  // each reader's next record.
  std::vector<bool> live_;          // heads_[i] holds a record.
  std::vector<uint64_t> per_file_;
  size_t current_ = 0;          // concat: the file being read.
  uint64_t loop_ = 0;           // the current loop.
  int64_t shift_ns_ = 0;        // time shift of the current loop (and, concat, file).
  int64_t last_ns_ = 0;         // last delivered (shifted) time.
  bool any_ = false;            // a record was delivered.
  uint64_t index_ = 0;          // records delivered.
  size_t pending_ = SIZE_MAX;   // reader to advance at the next call (its record was handed out).
  std::vector<uint8_t> frame_;  // rewritten frame (loops > 0).
  TraceEnd end_;
};

// Adds `offset` to every IP address of the frame (IPv4: to the second octet; IPv6: to the second
// 16-bit group), adjusting the IPv4 header checksum and the TCP/UDP/ICMPv6 checksum of an
// unfragmented (or first-fragment) packet. Frames that are not IP are left alone.
void offsetAddresses(uint32_t linktype, uint8_t* frame, uint32_t caplen, uint16_t offset);

// Paces records on the wall clock: `--speed realtime|xN` (the trace's own spacing divided by N)
// or `--pps N` (fixed rate). Simulated time is never touched: only the wall time at which a
// record is handed to the engine. waitFor() sleeps until the record is due (it never sleeps for
// less than ~100 us at once: a replay running late catches up by not sleeping).
class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  // speed 0 and pps 0: top speed (no waiting).
  Pacer(double speed, double pps) : speed_(speed), pps_(pps) {}
  bool paced() const { return speed_ > 0 || pps_ > 0; }
  // Waits until record number `n` (0-based) with capture time `ts_ns` is due.
  void waitFor(uint64_t n, int64_t ts_ns);

 private:
  double speed_;          // trace-time multiplier (1 = realtime); 0 = off.
  double pps_;            // packets per second; 0 = off.
  bool started_ = false;  // the first record fixed the origins.
  Clock::time_point wall0_;
  int64_t ts0_ = 0;
};

}  // namespace ctsim
