#include "providers/isolate/isolate.h"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "providers/conn.h"
#include "providers/plugin_loader.h"

namespace ctsim::isolate {
namespace {

// ---- Wire format: frames of (uint32 length, payload); payloads are packed PODs and strings ---

// A connection context as sent to the child.
struct WireCtx {
  uint64_t conn_id = 0;  // The parent's conn pointer (0: no conn): the child's identity for it.
  ctsim_conn_key key_fwd{};
  ctsim_conn_key key{};  // ctx.key.
  ctsim_tcp_peer tcp[2]{};
  int32_t state = 0;
  uint8_t mark = 0;
  uint8_t has_key = 0;
  uint8_t has_netdev = 0;
  uint32_t input_port = CTSIM_PORT_NONE;
  uint32_t netdev_port = CTSIM_PORT_NONE;
};
static_assert(std::is_trivially_copyable_v<WireCtx>);

struct RequestHeader {
  uint32_t callback = 0;  // A Callback.
  uint32_t cls = 0;       // Index of the class in the child's hello.
  int64_t now_ms = 0;     // The dispatching registry's clock.
  uint32_t n_ops = 0;     // batch_submit: ops that follow; else 1 context follows.
};

struct ReplyHeader {
  int32_t status = 0;  // kReplyOk or kReplyException (then a message follows).
  int64_t value = 0;   // conn_add's error, conn_update's time, can_offload's answer.
};
constexpr int32_t kReplyOk = 0;
constexpr int32_t kReplyException = 1;

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void putString(const std::string& s) {
    put(uint32_t(s.size()));
    buf_ += s;
  }
  const std::string& data() const { return buf_; }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(const std::string& s) : p_(s.data()), n_(s.size()) {}
  template <class T>
  bool get(T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (n_ < sizeof v) return false;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    n_ -= sizeof v;
    return true;
  }
  bool getString(std::string& s) {
    uint32_t len = 0;
    if (!get(len) || n_ < len) return false;
    s.assign(p_, len);
    p_ += len;
    n_ -= len;
    return true;
  }

 private:
  const char* p_;
  size_t n_;
};

constexpr uint32_t kMaxFrame = 256u << 20;  // A bound on what a peer may announce.

using SteadyClock = std::chrono::steady_clock;
using Deadline = std::optional<SteadyClock::time_point>;

enum class Io { kOk, kClosed, kTimeout };

// Waits for 'events' on fd until the deadline.
Io waitFd(int fd, short events, const Deadline& deadline) {
  for (;;) {
    int ms = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - SteadyClock::now());
      if (left.count() <= 0) return Io::kTimeout;
      ms = int(left.count());
    }
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms);
    if (r > 0) return Io::kOk;  // Readable, writable, or hung up: the read/write tells.
    if (r == 0) continue;       // Re-check the deadline.
    if (errno != EINTR) return Io::kClosed;
  }
}

// Sends (POLLOUT) or receives (POLLIN) exactly n bytes at p before the deadline.
Io transfer(int fd, char* p, size_t n, short events, const Deadline& deadline) {
  while (n > 0) {
    if (Io w = waitFd(fd, events, deadline); w != Io::kOk) return w;
    ssize_t k = events == POLLOUT ? ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                                  : ::recv(fd, p, n, MSG_DONTWAIT);
    if (k == 0 && events == POLLIN) return Io::kClosed;  // EOF.
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Io::kClosed;
    }
    p += k;
    n -= size_t(k);
  }
  return Io::kOk;
}

Io sendFrame(int fd, const std::string& payload, const Deadline& deadline) {
  std::string frame(sizeof(uint32_t), '\0');
  uint32_t len = uint32_t(payload.size());
  std::memcpy(frame.data(), &len, sizeof len);
  frame += payload;
  return transfer(fd, frame.data(), frame.size(), POLLOUT, deadline);
}

Io recvFrame(int fd, std::string& payload, const Deadline& deadline) {
  uint32_t len = 0;
  if (Io r = transfer(fd, reinterpret_cast<char*>(&len), sizeof len, POLLIN, deadline);
      r != Io::kOk)
    return r;
  if (len > kMaxFrame) return Io::kClosed;
  payload.resize(len);
  return transfer(fd, payload.data(), len, POLLIN, deadline);
}

// ---- The child ---------------------------------------------------------------------------------

// The child's copy of the parent's connections: one struct conn per (class, parent conn) that
// the class accepted, so that a plug-in sees a stable conn pointer; others live for one call.
class ChildConns {
 public:
  explicit ChildConns(size_t classes) : by_class_(classes) {}

  // The child's conn for 'w' in class 'cls', refreshed from 'w'; 'kept' says if it existed.
  conn* get(uint32_t cls, const WireCtx& w, bool& kept) {
    auto& m = by_class_[cls];
    auto it = m.find(w.conn_id);
    kept = it != m.end();
    if (!kept) it = m.emplace(w.conn_id, std::make_unique<conn>()).first;
    conn* c = it->second.get();
    c->key_fwd = w.key_fwd;
    c->tcp[0] = w.tcp[0];
    c->tcp[1] = w.tcp[1];
    c->state = static_cast<ctsim_conn_state>(w.state);
    c->offload_mark = static_cast<OffloadMark>(w.mark);
    return c;
  }
  // After the call: keep the conn iff it was kept and not deleted, or the class accepted it.
  void settle(uint32_t cls, uint64_t id, bool kept, bool deleted, bool accepted) {
    if ((kept && !deleted) || accepted) return;
    by_class_[cls].erase(id);
  }

 private:
  std::vector<std::unordered_map<uint64_t, std::unique_ptr<conn>>> by_class_;
};

// One context as the child passes it: conn from ChildConns, key, netdev.
struct ChildCtx {
  WireCtx wire;
  netdev dev;
  bool kept = false;
  ct_offload_ctx ctx{};
};

bool readCtx(Reader& r, ChildCtx& out) { return r.get(out.wire) && r.getString(out.dev.name); }

void bindCtx(ChildConns& conns, uint32_t cls, ChildCtx& x) {
  const WireCtx& w = x.wire;
  conn* c = w.conn_id != 0 ? conns.get(cls, w, x.kept) : nullptr;
  x.dev.port = w.netdev_port;
  x.ctx.conn = c;
  x.ctx.netdev_in = w.has_netdev ? &x.dev : nullptr;
  x.ctx.input_port_id = w.input_port;
  x.ctx.key = nullptr;
  if (w.has_key) {
    x.ctx.key = c != nullptr && std::memcmp(&w.key, &c->key_fwd, sizeof w.key) == 0 ? &c->key_fwd
                                                                                    : &x.wire.key;
  }
}

int64_t g_child_now_ms = 0;  // The simulated time of the request being served (child only).
long long childClock(void*) { return g_child_now_ms; }

// Serves one request; false when it is malformed.
bool serve(const std::vector<Provider*>& classes, ChildConns& conns, const std::string& in,
           Writer& out) {
  Reader r(in);
  RequestHeader h;
  if (!r.get(h) || h.cls >= classes.size() || h.callback >= uint32_t(kCallbackCount)) return false;
  Provider& p = *classes[h.cls];
  const auto cb = static_cast<Callback>(h.callback);
  g_child_now_ms = h.now_ms;
  ReplyHeader reply;
  std::string message;
  std::vector<int32_t> errors;
  std::vector<ChildCtx> xs(cb == Callback::kBatchSubmit ? h.n_ops
                                                        : (cb == Callback::kFlush ? 0 : 1));
  std::vector<int32_t> types(xs.size(), 0);
  for (size_t i = 0; i < xs.size(); i++) {
    if (cb == Callback::kBatchSubmit && !r.get(types[i])) return false;
    if (!readCtx(r, xs[i])) return false;
  }
  for (ChildCtx& x : xs) bindCtx(conns, h.cls, x);
  std::vector<ct_offload_op> ops;
  try {
    switch (cb) {
      case Callback::kInit:
        reply.value = p.init();
        break;
      case Callback::kConnAdd:
        reply.value = p.connAdd(xs[0].ctx);
        break;
      case Callback::kConnDel:
        p.connDel(xs[0].ctx);
        break;
      case Callback::kConnUpdate:
        reply.value = p.connUpdate(xs[0].ctx);
        break;
      case Callback::kConnEstablished:
        p.connEstablished(xs[0].ctx);
        break;
      case Callback::kCanOffload:
        reply.value = p.canOffload(xs[0].ctx) ? 1 : 0;
        break;
      case Callback::kFlush:
        p.flush();
        break;
      case Callback::kBatchSubmit: {
        ops.resize(xs.size());
        for (size_t i = 0; i < xs.size(); i++) {
          ops[i].ctx = xs[i].ctx;
          std::memcpy(&ops[i].type, &types[i], sizeof types[i]);
          ops[i].error = 0;
        }
        ct_offload_op_batch b{ops.data(), ops.size(), ops.size()};
        p.batchSubmit(b);
        for (const ct_offload_op& op : ops) errors.push_back(op.error);
        break;
      }
    }
  } catch (...) {
    reply.status = kReplyException;
    message = describeCurrentException();
  }
  for (size_t i = 0; i < xs.size(); i++) {
    bool deleted =
        cb == Callback::kConnDel || (cb == Callback::kBatchSubmit && types[i] == CT_OFFLOAD_OP_DEL);
    bool accepted =
        reply.status == kReplyOk &&
        ((cb == Callback::kConnAdd && reply.value == 0) ||
         (cb == Callback::kBatchSubmit && types[i] == CT_OFFLOAD_OP_ADD && errors[i] == 0));
    if (xs[i].wire.conn_id != 0)
      conns.settle(h.cls, xs[i].wire.conn_id, xs[i].kept, deleted, accepted);
  }
  out.put(reply);
  out.putString(message);
  out.put(uint32_t(errors.size()));
  for (int32_t e : errors) out.put(e);
  return true;
}

[[noreturn]] void childMain(int fd, const std::string& file, pid_t parent) {
  // Die with the parent; leave Ctrl-C and kill of the process group to the parent, which ends
  // the child by closing the socket; crash signals are not caught (a sanitizer's handler would
  // turn them into an exit status): the parent reports the signal.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
  // Only this socket and stdio: other children's sockets and kernel resources of the parent
  // (namespace fds) must not be held by this process.
  if (fd > 3) ::close_range(3, unsigned(fd - 1), 0);
  ::close_range(unsigned(fd + 1), ~0u, 0);

  Registry registry(Profile::kRfcV1);  // The parent's registry applies the real profile.
  registry.setClock(&childClock, nullptr);
  ScopedCurrentRegistry current(&registry);
  Status st = loadProviderLibrary(registry, file);
  Writer hello;
  hello.put(int32_t(st.code()));
  hello.putString(st.message());
  std::vector<Provider*> classes = registry.providerObjects();
  hello.put(uint32_t(classes.size()));
  for (Provider* p : classes) {
    hello.putString(p->name());
    hello.put(uint32_t(p->callbacks()));
  }
  if (sendFrame(fd, hello.data(), std::nullopt) != Io::kOk || !st.ok()) ::_exit(0);
  ChildConns conns(classes.size());
  std::string in;
  for (;;) {
    if (recvFrame(fd, in, std::nullopt) != Io::kOk) break;  // Parent gone or done: EOF.
    Writer out;
    if (!serve(classes, conns, in, out)) break;
    if (sendFrame(fd, out.data(), std::nullopt) != Io::kOk) break;
  }
  std::fflush(nullptr);
  ::_exit(0);
}

// ---- The parent ------------------------------------------------------------------------------

std::string describeWaitStatus(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "crashed (signal " + std::to_string(sig) +
           (abbrev ? ", SIG" + std::string(abbrev) : "") + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

// The child process of one plug-in file, shared by the proxies of its classes.
class Child {
 public:
  Child(pid_t pid, int fd, std::string file, int watchdog_ms)
      : pid_(pid), fd_(fd), file_(std::move(file)), watchdog_ms_(watchdog_ms) {}
  ~Child() {
    if (fd_ >= 0) ::close(fd_);  // The child sees EOF and exits.
    if (!reaped_) reap(std::chrono::milliseconds(1000));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  const std::string& file() const { return file_; }

  // Sends 'request' (unless nullptr: the hello comes unasked) and waits for the reply, bounded
  // by the watchdog or by 'limit_ms' when given.  On failure the child is gone: 'kind' and 'why'
  // say how ("... in conn_add").
  bool call(const char* what, const std::string* request, std::string& reply, FaultKind& kind,
            std::string& why, int limit_ms = 0) {
    std::lock_guard lock(mu_);
    if (!gone_.empty()) {
      kind = gone_kind_;
      why = gone_;
      return false;
    }
    int ms = limit_ms > 0 ? limit_ms : watchdog_ms_;
    Deadline deadline;
    if (ms > 0) deadline = SteadyClock::now() + std::chrono::milliseconds(ms);
    Io io = request ? sendFrame(fd_, *request, deadline) : Io::kOk;
    if (io == Io::kOk) io = recvFrame(fd_, reply, deadline);
    if (io == Io::kOk) return true;
    if (io == Io::kTimeout) {
      ::kill(pid_, SIGKILL);
      reap(std::chrono::milliseconds(0));
      gone_kind_ = FaultKind::kTimeout;
      gone_ = "timeout after " + std::to_string(ms) + " ms in " + what + " (process killed)";
    } else {
      int status = reap(std::chrono::milliseconds(2000));
      gone_kind_ = FaultKind::kCrash;
      gone_ = "isolated process " + describeWaitStatus(status) + " in " + what;
    }
    ::close(fd_);
    fd_ = -1;
    kind = gone_kind_;
    why = gone_;
    return false;
  }

 private:
  // Waits up to 'grace' for the child to end, then kills it; returns its wait status.
  int reap(std::chrono::milliseconds grace) {
    int status = 0;
    auto until = SteadyClock::now() + grace;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (SteadyClock::now() >= until) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    reaped_ = true;
    return status;
  }

  std::mutex mu_;  // One request at a time on the socket; guards everything below.
  pid_t pid_;
  int fd_;
  std::string file_;
  int watchdog_ms_;
  bool reaped_ = false;
  std::string gone_;  // Why the child is gone (empty while it runs).
  FaultKind gone_kind_ = FaultKind::kNone;
};

void putCtx(Writer& w, const ct_offload_ctx& x) {
  WireCtx c;
  if (x.conn != nullptr) {
    c.conn_id = reinterpret_cast<uintptr_t>(x.conn);
    c.key_fwd = x.conn->key_fwd;
    c.tcp[0] = x.conn->tcp[0];
    c.tcp[1] = x.conn->tcp[1];
    c.state = x.conn->state;
    c.mark = static_cast<uint8_t>(x.conn->offload_mark);
  }
  if (x.key != nullptr) {
    c.has_key = 1;
    c.key = *x.key;
  }
  c.input_port = x.input_port_id;
  c.has_netdev = x.netdev_in != nullptr;
  c.netdev_port = x.netdev_in ? x.netdev_in->port : CTSIM_PORT_NONE;
  w.put(c);
  w.putString(x.netdev_in ? x.netdev_in->name : std::string());
}

// The parent's stand-in for one class of an isolated plug-in.
class IsolatedProvider final : public Provider {
 public:
  IsolatedProvider(std::shared_ptr<Child> child, uint32_t index, std::string name,
                   CallbackMask mask)
      : child_(std::move(child)), index_(index), name_(std::move(name)), mask_(mask) {}

  // Provider:
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override { return mask_; }
  bool boundsOwnCalls() const override { return true; }  // The reply deadline (watchdog_ms).
  int connAdd(const ct_offload_ctx& x) override {
    return int(call(Callback::kConnAdd, &x).value_or(0));
  }
  void connDel(const ct_offload_ctx& x) override { call(Callback::kConnDel, &x); }
  long long connUpdate(const ct_offload_ctx& x) override {
    return call(Callback::kConnUpdate, &x).value_or(0);
  }
  void connEstablished(const ct_offload_ctx& x) override { call(Callback::kConnEstablished, &x); }
  bool canOffload(const ct_offload_ctx& x) override {
    return call(Callback::kCanOffload, &x).value_or(0) != 0;
  }
  void flush() override { call(Callback::kFlush, nullptr); }
  void batchSubmit(ct_offload_op_batch& b) override {
    Writer w;
    w.put(header(Callback::kBatchSubmit, uint32_t(b.n_ops)));
    for (size_t i = 0; i < b.n_ops; i++) {
      int32_t type;
      std::memcpy(&type, &b.ops[i].type, sizeof type);
      w.put(type);
      putCtx(w, b.ops[i].ctx);
    }
    std::vector<int32_t> errors;
    if (!roundTrip(Callback::kBatchSubmit, w, &errors)) return;
    if (errors.size() != b.n_ops) {
      reportFault(Callback::kBatchSubmit, FaultKind::kProtocol,
                  "isolated process answered " + std::to_string(errors.size()) + " results for " +
                      std::to_string(b.n_ops) + " ops");
      return;
    }
    for (size_t i = 0; i < b.n_ops; i++) b.ops[i].error = errors[i];
  }

 private:
  RequestHeader header(Callback c, uint32_t n) const {
    RequestHeader h;
    h.callback = uint32_t(c);
    h.cls = index_;
    Registry* r = currentRegistry();
    h.now_ms = r ? r->nowMs() : 0;
    h.n_ops = n;
    return h;
  }

  // One callback with one context (or none, flush): the reply's value, or nothing on a fault.
  std::optional<int64_t> call(Callback c, const ct_offload_ctx* x) {
    Writer w;
    w.put(header(c, x ? 1 : 0));
    if (x) putCtx(w, *x);
    ReplyHeader h;
    if (!roundTrip(c, w, nullptr, &h)) return std::nullopt;
    return h.value;
  }

  bool roundTrip(Callback c, const Writer& w, std::vector<int32_t>* errors,
                 ReplyHeader* out = nullptr) {
    std::string reply;
    FaultKind kind = FaultKind::kNone;
    std::string why;
    if (!child_->call(callbackName(c), &w.data(), reply, kind, why)) {
      reportFault(c, kind, why);
      return false;
    }
    Reader r(reply);
    ReplyHeader h;
    std::string message;
    uint32_t n = 0;
    bool ok = r.get(h) && r.getString(message) && r.get(n);
    for (uint32_t i = 0; ok && i < n; i++) {
      int32_t e = 0;
      ok = r.get(e);
      if (errors) errors->push_back(e);
    }
    if (!ok) {
      reportFault(c, FaultKind::kProtocol, "malformed reply from the isolated process");
      return false;
    }
    if (h.status == kReplyException) {
      reportFault(c, FaultKind::kException, message + " (in the isolated process)");
      return false;
    }
    if (out) *out = h;
    return true;
  }

  std::shared_ptr<Child> child_;
  uint32_t index_;
  std::string name_;
  CallbackMask mask_;
};

}  // namespace

Status loadIsolated(Registry& registry, const std::string& file, int watchdog_ms) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status(errno,
                  file + ": cannot create a socket pair for --isolate: " + std::strerror(errno));
  }
  std::fflush(nullptr);  // Buffered output must not be written twice.
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return Status(err, file + ": cannot fork for --isolate: " + std::strerror(err));
  }
  if (pid == 0) {
    ::close(sv[0]);
    childMain(sv[1], file, parent);
  }
  ::close(sv[1]);
  auto child = std::make_shared<Child>(pid, sv[0], file, watchdog_ms);

  // The hello: the load's status and the classes.  Loading may take longer than one call.
  std::string hello;
  FaultKind kind = FaultKind::kNone;
  std::string why;
  Status bad(EPROTO, file + ": malformed hello from the isolated process");
  int load_limit_ms = watchdog_ms > 0 ? std::max(watchdog_ms, 10000) : 0;
  if (!child->call("ctsim_plugin_init", nullptr, hello, kind, why, load_limit_ms)) {
    return Status(ECHILD, file + ": " + why);
  }
  Reader r(hello);
  int32_t code = 0;
  std::string message;
  uint32_t n = 0;
  if (!r.get(code) || !r.getString(message) || !r.get(n)) return bad;
  if (code != 0) return Status(code, message);
  std::vector<std::pair<std::string, uint32_t>> classes;
  for (uint32_t i = 0; i < n; i++) {
    std::string name;
    uint32_t mask = 0;
    if (!r.getString(name) || !r.get(mask)) return bad;
    classes.emplace_back(std::move(name), mask & ~bit(Callback::kInit));  // init ran there.
  }
  Registry::StagingScope staging(registry, file);
  for (uint32_t i = 0; i < classes.size(); i++) {
    auto proxy = std::make_unique<IsolatedProvider>(child, i, classes[i].first, classes[i].second);
    if (int err = registry.registerProvider(std::move(proxy), file); err != 0) {
      std::vector<std::string> rejections = staging.rejections();
      return Status(err, file + ": registration refused: " +
                             (rejections.empty() ? std::strerror(err) : rejections.front()));
    }
  }
  staging.commit();
  return Status();
}

}  // namespace ctsim::isolate
