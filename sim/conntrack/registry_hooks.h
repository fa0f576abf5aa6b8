#pragma once
// RegistryHooks: the engine's offload hooks (ct::OffloadHooks) over a ctsim::Registry, at the
// RFC's call sites (facts §3), for a replay or any driver of the engine.
//
//   onConnAdd        -> Registry::connAdd, context with the input netdev (one per replay,
//                       "p0", port 1 by default).
//   onEstablished    -> Registry::connEstablished, same context.
//   onDelete         -> Registry::connDel, no netdev; the registry applies the profile's gate
//                       (rfc-v1 always, rfc-v2 marked connections, strict the acceptors).
//   onUpdateBatch    -> rfc-v1/rfc-v2: one ct_offload_op_batch of UPD ops through
//                       Registry::submit; an op with error 0 keeps its connection (the RFC
//                       ignores the timestamp's value, §5.3). strict: Registry::connUpdate per
//                       connection, because it needs the timestamp itself and a batch op carries
//                       only an error.
//   shutdown()       -> Registry::flush (provider flush(), "switch shutdown"), counted apart.
// The registry's clock (ctsim_now_ms) is the engine's simulated `now`, set per packet.
//
// A hook profile is a registry Profile plus the engine's StrictFixes: all off for rfc-v1 and
// rfc-v2, all on for strict (hookProfileConfig()).
//
// Observation: a listener sees one HookEvent per hook call; with provider tracing on, each event
// names the providers whose callback ran (found by diffing the registry's call counters around
// the call; for a UPD batch, the providers the whole batch reached). HooksOracleWriter turns
// events into the `.rfc-v2-hooks` oracle format, formatHookEvent() into `--emit events` lines.
//
// Threading: none; one engine thread drives it, as the engine.

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "providers/conn.h"
#include "providers/registry.h"
#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/replay.h"

namespace ctsim::ct {

// The engine configuration a hook profile implies: `base` with its StrictFixes set (all on for
// Profile::kStrict, all off otherwise).
ConntrackConfig hookProfileConfig(Profile profile, ConntrackConfig base = {});

// Hook operations, as the provider callbacks are named.
enum class HookOp : uint8_t { kConnAdd, kConnEstablished, kConnDel, kConnUpdate, kFlush };
const char* hookOpName(HookOp op);  // "conn_add", "conn_established", "conn_del", ...

// When a hook was called.
enum class HookPhase : uint8_t {
  kPacket,    // while a record was swept for or processed (HookEvent::packet).
  kEnd,       // the end-of-trace flush of the table.
  kShutdown,  // switch shutdown (provider flush()).
};

// One hook call as a listener sees it.
struct HookEvent {
  HookPhase phase = HookPhase::kPacket;
  uint64_t packet = 0;  // the current record (0 before the first).
  HookOp op = HookOp::kConnAdd;
  const Conn* conn = nullptr;  // the connection (nullptr for kFlush); valid during the call.
  bool dispatched = true;      // conn_del: the profile's gate let it through to providers.
  int result = 0;              // conn_add: its error; conn_update: the op's error (0: kept).
  std::vector<std::string> providers;  // with provider tracing: providers whose callback ran.
};

// Hook calls counted by op. "Calls" are the engine's; a gated conn_del is counted apart.
struct HookCounts {
  uint64_t add = 0;               // conn_add calls.
  uint64_t add_failed = 0;        // of which returned an error.
  uint64_t est = 0;               // conn_established calls.
  uint64_t del_requested = 0;     // connections removed while hooked (conn_del requested).
  uint64_t del = 0;               // of which dispatched past the profile's gate.
  uint64_t del_at_end = 0;        // of `del`, by the end-of-trace flush.
  uint64_t upd = 0;               // conn_update queries (UPD ops, or strict calls).
  uint64_t upd_kept = 0;          // of which answered with a timestamp.
  uint64_t upd_batches = 0;       // UPD batches submitted (rfc profiles).
  uint64_t shutdown_flushes = 0;  // Registry::flush calls at shutdown.
};

// Adds every counter of `from` into `into` (sharded replay: one RegistryHooks per shard).
void addHookCounts(HookCounts& into, const HookCounts& from);

class RegistryHooks final : public ReplayHooks {
 public:
  // Hooks dispatching to `registry` (not owned; must outlive this), whose profile selects the
  // per-profile behaviour. Sets the registry's clock to this object's `now`.
  explicit RegistryHooks(Registry& registry, std::string netdev_name = "p0", odp_port_t port = 1);
  // Clears the registry's clock.
  ~RegistryHooks() override;
  RegistryHooks(const RegistryHooks&) = delete;
  RegistryHooks& operator=(const RegistryHooks&) = delete;

  using Listener = std::function<void(const HookEvent&)>;
  // Sees every hook call (nullptr: none). `trace_providers` fills HookEvent::providers, at the
  // cost of reading the registry's counters around each call.
  void setListener(Listener listener, bool trace_providers);

  // The simulated time providers see (ctsim_now_ms), ms. onPacketStart sets it too.
  void setNow(int64_t now_ms) { now_ms_ = now_ms; }
  // The record the next calls belong to (drivers other than a replay).
  void setPacket(uint64_t packet) {
    packet_ = packet;
    phase_ = HookPhase::kPacket;
  }
  // Switch shutdown: every provider's flush(), once.
  void shutdown();

  const HookCounts& counts() const { return counts_; }
  Registry& registry() { return registry_; }

  // ReplayHooks:
  void onPacketStart(uint64_t packet, int64_t now) override;
  void onTraceEnd() override { phase_ = HookPhase::kEnd; }
  // OffloadHooks:
  void onConnAdd(Conn& conn, const PacketMeta& meta) override;
  void onEstablished(Conn& conn, const PacketMeta& meta) override;
  void onDelete(Conn& conn, DeleteReason reason) override;
  void onUpdateBatch(std::span<Conn* const> conns, std::span<int64_t> last_used) override;

 private:
  using Counters = std::vector<std::array<uint64_t, kCallbackCount>>;
  static long long clockThunk(void* self);
  // Registry call counters per provider (tracing only).
  Counters counters() const;
  // Names of the providers whose `cbs` counters rose since `before`.
  std::vector<std::string> reached(const Counters& before, std::initializer_list<Callback> cbs);
  void emit(HookEvent& e, const Counters& before, std::initializer_list<Callback> cbs);
  bool delGatePasses(const Conn& conn) const;

  Registry& registry_;   // dispatch target.
  ::netdev netdev_;      // the input netdev of every packet.
  int64_t now_ms_ = 0;   // simulated now for the registry clock.
  uint64_t packet_ = 0;  // current record.
  HookPhase phase_ = HookPhase::kPacket;
  Listener listener_;             // event observer, may be empty.
  bool trace_providers_ = false;  // fill HookEvent::providers.
  HookCounts counts_;
};

// The `.rfc-v2-hooks` oracle format: "N: " + ct_state left-justified in 16 columns + " hook"
// per hook that fired for the record (sweeps before it included); last line
// "flush: conn_del xN; totals: add=A est=E del=D upd=U".
class HooksOracleWriter {
 public:
  // Feed every event (RegistryHooks listener).
  void onEvent(const HookEvent& e);
  // The record's line (no newline); consumes the hooks gathered since the previous line.
  std::string packetLine(uint64_t packet, uint8_t ct_state);
  // The final line (no newline).
  std::string finalLine(const HookCounts& counts) const;

 private:
  std::string pending_;    // " conn_add ..." for the current record.
  uint64_t end_dels_ = 0;  // conn_del dispatched by the end-of-trace flush.
};

// `--emit events` lines for one event (each ends with '\n'): one per provider reached, or one
// with provider "-" when none was:
//   WHERE: OP PROVIDER KEY
// WHERE is the record number, "end" (end-of-trace flush) or "shutdown"; OP a callback name
// (conn_add, conn_established, conn_del, conn_update, flush); KEY the connection's forward key
// as formatKey() writes it ("tcp 10.0.0.1:1000 -> 10.0.0.2:80 zone=0"), absent for flush.
std::string formatHookEvent(const HookEvent& e);

}  // namespace ctsim::ct
