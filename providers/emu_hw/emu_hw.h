#pragma once
// The emu-hw built-in provider: an emulated NIC connection table with a fast path (see
// providers/fast_path.h).  It accepts connections like a hardware offload driver would (limited
// capacity, asynchronous insertion with latency, a rate-limited command queue, hardware aging,
// coarse last-used, injected failures) and, in replay, sees packets before the software engine.
//
// Options ("--provider emu-hw:key=value,..."; a profile file holds the same keys, one per line):
//   name=NAME               provider name (default emu-hw)
//   profile=NAME|PATH       load providers/emu_hw/profiles/NAME.conf (or PATH if it has a '/')
//                           first; the other options override it whatever their order
//   capacity=N              table slots, 0 = unlimited (default 65536).  Pending insertions,
//                           entries being deleted and orphans count: the table never holds more
//   program_at=add|est|tcp-est  when to insert: at conn_add (default), at conn_established, or
//                           TCP at conn_established and other protocols at conn_add
//   can_offload=BOOL        can_offload's answer (default true)
//   protocols=LIST          offload only these IP protocols ("tcp;udp", names or numbers,
//                           ';'-separated; default all); can_offload says no to the others and
//                           gives the reason through ctsim_offload_decline_reason()
//   insert_latency=DIST     request -> active (default 0), see Distribution (distribution.h)
//   delete_latency=DIST     request -> slot freed (default 0)
//   rate=OPS                insert+delete commands per second, 0 = unlimited (default)
//   queue=N                 commands that may wait for the rate limit (default 1024); beyond:
//                           EBUSY
//   aging=DURATION          hardware removes entries idle this long, 0 = never (default)
//   granularity=DURATION    last-used resolution reported by conn_update (default 1ms)
//   mirror=BOOL             send every hit packet up to software too (still counted)
//   batch=BOOL              expose batch_submit (default false)
//   seed=N                  random seed (default 1); recorded in stats().config
//   sample_interval=DURATION  occupancy series spacing, 0 = none (default 1s)
//   {add,del,upd}_fail=P    probability that an insert / delete / update fails
//   {add,del,upd}_fail_at=LIST  1-based op numbers that fail: "3", "3;7", "10-20", "100-"
//   {add,del,upd}_fail_kind=transient|permanent  (default transient), see below
//   add_stuck=P, add_stuck_at=LIST  insertions that never complete (slot held, never active)
//
// Failure semantics.  Op numbers count hardware commands of that type: an insert is counted
// once it passed the capacity and queue checks; a delete for each conn_del of a connection with
// an entry; an update for each conn_update of an active entry.
//   add transient: EAGAIN, nothing kept.  add permanent: EIO, and the key is refused (EIO) for
//   good.  del transient: the command is retried, the slot is freed one more delete latency
//   later.  del permanent (and a delete refused by a full queue): the entry is orphaned — it
//   keeps its slot and keeps matching packets until hardware aging removes it (never without
//   aging).  upd transient: this conn_update answers 0.  upd permanent: the entry's counters
//   are lost, every later conn_update answers 0.
//
// Time is trace time: FastPath::setNow(), and in callbacks also ctsim_now_ms() when later.
// conn_update answers last-used (ms since the epoch, rounded down to the granularity, at least
// 1) for an active entry, 0 for a pending, deleted, aged or unknown one.
// With program_at=est/tcp-est, conn_add only checks (capacity, duplicates) and returns 0; a
// failure at conn_established is counted and the connection stays in software.
// A key already in the table (even pending deletion or orphaned) is refused with EEXIST.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "providers/builtin.h"
#include "providers/emu_hw/distribution.h"
#include "providers/emu_hw/offload_log.h"
#include "providers/emu_hw/open_table.h"
#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim::emu_hw {

// When the hardware entry is requested.
enum class ProgramAt { kAdd, kEst, kTcpEst };
// What an injected failure means (see the file comment).
enum class FailKind { kTransient, kPermanent };

// Which ops of one type fail.
struct OpFailure {
  double prob = 0;  // Probability per op, 0..1.
  // 1-based op number ranges [first, last] that fail; last = UINT64_MAX for "N-".
  std::vector<std::pair<uint64_t, uint64_t>> at;
  FailKind kind = FailKind::kTransient;  // Meaning of a failure of this op type.

  bool any() const { return prob > 0 || !at.empty(); }
  bool scheduled(uint64_t n) const;  // n is in one of the 'at' ranges.
};

// The effective configuration of an emu-hw instance.
struct Config {
  std::string name = "emu-hw";              // Provider name.
  std::string profile;                      // Profile file loaded, "" for none.
  uint64_t capacity = 65536;                // Table slots; 0 = unlimited.
  ProgramAt program_at = ProgramAt::kAdd;   // When to insert.
  bool can_offload = true;                  // can_offload's answer.
  std::vector<uint8_t> protocols;           // Offloaded IP protocols; empty = all.
  Distribution insert_latency;              // Request (after queueing) -> active.
  Distribution delete_latency;              // Request (after queueing) -> slot freed.
  double rate = 0;                          // Commands per second; 0 = unlimited.
  uint64_t queue = 1024;                    // Commands allowed to wait for the rate limit.
  int64_t aging_ns = 0;                     // Idle time before hardware removal; 0 = never.
  int64_t granularity_ns = 1000000;         // Last-used resolution (>= 1 ms).
  bool mirror = false;                      // Every hit goes up too.
  bool batch = false;                       // Expose batch_submit.
  uint64_t seed = 1;                        // Random seed.
  int64_t sample_interval_ns = 1000000000;  // Occupancy series spacing; 0 = none.
  OpFailure add_fail;                       // Insert failures.
  OpFailure del_fail;                       // Delete failures.
  OpFailure upd_fail;                       // Update (counter read) failures.
  OpFailure add_stuck;                      // Insertions that never complete (kind unused).

  // One line "key=value ..." of every setting, for logs and stats().config.
  std::string describe() const;
};

// The folder holding the named profiles (set at build time).
const char* profileDir();
// Builds the configuration of a spec: the profile first (if any), then the other options.
// EINVAL with a message naming the option (or file:line) for unknown keys or bad values;
// ENOENT for a missing profile or histogram file.
Result<Config> parseConfig(const ProviderSpec& spec);
// The factory for builtin.cpp's table.
Result<std::unique_ptr<Provider>> makeEmuHw(const ProviderSpec& spec);

// Per-entry counters, for tests and tools.
struct EntryInfo {
  bool active = false;       // Insertion completed and not yet removed.
  bool deleting = false;     // A deletion is in flight.
  bool orphaned = false;     // Left in hardware by a failed delete.
  bool stuck = false;        // The insertion will never complete.
  uint64_t packets = 0;      // Packets counted by hardware.
  uint64_t bytes = 0;        // Bytes counted by hardware.
  int64_t request_ns = 0;    // Insertion request time.
  int64_t active_ns = -1;    // Activation time, -1 while pending.
  int64_t last_used_ns = 0;  // Last hit (or activation), trace time.
};

class EmuHwProvider final : public Provider, public FastPath {
 public:
  explicit EmuHwProvider(Config config);

  const Config& config() const { return config_; }
  // The entry whose forward or reverse key is 'key', if the table holds one.
  std::optional<EntryInfo> entry(const ctsim_conn_key& key) const;

  // Provider:
  const char* name() const override { return config_.name.c_str(); }
  CallbackMask callbacks() const override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  void connEstablished(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;
  void batchSubmit(ct_offload_op_batch& batch) override;

  // FastPath:
  void setNow(int64_t now_ns) override;
  FastPathVerdict process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                          uint8_t tcp_flags) override;
  FastPathStats stats() const override;
  bool setObserver(FastPathObserver* observer) override;

 private:
  // A ctsim_conn_key as 5 words, for hashing and comparison (all bytes significant).
  using PackedKey = std::array<uint64_t, 5>;
  struct KeyHash {
    size_t operator()(const PackedKey& k) const;
  };
  // One hardware table slot (an element of slab_).
  struct Entry {
    uint64_t id = 0;              // Serial number of the entry; 0 = a free slab slot.
    ctsim_conn_key fwd{};         // Forward key.
    ctsim_conn_key rev{};         // Reverse key.
    const conn* owner = nullptr;  // Connection it belongs to; nullptr once deleted/orphaned.
    int64_t request_ns = 0;       // Insertion request time.
    int64_t active_ns = -1;       // Activation time; -1 while pending.
    int64_t last_used_ns = 0;     // Last hit or activation.
    uint64_t packets = 0;         // Hardware packet counter.
    uint64_t consumed = 0;        // Of those, hits not sent up to software.
    uint64_t bytes = 0;           // Hardware byte counter.
    bool deleting = false;        // Delete command in flight.
    bool orphaned = false;        // Left behind by a failed or refused delete.
    bool stuck = false;           // Insertion never completes.
    bool counters_lost = false;   // Permanent update failure: conn_update answers 0.
    uint32_t fwd_hash = 0;        // keyHash(fwd), keyHash(rev): where keys_ holds them.
    uint32_t rev_hash = 0;
  };
  // A reference to an entry: its slab slot and serial (a stale reference finds another serial).
  struct Ref {
    uint32_t slot = 0;  // Index in slab_.
    uint64_t id = 0;    // Entry serial; 0 = none.
  };
  // keys_: fwd and rev key -> entry.  32 bits of the key's hash (the table hash) and the entry's
  // slot * 2 + (1 for its rev key) + 1; 0 = empty.
  struct KeySlot {
    uint32_t hash = 0;
    uint32_t ref = 0;
  };
  struct KeySlotTraits {
    static bool empty(const KeySlot& s) { return s.ref == 0; }
    static uint64_t hash(const KeySlot& s) { return s.hash; }
  };
  // conns_: what the provider knows about a connection it accepted.
  struct ConnSlot {
    const conn* c = nullptr;  // The connection; nullptr = empty.
    Ref entry;                // Its entry; id 0 = none (deferred, refused at est, or gone).
    bool deferred = false;    // Accepted, insertion waits for conn_established.
  };
  struct ConnSlotTraits {
    static bool empty(const ConnSlot& s) { return s.c == nullptr; }
    static uint64_t hash(const ConnSlot& s) { return connHash(s.c); }
  };
  enum class EventType : uint8_t { kAddDone, kDelDone, kAge };
  // A timed hardware event.
  struct Event {
    int64_t t_ns;    // When it happens.
    uint64_t seq;    // Tie-break: creation order.
    uint64_t id;     // Entry serial.
    EventType type;  // What happens.
    uint32_t slot;   // Entry slab slot.
    bool operator>(const Event& o) const { return t_ns != o.t_ns ? t_ns > o.t_ns : seq > o.seq; }
  };
  // Named counters of stats().counters and stats().failures, counted in arrays (a map lookup
  // by name per callback cost more than the rest of the callback) and named in stats().
  // clang-format off
#define CTSIM_EMU_HW_COUNTERS(X) \
  X(add_completed) \
  X(add_requested) \
  X(aged) \
  X(batch_submit) \
  X(conn_add) \
  X(conn_del) \
  X(conn_established) \
  X(conn_update) \
  X(del_completed) \
  X(del_unknown) \
  X(est_refused) \
  X(flush) \
  X(occupancy_gaps) \
  X(orphaned)
#define CTSIM_EMU_HW_FAILURES(X) \
  X(add_permanent) \
  X(add_stuck) \
  X(add_transient) \
  X(busy) \
  X(del_busy) \
  X(del_permanent) \
  X(del_transient) \
  X(duplicate_conn) \
  X(exists) \
  X(full) \
  X(refused_permanent) \
  X(upd_permanent) \
  X(upd_transient)
  // clang-format on
#define CTSIM_EMU_HW_ENUM(name) name,
  enum class Ctr : uint8_t { CTSIM_EMU_HW_COUNTERS(CTSIM_EMU_HW_ENUM) kCount };
  enum class Fail : uint8_t { CTSIM_EMU_HW_FAILURES(CTSIM_EMU_HW_ENUM) kCount };
#undef CTSIM_EMU_HW_ENUM

  static uint32_t keyHash(const ctsim_conn_key& k);
  static uint64_t connHash(const conn* c) {
    uint64_t h = reinterpret_cast<uintptr_t>(c) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
  }
  // The entry `r` refers to, or nullptr if it is gone.
  Entry* entryAt(const Ref& r) {
    return r.id != 0 && r.slot < slab_.size() && slab_[r.slot].id == r.id ? &slab_[r.slot]
                                                                          : nullptr;
  }
  // The entry indexed under `key` (whose keyHash is h), or nullptr.
  Entry* findKeyLocked(const ctsim_conn_key& key, uint32_t h);
  Entry* findKeyLocked(const ctsim_conn_key& key) { return findKeyLocked(key, keyHash(key)); }
  ConnSlot* findConnLocked(const conn* c) {
    return conns_.find(connHash(c), [c](const ConnSlot& s) { return s.c == c; });
  }
  static PackedKey pack(const ctsim_conn_key& k);
  // Trace time for a callback: now_ns_, or ctsim_now_ms() if later; runs due events.
  void syncClockLocked();
  // Runs events due by t_ns and records samples; 'start' lets this call start trace time (and
  // the occupancy series) if nothing has yet.
  void advanceLocked(int64_t t_ns, bool start);
  void handleLocked(const Event& ev);
  void sampleLocked(int64_t t_ns);
  void removeLocked(Entry& e, EntryGone gone);
  // can_offload's answer for the context (can_offload and protocols options); gives the
  // decline reason when no.
  bool offloadable(const ct_offload_ctx& ctx) const;
  void pushLocked(int64_t t_ns, const Entry& e, EventType type);
  // Pushes the event and runs it if due (the callbacks' trace time is reached): an event due
  // now, earlier than every queued one, is handled at once without going through the queue.
  void pushAndRunLocked(int64_t t_ns, Entry& e, EventType type);
  // Takes a command slot of the rate limiter: the issue time, or -1 if the queue is full.
  int64_t scheduleLocked();
  // Whether op number 'n' of 'f' fails (draws from rng_fail_ when f.prob > 0).
  bool failsLocked(const OpFailure& f, uint64_t n);
  // Requests the insertion of conn 'c'; 0 or an errno (counted).
  // The checks an insertion must pass before anything is queued: not refused for good (EIO),
  // not already in the table (EEXIST), a free slot (ENOSPC); each refusal counted.
  // hf, hr: the keys' keyHash.
  int admitLocked(const ctsim_conn_key& fwd, const ctsim_conn_key& rev, uint32_t hf, uint32_t hr);
  int programLocked(const conn* c, const ctsim_conn_key& fwd, const ctsim_conn_key& rev,
                    Ref* ref_out);
  int connAddLocked(const ct_offload_ctx& ctx);
  void connDelLocked(const ct_offload_ctx& ctx);
  long long connUpdateLocked(const ct_offload_ctx& ctx);
  void connEstablishedLocked(const ct_offload_ctx& ctx);
  void flushLocked();
  // Tells the observer (if any) about entry `e`.
  void noteLocked(const Entry& e, EntryEvent ev, EntryGone gone = EntryGone::kDeleted,
                  int error = 0);
  void fail(Fail cause) { failures_[static_cast<int>(cause)]++; }
  void count(Ctr what) { counters_[static_cast<int>(what)]++; }

  const Config config_;  // Immutable after construction.

  mutable std::mutex mu_;        // Guards everything below (callbacks and fast path).
  std::mt19937_64 rng_latency_;  // Latency draws (seeded from config_.seed).
  std::mt19937_64 rng_fail_;     // Failure and stuck draws (seeded from config_.seed).
  int64_t now_ns_ = 0;           // Trace time reached.
  bool started_ = false;         // Trace time started (setNow, or a callback with a clock).
  int64_t next_sample_ns_ = 0;   // Next occupancy sample time.
  uint64_t next_id_ = 0;         // Last entry id handed out (ids start at 1).
  uint64_t next_seq_ = 0;        // Event sequence numbers.
  uint64_t add_ops_ = 0, del_ops_ = 0, upd_ops_ = 0;  // Op numbers for *_fail_at.
  double next_free_ns_ = 0;                    // Rate limiter: when the next command may issue.
  std::deque<int64_t> waiting_;                // Issue times of commands still waiting (ascending).
  std::vector<Entry> slab_;                    // Table slots (id 0: free).
  std::vector<uint32_t> free_slots_;           // Free slab slots, reused last-in first.
  OpenTable<KeySlot, KeySlotTraits> keys_;     // fwd and rev key -> entry.
  OpenTable<ConnSlot, ConnSlotTraits> conns_;  // Accepted connections.
  std::unordered_set<PackedKey, KeyHash> refused_;          // Keys refused for good.
  uint64_t counters_[static_cast<int>(Ctr::kCount)] = {};   // By Ctr, for stats().counters.
  uint64_t failures_[static_cast<int>(Fail::kCount)] = {};  // By Fail, for stats().failures.
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;  // Pending.
  FastPathStats stats_;                   // Counters and series (entries/active kept current).
  OffloadLog offload_latency_;            // stats().offload_latency, compact (see offload_log.h).
  FastPathObserver* observer_ = nullptr;  // Entry events (setObserver), may be null.
};

}  // namespace ctsim::emu_hw
