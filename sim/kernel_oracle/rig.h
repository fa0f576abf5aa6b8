#pragma once
// The kernel as an oracle: replays a capture through the Linux kernel's conntrack in a rig of
// private namespaces, then dumps the kernel's table as JSON in the shape of
// ../shared/traces/oracle/kernel/<file>.json (see its README).
//
// Two rigs, both rebuilt by ctsim itself in anonymous namespaces that vanish with the process
// (providers/kernel_ct/netns.h).  An nftables table with `ct state` counter rules switches
// conntrack on in the tracking namespace; its locally generated packets are `notrack`, and the
// outer namespace sends nothing of its own (IPv6 off, multicast off, an output chain that drops
// everything), so only the capture's packets reach the table.  Sysctls as the README:
// nf_conntrack_checksum=0, tcp_be_liberal=0, acct=1.
//
// bridge (the README's rig, which made the stored tables):
//   outer namespace:  inj0 ──veth── inj1 ┐ tracking namespace: bridge br0 with br_netfilter
//                     sink0 ─veth── sink1┘ (bridge-nf-call-iptables/ip6tables, filter-vlan-tagged)
// Every frame, both directions, is sent into inj0 (AF_PACKET); br0 forwards it to sink1 as known
// unicast (the destination MAC is set to sink0's), so each IPv4/IPv6 frame crosses the inet
// prerouting hooks (defrag, conntrack) and is confirmed at postrouting; sink0 drops it.  No IP
// routing: TTL, martians, multicast and broadcast make no difference.
//
// routed (for kernels without br_netfilter; conntrack only inserts an entry for a packet that
// is forwarded or delivered locally):
//   outer namespace:  inj0 ──veth── inj1 ┐ router namespace: ip_forward, IPv6 forwarding,
//                     out0 ──veth── out1 ┘ rp_filter off, no addresses; policy routes send
//                                          what enters inj1 out of out1 and the reverse, via
//                                          permanent neighbours (inj0's and out0's MACs)
// For each host pair the first sender's side is the left one (inj0) and the other the right one
// (out0): ctsim sends each frame into its side with the destination MAC of the router's
// interface there, so both directions of a connection are routed, each through the router the
// way a real one would see it.  Differences from the bridge rig, by construction: packets the
// router does not forward or deliver leave no entry (multicast and link-local destinations,
// link-local or loopback sources, martians, IPv4 source-routed packets); see
// kernel_oracle_test.cpp (RoutedRigAgreesWithBridgeRig) for what that gives on real captures.
//
// Edits of each frame (the README's): destination MAC as above; a zero or multicast source MAC
// becomes 02:00:00:00:00:01; frames with two or more VLAN tags lose all their tags (routed: any
// tag, the router has no VLAN devices); a wrong IPv4 header checksum is recomputed; non-Ethernet
// link types get an Ethernet header whose EtherType comes from the IP version (non-IP frames of
// those are not sent).  Routed only: a TTL or hop limit below 2 is raised to 2 (the router would
// drop the packet before confirming its entry).
//
// Requirements: root, namespaces, nf_conntrack, the `ip` (iproute2) and `nft` (nftables)
// programs, and br_netfilter for the bridge rig (auto picks routed without it).  create() names
// the first one missing.

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "providers/kernel_ct/ctnetlink.h"
#include "providers/kernel_ct/netns.h"
#include "sim/status.h"
#include "sim/trace_reader.h"

namespace ctsim::oracle {

// Which rig (see the file comment).
enum class RigMode : uint8_t {
  kAuto,    // bridge when br_netfilter is there, else routed.
  kBridge,  // bridge + br_netfilter.
  kRouted,  // a router namespace.
};
const char* rigModeName(RigMode m);  // "auto", "bridge", "routed".
// "auto", "bridge" or "routed"; EINVAL otherwise.
Result<RigMode> parseRigMode(const std::string& text);

// Counters of one replay into the rig.
struct RigStats {
  uint64_t records = 0;        // Records offered.
  uint64_t sent = 0;           // Frames sent into inj0.
  uint64_t not_ip = 0;         // Non-Ethernet frames that are not IP (not sent).
  uint64_t send_failed = 0;    // sendto refused (e.g. larger than the MTU, shorter than 14).
  uint64_t vlan_stripped = 0;  // Frames whose 2+ VLAN tags were removed.
  uint64_t ip_csum_fixed = 0;  // IPv4 header checksums recomputed.
  uint64_t mac_fixed = 0;      // Source MACs replaced.
  uint64_t ttl_raised = 0;     // Routed: TTLs / hop limits raised to 2.
  uint64_t right_side = 0;     // Routed: frames sent into the right side (out0).
};

// One replay rig (two namespaces).  Not thread-safe.
class KernelRig {
 public:
  static Result<std::unique_ptr<KernelRig>> create(RigMode mode = RigMode::kAuto);
  ~KernelRig();
  // The rig built (never kAuto).
  RigMode mode() const { return mode_; }

  // Rewrites and sends one record.
  void inject(const TraceRecord& rec);
  // Waits `settle_ms` for the last frames, then dumps the table, sorted as the README says.
  Result<nlohmann::ordered_json> dump(int settle_ms = 150);
  const RigStats& stats() const { return stats_; }
  // The rewritten Ethernet frame for a record (empty: not sent), without sending it; `side`
  // (optional) receives the side it goes into (0 left / inj0, 1 right / out0; bridge: 0).
  std::vector<uint8_t> rewrite(const TraceRecord& rec, int* side = nullptr);

 private:
  KernelRig() = default;
  // The veth pairs inj1/inj0 and <other>1/<other>0 (the ...0 ends in the outer namespace, up,
  // multicast off) and `extra` iproute2 lines in the tracking namespace, before anything there
  // is up; then MTUs raised where allowed (with `extra_mtu`, not fatal).
  Status addPairs(const std::string& outer_path, const std::string& other, const std::string& extra,
                  const std::string& extra_mtu);
  Status buildBridge(const std::string& outer_path);
  Status buildRouted(const std::string& outer_path);
  Status openSocket(int side, const char* ifname);
  int routedSide(std::vector<uint8_t>& f);

  RigMode mode_ = RigMode::kBridge;
  kern::NetNs outer_;           // inj0 and sink0 (bridge) or out0 (routed).
  kern::NetNs track_;           // The tracking namespace (bridge or router), conntrack.
  kern::Fd packet_[2];          // AF_PACKET sockets on inj0 and (routed) out0.
  kern::CtnetlinkSocket ct_;    // ctnetlink in the tracking namespace.
  uint8_t dst_mac_[2][6] = {};  // Destination MAC per side (bridge: sink0's).
  std::map<std::string, std::string> left_;  // Routed: host pair -> its left (first) sender.
  RigStats stats_;
};

// Why the rig cannot run here ("" when it can); checked by building one.
std::string rigUnavailableReason(RigMode mode = RigMode::kAuto);

// Replays `path` through a new rig and returns the table (and, optionally, the rig's counters
// and the rig built).  Stops early (the table so far) when kern::Interrupt::interrupted().
Result<nlohmann::ordered_json> replayThroughKernel(const std::string& path,
                                                   RigStats* stats = nullptr,
                                                   RigMode mode = RigMode::kAuto,
                                                   RigMode* built = nullptr);

// JSON text exactly as the stored oracle files: "[\n", one entry per line joined by ",\n",
// "\n]\n", with Python's ", " and ": " separators.
std::string formatTable(const nlohmann::ordered_json& table);

}  // namespace ctsim::oracle
