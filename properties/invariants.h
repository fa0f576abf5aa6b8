#pragma once
// The invariant checker: named invariants of the engine + registry + providers + fast paths,
// checked while a replay runs (issue 8). Used by the RapidCheck properties, the model-based
// test, `ctsim conformance` and the fuzz targets.
//
// How it sees everything:
//   - RecordingProvider wraps each provider (owned or not) and reports every callback, its
//     context and its answer to a CallSink (the Checker); it can also inject faults.
//   - Checker is a ct::ReplayHooks decorator over ct::RegistryHooks: the engine calls it at the
//     RFC's call sites, it forwards to the registry hooks and checks what happened around each
//     call (which providers were called, in which order, with what answers).
//   - Checker::onPacket sees every packet's verdict (Replayer's per-packet callback), and
//     Checker::finish the summary after the end-of-trace flush and the switch shutdown.
// A violation is (invariant name, packet number, detail); names are those of invariantCatalog().
//
// Threading: none; one thread drives the replay, as the engine.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "providers/conn.h"
#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"

namespace ctsim::props {

// One named invariant: a stable name, a one-line statement and where the rule comes from.
struct InvariantInfo {
  const char* name;       // e.g. "add-del-balanced".
  const char* statement;  // one line.
  const char* source;     // "issue 8 #1", "facts §4", "ct_offload.h", ...
};
// Every invariant the checker knows, in a fixed order (the README table is generated from it).
const std::vector<InvariantInfo>& invariantCatalog();
// The entry named `name`, or nullptr.
const InvariantInfo* findInvariant(std::string_view name);

// A broken invariant.
struct Violation {
  std::string invariant;  // a name from invariantCatalog().
  uint64_t packet = 0;    // 1-based packet number (0: before the first packet or not a packet).
  std::string detail;     // what was seen.
};
// "NAME at packet N: DETAIL".
std::string formatViolation(const Violation& v);

// A provider callback as the RecordingProvider saw it.
enum class CallOp : uint8_t { kInit, kAdd, kDel, kUpdate, kEst, kCan, kFlush, kBatch };
const char* callOpName(CallOp op);

struct ProviderCall {
  CallOp op = CallOp::kAdd;           // which callback.
  const ::conn* conn = nullptr;       // the context's connection (nullptr for init/flush/batch).
  ctsim_conn_key key{};               // the context's key (zeros without a context).
  bool has_netdev = false;            // the context carried an input netdev.
  odp_port_t port = CTSIM_PORT_NONE;  // the context's input port.
  int result = 0;                     // conn_add / init: the answer.
  long long last_used = 0;            // conn_update: the answer.
  bool can = false;                   // can_offload: the answer.
  long long now_ms = 0;               // ctsim_now_ms() during the call.
  bool after_unregister = false;      // the provider had been unregistered by the harness.
  bool faulted = false;               // the answer was injected, the provider was not asked.
  // One op of a batch_submit, reported after the provider ran the batch (after the kBatch call):
  // ADD's result is the op's error, UPD carries no timestamp, POLICY is reported as can_offload.
  bool in_batch = false;
};

class RecordingProvider;

// Receives every call a RecordingProvider forwards.
class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void onCall(RecordingProvider& provider, const ProviderCall& call) = 0;
};

// Faults a RecordingProvider injects in front of its provider (the provider is not asked).
struct ProviderFaults {
  int add_error = 0;            // conn_add answers this errno...
  uint64_t add_error_left = 0;  // ...for this many more conn_add calls.
  uint64_t upd_zero_left = 0;   // conn_update answers 0 for this many more calls.
  bool refuse = false;          // can_offload answers false (and conn_add is then not called).
};

// Forwards every callback of `inner` and reports it to a sink. `owned` may be null (the inner
// provider then belongs to someone else, e.g. a plug-in's holder registry, and init() is not
// forwarded: it ran when the plug-in was loaded). The wrapper exposes exactly the inner
// provider's callbacks (plus can_offload while `refuse` is set).
class RecordingProvider final : public Provider {
 public:
  RecordingProvider(std::unique_ptr<Provider> owned, Provider* inner, CallSink* sink);

  Provider* inner() const { return inner_; }
  // The inner provider's fast path, or nullptr.
  FastPath* fastPath() const { return fast_path_; }
  ProviderFaults& faults() { return faults_; }
  // Marks the provider as unregistered: later calls are reported with after_unregister set.
  void setUnregistered() { unregistered_ = true; }
  bool unregistered() const { return unregistered_; }
  void setSink(CallSink* sink) { sink_ = sink; }

  // Provider:
  const char* name() const override { return inner_->name(); }
  CallbackMask callbacks() const override;
  const ct_offload_class* cClass() const override { return inner_->cClass(); }
  int init() override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  void connEstablished(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;
  void batchSubmit(ct_offload_op_batch& batch) override;

 private:
  void report(ProviderCall call, const ct_offload_ctx* ctx);
  // The ops of a batch the provider has run, one call each (in_batch set).
  void reportBatchOps(const ct_offload_op_batch& batch);

  std::unique_ptr<Provider> owned_;  // may be null.
  Provider* inner_;                  // the wrapped provider.
  FastPath* fast_path_;              // inner_'s fast path, or nullptr.
  CallSink* sink_;                   // may be null.
  ProviderFaults faults_;            // injected faults.
  bool unregistered_ = false;        // set by the harness at unregistration.
};

// What the checker needs to know about the run it watches.
struct CheckerConfig {
  Profile profile = Profile::kStrict;        // the registry's profile.
  int64_t sweep_interval_ms = 20000;         // the engine's sweep interval.
  uint32_t conn_limit = 3000000;             // the engine's global limit.
  std::map<uint16_t, uint32_t> zone_limits;  // explicit zone limits set on the engine.
  size_t max_per_invariant = 10;             // violations kept per invariant (the rest counted).
  bool expensive = true;                     // run the O(connections) checks at sweeps.
  bool zone_from_vlan = false;               // the replay takes the zone from the outer VLAN.
  // The engine's conn_add, conn_established and conn_del reach the registry as one-op batches
  // (Registry::submit) instead of through the registry hooks' one-by-one calls, so that
  // batch_submit providers accept connections inside a batch. conn_update is left as is.
  bool batch_hooks = false;
};

// The checker. Install it as the replay's hooks (it forwards to `inner`), install onHookEvent
// as `inner`'s listener, register the RecordingProviders with addProvider() in registration
// order, feed every packet to onPacket() and call finish() at the end.
class Checker final : public ct::ReplayHooks, public CallSink {
 public:
  Checker(ct::RegistryHooks& inner, CheckerConfig config);

  void setEngine(ct::Conntrack* engine) { engine_ = engine; }
  // A provider joins (registration order).
  void addProvider(RecordingProvider* p);
  // The registry refused `p`'s registration and destroyed it: forget it (not dereferenced).
  void forgetProvider(const RecordingProvider* p);
  // The harness unregistered `p` (its accepted connections are forgotten: the host took it
  // away; later calls are violations).
  void onUnregister(RecordingProvider* p);
  // The registry hooks' listener.
  void onHookEvent(const ct::HookEvent& e);
  // Every packet, after it went through the fast paths and the engine.
  void onPacket(const TraceRecord& rec, const ct::Verdict& v);
  // Time moved without a packet (a script's advance step) and perhaps a sweep ran.
  void onTimeStep(int64_t now_ms);
  // The end: `summary` from Replayer::finish (the end-of-trace flush has run) after the
  // registry hooks' shutdown().
  void finish(const ct::ReplaySummary& summary, bool flushed_at_end, bool shut_down);

  // A violation found outside the checker (differential properties, contract tests).
  void report(std::string invariant, uint64_t packet, std::string detail);

  const std::vector<Violation>& violations() const { return violations_; }
  // Violations per invariant, including those beyond max_per_invariant.
  const std::map<std::string, uint64_t>& counts() const { return counts_; }
  // The hook calls made as batches (batch_hooks), counted as the registry hooks count theirs.
  const ct::HookCounts& batchHookCounts() const { return batch_counts_; }

  // ReplayHooks:
  void onPacketStart(uint64_t packet, int64_t now) override;
  void onTraceEnd() override;
  // OffloadHooks:
  void onConnAdd(ct::Conn& conn, const ct::PacketMeta& meta) override;
  void onEstablished(ct::Conn& conn, const ct::PacketMeta& meta) override;
  void onDelete(ct::Conn& conn, ct::DeleteReason reason) override;
  void onUpdateBatch(std::span<ct::Conn* const> conns, std::span<int64_t> last_used) override;
  // CallSink:
  void onCall(RecordingProvider& provider, const ProviderCall& call) override;

 private:
  // What the checker knows about a connection while it lives.
  struct Live {
    const ct::Conn* conn = nullptr;  // the engine's connection.
    uint64_t id = 0;                 // its creation number.
    int64_t last_activity_ms = 0;    // last packet (software or fast path) or last_used claim.
    int64_t timeout_ms = 0;          // its timer's length when last armed by a packet.
    int64_t seen_expiration = 0;     // expiration after the last packet that touched it.
    bool syn_isn_known = false;      // TCP: the initiator's SYN sequence number is known.
    uint32_t syn_isn = 0;            // TCP: that sequence number.
    bool reply_seen = false;         // a reply-direction packet was tracked.
    bool exempt_expiry = false;      // kept by a sweep since the last packet (expiry moved).
  };
  // What the checker knows about a provider.
  struct Prov {
    RecordingProvider* rp = nullptr;                   // the wrapper.
    bool registered = true;                            // not yet unregistered.
    std::unordered_map<const ::conn*, uint64_t> held;  // accepted and not deleted -> conn id.
    std::unordered_set<uint64_t> established;          // conn ids given conn_established.
    std::unordered_set<uint64_t> offered;              // conn ids given conn_add (any answer).
    uint64_t dels_in_call = 0;                         // conn_del calls in the current hook call.
  };
  // One provider call inside the current hook call.
  struct CallRec {
    size_t prov;        // index into provs_.
    ProviderCall call;  // the call.
  };

  Prov* provOf(RecordingProvider& rp);
  size_t indexOf(RecordingProvider& rp) const;
  uint64_t idOf(const ::conn* c) const;
  void checkTable();
  void checkIdle();
  void checkOrphans();
  void noteForcedExpiry();
  // batch_hooks: `type` for `conn` as a one-op batch through the registry; the op's error.
  int submitOne(ct_offload_op_type type, ct::Conn& conn, bool with_netdev);

  ct::RegistryHooks& inner_;
  CheckerConfig config_;
  ct::Conntrack* engine_ = nullptr;
  std::vector<Prov> provs_;                       // registration order.
  std::unordered_map<const ::conn*, Live> live_;  // live connections by their struct conn.
  uint64_t packet_ = 0;                           // current packet.
  int64_t now_ms_ = 0;                            // current time.
  bool in_hook_ = false;        // inside a hook call (provider calls are attributed to it).
  std::vector<CallRec> calls_;  // provider calls during the current hook call.
  int last_add_result_ = 0;     // the registry's conn_add answer (from the hook event).
  std::vector<uint64_t> adds_this_packet_;  // conn ids given conn_add for the current packet.
  uint64_t sweeps_seen_ = 0;                // engine sweeps seen so far.
  uint64_t port_reuse_seen_ = 0;            // engine port reuses seen so far.
  bool at_end_ = false;                     // the end-of-trace flush is running.
  std::vector<Violation> violations_;
  std::map<std::string, uint64_t> counts_;
  uint64_t packets_seen_ = 0;    // packets given to onPacket.
  uint64_t consumed_seen_ = 0;   // of which consumed by a fast path.
  uint64_t tracked_seen_ = 0;    // of which went to the engine.
  ::netdev batch_netdev_;        // batch_hooks: the input netdev of add/established ops.
  ct::HookCounts batch_counts_;  // batch_hooks: the hook calls made as batches.
};

}  // namespace ctsim::props
