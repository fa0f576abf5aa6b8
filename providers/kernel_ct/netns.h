#pragma once
// Private network namespaces for the kernel-backed providers (kernel-ct, tc-bpf) and the kernel
// oracle (sim/kernel_oracle/).
//
// Lifetime.  A NetNs is an anonymous namespace held by one file descriptor: it is never bind
// mounted under /var/run/netns and no process lives in it, so the kernel destroys it (and every
// veth, bridge, tc filter and conntrack entry in it) as soon as that descriptor and the sockets
// opened inside are closed, on every exit path: destructor, exception, exit(), SIGINT with the
// default action, even SIGKILL.  BPF programs and maps are likewise only held by descriptors
// (nothing is pinned).  So "nothing left behind" holds by construction; the Interrupt class
// below only makes an orderly stop (a replay interrupted by SIGINT) possible.
//
// Threads.  Namespaces are entered per thread (setns on the calling thread only): ScopedNetns
// switches the calling thread in and back.  Sockets keep the namespace they were created in.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/status.h"

namespace ctsim::kern {

// Why kernel features cannot be used here, or "" when they can: not root (no CAP_NET_ADMIN /
// CAP_SYS_ADMIN), or namespaces unavailable.  Checked once (creates and drops a namespace).
std::string namespaceUnavailableReason();

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_ = -1;  // The descriptor, -1 when none.
};

// An anonymous network namespace (see the file comment).
class NetNs {
 public:
  // A new namespace (lo is brought up). EPERM and friends when not allowed.
  static Result<NetNs> create();
  NetNs() = default;
  NetNs(NetNs&&) = default;
  NetNs& operator=(NetNs&&) = default;

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  // Writes a sysctl of this namespace ("net/netfilter/nf_conntrack_acct" under /proc/sys).
  Status writeSysctl(const std::string& key, const std::string& value) const;
  // Reads one (trailing newline removed).
  Result<std::string> readSysctl(const std::string& key) const;
  // Runs a program (argv[0] looked up in PATH) inside this namespace and waits for it; `input`
  // is written to its standard input.  Non-zero exit: EIO with its stderr.
  Status run(const std::vector<std::string>& argv, const std::string& input = "") const;
  // The interface index of `name` in this namespace, 0 if none.
  unsigned ifindex(const std::string& name) const;
  // Whether interface `name` is up with its carrier seen by the stack (IFF_RUNNING: the
  // link-watch event, which also enables bridge ports, has been processed).
  bool linkRunning(const std::string& name) const;
  // The MAC address of interface `name` in this namespace.
  Result<std::vector<uint8_t>> macAddress(const std::string& name) const;

 private:
  Fd fd_;  // The namespace (/proc/thread-self/ns/net of its creator).
};

// Moves the calling thread into `ns` for the scope's lifetime, then back.  ok() false when
// setns failed (the thread then stays where it was).
class ScopedNetns {
 public:
  explicit ScopedNetns(const NetNs& ns);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  bool ok() const { return ok_; }

 private:
  Fd saved_;         // The thread's namespace before.
  bool ok_ = false;  // Entered.
};

// Orderly stop on SIGINT/SIGTERM for long kernel jobs (replays through kernel providers, the
// oracle): install() sets a handler that only sets a flag (async-signal-safe); loops poll
// interrupted() and return, destructors release the namespaces.  A second signal restores the
// default action first, so a stuck job still dies (and the kernel still frees everything).
class Interrupt {
 public:
  static void install();
  static bool interrupted() { return flag_.load(std::memory_order_relaxed); }
  static void reset() { flag_.store(false, std::memory_order_relaxed); }

 private:
  static void onSignal(int sig);
  static std::atomic<bool> flag_;  // A signal arrived.
};

}  // namespace ctsim::kern
