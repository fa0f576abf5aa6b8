#include "providers/kernel_ct/kernel_ct.h"

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace ctsim::kernel_ct {

namespace {

using Clock = std::chrono::steady_clock;

Result<uint64_t> parseU64(const std::string& where, const std::string& v) {
  uint64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return Status(EINVAL, where + ": expected a non-negative integer, got '" + v + "'");
  }
  return x;
}

Result<bool> parseBool(const std::string& where, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return Status(EINVAL, where + ": expected true or false, got '" + v + "'");
}

// The kernel TCP state for the engine's coarse state.
int tcpState(ctsim_conn_state s) {
  switch (s) {
    case CTSIM_CS_TCP_SYN_SENT:
      return TCP_CONNTRACK_SYN_SENT;
    case CTSIM_CS_TCP_SYN_RECV:
      return TCP_CONNTRACK_SYN_RECV;
    case CTSIM_CS_TCP_ESTABLISHED:
      return TCP_CONNTRACK_ESTABLISHED;
    case CTSIM_CS_TCP_FIN_WAIT:
      return TCP_CONNTRACK_FIN_WAIT;
    case CTSIM_CS_TCP_TIME_WAIT:
      return TCP_CONNTRACK_TIME_WAIT;
    case CTSIM_CS_TCP_CLOSE:
      return TCP_CONNTRACK_CLOSE;
    default:
      return TCP_CONNTRACK_ESTABLISHED;  // A pickup without a state: the kernel's loose mode.
  }
}

bool replySeen(ctsim_conn_state s) {
  return s == CTSIM_CS_TCP_SYN_RECV || s == CTSIM_CS_TCP_ESTABLISHED ||
         s == CTSIM_CS_TCP_FIN_WAIT || s == CTSIM_CS_TCP_TIME_WAIT || s == CTSIM_CS_TCP_CLOSE ||
         s == CTSIM_CS_OTHER_BIDIR || s == CTSIM_CS_ICMP_REPLY;
}

// Status bits of a mirrored entry: ASSURED always, so that the kernel never early-drops an
// offloaded connection to make room (it evicts only unassured entries); a full table of
// mirrors is then a real ENOSPC.  SEEN_REPLY once a reply was seen.
uint32_t statusFor(ctsim_conn_state s) {
  return uint32_t(IPS_ASSURED) | (replySeen(s) ? uint32_t(IPS_SEEN_REPLY) : 0u);
}

void line(std::string& out, const char* what, const OpStats& s) {
  if (s.calls == 0) return;
  char buf[200];
  std::snprintf(buf, sizeof buf, "  %-7s %llu (%llu refused), mean %.1f us, max %.1f us, %.0f/s\n",
                what, (unsigned long long)s.calls, (unsigned long long)s.errors, s.meanUs(),
                double(s.max_ns) / 1e3, s.opsPerSecond());
  out += buf;
}

}  // namespace

std::string Config::describe() const {
  return "name=" + name + " timeout=" + std::to_string(timeout_s) +
         " capacity=" + std::to_string(capacity) +
         " can_offload=" + (can_offload ? "true" : "false") +
         " batch=" + (batch ? "true" : "false");
}

Result<Config> parseConfig(const ProviderSpec& spec) {
  Config c;
  for (const auto& [k, v] : spec.options) {
    if (k == "name") {
      c.name = v;
    } else if (k == "timeout") {
      auto n = parseU64("kernel-ct: timeout", v);
      if (!n.ok()) return n.status();
      if (n.value() == 0 || n.value() > 0x7fffffff) {
        return Status(EINVAL, "kernel-ct: timeout: 1 to 2147483647 seconds");
      }
      c.timeout_s = uint32_t(n.value());
    } else if (k == "capacity") {
      auto n = parseU64("kernel-ct: capacity", v);
      if (!n.ok()) return n.status();
      c.capacity = n.value();
    } else if (k == "can_offload" || k == "batch") {
      auto b = parseBool("kernel-ct: " + k, v);
      if (!b.ok()) return b.status();
      (k == "batch" ? c.batch : c.can_offload) = b.value();
    } else {
      return Status(EINVAL, spec.name + ": unknown option '" + k +
                                "' (known: name, timeout, capacity, can_offload, batch)");
    }
  }
  return c;
}

Result<std::unique_ptr<Provider>> makeKernelCt(const ProviderSpec& spec) {
  auto c = parseConfig(spec);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Provider>(std::make_unique<KernelCtProvider>(c.value()));
}

std::string Stats::text() const {
  std::string out;
  if (!unavailable.empty()) return "  kernel unavailable: " + unavailable + "\n";
  char buf[200];
  std::snprintf(buf, sizeof buf, "  kernel entries %llu (peak %llu of nf_conntrack_max %llu)\n",
                (unsigned long long)entries, (unsigned long long)entries_peak,
                (unsigned long long)kernel_max);
  out += buf;
  line(out, "create", create);
  line(out, "update", update);
  line(out, "delete", del);
  line(out, "get", get);
  line(out, "flush", flush);
  if (!failures.empty()) {
    out += "  failures:";
    for (const auto& [k, n] : failures) out += " " + k + " " + std::to_string(n);
    out += "\n";
  }
  return out;
}

KernelCtProvider::KernelCtProvider(Config config) : config_(std::move(config)) {}

KernelCtProvider::~KernelCtProvider() = default;  // Socket, then namespace: the kernel frees all.

Status KernelCtProvider::start() {
  std::lock_guard lock(mu_);
  return startLocked();
}

Status KernelCtProvider::startLocked() {
  if (start_tried_) return start_status_;
  start_tried_ = true;
  auto fail = [&](const std::string& why) {
    start_status_ = Status(ENODEV, "kernel-ct: " + why);
    stats_.unavailable = why;
    return start_status_;
  };
  std::string why = kern::namespaceUnavailableReason();
  if (!why.empty()) return fail(why);
  auto ns = kern::NetNs::create();
  if (!ns.ok()) return fail(ns.status().message());
  auto max = ns.value().readSysctl("net/netfilter/nf_conntrack_max");
  if (!max.ok()) return fail("no nf_conntrack in this kernel (" + max.status().message() + ")");
  stats_.kernel_max = std::strtoull(max.value().c_str(), nullptr, 10);
  auto sock = kern::CtnetlinkSocket::open(ns.value());
  if (!sock.ok()) return fail(sock.status().message());
  ns_ = std::move(ns).value();
  sock_ = std::move(sock).value();
  start_status_ = Status();
  return start_status_;
}

Stats KernelCtProvider::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

long KernelCtProvider::kernelCount() const {
  std::lock_guard lock(mu_);
  if (!ns_.valid()) return -1;
  auto v = ns_.readSysctl("net/netfilter/nf_conntrack_count");
  return v.ok() ? std::strtol(v.value().c_str(), nullptr, 10) : -1;
}

long KernelCtProvider::remainingTimeout(const ctsim_conn_key& fwd) {
  std::lock_guard lock(mu_);
  if (!startLocked().ok()) return -1;
  kern::NfctPtr q = kern::makeTupleOnly(fwd);
  auto got = sock_.get(q.get());
  if (!got.ok()) return -1;
  return long(nfct_get_attr_u32(got.value().get(), ATTR_TIMEOUT));
}

CallbackMask KernelCtProvider::callbacks() const {
  CallbackMask m = bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
                   bit(Callback::kConnEstablished) | bit(Callback::kCanOffload) |
                   bit(Callback::kFlush);
  if (config_.batch) m |= bit(Callback::kBatchSubmit);
  return m;
}

int KernelCtProvider::mapError(int err) { return err == ENOMEM ? ENOSPC : err; }

void KernelCtProvider::countFailure(int err) {
  if (err == ENOSPC) {
    stats_.failures["full"]++;
  } else if (err == EEXIST) {
    stats_.failures["exists"]++;
  } else if (err != 0) {
    stats_.failures[std::string("errno_") + std::to_string(err)]++;
  }
}

void KernelCtProvider::timed(OpStats& s, int err, Clock::time_point t0) {
  uint64_t ns =
      uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  s.calls++;
  s.total_ns += ns;
  s.max_ns = std::max(s.max_ns, ns);
  if (err != 0) s.errors++;
}

int KernelCtProvider::connAdd(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  if (!startLocked().ok()) {
    stats_.failures["unavailable"]++;
    return ENODEV;
  }
  if (config_.capacity != 0 && conns_.size() >= config_.capacity) {
    stats_.failures["full"]++;
    return ENOSPC;
  }
  ctsim_conn_state st = ctsim_conn_get_state(ctx.conn);
  kern::EntrySpec spec;
  spec.timeout_s = config_.timeout_s;
  spec.tcp_state = tcpState(st);
  spec.status = statusFor(st);
  kern::NfctPtr e =
      kern::makeEntry(*ctsim_conn_key_fwd(ctx.conn), ctsim_conn_key_rev(ctx.conn), spec);
  if (!e) return ENOMEM;
  return addLocked(ctx.conn, e);
}

int KernelCtProvider::addLocked(const conn* c, kern::NfctPtr& entry) {
  auto t0 = Clock::now();
  int err = mapError(sock_.one(kern::CtOp::kCreate, entry.get()));
  timed(stats_.create, err, t0);
  countFailure(err);
  if (err == 0) {
    conns_[c] = *ctsim_conn_key_fwd(c);
    stats_.entries = conns_.size();
    stats_.entries_peak = std::max(stats_.entries_peak, stats_.entries);
  }
  return err;
}

void KernelCtProvider::connDel(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end() || !sock_.valid()) return;
  kern::NfctPtr q = kern::makeTupleOnly(it->second);
  auto t0 = Clock::now();
  int err = sock_.one(kern::CtOp::kDelete, q.get());
  timed(stats_.del, err, t0);
  if (err == ENOENT) stats_.failures["del_absent"]++;
  conns_.erase(it);
  stats_.entries = conns_.size();
}

long long KernelCtProvider::connUpdate(const ct_offload_ctx& ctx) {
  long long now = ctsim_now_ms();
  std::lock_guard lock(mu_);
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end() || !sock_.valid()) return 0;
  kern::NfctPtr q = kern::makeTupleOnly(it->second);
  auto t0 = Clock::now();
  auto got = sock_.get(q.get());
  timed(stats_.get, got.ok() ? 0 : got.status().code(), t0);
  if (!got.ok()) {
    stats_.failures["lost"]++;
    return 0;
  }
  long long remaining = nfct_get_attr_u32(got.value().get(), ATTR_TIMEOUT);
  long long idle_ms = (static_cast<long long>(config_.timeout_s) - remaining) * 1000;
  return std::max(now - std::max(idle_ms, 0LL), 1LL);
}

void KernelCtProvider::connEstablished(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end() || !sock_.valid()) return;
  const ctsim_conn_key& fwd = it->second;
  kern::EntrySpec spec;
  spec.timeout_s = config_.timeout_s;
  spec.tcp_state = TCP_CONNTRACK_ESTABLISHED;
  spec.status = IPS_SEEN_REPLY | IPS_ASSURED;
  kern::NfctPtr e = kern::makeEntry(fwd, ctsim_conn_key_rev(ctx.conn), spec);
  auto t0 = Clock::now();
  int err = sock_.one(kern::CtOp::kUpdate, e.get());
  timed(stats_.update, err, t0);
  if (err != 0) countFailure(err);
}

bool KernelCtProvider::canOffload(const ct_offload_ctx&) { return config_.can_offload; }

void KernelCtProvider::flush() {
  std::lock_guard lock(mu_);
  conns_.clear();
  stats_.entries = 0;
  if (!sock_.valid()) return;
  auto t0 = Clock::now();
  int err = sock_.flush();
  timed(stats_.flush, err, t0);
}

void KernelCtProvider::batchSubmit(ct_offload_op_batch& batch) {
  std::lock_guard lock(mu_);
  stats_.batches++;
  bool up = startLocked().ok();
  std::vector<kern::NfctPtr> entries;
  std::vector<kern::CtRequest> reqs;
  std::vector<size_t> op_of;  // Request -> op index.
  entries.reserve(batch.n_ops);
  for (size_t i = 0; i < batch.n_ops; i++) {
    ct_offload_op& op = batch.ops[i];
    op.error = 0;
    const conn* c = op.ctx.conn;
    switch (op.type) {
      case CT_OFFLOAD_OP_ADD: {
        if (!up) {
          op.error = ENODEV;
          break;
        }
        if (!config_.can_offload) {
          op.error = EPERM;
          break;
        }
        ctsim_conn_state st = ctsim_conn_get_state(c);
        kern::EntrySpec spec{config_.timeout_s, tcpState(st), statusFor(st)};
        entries.push_back(kern::makeEntry(*ctsim_conn_key_fwd(c), ctsim_conn_key_rev(c), spec));
        reqs.push_back({kern::CtOp::kCreate, entries.back().get(), 0});
        op_of.push_back(i);
        break;
      }
      case CT_OFFLOAD_OP_DEL: {
        auto it = conns_.find(c);
        if (it == conns_.end() || !up) break;
        entries.push_back(kern::makeTupleOnly(it->second));
        reqs.push_back({kern::CtOp::kDelete, entries.back().get(), 0});
        op_of.push_back(i);
        break;
      }
      case CT_OFFLOAD_OP_EST: {
        auto it = conns_.find(c);
        if (it == conns_.end() || !up) break;
        kern::EntrySpec spec{config_.timeout_s, TCP_CONNTRACK_ESTABLISHED,
                             IPS_SEEN_REPLY | IPS_ASSURED};
        entries.push_back(kern::makeEntry(it->second, ctsim_conn_key_rev(c), spec));
        reqs.push_back({kern::CtOp::kUpdate, entries.back().get(), 0});
        op_of.push_back(i);
        break;
      }
      case CT_OFFLOAD_OP_UPD: {
        auto it = conns_.find(c);
        if (it == conns_.end() || !up) {
          op.error = ENODATA;
          break;
        }
        kern::NfctPtr q = kern::makeTupleOnly(it->second);
        op.error = sock_.get(q.get()).ok() ? 0 : ENODATA;
        break;
      }
      case CT_OFFLOAD_OP_POLICY:
        op.error = config_.can_offload ? 0 : EPERM;
        break;
      case CT_OFFLOAD_OP_FLUSH:
        conns_.clear();
        if (up) (void)sock_.flush();
        break;
      default:
        op.error = EINVAL;
        break;
    }
  }
  if (reqs.empty()) return;
  auto t0 = Clock::now();
  Status s = sock_.send(reqs);
  uint64_t ns =
      uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  for (size_t k = 0; k < reqs.size(); k++) {
    ct_offload_op& op = batch.ops[op_of[k]];
    int err = s.ok() ? mapError(reqs[k].error) : s.code();
    OpStats& os = reqs[k].op == kern::CtOp::kCreate   ? stats_.create
                  : reqs[k].op == kern::CtOp::kDelete ? stats_.del
                                                      : stats_.update;
    os.calls++;
    os.total_ns += ns / reqs.size();
    os.max_ns = std::max(os.max_ns, ns / reqs.size());
    if (err != 0) os.errors++;
    if (reqs[k].op == kern::CtOp::kCreate) {
      op.error = err;
      countFailure(err);
      if (err == 0) conns_[op.ctx.conn] = *ctsim_conn_key_fwd(op.ctx.conn);
    } else if (reqs[k].op == kern::CtOp::kDelete) {
      conns_.erase(op.ctx.conn);
    }
  }
  stats_.entries = conns_.size();
  stats_.entries_peak = std::max(stats_.entries_peak, stats_.entries);
}

}  // namespace ctsim::kernel_ct
