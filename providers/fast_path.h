#pragma once
// ctsim::FastPath: the datapath face of a provider that models hardware (or any cache in front
// of the software conntrack engine).  A provider may implement it in addition to Provider.
//
// How the replay uses it, per packet at trace time t (ns, same epoch as the registry clock, so
// that ctsim_now_ms() == t / 1'000'000 while the engine dispatches for that packet):
//   1. for every fast path: setNow(t)  (completes insertions/deletions due by t, ages entries);
//   2. offer the packet to the fast paths in registration order: the first that does not answer
//      kMiss ends this stage; kConsumed: the packet is done (software never sees it);
//      kUp: it was counted there and continues to the software engine; kMiss everywhere: the
//      software engine as before;
//   3. the engine processes the packet and may dispatch conn_add/conn_established/... to the
//      registry, which reaches the same provider objects through their Provider face.
// At the end (or any time) stats() gives the counters a report needs.
//
// Finding fast paths: Registry::providerObjects() lists the registered Provider objects (they
// live as long as the Registry); fastPathOf() tells which of them have a fast path.
//
// Time: setNow() is monotonic (an earlier time is ignored).  Nothing here reads the wall clock.
// Threading: implementations are thread-safe, but the replay is expected to call a fast path
// from one thread.

#include <ctsim/ct_offload.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "providers/registry.h"
#include "sim/packet.h"  // TcpFlag bits (kTcpSyn, ...).

namespace ctsim {

// What a fast path did with a packet.
enum class FastPathVerdict : uint8_t {
  kMiss,      // No active entry matched; the packet goes on (next fast path, then software).
  kConsumed,  // An active entry matched; counted there; software does not see the packet.
  kUp,        // An active entry matched and counted it, but policy sends it to software too
              // (TCP SYN/FIN/RST, or every packet in a mirror mode).
};
const char* fastPathVerdictName(FastPathVerdict v);  // "miss", "consumed", "up".

// Occupancy at one sample time.
struct FastPathOccupancySample {
  int64_t t_ns = 0;      // Sample time (trace time, a multiple of the sample interval).
  uint64_t entries = 0;  // Slots in use (pending, active, being deleted, orphaned).
  uint64_t active = 0;   // Of which active (matching packets).
};

// One completed insertion: the connection's forward key, when it was requested (conn_add or
// conn_established, depending on the provider's policy) and when it became active.  A report
// joins it with the connection's first packet time for "first packet to offloaded".
struct FastPathOffloadSample {
  ctsim_conn_key key{};    // Forward key of the connection.
  int64_t request_ns = 0;  // Trace time of the insertion request.
  int64_t active_ns = 0;   // Trace time the entry became active (>= request_ns).
};

// Counters of a fast path.  Packets and bytes are as given to process().
struct FastPathStats {
  uint64_t capacity = 0;      // Slots; 0 = unlimited.
  uint64_t entries = 0;       // Slots in use now (pending + active + deleting + orphaned).
  uint64_t entries_peak = 0;  // Highest value of 'entries' ever (never above capacity).
  uint64_t active = 0;        // Entries matching packets now.

  uint64_t hit_packets = 0;           // Matched an active entry (consumed or sent up).
  uint64_t hit_bytes = 0;             // Bytes of those.
  uint64_t up_packets = 0;            // Hits sent up to software anyway (subset of hits).
  uint64_t up_bytes = 0;              // Bytes of those.
  uint64_t miss_packets = 0;          // No active entry matched.
  uint64_t miss_bytes = 0;            // Bytes of those.
  uint64_t miss_pending_packets = 0;  // Misses that matched an entry not yet active (latency).
  uint64_t miss_pending_bytes = 0;    // Bytes of those.

  // Failures by cause, e.g. "full" (ENOSPC), "busy" (EBUSY, queue overflow), "exists",
  // "add_transient", "add_permanent", "del_busy", "upd_transient"...  Only non-zero causes.
  std::map<std::string, uint64_t> failures;
  // Other event counts (calls per callback, completions, aged entries...), by name.
  std::map<std::string, uint64_t> counters;

  int64_t occupancy_interval_ns = 0;               // Sample spacing; 0 = no series.
  std::vector<FastPathOccupancySample> occupancy;  // In time order.
  // An idle stretch (nothing happens, so every sample would be equal) longer than this many
  // intervals keeps only its first and last samples and counts "occupancy_gaps": a trace whose
  // time jumps by days costs a few samples, not one per interval.
  static constexpr int64_t kOccupancyMaxGap = 3600;
  std::vector<FastPathOffloadSample> offload_latency;  // In completion order.

  std::string config;  // The effective configuration, including the random seed.
};

// What happened to one fast-path entry, for per-connection explanations (FastPathObserver).
enum class EntryEvent : uint8_t {
  kActive,    // The insertion completed: the entry matches packets from t_ns.
  kRefused,   // An insertion requested after conn_add (e.g. at conn_established) was refused;
              // `error` is the errno (ENOSPC, EBUSY, EIO, ...).
  kDetached,  // Software deleted the connection (conn_del) while the entry existed; `active`,
              // `stuck` and `orphaned` (the delete failed: it stays) describe it then.
  kStrayHit,  // A packet hit the entry after its connection was deleted in software.
  kRemoved,   // The entry left the table; `gone` says how.
};
// How an entry left the table.
enum class EntryGone : uint8_t { kDeleted, kAged, kFlushed };
struct EntryNote {
  EntryEvent event = EntryEvent::kActive;
  EntryGone gone = EntryGone::kDeleted;  // kRemoved only.
  int error = 0;                         // kRefused only.
  bool active = false;                   // The entry was active at the time.
  bool stuck = false;                    // Its insertion will never complete.
  bool orphaned = false;                 // kDetached: the delete failed; the entry stays.
  int64_t t_ns = 0;                      // Trace time of the event.
  uint64_t hits = 0;                     // Packets that hit the entry so far (consumed or sent up).
  uint64_t consumed = 0;                 // Of those, packets software never saw.
  int64_t last_hit_ns = -1;              // Trace time of its last hit, -1 when never hit.
};
class FastPath;

// Sees entry events (FastPath::setObserver).  `owner` is the connection the entry was created
// for, nullptr once software deleted it (kStrayHit, and kRemoved after kDetached); `fwd` is
// the entry's forward key.  Called inside the fast path (under its lock): must not call it back.
class FastPathObserver {
 public:
  virtual ~FastPathObserver() = default;
  virtual void onEntry(const FastPath& fp, const conn* owner, const ctsim_conn_key& fwd,
                       const EntryNote& note) = 0;
};

// The datapath interface.  See the file comment for the calling sequence.
class FastPath {
 public:
  virtual ~FastPath() = default;
  // Advances trace time to 'now_ns': completes insertions and deletions due by then (an entry
  // whose insertion completes at exactly now_ns is active for a packet at now_ns), ages out
  // idle entries, records occupancy samples.  Earlier times are ignored.
  virtual void setNow(int64_t now_ns) = 0;
  // One packet: 'pkt_key' is the key the packet carries (src/dst/ports as seen, the zone it is
  // tracked in; unused bytes zero, as ctsim_conn_key requires); 'bytes' its length;
  // 'tcp_flags' the TCP flags (0 for other protocols).  A packet matching the forward or
  // reverse key of an active entry is a hit: counted on the entry (packets, bytes, last-used =
  // now) and in the stats.
  virtual FastPathVerdict process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                                  uint8_t tcp_flags) = 0;
  // The same with the frame itself (`linktype`, `caplen` bytes at `frame`), for a fast path that
  // needs the real packet (e.g. one that sends it through a kernel datapath). The replay calls
  // this one; the default ignores the frame.
  virtual FastPathVerdict processFrame(const uint8_t* frame, uint32_t caplen, uint32_t linktype,
                                       const ctsim_conn_key& pkt_key, uint32_t bytes,
                                       uint8_t tcp_flags) {
    (void)frame;
    (void)caplen;
    (void)linktype;
    return process(pkt_key, bytes, tcp_flags);
  }
  // A copy of the counters and series.
  virtual FastPathStats stats() const = 0;
  // Reports entry events to `observer` (nullptr: none); returns whether this fast path reports
  // them.  Optional: one that does not override it reports nothing (false), and explanations
  // then treat its provider like one without a fast path (its callbacks only).
  virtual bool setObserver(FastPathObserver* observer) {
    (void)observer;
    return false;
  }
};

// The fast path of 'p', or nullptr if it has none.
// Shared accounting of FastPath::process() implementations.
// A miss (`pending`: the packet matched an entry that is not active yet).
inline FastPathVerdict countMiss(FastPathStats& st, uint32_t bytes, bool pending) {
  st.miss_packets++;
  st.miss_bytes += bytes;
  if (pending) {
    st.miss_pending_packets++;
    st.miss_pending_bytes += bytes;
  }
  return FastPathVerdict::kMiss;
}
// A hit on an active entry: counted, then sent up in mirror mode and for TCP SYN/FIN/RST
// (software must see connection setup and teardown), consumed otherwise.
inline FastPathVerdict countHit(FastPathStats& st, uint32_t bytes, uint8_t proto, uint8_t tcp_flags,
                                bool mirror) {
  st.hit_packets++;
  st.hit_bytes += bytes;
  if (mirror || (proto == kProtoTcp && (tcp_flags & (kTcpSyn | kTcpFin | kTcpRst)) != 0)) {
    st.up_packets++;
    st.up_bytes += bytes;
    return FastPathVerdict::kUp;
  }
  return FastPathVerdict::kConsumed;
}

inline FastPath* fastPathOf(Provider& p) { return dynamic_cast<FastPath*>(&p); }

// The fast paths among the registry's providers, in registration (= packet) order.
inline std::vector<FastPath*> fastPathsOf(const Registry& registry) {
  std::vector<FastPath*> out;
  for (Provider* p : registry.providerObjects()) {
    if (FastPath* f = fastPathOf(*p)) out.push_back(f);
  }
  return out;
}

inline const char* fastPathVerdictName(FastPathVerdict v) {
  switch (v) {
    case FastPathVerdict::kMiss:
      return "miss";
    case FastPathVerdict::kConsumed:
      return "consumed";
    case FastPathVerdict::kUp:
      return "up";
  }
  return "?";
}

}  // namespace ctsim
