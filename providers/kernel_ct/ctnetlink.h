#pragma once
// A ctnetlink socket in one network namespace (libmnl + libnetfilter_conntrack's message
// builder and parser): create, update, delete, get and dump conntrack entries, one message at a
// time or many in one send (batched).  Used by the kernel-ct provider and the kernel oracle.
//
// Not thread-safe: one user at a time (the provider holds its mutex around it).

#include <ctsim/ct_offload.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "providers/kernel_ct/netns.h"
#include "sim/status.h"

struct mnl_socket;
struct nf_conntrack;

namespace ctsim::kern {

// An owned struct nf_conntrack (nfct_destroy on release).
struct NfctDeleter {
  void operator()(nf_conntrack* ct) const;
};
using NfctPtr = std::unique_ptr<nf_conntrack, NfctDeleter>;

// What to put into a conntrack entry besides its tuples.
struct EntrySpec {
  uint32_t timeout_s = 600;  // CTA_TIMEOUT (mandatory on create).
  int tcp_state = -1;        // TCP_CONNTRACK_* (TCP only); -1 = leave out.
  uint32_t status = 0;       // IPS_* bits to set (SEEN_REPLY, ASSURED).
};

// A conntrack entry for the connection with forward key `fwd` and reverse key `rev` (zone from
// fwd).  Unused protocol fields are left out (generic protocols: addresses only).
NfctPtr makeEntry(const ctsim_conn_key& fwd, const ctsim_conn_key& rev, const EntrySpec& spec);
// Only the original tuple and zone (for delete and get).
NfctPtr makeTupleOnly(const ctsim_conn_key& fwd);

// One request of a batch.
enum class CtOp : uint8_t { kCreate, kUpdate, kDelete };
struct CtRequest {
  CtOp op = CtOp::kCreate;      // What to do.
  const nf_conntrack* ct = {};  // The entry (not owned).
  int error = 0;                // Filled by send(): 0 or the kernel's positive errno.
};

class CtnetlinkSocket {
 public:
  // A socket in `ns` (the namespace is entered for the call only).
  static Result<CtnetlinkSocket> open(const NetNs& ns);
  CtnetlinkSocket() = default;
  ~CtnetlinkSocket();
  CtnetlinkSocket(CtnetlinkSocket&& o) noexcept;
  CtnetlinkSocket& operator=(CtnetlinkSocket&& o) noexcept;

  bool valid() const { return nl_ != nullptr; }
  // Sends the requests (as many per sendmsg as fit in 64 KiB) and collects every
  // acknowledgement into CtRequest::error.  Returns a non-ok Status only for a socket failure.
  Status send(std::vector<CtRequest>& requests);
  // One request; returns its errno (0 on success).
  int one(CtOp op, const nf_conntrack* ct);
  // Gets the entry with the tuple of `query`; ENOENT when absent.
  Result<NfctPtr> get(const nf_conntrack* query);
  // Dumps every entry (both families, every zone); `fn` takes ownership of each.
  Status dump(const std::function<void(NfctPtr)>& fn);
  // Deletes every entry (both families).
  int flush();

 private:
  mnl_socket* nl_ = nullptr;  // The socket.
  uint32_t port_id_ = 0;      // Its netlink port id.
  uint32_t seq_ = 1;          // Next sequence number.
  std::vector<char> sbuf_;    // Send buffer (requests of one sendmsg).
  std::vector<char> rbuf_;    // Receive buffer.
};

}  // namespace ctsim::kern
