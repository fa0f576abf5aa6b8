#pragma once
// The workload generator behind `ctsim gen`: seeded synthetic traces written as pcap.
//
// Connections arrive as a Poisson process at `cps` per second. Each is TCP, UDP or ICMP echo by
// the mix, IPv6 with the given share, a mouse (a few exchanges) or an elephant (many, large),
// and TCP ones end with FIN, RST or nothing by the teardown mix. Some flows go idle for longer
// than conntrack's timeouts and then resume; some reuse the 5-tuple of a finished connection
// (churn). A SYN flood (SYNs from random sources, never answered) and a port scan (SYNs to
// successive ports, answered by RST) can be added. Only flows in progress are held in memory,
// so a million-flow trace is written in seconds.

#include <cstdint>
#include <string>

#include "sim/status.h"

namespace ctsim::traces {

struct GenConfig {
  uint64_t seed = 1;       // every random choice comes from this seed.
  uint64_t flows = 1000;   // connections to generate (besides flood and scan packets).
  double cps = 1000;       // new connections per second (mean of the Poisson process).
  double duration_s = 0;   // when > 0, no connection starts after this many seconds.
  double tcp_share = 0.7;  // mix of connection kinds (normalised).
  double udp_share = 0.25;
  double icmp_share = 0.05;
  double ipv6_share = 0.1;       // share of connections over IPv6.
  double elephant_share = 0.01;  // share of connections that are elephants.
  uint32_t mice_exchanges = 3;   // mean request/response exchanges of a mouse (geometric, >= 1).
  uint32_t elephant_exchanges = 300;  // exchanges of an elephant.
  double fin_share = 0.8;             // TCP teardown mix (normalised): FIN, RST, none (left open).
  double rst_share = 0.1;
  double none_share = 0.1;
  double idle_share = 0;    // share of connections that go idle once mid-flow...
  double idle_gap_s = 120;  // ...for this long (longer than UDP/ICMP/TCP-close timeouts).
  double churn_share = 0;   // share of connections reusing the tuple of a finished one.
  uint64_t syn_flood = 0;   // SYN flood packets (random sources, one target, no answer).
  uint64_t port_scan = 0;   // port scan probes (SYN to successive ports, RST answers).
  double rtt_ms = 1.0;      // mean round-trip time between a packet and its answer.
  double think_ms = 20.0;   // mean pause between exchanges of one connection.
  uint16_t vlan = 0;        // when non-zero, every frame carries this 802.1Q tag.
  int64_t start_ns = 1764000000LL * 1000000000LL;  // time of the first connection.
};

// What was generated.
struct GenSummary {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t tcp_flows = 0;  // TCP connections (flood and scan not included).
  uint64_t udp_flows = 0;
  uint64_t icmp_flows = 0;
  uint64_t ipv6_flows = 0;
  uint64_t elephants = 0;
  uint64_t idle_flows = 0;
  uint64_t churned_flows = 0;  // connections that reused a finished connection's tuple.
  uint64_t syn_flood_packets = 0;
  uint64_t port_scan_probes = 0;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
};

// Checks a configuration: EINVAL with the reason when a share is negative, all shares of a mix
// are zero, rates are not positive, and so on.
Status validate(const GenConfig& config);

// Generates the trace into `path` (nanosecond pcap, Ethernet).
Result<GenSummary> generate(const GenConfig& config, const std::string& path);

}  // namespace ctsim::traces
