#pragma once
// The harness that runs a workload through registry + hooks + engine + fast paths with the
// invariant checker watching (properties/invariants.h): a steppable Session (packets, time
// steps, sweeps, flushes, registration changes, provider faults) and Scenario, the same steps
// as data, which is what properties generate, shrink, write as a counterexample (script.h) and
// replay.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "properties/invariants.h"
#include "providers/registry.h"
#include "sim/conntrack/registry_hooks.h"
#include "sim/conntrack/replay.h"
#include "sim/status.h"

namespace ctsim::props {

// A provider instance for a run: owned (built from a spec) or borrowed (a loaded plug-in's).
struct ProviderHandle {
  std::unique_ptr<Provider> owned;  // may be null when `borrowed` is set.
  Provider* borrowed = nullptr;     // not owned.
};
// Makes a provider from a spec ("dummy", "emu-hw:capacity=4", "broken-stale", ...).
using ProviderFactory = std::function<Result<ProviderHandle>(const std::string& spec)>;
// Broken providers (providers/broken/) first, then the built-ins.
ProviderFactory defaultProviderFactory();

// How a run is set up.
struct RunConfig {
  Profile profile = Profile::kStrict;        // registry profile (engine StrictFixes follow it).
  std::vector<std::string> providers;        // specs, registered in order before the first packet.
  bool offload = true;                       // false: no registry hooks at all (a baseline run).
  ct::ZoneMode zone = ct::ZoneMode::kVlan;   // zone from the outer VLAN (untagged: zone 0).
  int64_t sweep_interval_ms = 20000;         // engine sweep interval.
  uint32_t conn_limit = 3000000;             // global limit.
  std::map<uint16_t, uint32_t> zone_limits;  // explicit zone limits.
  bool tcp_seq_check = true;                 // TCP sequence checks.
  bool expensive_checks = true;              // the checker's O(connections) checks at sweeps.
  // conn_add, conn_established and conn_del reach the registry as one-op batches
  // (Registry::submit), so batch_submit providers accept connections inside batches; the
  // engine's own calls are unchanged (CheckerConfig::batch_hooks).
  bool batch_hooks = false;
};

// A recorded step of a scenario.
struct Step {
  enum class Kind : uint8_t {
    kPacket,      // `frame` at the current time (`ms` after the previous step).
    kAdvance,     // time moves by `ms` (a sweep runs if due).
    kSweep,       // one sweep pass now.
    kFlush,       // flush the whole table.
    kFlushZone,   // flush zone `zone`.
    kRegister,    // register provider spec `arg`.
    kUnregister,  // unregister provider named `arg`.
    kFault,       // inject `faults` into provider `arg`.
  };
  Kind kind = Kind::kPacket;
  std::vector<uint8_t> frame;  // kPacket: an Ethernet frame.
  int64_t ms = 0;              // kPacket/kAdvance: time step before it, ms.
  uint16_t zone = 0;           // kFlushZone.
  std::string arg;             // kRegister/kUnregister/kFault.
  ProviderFaults faults;       // kFault.
};
const char* stepKindName(Step::Kind k);  // "packet", "advance", "sweep", ...

// A whole scenario: configuration, start time and steps.
struct Scenario {
  RunConfig config;
  int64_t start_ns = 1700000000LL * 1000000000LL;  // time of the first step.
  std::vector<Step> steps;
};

// What a run produced.
struct RunReport {
  std::vector<Violation> violations;        // from the checker (capped per invariant).
  std::map<std::string, uint64_t> counts;   // violations per invariant (uncapped).
  std::vector<std::string> states;          // per packet: ct_state, or "hw" when consumed.
  ct::ReplaySummary summary;                // the replay's summary.
  ct::HookCounts hooks;                     // hook calls.
  std::vector<FastPathStats> fast_paths;    // per fast path, registration order.
  std::vector<std::string> provider_names;  // registered at the end, in order.
  // A canonical text of everything above but the violations (for determinism).
  std::string digest() const;
  bool ok() const { return violations.empty(); }
  // The violated invariant names.
  std::set<std::string> violated() const;
};

// One run, steppable. Providers given in the config are registered at creation; the fast paths
// of those providers meet the packets (providers registered later have no fast path in the run).
class Session {
 public:
  static Result<std::unique_ptr<Session>> create(const RunConfig& config,
                                                 const ProviderFactory& factory, int64_t start_ns);
  ~Session();

  // A packet now (after `ms` more).
  void packet(const std::vector<uint8_t>& frame, int64_t ms = 0);
  // A packet at its own capture time (a trace record; time never goes back).
  void record(const TraceRecord& rec);
  void advance(int64_t ms);
  void sweep();
  void flush();
  void flushZone(uint16_t zone);
  Status registerProvider(const std::string& spec);
  Status unregisterProvider(const std::string& name);
  Status fault(const std::string& name, const ProviderFaults& faults);
  // Applies one step.
  Status apply(const Step& step);
  // The end: end-of-trace flush, switch shutdown, final checks.
  RunReport finish();

  Registry& registry() { return *registry_; }
  ct::Conntrack& engine() { return replayer_->engine(); }
  Checker& checker() { return *checker_; }
  int64_t nowMs() const { return now_ns_ / 1000000; }
  // The last packet's ct_state ("hw" when a fast path consumed it), "" before any.
  std::string lastState() const { return states_.empty() ? "" : states_.back(); }
  // The RecordingProvider named `name`, or nullptr.
  RecordingProvider* provider(const std::string& name);

 private:
  Session() = default;
  Status addProvider(const std::string& spec);

  RunConfig config_;
  ProviderFactory factory_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ct::RegistryHooks> hooks_;
  std::unique_ptr<Checker> checker_;
  std::unique_ptr<ct::Replayer> replayer_;
  std::vector<RecordingProvider*> wrappers_;  // owned by the registry.
  std::vector<FastPath*> fast_paths_;
  std::vector<std::string> states_;
  int64_t now_ns_ = 0;
  uint64_t index_ = 0;  // packets so far.
};

// Runs a scenario to the end.
Result<RunReport> runScenario(const Scenario& scenario,
                              const ProviderFactory& factory = defaultProviderFactory());
// Runs a capture (every record a packet step at its own time) under `config`.
Result<RunReport> runCapture(const std::string& path, const RunConfig& config,
                             const ProviderFactory& factory = defaultProviderFactory());

// Differential checks (violations named after their invariant):
// offload-transparent: `config` with providers (their fast paths should mirror) vs no offload,
// with time steps dropped and packet gaps capped at 5 ms (nothing expires).
std::vector<Violation> checkTransparency(const Scenario& scenario,
                                         const ProviderFactory& factory = defaultProviderFactory());
// determinism: the scenario twice, same digest.
std::vector<Violation> checkDeterminism(const Scenario& scenario,
                                        const ProviderFactory& factory = defaultProviderFactory());
// sharded-equals-single (the sharded half of issue 8 #16): the capture at `path` replayed over
// `threads` shards (ct::ShardedReplayer, `ctsim replay --threads N`) and on one thread, each with
// fresh providers of `config` (which must have no fast path) on `clock`, no end flush: the same
// per-packet ct_state, final table (key, state, packets each way), summary and engine counters
// and hook calls. sharded.h promises it only while no limit and no sweep visit bound is reached;
// such a capture is not compared (`*compared` false).
std::vector<Violation> checkSharded(const std::string& path, const RunConfig& config,
                                    ct::ClockMode clock, uint32_t threads,
                                    const ProviderFactory& factory = defaultProviderFactory(),
                                    bool* compared = nullptr);
// batch-equals-single: conn_add/est/update/del/policy of `n` connections as one batch (fresh
// provider from `spec`) vs one by one (another fresh one): same errors and the same calls.
std::vector<Violation> checkBatchEqualsSingle(
    const std::string& spec, Profile profile, int n,
    const ProviderFactory& factory = defaultProviderFactory());

}  // namespace ctsim::props
