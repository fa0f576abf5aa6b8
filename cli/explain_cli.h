#pragma once
// The glue between `ctsim replay` and sim/explain (kept out of cmd_replay.cpp): what a run does
// with its lifecycles, and what is printed after the summary.

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "providers/registry.h"
#include "sim/conntrack/replay.h"
#include "sim/status.h"

namespace ctsim::cli {

// Before the run: makes the replay's lifecycles follow `registry` (may be null: no offload).
void explainBeforeRun(ct::Replayer& replayer, Registry* registry);
// After the run (after the switch shutdown): writes --lifecycles, looks up --explain-conn into
// args.output, and returns the report's "explain" section (null when lifecycles are off).
Result<nlohmann::json> explainAfterRun(const ExplainArgs& args, ct::Replayer& replayer);
// --explain-conn N: N (0 when the query is a tuple or absent).
uint64_t explainPacketNumber(const ExplainArgs& args);
// For each record of the run: remembers which connection packet `wanted` (> 0) belonged to.
void explainSeePacket(const ExplainArgs& args, ct::Replayer& replayer, uint64_t wanted,
                      const TraceRecord& rec, const ct::Verdict& v);
// After the summary: the reasons table (--explain) and the timeline (--explain-conn).
void printExplain(const ExplainArgs& args, const nlohmann::json& report, std::FILE* out);

}  // namespace ctsim::cli
