#pragma once
// Deliberately broken providers (issue 8): each misbehaves in one way that `ctsim conformance`
// must catch, naming the clause it breaks. All are otherwise the dummy provider with a small
// fast path in mirror mode (every hit also goes up, so software sees every packet): entries are
// the connections the provider holds, so the checker can see its table.
//
//   broken-double-add   conn_add dispatches ct_offload_conn_add() again for the same context
//                       (every provider sees conn_add twice for one connection).
//   broken-del-unknown  conn_del of a connection it never added wipes its whole table.
//   broken-est-twice    conn_established dispatches ct_offload_conn_established() again.
//   broken-stale        conn_update answers the time of the add forever, also for connections
//                       deleted or flushed (never 0).
//   broken-capacity-lie reports a capacity of 4 slots and holds any number of entries.
//   broken-slow         every callback spins 1 ms of wall-clock time.
//   broken-flush-keeps  flush() returns without clearing: it keeps answering conn_update and
//                       keeps its entries active (the "crash on flush", made safe: no crash,
//                       a detectable use of state that should be gone).
// Options: name=NAME.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "providers/builtin.h"
#include "providers/fast_path.h"
#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim::broken {

// How a broken provider is broken.
enum class Defect : uint8_t {
  kDoubleAdd,
  kDelUnknown,
  kEstTwice,
  kStale,
  kCapacityLie,
  kSlow,
  kFlushKeeps,
};

// One entry of the broken provider table.
struct BrokenInfo {
  const char* name;    // provider (factory) name, e.g. "broken-stale".
  Defect defect;       // what is wrong with it.
  const char* clause;  // the conformance test that must fail for it.
  const char* help;    // one line.
};
// The broken providers, sorted by name.
const std::vector<BrokenInfo>& brokenProviders();
// Makes the provider a spec names: nullptr (and ok) when the name is not a broken provider;
// EINVAL for an unknown option.
Result<std::unique_ptr<Provider>> makeBrokenProvider(const ProviderSpec& spec);

class BrokenProvider final : public Provider, public FastPath {
 public:
  BrokenProvider(std::string name, Defect defect);

  // Provider:
  const char* name() const override { return name_.c_str(); }
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
  // What the provider remembers of an accepted connection.
  struct Held {
    ctsim_conn_key fwd{};     // forward key.
    ctsim_conn_key rev{};     // reverse key.
    long long added_ms = 0;   // ctsim_now_ms() at conn_add.
    long long last_used = 0;  // last fast-path hit (ms), or added_ms.
  };
  void slow() const;  // kSlow: spin 1 ms.
  static std::string keyBytes(const ctsim_conn_key& k);

  const std::string name_;                  // provider name.
  const Defect defect_;                     // the defect.
  mutable std::recursive_mutex mu_;         // guards the members below (re-entered by re-dispatch).
  std::map<const conn*, Held> held_;        // accepted connections.
  std::map<const conn*, long long> stale_;  // kStale: add time of every connection ever seen.
  std::map<std::string, const conn*> keys_;  // fwd and rev key bytes -> connection.
  bool redispatching_ = false;               // inside our own re-dispatch (kDoubleAdd, kEstTwice).
  int64_t now_ns_ = 0;                       // fast-path time.
  FastPathStats stats_;                      // counters.
};

}  // namespace ctsim::broken
