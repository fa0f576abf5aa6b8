#pragma once
// The conntrack engine: OVS's userspace connection tracker on a simulated clock.
//
// One call per packet (execute()), commit on request; `now` (ms) always comes from the caller,
// the engine never reads a clock. Connections are found by their forward or their (derived)
// reverse key (a match on the reverse key is a reply); expired connections stay in the table,
// invisible to lookups, until a sweep (or a flush) removes them, as in OVS.
//
// Offload hooks: an OffloadHooks implementation, when set, is called exactly where the RFC's
// conntrack calls its provider registry (facts §3): onConnAdd after a committed connection is
// created; onEstablished for a reply packet with `est` on a connection marked ADDED; onDelete
// from the one removal path (sweep, flushes, destroy); onUpdateBatch from the sweep only, for
// expired connections marked offloaded.
//
// Threading: none. One engine is driven by one thread; callers serialise.

#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "providers/conn.h"
#include "sim/conntrack/conn_key.h"
#include "sim/conntrack/conn_table.h"
#include "sim/conntrack/ct_state.h"
#include "sim/conntrack/extract.h"
#include "sim/conntrack/huge_pages.h"
#include "sim/conntrack/ipf.h"
#include "sim/conntrack/timeouts.h"

namespace ctsim::ct {

// State of a UDP/SCTP/other connection (OVS's OTHERS_*).
enum class OtherState : uint8_t { kFirst, kMultiple, kBidir };
// State of an ICMP connection (OVS's ICMPS_*).
enum class IcmpState : uint8_t { kFirst, kReply };

// A node of a sweep list (intrusive, circular, with one sentinel per list). Links are 32-bit
// node ids, not pointers: ids below kFirstSentinel are connections (their index in the engine's
// pool: chunk id / kConnChunk, slot id % kConnChunk), ids from kFirstSentinel on are the lists'
// sentinels (list i is kFirstSentinel + i), and kNoNode ends the free list, which is linked
// through `next` of free connections.
struct ExpLink {
  uint32_t prev = 0;
  uint32_t next = 0;
};

// The timer a coarse state stands for (the inverse of the engine's Timeout -> state map: the
// two are one to one). A connection stores only its state; its timer is derived.
Timeout timerOfState(ctsim_conn_state s);

// One tracked connection. `ext` is the provider-visible struct conn (providers/conn.h): its
// forward key, TCP peers, coarse state and offload mark are the engine's own storage, so
// providers and the registry read exactly what the engine uses.
//
// Layout (x86-64, 120 bytes, no padding outside ext's 6 tail bytes):
//   0  ext         80  forward key 40, TCP peers 24, acceptors 8, state 1, mark 1 (conn.h)
//   80 expiration   8
//   88 id           8
//   96 created_ms   8
//  104 packets      8  two uint32_t
//  112 exp          8  two uint32_t node ids
// Derived rather than stored: the reverse key (reverseKey(key())), the timer last armed (from
// ext.state, one to one) and the UDP/ICMP state (from the timer, as OVS's other/icmp state
// selects its timeout one to one). Connections live in the engine's pool (chunks of
// kConnChunk; freed slots reused) and stay at one address for their whole life.
struct Conn {
  ::conn ext{};            // forward key, TCP peers, state, offload mark (see conn.h).
  int64_t expiration = 0;  // ms; expired when now >= expiration.
  uint64_t id = 0;         // creation number, from 1.
  int64_t created_ms = 0;  // `now` of the packet that created it.
  // Packets seen, [0] original and [1] reply direction; saturating at UINT32_MAX (4 G packets
  // a direction): read by tests and properties/, never by the engine's decisions.
  uint32_t packets[2] = {0, 0};
  ExpLink exp;  // its node in a sweep list (in the free list while free).

  const ConnKey& key() const { return ext.key_fwd; }
  // The reverse key: what replies carry. Built on each call (40 bytes); the table compares
  // against it crosswise instead (keyEqualReverse).
  ConnKey revKey() const { return reverseKey(ext.key_fwd); }
  // The timer last armed (Conntrack::setTimer).
  Timeout timer() const { return timerOfState(ext.state); }
  bool expired(int64_t now) const { return now >= expiration; }
  // Counts a packet in direction `reply`, saturating.
  void countPacket(bool reply) {
    uint32_t& n = packets[reply ? 1 : 0];
    n += n != UINT32_MAX;
  }
};
static_assert(sizeof(Conn) == 120, "layout documented above struct Conn");

template <typename Fn>
Conn* ConnTable::forEach(const ConnKey& key, Fn&& fn) const {
  uint64_t h = hash(key);
  uint64_t tag = tagOf(h);
  for (size_t i = home(h);; i = (i + 1) & mask_) {
    uint64_t slot = slots_[i];
    if (slot == 0) return nullptr;
    if (tagOf(slot) != tag) continue;
    Conn* c = connOf(slot);
    bool reply = replyOf(slot);
    bool eq = reply ? keyEqualReverse(key, c->key()) : keyEqual(c->key(), key);
    if (eq && fn(c, reply)) return c;
  }
}

// Why a connection is being removed.
enum class DeleteReason : uint8_t {
  kSweep,         // expired, found by the sweep.
  kUpdateFailed,  // expired and offloaded, and conn_update gave no (usable) timestamp.
  kFlushAll,      // flush of the whole table.
  kFlushZone,     // flush of one zone.
  kFlushTuple,    // flush of one tuple.
  kDestroy,       // the engine is being destroyed.
  kReplaced,      // strict profile: an expired connection replaced by a new one for its tuple.
};
const char* deleteReasonName(DeleteReason r);

// Facts about the packet a hook is called for.
struct PacketMeta {
  uint64_t packet = 0;   // 1-based packet number in the trace (0: not from a trace).
  uint32_t in_port = 0;  // input port.
};

// The offload seam. Implementations must not call back into the engine.
class OffloadHooks {
 public:
  virtual ~OffloadHooks() = default;
  // A committed connection was just created by the packet (conn_add).
  virtual void onConnAdd(Conn& conn, const PacketMeta& meta) = 0;
  // A reply packet with `est` on a connection whose offload mark is kAdded (conn_established).
  virtual void onEstablished(Conn& conn, const PacketMeta& meta) = 0;
  // The connection is being removed (conn_del); it is still intact during the call.
  virtual void onDelete(Conn& conn, DeleteReason reason) = 0;
  // Expired offloaded connections found by one sweep pass (batched conn_update). Fill
  // last_used[i] for conns[i]: ms since the epoch, 0 when unknown or on error.
  virtual void onUpdateBatch(std::span<Conn* const> conns, std::span<int64_t> last_used) = 0;
};

// What the engine does where OVS and the RFC have known defects (facts §5). All false: OVS and
// the RFC as they are; all true: the strict profile.
struct StrictFixes {
  bool replace_expired = false;          // §5.1: remove an expired, unswept connection of the
                                         // tuple (with conn_del) before creating its successor.
  bool update_checks_timestamp = false;  // §5.3: conn_update's answer keeps a connection only
                                         // while last_used + its timeout is in the future.
  bool validate_responder_rst = false;   // §5.5: the responder's first packet, when a RST, must
                                         // acknowledge the SYN.
};

struct ConntrackConfig {
  bool tcp_seq_check = true;             // TCP sequence/window checks (OVS default: on).
  bool skip_seq_check_offloaded = true;  // the RFC skips them for offloaded connections.
  uint32_t conn_limit = 3000000;         // global connection limit (OVS default).
  int64_t sweep_interval_ms = 20000;     // OVS's default sweep interval.
  IpfConfig ipf;                         // fragment reassembly.
  StrictFixes strict;                    // defect fixes; off by default.
};

// Counters kept by the engine.
struct ConntrackStats {
  uint64_t packets = 0;           // execute() calls.
  uint64_t conns_created = 0;     // connections created.
  uint64_t conns_removed = 0;     // connections removed (any reason).
  uint64_t limit_drops = 0;       // `new` packets that could not create a connection (limits).
  uint64_t port_reuse = 0;        // TCP connections recreated by a SYN after both closed.
  uint64_t sweeps = 0;            // sweep passes.
  uint64_t swept = 0;             // connections visited by sweeps.
  uint64_t updates = 0;           // connections passed to onUpdateBatch.
  uint64_t sweep_bound_hits = 0;  // sweep passes that stopped at their visit bound.
};

// The result of one execute().
// Why a packet is `inv`, for the reports (OVS itself only says inv).
enum class InvalidReason : uint8_t {
  kNone,
  kNotIp,               // not IPv4/IPv6 (ARP, MPLS, too short for the link header).
  kFragment,            // ipf refused the fragment (too small, overlap, over the limit, ...).
  kHeaderOrChecksum,    // the datagram failed OVS's header, length or checksum checks.
  kL4State,             // TCP flags, sequence or window, or the protocol's state machine.
  kCannotStart,         // a packet that may not start a connection (e.g. a lone SYN+ACK).
  kIcmpErrorUnmatched,  // an ICMP error quoting a connection that is not tracked.
};
inline constexpr int kInvalidReasonCount = 7;
const char* invalidReasonName(InvalidReason r);  // "not_ip", "fragment", ...

struct Verdict {
  uint8_t state = 0;                             // CtState bits; 0 for a held fragment.
  InvalidReason invalid = InvalidReason::kNone;  // why, when state has inv.
  Conn* conn = nullptr;      // the connection the packet matched or created, if any.
  bool reply = false;        // the packet went in the reply direction of conn.
  bool created = false;      // conn was created by this packet.
  bool held = false;         // an IP fragment held for reassembly.
  bool reassembled = false;  // the packet completed a datagram; the state is the datagram's.
  bool fast_path = false;    // consumed by a provider's fast path: the engine never saw it.
};

class Conntrack {
 public:
  explicit Conntrack(ConntrackConfig config = {});
  ~Conntrack();
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;

  // Sets (or, with nullptr, removes) the offload hooks. Not owned.
  void setHooks(OffloadHooks* hooks) { hooks_ = hooks; }

  // Tracks one captured frame of `linktype` at `now` in `zone` (fragments reassembled first).
  Verdict execute(uint32_t linktype, const uint8_t* frame, uint32_t caplen, int64_t now,
                  uint16_t zone, bool commit = true, const PacketMeta& meta = {});
  // Tracks frames[i] (caplens[i] bytes, metas[i] or, with metas empty, PacketMeta{}) for each i
  // into out[i], in order, with the results of execute() called on each in turn: verdicts,
  // connections, counters, hook calls. The batch is taken kMaxBatch frames at a time, as OVS's
  // conntrack_execute() takes a dp_packet_batch: the frames are parsed and their keys extracted
  // first, the key table's slots and then the connections they point to are prefetched, then
  // the packets are processed one by one (the lookups themselves happen in order, so a
  // connection created or removed by a packet is seen by the later ones). Fragments and frames
  // that fail parsing take execute()'s path unchanged. caplens and out have frames' size; metas
  // that or none.
  static constexpr size_t kMaxBatch = 32;
  void executeBatch(uint32_t linktype, std::span<const uint8_t* const> frames,
                    std::span<const uint32_t> caplens, int64_t now, uint16_t zone, bool commit,
                    std::span<const PacketMeta> metas, std::span<Verdict> out);
  // Tracks one IP datagram of `size` bytes (no link layer, no reassembly).
  Verdict executeIp(uint8_t version, const uint8_t* l3, uint32_t size, int64_t now, uint16_t zone,
                    bool commit = true, const PacketMeta& meta = {});

  // Runs a sweep pass when `now` has reached the next sweep time; returns true if it ran.
  bool maybeSweep(int64_t now);
  // One sweep pass: removes expired connections (asking the hooks about offloaded ones),
  // visiting at most conn_limit / 64 connections (whole lists at a time, as OVS). Returns the
  // number of connections removed.
  size_t sweep(int64_t now);

  // Flushes: every connection, one zone's, or the one matching `key` (either direction; an
  // expired connection is not found). Each removal calls onDelete. Return the number removed.
  size_t flushAll();
  size_t flushZone(uint16_t zone);
  size_t flushTuple(const ConnKey& key, int64_t now);
  // Removes every connection with onDelete(kDestroy), as conntrack_destroy.
  void destroy();

  // Limits: the global one, an explicit per-zone one (0 blocks the zone) and the default for
  // zones without an explicit one (0: unlimited).
  void setConnLimit(uint32_t limit) { config_.conn_limit = limit; }
  void setZoneLimit(uint16_t zone, uint32_t limit) { zone_limits_[zone] = limit; }
  void clearZoneLimit(uint16_t zone) { zone_limits_.erase(zone); }
  void setDefaultZoneLimit(uint32_t limit) { default_zone_limit_ = limit; }
  // Timeout policy of one zone (overrides OVS's default policy for connections of that zone).
  void setZoneTimeoutPolicy(uint16_t zone, const TimeoutPolicy& policy);
  void clearZoneTimeoutPolicy(uint16_t zone) { zone_policies_.erase(zone); }
  void setTcpSeqCheck(bool on) { config_.tcp_seq_check = on; }

  // The live (not expired) connection of `key`, and whether key is its reverse.
  Conn* lookup(const ConnKey& key, int64_t now, bool* reply = nullptr);
  // Connections per pool chunk: as many as fill one 2 MiB huge page (huge_pages.h; 17476 of
  // 120 bytes, 32 bytes left over). Not a power of two: a power of two (16384) left 6 % of
  // every page unused, 10 bytes a connection. Its connections are constructed as handed out.
  static constexpr size_t kConnChunk = kHugePageSize / sizeof(Conn);
  // Connections in the table (expired ones included, as OVS counts them).
  size_t connCount() const { return n_conn_; }
  size_t zoneConnCount(uint16_t zone) const;
  // Every connection in the table, in no particular order.
  std::vector<const Conn*> connections() const;

  const ConntrackConfig& config() const { return config_; }
  const ConntrackStats& stats() const { return stats_; }
  const Ipf& ipf() const { return ipf_; }

  // For the protocol ops (sim/conntrack/l4_proto.h).
  // Arms `timer` of the connection's zone policy: expiration = now + seconds * 1000.
  void setTimer(Conn& c, Timeout timer, int64_t now);
  // True when TCP sequence checks are skipped for this connection.
  bool seqCheckBypassed(const Conn& c) const;

 private:
  // Fills *v, a fresh Verdict, in place: a Verdict returned by value and copied into the
  // caller's made the copy's wide loads wait on process()'s narrow stores (perf: a fifth of
  // a hot-flow packet's time).
  void process(const CtPacket& p, int64_t now, bool commit, const PacketMeta& meta, Verdict* v);
  // execute() after netView(): `extracted`, when not null, is extractCtPacket()'s result for
  // nv's datagram (a batch's pre-pass), used if the datagram is not a fragment.
  void executeView(const NetView& nv, const CtPacket* extracted, int64_t now, uint16_t zone,
                   bool commit, const PacketMeta& meta, Verdict* v);
  // Up to kMaxBatch frames of executeBatch().
  void executeGroup(uint32_t linktype, const uint8_t* const* frames, const uint32_t* caplens,
                    size_t n, int64_t now, uint16_t zone, bool commit, const PacketMeta* metas,
                    Verdict* out);
  Conn* create(const CtPacket& p, int64_t now, bool commit, uint8_t* state);
  void insert(Conn* c, uint32_t id);
  // The one removal path: hooks, table, lists, counters.
  void clean(Conn* c, DeleteReason reason);
  uint32_t secondsFor(uint16_t zone, Timeout t) const;

  static constexpr uint32_t kExpLists = 100;  // OVS's N_EXP_LISTS.

  ConntrackConfig config_;
  OffloadHooks* hooks_ = nullptr;
  Ipf ipf_;
  // Both keys of every connection -> the connection.
  ConnTable table_;
  // The sweep lists (their sentinels, node ids kFirstSentinel + i); every connection is on
  // one, appended round robin.
  std::vector<ExpLink> exp_lists_;
  // Connection storage: chunks of connections (kConnChunk), freed ones on a free list (linked
  // through exp.next; poisoned under AddressSanitizer while free). A connection's node id is its
  // index in the pool.
  static constexpr uint32_t kNoNode = UINT32_MAX;
  static constexpr uint32_t kFirstSentinel = kNoNode - kExpLists;
  // Connections the pool can hold: ids below kFirstSentinel, whole chunks.
  static constexpr size_t kMaxConns = kFirstSentinel / kConnChunk * kConnChunk;
  std::vector<HugeArray<Conn>> chunks_;
  size_t chunk_used_ = kConnChunk;  // connections handed out from the last chunk.
  uint32_t free_ = kNoNode;         // first free connection.
  // A fresh connection and its node id (the pool must hold fewer than kMaxConns).
  Conn* allocConn(uint32_t* id);
  void freeConn(Conn* c, uint32_t id);
  // Node id -> connection (id below kFirstSentinel) or link (any id).
  Conn* connAt(uint32_t id) const { return &chunks_[id / kConnChunk][id % kConnChunk]; }
  const ExpLink& link(uint32_t id) const {
    return id >= kFirstSentinel ? exp_lists_[id - kFirstSentinel] : connAt(id)->exp;
  }
  ExpLink& link(uint32_t id) { return const_cast<ExpLink&>(std::as_const(*this).link(id)); }
  // The node id of a connection on a sweep list: its predecessor's `next`.
  uint32_t idOf(const Conn& c) { return link(c.exp.prev).next; }
  uint32_t next_list_ = 0;             // list for the next connection (round robin).
  uint32_t next_sweep_ = 0;            // list the next sweep starts with.
  int64_t next_sweep_ms_ = INT64_MIN;  // when maybeSweep() runs next (first call: arm only).
  size_t n_conn_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint16_t, uint32_t> zone_limits_;           // explicit per-zone limits.
  uint32_t default_zone_limit_ = 0;                    // 0: unlimited.
  std::unordered_map<uint16_t, uint32_t> zone_count_;  // connections per zone.
  std::map<uint16_t, TimeoutPolicy> zone_policies_;
  TimeoutPolicy default_policy_ = TimeoutPolicy::defaults();
  ConntrackStats stats_;
};

}  // namespace ctsim::ct
