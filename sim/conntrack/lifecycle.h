#pragma once
// Connection lifecycles: what happened to every connection of a replay, kept compactly enough
// to be on by default (sim/explain/ turns them into explanations; see sim/explain/README.md).
//
// One fixed-size record per connection (indexed by the engine's creation number Conn::id), plus
// one record per connection-less flow (packets that were invalid, related or not committed, or
// that a limit kept from creating a connection), plus one event per conn_update answer. Nothing
// is allocated per packet: a packet costs one counter increment on its connection's record.
// Records are filled from four places, all on the replay's thread:
//   - the replay (Replayer::Observer and process()): creation, conn_established, removal and
//     its reason, conn_update answers, packets handled in software, connection-less packets;
//   - the registry (CallObserver): each provider's can_offload answer and decline reason,
//     conn_add result, conn_update answer and conn_del;
//   - the fast paths (FastPathObserver): entry active, refused, detached (with the packets it
//     consumed), stray hits after the connection was deleted, removal.
// Per connection at most kLifecycleProviders providers are followed (the first ones in
// dispatch order); later providers are counted in `overflow_providers` only.
//
// Threading: none; one replay thread.

#include <bitset>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/conntrack/conn_key.h"
#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/huge_pages.h"

namespace ctsim::ct {

inline constexpr int kLifecycleProviders = 4;
inline constexpr uint32_t kNever = UINT32_MAX;  // "did not happen" for 32-bit deltas.

// One provider's part in a connection's lifecycle (20 bytes).
struct ProviderPart {
  enum Flag : uint16_t {
    kAsked = 1,           // can_offload was asked.
    kCanYes = 2,          // ... and said yes.
    kAddCalled = 4,       // conn_add was called.
    kAccepted = 8,        // ... and returned 0.
    kDelCalled = 16,      // conn_del was called.
    kDetached = 32,       // the fast-path entry existed when software deleted the connection.
    kOrphaned = 64,       // ... and its delete failed: the entry stayed in hardware.
    kNoActive = 128,      // the entry was never active (at detach or removal).
    kRefusedLater = 256,  // accepted, but the insertion (at conn_established) was refused:
                          // add_error holds that errno.
    kStuck = 512,         // the insertion would never complete.
  };
  uint16_t flags = 0;
  uint8_t add_error = 0;        // conn_add's (or the later insertion's) errno; 255 = larger.
  uint8_t gone = 0;             // how the entry left the table: EntryGone + 1; 0: not seen.
  uint32_t active_us = kNever;  // creation -> entry active, us (saturating); kNever: never.
  uint32_t consumed = 0;        // packets the entry consumed (software never saw them).
  uint32_t hits = 0;            // packets that hit the entry (consumed or sent up).
  uint16_t decline = 0;         // decline reason string: index + 1 (LifecycleRecorder::reasons).
  uint8_t stray_hits = 0;       // hits after software deleted the connection (saturating).
  uint8_t reserved = 0;
};

// How a lifecycle ended.
enum class LifeEnd : uint8_t {
  kAlive,       // not removed (yet): only while the replay runs, or with flush_at_end off.
  kExpired,     // expired in software, removed by the sweep.
  kHwIdle,      // expired, offloaded, and conn_update gave no timestamp: removed.
  kFlushed,     // flushed (all, zone or tuple) during the trace.
  kAliveAtEnd,  // alive at the end of the trace (removed by the end-of-trace flush).
  kReplaced,    // strict: an expired connection replaced by a new one for its tuple.
  kDestroyed,   // the engine was destroyed.
};
const char* lifeEndName(LifeEnd e);  // "expired", "hw_idle", ...

// Why a flow never had a connection (connection-less records).
enum class NoConn : uint8_t {
  kNone,          // it is a connection.
  kNotCommitted,  // its packets were not committed.
  kInvalid,       // its packets were invalid (state inv) and matched no connection.
  kRelated,       // ICMP errors related to a connection (never a connection of their own).
  kLimit,         // a connection limit (global or zone) kept it from being created.
};
const char* noConnName(NoConn n);

// One connection's (or connection-less flow's) lifecycle.
struct Lifecycle {
  ConnKey key{};              // forward key (as the first packet carried it).
  uint64_t packet = 0;        // packet number that created it (first packet of the flow).
  int64_t created_ns = 0;     // its capture time.
  int64_t end_ns = -1;        // trace time of the removal; -1: not removed.
  uint32_t est_us = kNever;   // creation -> conn_established dispatched, us (saturating).
  uint32_t sw_packets = 0;    // packets the software engine handled for it.
  uint32_t sw_at_active = 0;  // of those, before the first fast-path entry became active.
  uint32_t first_update = 0;  // its first conn_update event: index + 1 (0: none).
  uint16_t updates = 0;       // conn_update answers (saturating).
  LifeEnd end = LifeEnd::kAlive;
  NoConn no_conn = NoConn::kNone;
  uint8_t flags = 0;  // Flag bits.
  ProviderPart parts[kLifecycleProviders];

  enum Flag : uint8_t {
    kMarked = 1,       // the registry marked it offloaded after conn_add.
    kEstablished = 2,  // conn_established was dispatched.
    kStaleKept = 4,    // a conn_update answer older than its timeout kept it alive.
    kUpdKept = 8,      // some conn_update answer kept it alive.
    kHwActive = 16,    // some fast-path entry became active.
  };
};

// Lifecycle records on huge pages where the kernel gives them (one per connection of a replay).
using LifecycleList = std::vector<Lifecycle, HugeAllocator<Lifecycle>>;

// One conn_update answer (from the sweep) and its effect.
struct UpdateEvent {
  uint32_t conn = 0;       // index into LifecycleRecorder::conns().
  uint32_t next = 0;       // the connection's next event: index + 1 (0: none).
  int64_t t_ms = 0;        // sweep time (`now`).
  int64_t answer = 0;      // last-used answer (ms since the epoch, 0 = unknown).
  int64_t expiry_ms = -1;  // expiry afterwards; -1: removed (no usable timestamp).
  bool stale = false;      // answer + timeout <= now, yet it was kept.
};

class LifecycleRecorder final : public CallObserver, public FastPathObserver {
 public:
  LifecycleRecorder() = default;
  LifecycleRecorder(const LifecycleRecorder&) = delete;
  LifecycleRecorder& operator=(const LifecycleRecorder&) = delete;

  // Stops observing the registry and fast paths attached (before they are destroyed).
  void detach();
  // Whether providers are attached (offload on).
  bool offload() const { return !provider_names_.empty(); }

  // Names the providers (dispatch order) and their fast paths (nullptr: none), and makes this
  // recorder the observer of `registry` and of those fast paths. Call before the replay; they
  // must outlive it or detach() must be called first. sim/explain's attachRegistry() gathers
  // the arguments from a registry.
  void attach(Registry& registry, std::vector<std::string> names, std::vector<FastPath*> fps);

  // ---- Fed by the replay ----
  void onPacketStart(int64_t t_ns);  // every record, before its sweep.
  void onCreated(const Conn& c, uint64_t packet);
  // Bracket the hooks forwarded for `c` (registry answers are attributed to it).
  void beforeHook(const Conn& c) {
    current_ = indexOf(c);
    current_conn_ = &c.ext;
  }
  void afterHook(const Conn& c);
  void onEstablished(const Conn& c);
  void onDeleted(const Conn& c, DeleteReason reason);
  // Around one conn_update batch: before it is forwarded (so that each provider's own answer
  // is seen), then with the answers the hooks gave the engine.
  void beforeUpdates(std::span<Conn* const> conns);
  void onUpdates(std::span<Conn* const> conns, std::span<const int64_t> last_used, int64_t now);
  // A packet the engine processed: counted on its connection, or on a connection-less flow.
  void onSoftwarePacket(const Verdict& v, const ConnKey* key, bool commit, uint64_t packet);
  void onTraceEnd();

  // ---- CallObserver / FastPathObserver ----
  void onProviderAnswer(size_t index, Callback cb, const ct_offload_ctx& ctx, long long result,
                        const char* reason) override;
  void onEntry(const FastPath& fp, const conn* owner, const ctsim_conn_key& fwd,
               const EntryNote& note) override;

  // ---- Results ----
  const LifecycleList& conns() const { return conns_; }
  // The record of a live connection of the replay (nullptr when it has none).
  const Lifecycle* lifecycleOf(const Conn& c) const {
    uint32_t i = indexOf(c);
    return i == kNoIndex ? nullptr : &conns_[i];
  }
  const LifecycleList& flows() const { return flows_; }  // connection-less.
  const std::vector<UpdateEvent>& updates() const { return updates_; }
  const std::vector<std::string>& providerNames() const { return provider_names_; }
  // Per provider: it has a fast path that reports entry events (FastPath::setObserver).
  const std::vector<bool>& providerHasFastPath() const { return provider_fp_; }
  const std::vector<std::string>& reasons() const { return reasons_; }  // decline texts.
  uint64_t overflowProviders() const { return overflow_providers_; }
  // IP protocols of which some provider accepted (conn_add 0) at least one connection.
  bool protocolAccepted(uint8_t proto) const { return accepted_protos_.test(proto); }
  int64_t firstNs() const { return first_ns_; }
  // Bytes held (records, events, maps), for the cost measurement.
  size_t memoryBytes() const;

 private:
  static constexpr uint32_t kNoIndex = UINT32_MAX;
  uint32_t indexOf(const Conn& c) const;
  Lifecycle* recordOf(const conn* c);
  int providerOf(const FastPath& fp) const;
  uint16_t internReason(const char* text);
  void resolvePending();

  LifecycleList conns_;  // by Conn::id - id_base_.
  LifecycleList flows_;  // connection-less flows.
  std::vector<UpdateEvent> updates_;
  std::unordered_map<ConnKey, uint32_t, ConnKeyHash, ConnKeyEq> flow_index_;
  // Live connections that a fast-path provider accepted: struct conn -> index (entry events).
  std::unordered_map<const conn*, uint32_t> live_;
  // Entries still in a fast path after their connection was deleted: forward key -> index.
  std::unordered_map<ConnKey, uint32_t, ConnKeyHash, ConnKeyEq> ghosts_;
  // The batch being forwarded: connection -> position, and the first non-zero provider answer.
  std::unordered_map<const conn*, uint32_t> batch_index_;
  std::vector<int64_t> batch_answer_;
  // Update events whose expiry is read at the next packet: (event index, connection).
  std::vector<std::pair<uint32_t, const Conn*>> pending_;
  uint64_t id_base_ = 0;                // Conn::id of conns_[0].
  uint32_t current_ = kNoIndex;         // record of the connection being hooked.
  const conn* current_conn_ = nullptr;  // that connection.
  std::vector<std::string> provider_names_;
  std::vector<bool> provider_fp_;
  std::vector<FastPath*> fast_paths_;  // by provider index (nullptr: none).
  Registry* registry_ = nullptr;
  std::vector<std::string> reasons_;
  std::unordered_map<std::string, uint16_t> reason_index_;
  uint64_t overflow_providers_ = 0;
  std::bitset<256> accepted_protos_;
  int64_t now_ns_ = 0;
  int64_t first_ns_ = 0;
  bool started_ = false;
  bool at_end_ = false;
};

}  // namespace ctsim::ct
