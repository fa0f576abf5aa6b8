#pragma once
// The tc-bpf built-in provider: a real kernel fast path.  ctsim creates a private network
// namespace with two veth pairs,
//     fp0 ──veth── fp1 [clsact ingress: ct_fastpath.bpf.c]  ──redirect──▶ up0 ──veth── up1
// loads the tc-BPF program (compiled from C by clang at build time, embedded in ctsim, loaded
// with libbpf) and attaches it to fp1's ingress.  The program looks the packet's 5-tuple up in
// a BPF hash map of offloaded connection keys: a hit is counted and stamped with the kernel's
// time in the map and consumed (TC_ACT_SHOT), except TCP SYN/FIN/RST which go up like a miss;
// a miss (or an "up") is redirected to up0 and arrives at up1, where an AF_PACKET socket is
// ctsim's software path.
//
// Replay: processFrame() really sends the trace's frame into fp0 (AF_PACKET; non-Ethernet link
// types get an Ethernet header) and reads the program's verdict for it back from a map; the
// frames that arrive at up1 are counted ("software_received").  process() without a frame
// looks the key up in the map from user space instead (same verdict rules, no packet sent).
//
// Provider callbacks: conn_add writes the connection's forward and reverse keys into the map
// (E2BIG/ENOSPC of a full map -> ENOSPC; an existing key -> EEXIST), conn_del removes them,
// conn_update answers last-used: the newest bpf_ktime_get_ns() stamp of the two keys turned into
// ctsim time as ctsim_now_ms() - (CLOCK_MONOTONIC now - stamp) in ms (at least 1); a connection
// never hit answers the ctsim time of its conn_add; unknown connections 0.  Zones are not part
// of the BPF key (the program has no zone); two connections differing only by zone collide
// (EEXIST).  flush empties the map.
//
// Options: name=NAME, capacity=N (map entries = keys, 2 per connection; default 65536),
// can_offload=BOOL.  Lifetime: nothing is pinned or named; the namespace, links, program and
// maps are held by descriptors only and vanish with the provider or the process (netns.h).
// Unavailable (not root, no BPF, libbpf or clang missing at build time): start() names the
// reason; conn_add then fails with ENODEV and every packet misses.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "providers/builtin.h"
#include "providers/fast_path.h"
#include "providers/kernel_ct/netns.h"
#include "providers/registry.h"
#include "sim/status.h"

struct bpf_object;

namespace ctsim::tc_bpf {

struct Config {
  std::string name = "tc-bpf";  // Provider name.
  uint32_t capacity = 65536;    // Map entries (keys).
  bool can_offload = true;      // can_offload's answer.
  std::string describe() const;
};
Result<Config> parseConfig(const ProviderSpec& spec);
Result<std::unique_ptr<Provider>> makeTcBpf(const ProviderSpec& spec);

class TcBpfProvider final : public Provider, public FastPath {
 public:
  explicit TcBpfProvider(Config config);
  ~TcBpfProvider() override;

  // Builds the namespace, links and program (idempotent; the first outcome is kept).
  Status start();
  // Frames the software side (up1) has received so far.
  uint64_t softwareReceived();
  // Map entries now (keys), by iterating the map; -1 when not started.
  long mapEntries() const;

  // Provider:
  const char* name() const override { return config_.name.c_str(); }
  CallbackMask callbacks() const override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;

  // FastPath:
  void setNow(int64_t now_ns) override;
  FastPathVerdict process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                          uint8_t tcp_flags) override;
  FastPathVerdict processFrame(const uint8_t* frame, uint32_t caplen, uint32_t linktype,
                               const ctsim_conn_key& pkt_key, uint32_t bytes,
                               uint8_t tcp_flags) override;
  FastPathStats stats() const override;

 private:
  struct Entry {
    ctsim_conn_key fwd{};    // Forward key.
    ctsim_conn_key rev{};    // Reverse key.
    bool one_key = false;    // fwd == rev (one map entry).
    long long added_ms = 0;  // ctsim time of conn_add.
  };
  Status startLocked();
  void drainLocked();
  FastPathVerdict countLocked(uint32_t verdict, uint32_t bytes, bool sent);

  const Config config_;  // Immutable.

  mutable std::mutex mu_;      // Guards everything below.
  bool start_tried_ = false;   // startLocked ran.
  Status start_status_;        // Its outcome.
  kern::NetNs ns_;             // The namespace.
  bpf_object* obj_ = nullptr;  // The loaded program and maps.
  int flows_fd_ = -1;          // ctsim_flows map.
  int last_fd_ = -1;           // ctsim_last map.
  unsigned fp1_ifindex_ = 0;   // Where the program is attached.
  kern::Fd tx_;                // AF_PACKET socket on fp0 (sends).
  kern::Fd rx_;                // AF_PACKET socket on up1 (software path).
  uint64_t seen_ = 0;          // Packets the program has reported (ctsim_last.seen).
  int64_t now_ns_ = 0;         // Trace time from setNow (ns).
  std::unordered_map<const conn*, Entry> conns_;  // Offloaded connections.
  FastPathStats stats_;
};

}  // namespace ctsim::tc_bpf
