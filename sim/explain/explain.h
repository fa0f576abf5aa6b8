#pragma once
// Explanations: why each connection of a replay was (not) offloaded, from its lifecycle
// (sim/conntrack/lifecycle.h). The reasons, their order and the disagreements are documented in
// sim/explain/README.md; everything a user sees (`ctsim replay --explain`, `--explain-conn`,
// `--lifecycles`, the report's "explain" section, `ctsim explain`) is built from the JSON made
// here, so a saved file answers the same questions as the replay did.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "providers/registry.h"
#include "sim/conntrack/lifecycle.h"
#include "sim/status.h"

namespace ctsim::explain {

// The primary reasons, in the order they are tested (the first that applies is the one).
enum class Reason : uint8_t {
  kOffloaded,               // not a reason: the connection was offloaded.
  kNotCommitted,            // its packets were never committed: no connection.
  kInvalid,                 // its packets were invalid and matched no connection.
  kRelated,                 // ICMP errors related to a connection: never offloaded themselves.
  kConnLimit,               // a connection limit kept the connection from being created.
  kNoProvider,              // no offload provider was registered.
  kProtocolNotOffloadable,  // every provider declined, and none took any connection of this
                            // protocol in the whole replay.
  kAllDeclined,             // every provider's can_offload said no (or it had no conn_add).
  kTableFull,               // a provider's table was full (ENOSPC).
  kRateLimited,             // a provider's command queue was full (EBUSY).
  kInsertFailed,            // a provider's insertion failed with another error (detail: errno).
  kNotProgrammed,      // accepted, but the entry waited for conn_established, which never came.
  kInsertStuck,        // accepted, but the hardware insertion never completed.
  kEndedBeforeActive,  // accepted, but the connection ended before its entry became active.
  kLate,               // offloaded only after all its packets went through software.
  kUntracked,          // its providers are beyond the kLifecycleProviders followed.
};
inline constexpr int kReasonCount = 16;
const char* reasonName(Reason r);         // "table_full", ...
const char* reasonDescription(Reason r);  // one line.

// Disagreements between hardware and software (bits).
enum Disagreement : uint8_t {
  kHwOutlivedSw = 1,    // a hardware entry stayed after the software connection ended
                        // (its delete failed or was refused: orphaned).
  kStaleKeptAlive = 2,  // conn_update answers older than the timeout kept the connection.
  kHitAfterDelete = 4,  // packets hit the hardware entry after software deleted it.
};
inline constexpr int kDisagreementCount = 3;
const char* disagreementName(int bit_index);  // "hw_outlived_sw", ...
const char* disagreementDescription(int bit_index);

// The explanation of one lifecycle.
struct Explanation {
  Reason reason = Reason::kOffloaded;
  std::string detail;         // e.g. "emu-hw: ENOSPC" or a provider's decline text.
  int provider = -1;          // the provider the reason is about (-1: none).
  uint64_t packets = 0;       // packets of the connection (software + consumed in hardware).
  uint64_t hw_packets = 0;    // consumed in hardware (over every fast path).
  int64_t latency_us = -1;    // offloaded: creation -> first entry active (-1: no fast path).
  uint8_t disagreements = 0;  // Disagreement bits.
};
Explanation explainOne(const ct::LifecycleRecorder& rec, const ct::Lifecycle& l);

// Makes `rec` follow `registry`'s providers and their fast paths.
void attachRegistry(ct::LifecycleRecorder& rec, Registry& registry);

// One lifecycle as JSON (the --lifecycles line; schema in sim/explain/README.md).
nlohmann::json lifecycleJson(const ct::LifecycleRecorder& rec, const ct::Lifecycle& l);
// The "explain" section of the report: counts, the reasons table (reason, connections,
// packets, example), disagreements, offloaded statistics, and one example lifecycle per row.
nlohmann::json summaryJson(const ct::LifecycleRecorder& rec);
// Writes one JSON line per connection and connection-less flow ("-": stdout).
Status writeLifecycles(const ct::LifecycleRecorder& rec, const std::string& path);

// Text: the reasons table (and disagreements) of a summaryJson(), and one lifecycle's timeline.
std::string renderReasons(const nlohmann::json& summary);
std::string renderTimeline(const nlohmann::json& lifecycle);

// A connection to look up: 'tcp 10.0.0.1:1234 10.0.0.2:80 zone 0' (the arrow "->" and "zone=0"
// also accepted; IPv6 as [addr]:port; ICMP without ports; either direction matches; protocol
// and zone optional) or a packet number (the connection that packet created or belonged to
// first).
struct ConnQuery {
  uint64_t packet = 0;  // > 0: by packet number.
  std::string proto;    // "" = any.
  std::string src, dst;
  int sport = -1, dport = -1;  // -1 = any.
  int zone = -1;               // -1 = any.
};
Result<ConnQuery> parseConnQuery(const std::string& text);
bool matches(const ConnQuery& q, const nlohmann::json& lifecycle);
// The first lifecycle of `rec` matching `q`, as JSON.
std::optional<nlohmann::json> find(const ct::LifecycleRecorder& rec, const ConnQuery& q);

}  // namespace ctsim::explain
