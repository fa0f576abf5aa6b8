#pragma once
// Counterexample scripts: a Scenario (properties/harness.h) as a pcap of its packets plus a
// small text script of its configuration, time steps, registrations and provider faults, so a
// person can replay a shrunk failing case (`ctsim replay --script FILE`).
//
// Format (one step per line, '#' starts a comment, blank lines ignored):
//   ctsim-script 1              first line
//   profile rfc-v1|rfc-v2|strict
//   sweep-interval MS           engine sweep interval (default 20000)
//   conn-limit N                global connection limit
//   zone-limit ZONE N           explicit zone limit
//   tcp-seq-check on|off
//   batch-hooks on|off          conn_add/established/del as one-op batches (RunConfig::batch_hooks)
//   provider SPEC               registered before the first step, in order
//   pcap FILE                   the packets, relative to the script's folder
//   start NS                    time of the first step (ns since the epoch)
//   packet MS                   the next pcap record, MS ms after the previous step (the
//                               record's own time is authoritative; MS is for the reader)
//   advance MS                  time moves; a sweep runs when due
//   sweep | flush               one sweep pass now | flush the whole table
//   flush-zone ZONE
//   register SPEC | unregister NAME
//   fault NAME [add_error=ERRNO] [add_count=N] [upd_zero=N] [refuse=0|1]
//   expect INVARIANT            the failure this case shows (checked by runScript)

#include <string>
#include <vector>

#include "properties/harness.h"
#include "sim/status.h"

namespace ctsim::props {

// Writes `scenario` as `script_path` plus its packets as `pcap_path` (referenced by file name
// when both are in one folder). `expect` names the violated invariants (may be empty).
Status writeScript(const Scenario& scenario, const std::string& script_path,
                   const std::string& pcap_path, const std::vector<std::string>& expect = {});
// Reads a script (and its pcap) back into a scenario; EINVAL with "FILE:LINE: reason".
Result<Scenario> readScript(const std::string& script_path,
                            std::vector<std::string>* expect = nullptr);

// What replaying a script gave.
struct ScriptOutcome {
  RunReport report;                   // the run.
  std::vector<std::string> expected;  // its `expect` lines.
  bool reproduced = false;            // every expected invariant was violated (and some was).
};
// Replays a script; the run's violations are in out->report (a failing case is not an error).
Status runScript(const std::string& script_path, ScriptOutcome* out,
                 const ProviderFactory& factory = defaultProviderFactory());

// Writes a failing scenario under `dir` as NAME.script + NAME.pcap; returns the script path.
// `dir` defaults to $CTSIM_COUNTEREXAMPLE_DIR, else the system temporary folder.
Result<std::string> saveCounterexample(const Scenario& scenario, const std::string& name,
                                       const std::vector<std::string>& expect,
                                       std::string dir = "");

}  // namespace ctsim::props
