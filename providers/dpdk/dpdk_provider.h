#pragma once
// The dpdk built-in provider: the NIC's connection table on a DPDK rte_hash, with a fast path
// (providers/fast_path.h), and optionally the connection programmed as rte_flow rules on a real
// port.
//
// Table.  A cuckoo rte_hash of 'capacity' keys WITHOUT the extendable bucket table, as NIC
// hash tables work: an insertion fails (ENOSPC) when no key slot is left ("full") or, earlier,
// when cuckoo displacement finds no free bucket entry ("bucket_full", typically from ~90% load
// on).  A connection takes two keys, its forward and its reverse key (one if they are equal),
// so that a packet of either direction is found with one lookup and NAT keys stay possible;
// hence capacity counts keys and at most capacity/2 connections fit.  Stats count keys as slots.
//
// Options ("--provider dpdk:key=value,..."):
//   name=NAME               provider name (default dpdk)
//   capacity=N              rte_hash keys, at least 8 (default 65536)
//   can_offload=BOOL        can_offload's answer (default true)
//   insert_latency=DURATION an entry matches packets this long after conn_add (default 0: a
//                           real table write, active at once)
//   aging=DURATION          remove entries idle this long, 0 = never (default)
//   aging_scan=DURATION     the aging thread's period: the table is walked with rte_hash_iterate
//                           at each multiple of it (default 1s, rte_flow AGE's unit)
//   granularity=DURATION    last-used resolution reported by conn_update (default 1ms)
//   mirror=BOOL             send every hit packet up to software too (still counted)
//   sample_interval=DURATION  occupancy series spacing, 0 = none (default 1s)
//   port=N                  also program each connection on DPDK port N as two rte_flow rules
//                           (flow_rule.h): rte_flow_validate then rte_flow_create.  A refusal
//                           is reported once as a registry warning with the rte_flow_error
//                           text (flowError()), counted (failures "flow_refused", counter
//                           "flow_fallback"), and the connection stays in the table, which
//                           keeps modelling it.  Default: no port.
//   jump_group=N            the rules' JUMP target group (default 1)
//
// The EAL (eal.h) and the table are created on first use (start(), or lazily by the first
// callback or setNow), not at construction, so that `ctsim providers` can list this provider
// without starting DPDK.  If the EAL cannot start, conn_add fails with ENODEV (failure "eal")
// and every packet misses; start() returns the reason.
//
// Time is trace time (setNow, or ctsim_now_ms() in callbacks when later), never the wall clock.
// conn_update answers last-used (ms since the epoch, rounded down to the granularity, at least
// 1) for an active entry, 0 for a pending, aged, deleted or unknown one.  A key already in the
// table is refused with EEXIST.  batch_submit is not offered (the registry's per-op fallback
// calls the other callbacks).

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "providers/builtin.h"
#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/status.h"

struct rte_hash;
struct rte_flow;

namespace ctsim::dpdk {

// The effective configuration of a dpdk provider instance.
struct Config {
  std::string name = "dpdk";                // Provider name.
  uint64_t capacity = 65536;                // rte_hash keys (2 per connection).
  bool can_offload = true;                  // can_offload's answer.
  int64_t insert_latency_ns = 0;            // conn_add -> entry active.
  int64_t aging_ns = 0;                     // Idle time before removal; 0 = never.
  int64_t aging_scan_ns = 1000000000;       // Period of the aging walk.
  int64_t granularity_ns = 1000000;         // Last-used resolution (whole ms).
  bool mirror = false;                      // Every hit goes up too.
  int64_t sample_interval_ns = 1000000000;  // Occupancy series spacing; 0 = none.
  int port = -1;                            // DPDK port for rte_flow rules; -1 = none.
  uint32_t jump_group = 1;                  // JUMP target group of the rules.

  // One line "key=value ..." of every setting, for logs and stats().config.
  std::string describe() const;
};

// Builds the configuration of a spec; EINVAL naming the option for unknown keys or bad values.
Result<Config> parseConfig(const ProviderSpec& spec);
// The factory for the built-in table (providers/dpdk/builtin_entry.h).
Result<std::unique_ptr<Provider>> makeDpdk(const ProviderSpec& spec);

// Per-entry state, for tests and tools.
struct EntryInfo {
  bool active = false;         // Matching packets.
  uint64_t packets = 0;        // Packets counted.
  uint64_t bytes = 0;          // Bytes counted.
  int64_t request_ns = 0;      // conn_add time.
  int64_t active_ns = -1;      // Activation time, -1 while pending.
  int64_t last_used_ns = 0;    // Last hit (or activation), trace time.
  bool flows_on_port = false;  // Its rte_flow rules were created on the port.
};

class DpdkProvider final : public Provider, public FastPath {
 public:
  explicit DpdkProvider(Config config);
  ~DpdkProvider() override;

  const Config& config() const { return config_; }
  // Starts the EAL (with whatever args it already runs with, else the defaults) and creates the
  // table; idempotent; returns the first outcome again on later calls.
  Status start();
  // The entry whose forward or reverse key is 'key', if the table holds one.
  std::optional<EntryInfo> entry(const ctsim_conn_key& key) const;
  // The last rte_flow refusal as text ("" if none), e.g. "dpdk: port 99 refused ... ".
  std::string flowError() const;

  // Provider:
  const char* name() const override { return config_.name.c_str(); }
  CallbackMask callbacks() const override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  void connEstablished(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;

  // FastPath:
  void setNow(int64_t now_ns) override;
  FastPathVerdict process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                          uint8_t tcp_flags) override;
  FastPathStats stats() const override;

 private:
  // One connection's table entry (its keys point to it through the rte_hash data pointer).
  struct Entry {
    ctsim_conn_key fwd{};      // Forward key.
    ctsim_conn_key rev{};      // Reverse key.
    bool one_key = false;      // fwd == rev: a single table key.
    bool in_table = false;     // Its keys are in the rte_hash (false once aged).
    int64_t request_ns = 0;    // conn_add time.
    int64_t active_ns = -1;    // Activation time; -1 while pending.
    int64_t last_used_ns = 0;  // Last hit or activation.
    uint64_t packets = 0;      // Packet counter.
    uint64_t bytes = 0;        // Byte counter.
    rte_flow* flows[2] = {};   // Rules on the port (fwd, rev), when created.
    uint64_t keys() const { return one_key ? 1 : 2; }
  };

  Status startLocked();
  // Trace time for a callback: now_ns_, or ctsim_now_ms() if later.
  void syncClockLocked();
  // Moves trace time to t_ns: activations, aging walks, occupancy samples.  'start' lets this
  // call start trace time.
  void advanceLocked(int64_t t_ns, bool start);
  void activateLocked(Entry* e, int64_t t_ns);
  void ageWalkLocked(int64_t t_ns);
  void sampleLocked(int64_t t_ns);
  // Removes e's keys from the table and its rules from the port (the Entry itself stays).
  void removeFromTableLocked(Entry* e);
  void programFlowsLocked(const ct_offload_ctx& ctx, Entry* e);
  void destroyFlowsLocked(Entry* e);
  void fail(const char* cause) { stats_.failures[cause]++; }
  void count(const char* what) { stats_.counters[what]++; }

  const Config config_;  // Immutable after construction.

  mutable std::mutex mu_;       // Guards everything below (callbacks and fast path).
  bool start_tried_ = false;    // startLocked ran.
  Status start_status_;         // Its outcome.
  rte_hash* hash_ = nullptr;    // The table (key: ctsim_conn_key, data: Entry*).
  bool port_ok_ = false;        // config_.port names an existing port.
  std::string flow_error_;      // Last rte_flow refusal text.
  bool flow_warned_ = false;    // The refusal was reported to the registry.
  int64_t now_ns_ = 0;          // Trace time reached.
  bool clock_started_ = false;  // Trace time started.
  int64_t next_sample_ns_ = 0;  // Next occupancy sample time.
  int64_t next_scan_ns_ = 0;    // Next aging walk time.
  std::unordered_map<const conn*, std::unique_ptr<Entry>> conns_;  // Accepted connections.
  std::deque<Entry*> pending_;  // Entries not yet active, in activation order.
  FastPathStats stats_;         // Counters and series (entries/active kept current).
};

}  // namespace ctsim::dpdk
