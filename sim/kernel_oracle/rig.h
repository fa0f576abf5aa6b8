#pragma once
// The kernel as an oracle: replays a capture through the Linux kernel's conntrack in a
// forwarding rig of private namespaces, then dumps the kernel's table as JSON in the shape of
// ../shared/traces/oracle/kernel/<file>.json (see its README).
//
// Rig (the README's, rebuilt by ctsim itself, all in anonymous namespaces that vanish with the
// process; providers/kernel_ct/netns.h):
//   outer namespace:  inj0 ──veth── inj1 ┐ tracking namespace: bridge br0 with br_netfilter
//                     sink0 ─veth── sink1┘ (bridge-nf-call-iptables/ip6tables, filter-vlan-tagged)
// Every frame of the capture, both directions, is sent into inj0 (AF_PACKET); br0 forwards it
// to sink1 as known unicast (the destination MAC is set to sink0's), so each IPv4/IPv6 frame
// crosses the inet prerouting hooks (defrag, conntrack) and is confirmed at postrouting; sink0
// has no addresses and drops it.  An nftables table with `ct state` counter rules switches
// conntrack on; locally generated packets of the tracking namespace are `notrack`, and the outer
// namespace sends nothing of its own (IPv6 off, multicast off), so only the capture's packets
// reach the table.  Sysctls as the README: nf_conntrack_checksum=0, tcp_be_liberal=0, acct=1.
// No IP routing: TTL, martians, multicast and broadcast make no difference.
//
// Edits of each frame (the README's): destination MAC = sink0; a zero or multicast source MAC
// becomes 02:00:00:00:00:01; frames with two or more VLAN tags lose all their tags; a wrong
// IPv4 header checksum is recomputed; non-Ethernet link types get an Ethernet header whose
// EtherType comes from the IP version (non-IP frames of those are not sent).
//
// Requirements: root, namespaces, br_netfilter, nf_conntrack, the `ip` (iproute2) and `nft`
// (nftables) programs.  create() names the first one missing.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "providers/kernel_ct/ctnetlink.h"
#include "providers/kernel_ct/netns.h"
#include "sim/status.h"
#include "sim/trace_reader.h"

namespace ctsim::oracle {

// Counters of one replay into the rig.
struct RigStats {
  uint64_t records = 0;        // Records offered.
  uint64_t sent = 0;           // Frames sent into inj0.
  uint64_t not_ip = 0;         // Non-Ethernet frames that are not IP (not sent).
  uint64_t send_failed = 0;    // sendto refused (e.g. larger than the MTU, shorter than 14).
  uint64_t vlan_stripped = 0;  // Frames whose 2+ VLAN tags were removed.
  uint64_t ip_csum_fixed = 0;  // IPv4 header checksums recomputed.
  uint64_t mac_fixed = 0;      // Source MACs replaced.
};

// One replay rig (two namespaces).  Not thread-safe.
class KernelRig {
 public:
  static Result<std::unique_ptr<KernelRig>> create();
  ~KernelRig();

  // Rewrites and sends one record.
  void inject(const TraceRecord& rec);
  // Waits `settle_ms` for the last frames, then dumps the table, sorted as the README says.
  Result<nlohmann::ordered_json> dump(int settle_ms = 150);
  const RigStats& stats() const { return stats_; }
  // The rewritten Ethernet frame for a record (empty: not sent), without sending it.
  std::vector<uint8_t> rewrite(const TraceRecord& rec);

 private:
  KernelRig() = default;

  kern::NetNs outer_;         // inj0, sink0.
  kern::NetNs track_;         // inj1, sink1, br0, conntrack.
  kern::Fd packet_;           // AF_PACKET socket bound to inj0.
  kern::CtnetlinkSocket ct_;  // ctnetlink in the tracking namespace.
  uint8_t sink_mac_[6] = {};  // sink0's address.
  RigStats stats_;
};

// Why the rig cannot run here ("" when it can); checked by building one.
std::string rigUnavailableReason();

// Replays `path` through a new rig and returns the table (and, optionally, the rig's counters).
// Stops early (the table so far) when kern::Interrupt::interrupted().
Result<nlohmann::ordered_json> replayThroughKernel(const std::string& path,
                                                   RigStats* stats = nullptr);

// JSON text exactly as the stored oracle files: "[\n", one entry per line joined by ",\n",
// "\n]\n", with Python's ", " and ": " separators.
std::string formatTable(const nlohmann::ordered_json& table);

}  // namespace ctsim::oracle
