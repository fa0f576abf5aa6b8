#pragma once
// The kernel-ct built-in provider: mirrors offloaded connections into the Linux kernel's
// conntrack table over ctnetlink (libnetfilter_conntrack), in a private network namespace that
// it creates on first use and that disappears with it (providers/kernel_ct/netns.h).
//
//   conn_add          create the entry with both tuples, the zone, the TCP state (from the
//                     connection's coarse state), ASSURED (the kernel early-drops only
//                     unassured entries to make room: a mirror must never vanish that way),
//                     SEEN_REPLY when a reply was seen, and a
//                     timeout of `timeout` seconds.  The kernel's "table full" (ENOMEM from
//                     nf_conntrack_alloc, at nf_conntrack_max: 262,144 per namespace here) is
//                     returned as ENOSPC, as is reaching the `capacity` option; an existing
//                     tuple is EEXIST.
//   conn_established  update the entry: TCP ESTABLISHED, SEEN_REPLY|ASSURED, timeout reset.
//   conn_del          delete the entry by its original tuple and zone.
//   conn_update       last-used from the REMAINING TIMEOUT (1 s resolution): the entry sees no
//                     packets (it is a mirror), so the kernel's only clock for it is the timeout
//                     armed at the last create/update; last-used = ctsim_now_ms() - (armed -
//                     remaining) * 1000 ms, at least 1.  0 when the kernel no longer has the
//                     entry (it timed out there, or was deleted): the connection is lost.  The
//                     nf_conntrack_acct counters are not used, since no packet ever passes.
//   flush             delete every entry in the namespace.
//   batch_submit      only with batch=true: ADD, DEL and EST ops of a batch go to the kernel as
//                     netlink messages packed into as few sendmsg calls as fit (one per ~60
//                     KiB); UPD ops get 0 when the entry exists, else ENODATA (a batch carries no
//                     timestamp back); POLICY answers can_offload; FLUSH flushes.
//
// Options ("--provider kernel-ct:key=value,..."): name=NAME, timeout=SECONDS (default 600),
// capacity=N (0 = the kernel's limit, default), can_offload=BOOL (default true), batch=BOOL
// (default false).
//
// Unavailable here (not root, no namespaces, no nf_conntrack): start() says why; conn_add then
// fails with ENODEV and nothing else touches the kernel.  Thread-safe (one mutex).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "providers/builtin.h"
#include "providers/kernel_ct/ctnetlink.h"
#include "providers/kernel_ct/netns.h"
#include "providers/registry.h"
#include "sim/status.h"

namespace ctsim::kernel_ct {

struct Config {
  std::string name = "kernel-ct";  // Provider name.
  uint32_t timeout_s = 600;        // Timeout armed on create and update.
  uint64_t capacity = 0;           // Provider-side limit; 0 = the kernel's.
  bool can_offload = true;         // can_offload's answer.
  bool batch = false;              // Offer batch_submit.
  std::string describe() const;    // "timeout=600 capacity=0 ...".
};
Result<Config> parseConfig(const ProviderSpec& spec);
Result<std::unique_ptr<Provider>> makeKernelCt(const ProviderSpec& spec);

// Kernel round trips of one kind of request.
struct OpStats {
  uint64_t calls = 0;     // Requests sent.
  uint64_t errors = 0;    // Of which the kernel refused.
  uint64_t total_ns = 0;  // Wall time of the round trips (send to acknowledgement).
  uint64_t max_ns = 0;    // Longest.
  double meanUs() const { return calls ? double(total_ns) / double(calls) / 1e3 : 0.0; }
  double opsPerSecond() const { return total_ns ? double(calls) * 1e9 / double(total_ns) : 0.0; }
};

struct Stats {
  OpStats create, update, del, get, flush;   // Per request kind (a batch counts each message).
  uint64_t batches = 0;                      // batch_submit calls.
  uint64_t entries = 0;                      // Entries this provider holds in the kernel now.
  uint64_t entries_peak = 0;                 // Highest 'entries'.
  uint64_t kernel_max = 0;                   // nf_conntrack_max of the namespace.
  std::map<std::string, uint64_t> failures;  // "full", "exists", "lost" (update found none)...
  std::string unavailable;                   // Why the kernel cannot be used, "" if it can.
  std::string text() const;                  // Several lines for a summary.
};

class KernelCtProvider final : public Provider {
 public:
  explicit KernelCtProvider(Config config);
  ~KernelCtProvider() override;

  const Config& config() const { return config_; }
  // Creates the namespace and the socket (idempotent; the first outcome is kept).
  Status start();
  Stats stats() const;
  // Kernel entries in the namespace now (nf_conntrack_count), or -1.
  long kernelCount() const;
  // Remaining timeout (s) of the connection's kernel entry, or -1 when absent.
  long remainingTimeout(const ctsim_conn_key& fwd);

  // Provider:
  const char* name() const override { return config_.name.c_str(); }
  CallbackMask callbacks() const override;
  int connAdd(const ct_offload_ctx& ctx) override;
  void connDel(const ct_offload_ctx& ctx) override;
  long long connUpdate(const ct_offload_ctx& ctx) override;
  void connEstablished(const ct_offload_ctx& ctx) override;
  bool canOffload(const ct_offload_ctx& ctx) override;
  void flush() override;
  void batchSubmit(ct_offload_op_batch& batch) override;

 private:
  Status startLocked();
  int addLocked(const conn* c, kern::NfctPtr& entry);
  static int mapError(int err);
  void countFailure(int err);
  void timed(OpStats& s, int err, std::chrono::steady_clock::time_point t0);

  const Config config_;  // Immutable.

  mutable std::mutex mu_;                                  // Guards everything below.
  bool start_tried_ = false;                               // startLocked ran.
  Status start_status_;                                    // Its outcome.
  kern::NetNs ns_;                                         // The private namespace.
  kern::CtnetlinkSocket sock_;                             // ctnetlink socket in it.
  std::unordered_map<const conn*, ctsim_conn_key> conns_;  // Mirrored connection -> fwd key.
  Stats stats_;
};

}  // namespace ctsim::kernel_ct
