#include "providers/kernel_ct/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace ctsim::kern {

namespace {

Status errnoStatus(int err, const std::string& what) {
  return Status(err, what + ": " + std::strerror(err));
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<NetNs> NetNs::create() {
  Fd saved(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!saved.valid()) return errnoStatus(errno, "open /proc/thread-self/ns/net");
  if (::unshare(CLONE_NEWNET) != 0) return errnoStatus(errno, "unshare(CLONE_NEWNET)");
  NetNs ns;
  ns.fd_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  int open_err = errno;
  // Bring lo up while inside (some kernel paths want it; it costs nothing).
  if (ns.fd_.valid()) {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (s.valid() && ::ioctl(s.get(), SIOCGIFFLAGS, &ifr) == 0) {
      ifr.ifr_flags |= IFF_UP;
      (void)::ioctl(s.get(), SIOCSIFFLAGS, &ifr);
    }
  }
  if (::setns(saved.get(), CLONE_NEWNET) != 0) {
    // Cannot return to the original namespace: the thread is unusable for the caller's world.
    return errnoStatus(errno, "setns back to the original namespace");
  }
  if (!ns.fd_.valid()) return errnoStatus(open_err, "open the new namespace");
  return ns;
}

Status NetNs::writeSysctl(const std::string& key, const std::string& value) const {
  ScopedNetns in(*this);
  if (!in.ok()) return Status(EPERM, "setns into the namespace failed");
  std::string path = "/proc/sys/" + key;
  Fd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!f.valid()) return errnoStatus(errno, "open " + path);
  if (::write(f.get(), value.data(), value.size()) != ssize_t(value.size())) {
    return errnoStatus(errno, "write " + path);
  }
  return Status();
}

Result<std::string> NetNs::readSysctl(const std::string& key) const {
  ScopedNetns in(*this);
  if (!in.ok()) return Status(EPERM, "setns into the namespace failed");
  std::string path = "/proc/sys/" + key;
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid()) return errnoStatus(errno, "open " + path);
  char buf[256];
  ssize_t n = ::read(f.get(), buf, sizeof buf);
  if (n < 0) return errnoStatus(errno, "read " + path);
  std::string s(buf, size_t(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status NetNs::run(const std::vector<std::string>& argv, const std::string& input) const {
  if (argv.empty()) return Status(EINVAL, "run: empty command");
  int in_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return errnoStatus(errno, "pipe");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return errnoStatus(errno, "pipe");
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return errnoStatus(errno, "fork");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    if (::setns(fd_.get(), CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(in_pipe[0], 0);
    ::dup2(err_pipe[1], 2);
    ::dup2(err_pipe[1], 1);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(err_pipe[1]);
  Fd in(in_pipe[1]), err(err_pipe[0]);
  size_t off = 0;
  while (off < input.size()) {
    ssize_t n = ::write(in.get(), input.data() + off, input.size() - off);
    if (n <= 0) break;
    off += size_t(n);
  }
  in.reset();
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(err.get(), buf, sizeof buf)) > 0) text.append(buf, size_t(n));
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status();
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return Status(code == 127 ? ENOENT : EIO,
                argv[0] +
                    (code == 127 ? std::string(": not found") : ": exit " + std::to_string(code)) +
                    (text.empty() ? "" : ": " + text));
}

unsigned NetNs::ifindex(const std::string& name) const {
  ScopedNetns in(*this);
  if (!in.ok()) return 0;
  return ::if_nametoindex(name.c_str());
}

bool NetNs::linkRunning(const std::string& name) const {
  ScopedNetns in(*this);
  if (!in.ok()) return false;
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (!s.valid() || ::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return false;
  return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

Result<std::vector<uint8_t>> NetNs::macAddress(const std::string& name) const {
  ScopedNetns in(*this);
  if (!in.ok()) return Status(EPERM, "setns into the namespace failed");
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return errnoStatus(errno, "socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0)
    return errnoStatus(errno, "SIOCGIFHWADDR " + name);
  const auto* p = reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data);
  return std::vector<uint8_t>(p, p + 6);
}

ScopedNetns::ScopedNetns(const NetNs& ns) {
  saved_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!saved_.valid() || !ns.valid()) return;
  ok_ = ::setns(ns.fd(), CLONE_NEWNET) == 0;
}

ScopedNetns::~ScopedNetns() {
  if (ok_) (void)::setns(saved_.get(), CLONE_NEWNET);
}

std::string namespaceUnavailableReason() {
  static std::once_flag once;
  static std::string reason;
  std::call_once(once, [] {
    if (::geteuid() != 0) {
      reason = "not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)";
      return;
    }
    auto ns = NetNs::create();
    if (!ns.ok()) reason = "cannot create a network namespace: " + ns.status().message();
  });
  return reason;
}

std::atomic<bool> Interrupt::flag_{false};

void Interrupt::onSignal(int sig) {
  if (flag_.load(std::memory_order_relaxed)) {
    ::signal(sig, SIG_DFL);  // Second signal: die as usual (the kernel frees everything).
    ::raise(sig);
    return;
  }
  flag_.store(true, std::memory_order_relaxed);
}

void Interrupt::install() {
  struct sigaction sa {};
  sa.sa_handler = &Interrupt::onSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace ctsim::kern
