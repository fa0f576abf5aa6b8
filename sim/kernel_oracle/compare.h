#pragma once
// ctsim's final conntrack table against the Linux kernel's (the oracle tables of rig.h, stored
// under ../shared/traces/oracle/kernel/ or made live), with the known semantic differences
// between Linux and OVS conntrack explained by named rules (differences.tsv: rule, reason).
//
// A row is one connection: its original-direction key, whether a reply was accepted, its TCP
// state in the kernel's names (ctsim's coarse state mapped: SYN_SENT, SYN_RECV, ESTABLISHED,
// FIN_WAIT, TIME_WAIT, CLOSE; the kernel's CLOSE_WAIT/LAST_ACK folded to FIN_WAIT), and the
// evidence the rules judge on: packets each tracker accepted per direction, ctsim's inv packets
// and pf peer states, the kernel's state as dumped and BE_LIBERAL flag.  Rows match on the key
// in either direction.  A difference is a row only on one side, a match in the reversed
// direction, a different replied flag, or a different TCP state.  Each rule (compare.cpp, one
// function per rule) is a precise condition on the difference's kind, the two rows and what the
// capture carries for the flow (SYN/FIN/RST and bad checksums by side, fragments, whether a
// ctsim connection of it expired); a difference is explained by the rules whose conditions
// hold (the tests require exactly one), or left unexplained.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/conntrack/replay.h"
#include "sim/status.h"

namespace ctsim::oracle {

struct TableRow {
  std::string key;        // ct::formatKey of the original-direction key (zone 0).
  std::string rev_key;    // The same of the reverse key.
  uint8_t af = 0;         // 4 or 6.
  uint8_t proto = 0;      // IP protocol.
  bool replied = false;   // A reply was seen (SEEN_REPLY / reply packets).
  std::string tcp_state;  // Kernel state name (folded, see compare.cpp), "" for other protocols.
  std::string raw_state;  // Kernel: the state as dumped (CLOSE_WAIT...); ctsim: as tcp_state.
  std::string flow_id;    // flowId() of the key (both directions folded).
  std::string host_id;    // flowId() of the host pair alone.
  int orig_side = 0;      // FlowFacts side (0 or 1) of the original direction's sender.
  uint16_t ports[2] = {0, 0};     // Original source and destination port (0 without ports).
  uint64_t accepted[2] = {0, 0};  // Packets the tracker accepted, [0] original, [1] reply
                                  // (kernel: its counters; ctsim: the packets not inv).
  uint64_t invalid[2] = {0, 0};   // ctsim only: packets of the connection it marked inv.
  uint8_t peer[2] = {0, 0};       // ctsim only, TCP: pf's peer states (enum ctsim_tcp_state).
  bool liberal = false;           // Kernel only, TCP: BE_LIBERAL set (picked up mid-stream).
};

// What the capture says about a flow (both directions folded), for the rules.  Per-side
// counters are indexed by the side of the sender: 0 for the endpoint flowId() names first.
struct FlowFacts {
  uint64_t packets = 0;              // Parsed packets of the flow.
  uint64_t bad_checksum = 0;         // With a wrong IPv4 header or L4 checksum.
  uint64_t bad_csum_by[2] = {0, 0};  // The same, by sender side.
  uint64_t fragments = 0;            // IP fragments (for hosts: of the protocol, any flow).
  uint64_t rst = 0;                  // TCP packets with RST.
  uint64_t syn = 0;                  // TCP SYN without ACK.
  uint64_t syn_ack = 0;              // TCP SYN+ACK.
  uint64_t fin_by[2] = {0, 0};       // TCP packets with FIN, by sender side.
  uint64_t rst_by[2] = {0, 0};       // TCP packets with RST, by sender side.
  uint64_t syn_by[2] = {0, 0};       // TCP SYN without ACK, by sender side.
  bool ctsim_created = false;        // ctsim created a connection for it during the replay.
  bool ctsim_expired = false;        // ... and one of them expired (removed by the sweep).
};

struct CtsimTable {
  std::vector<TableRow> rows;              // Connections left (expired ones included).
  std::map<std::string, FlowFacts> flows;  // By flowId().
  std::map<std::string, FlowFacts> hosts;  // By hostPairId() (fragments).
};

// ctsim's table after replaying `path` on `clock`, before any end-of-trace flush
// (ReplayOptions::flush_at_end = false), with the facts of the capture.
Result<CtsimTable> ctsimFinalTable(const std::string& path,
                                   ct::ClockMode clock = ct::ClockMode::kTrace);
// The rows of an oracle table (rig.h's JSON).
std::vector<TableRow> kernelRows(const nlohmann::ordered_json& table);

// One difference.
struct Difference {
  std::string kind;  // only_kernel, only_ctsim, reversed, replied, tcp_state.
  std::string key;   // The row's key.
  std::string detail;
  std::string rule;                   // The explaining rule, "" when none.
  std::vector<std::string> matching;  // Every allowed rule whose condition holds (rule first).
};

// The rules a differences file names, with their reasons; EINVAL for a rule compare.cpp does
// not know or a malformed line.
Result<std::map<std::string, std::string>> loadDifferenceRules(const std::string& path);
// Every rule compare.cpp implements.
std::vector<std::string> knownRules();

// Compares; only rules in `allowed` explain anything.
std::vector<Difference> compareTables(const CtsimTable& ctsim, const std::vector<TableRow>& kernel,
                                      const std::map<std::string, std::string>& allowed,
                                      ct::ClockMode clock);

// "af proto hostA hostB [portA portB]" with the endpoints ordered: the same for both directions.
std::string flowId(uint8_t af, uint8_t proto, const std::string& a, uint16_t pa,
                   const std::string& b, uint16_t pb);

}  // namespace ctsim::oracle
