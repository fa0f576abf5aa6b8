#include "providers/tc_bpf/tc_bpf.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "sim/parser.h"

extern "C" {
extern const unsigned char ctsim_tc_bpf_object[];  // ct_fastpath.bpf.o, embedded at build.
extern const unsigned int ctsim_tc_bpf_object_len;
}

namespace ctsim::tc_bpf {

namespace {

// Mirrors struct ctsim_bpf_key / ctsim_bpf_value / ctsim_bpf_last of ct_fastpath.bpf.c.
struct BpfKey {
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
  uint16_t zone;
  uint8_t af;
  uint8_t proto;
};
static_assert(sizeof(BpfKey) == 40);
struct BpfValue {
  uint64_t packets;
  uint64_t bytes;
  uint64_t last_ns;
};
struct BpfLast {
  uint64_t seen;
  uint32_t verdict;
  uint32_t pad;
};

BpfKey bpfKey(const ctsim_conn_key& k) {
  BpfKey b{};
  std::memcpy(b.src, k.src, 16);
  std::memcpy(b.dst, k.dst, 16);
  if (k.proto == 1 || k.proto == 58) {
    b.sport = k.icmp.id;
    b.dport = uint16_t(k.icmp.type << 8 | k.icmp.code);
  } else {
    b.sport = k.ports.src;
    b.dport = k.ports.dst;
  }
  b.af = k.af;
  b.proto = k.proto;
  return b;
}

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

Status errnoStatus(int err, const std::string& what) {
  return Status(err, "tc-bpf: " + what + ": " + std::strerror(err));
}

// libbpf's messages go nowhere; failures are reported through Status.
int quietLibbpf(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

std::string Config::describe() const {
  return "name=" + name + " capacity=" + std::to_string(capacity) +
         " can_offload=" + (can_offload ? "true" : "false");
}

Result<Config> parseConfig(const ProviderSpec& spec) {
  Config c;
  for (const auto& [k, v] : spec.options) {
    if (k == "name") {
      c.name = v;
    } else if (k == "capacity") {
      uint32_t x = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (ec != std::errc() || p != v.data() + v.size() || x < 2) {
        return Status(EINVAL, "tc-bpf: capacity: expected an integer >= 2, got '" + v + "'");
      }
      c.capacity = x;
    } else if (k == "can_offload") {
      if (v == "true" || v == "1") {
        c.can_offload = true;
      } else if (v == "false" || v == "0") {
        c.can_offload = false;
      } else {
        return Status(EINVAL, "tc-bpf: can_offload: expected true or false, got '" + v + "'");
      }
    } else {
      return Status(
          EINVAL, spec.name + ": unknown option '" + k + "' (known: name, capacity, can_offload)");
    }
  }
  return c;
}

Result<std::unique_ptr<Provider>> makeTcBpf(const ProviderSpec& spec) {
  auto c = parseConfig(spec);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Provider>(std::make_unique<TcBpfProvider>(c.value()));
}

TcBpfProvider::TcBpfProvider(Config config) : config_(std::move(config)) {
  stats_.capacity = config_.capacity;
  stats_.config = config_.describe();
}

TcBpfProvider::~TcBpfProvider() {
  std::lock_guard lock(mu_);
  tx_.reset();
  rx_.reset();
  if (obj_ != nullptr && ns_.valid()) {
    kern::ScopedNetns in(ns_);
    if (in.ok()) {
      bpf_tc_hook hook{};
      hook.sz = sizeof hook;
      hook.ifindex = int(fp1_ifindex_);
      hook.attach_point = BPF_TC_INGRESS;
      (void)bpf_tc_hook_destroy(&hook);
    }
  }
  if (obj_ != nullptr) bpf_object__close(obj_);
  // ns_ closes last: the kernel then removes the links (and anything still attached).
}

Status TcBpfProvider::start() {
  std::lock_guard lock(mu_);
  return startLocked();
}

Status TcBpfProvider::startLocked() {
  if (start_tried_) return start_status_;
  start_tried_ = true;
  auto fail = [&](Status s) {
    start_status_ = Status(ENODEV, s.message());
    stats_.failures["unavailable"]++;
    return start_status_;
  };
  std::string why = kern::namespaceUnavailableReason();
  if (!why.empty()) return fail(Status(EPERM, "tc-bpf: " + why));
  auto ns = kern::NetNs::create();
  if (!ns.ok()) return fail(ns.status());
  ns_ = std::move(ns).value();
  for (const char* k : {"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"}) {
    (void)ns_.writeSysctl(k, "1");
  }
  Status s = ns_.run({"ip", "-batch", "-"},
                     "link add fp0 type veth peer name fp1\n"
                     "link add up0 type veth peer name up1\n");
  if (!s.ok()) return fail(Status(s.code(), "tc-bpf: iproute2: " + s.message()));
  (void)ns_.run({"ip", "-batch", "-"},
                "link set fp0 mtu 65535\nlink set fp1 mtu 65535\nlink set up0 mtu 65535\n"
                "link set up1 mtu 65535\n");
  s = ns_.run({"ip", "-batch", "-"},
              "link set fp0 multicast off\nlink set fp1 multicast off\n"
              "link set up0 multicast off\nlink set up1 multicast off\n"
              "link set fp0 up\nlink set fp1 up\nlink set up0 up\nlink set up1 up\n");
  if (!s.ok()) return fail(Status(s.code(), "tc-bpf: iproute2: " + s.message()));
  fp1_ifindex_ = ns_.ifindex("fp1");
  unsigned up0 = ns_.ifindex("up0");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!(ns_.linkRunning("fp0") && ns_.linkRunning("fp1") && ns_.linkRunning("up0") &&
           ns_.linkRunning("up1"))) {
    if (std::chrono::steady_clock::now() > deadline) {
      return fail(Status(ETIMEDOUT, "tc-bpf: links did not come up within 5 s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  libbpf_set_print(quietLibbpf);
  bpf_object_open_opts opts{};
  opts.sz = sizeof opts;
  opts.object_name = "ctsim_tc_bpf";
  obj_ = bpf_object__open_mem(ctsim_tc_bpf_object, ctsim_tc_bpf_object_len, &opts);
  if (obj_ == nullptr) return fail(errnoStatus(errno, "open the embedded BPF object"));
  bpf_map* flows = bpf_object__find_map_by_name(obj_, "ctsim_flows");
  if (flows == nullptr) return fail(Status(EINVAL, "tc-bpf: no ctsim_flows map"));
  (void)bpf_map__set_max_entries(flows, config_.capacity);
  if (int err = bpf_object__load(obj_); err != 0) {
    return fail(errnoStatus(-err, "load the BPF program (BPF not permitted or not supported?)"));
  }
  flows_fd_ = bpf_map__fd(flows);
  last_fd_ = bpf_object__find_map_fd_by_name(obj_, "ctsim_last");
  int cfg_fd = bpf_object__find_map_fd_by_name(obj_, "ctsim_cfg");
  bpf_program* prog = bpf_object__find_program_by_name(obj_, "ctsim_fastpath");
  if (flows_fd_ < 0 || last_fd_ < 0 || cfg_fd < 0 || prog == nullptr) {
    return fail(Status(EINVAL, "tc-bpf: the BPF object lacks a map or the program"));
  }
  uint32_t zero = 0, up_index = up0;
  if (bpf_map_update_elem(cfg_fd, &zero, &up_index, BPF_ANY) != 0) {
    return fail(errnoStatus(errno, "write ctsim_cfg"));
  }
  {
    kern::ScopedNetns in(ns_);
    if (!in.ok()) return fail(Status(EPERM, "tc-bpf: cannot enter the namespace"));
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.ifindex = int(fp1_ifindex_);
    hook.attach_point = BPF_TC_INGRESS;
    int err = bpf_tc_hook_create(&hook);
    if (err != 0 && err != -EEXIST) return fail(errnoStatus(-err, "create the clsact qdisc"));
    bpf_tc_opts topts{};
    topts.sz = sizeof topts;
    topts.prog_fd = bpf_program__fd(prog);
    err = bpf_tc_attach(&hook, &topts);
    if (err != 0) return fail(errnoStatus(-err, "attach the tc program"));
    tx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    rx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
  }
  if (!tx_.valid() || !rx_.valid()) return fail(errnoStatus(errno, "AF_PACKET socket"));
  sockaddr_ll tx{}, rx{};
  tx.sll_family = rx.sll_family = AF_PACKET;
  tx.sll_ifindex = int(ns_.ifindex("fp0"));
  rx.sll_ifindex = int(ns_.ifindex("up1"));
  rx.sll_protocol = htons(ETH_P_ALL);
  if (::bind(tx_.get(), reinterpret_cast<sockaddr*>(&tx), sizeof tx) != 0 ||
      ::bind(rx_.get(), reinterpret_cast<sockaddr*>(&rx), sizeof rx) != 0) {
    return fail(errnoStatus(errno, "bind AF_PACKET"));
  }
  int rcvbuf = 8 << 20;
  (void)setsockopt(rx_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  start_status_ = Status();
  return start_status_;
}

CallbackMask TcBpfProvider::callbacks() const {
  return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
         bit(Callback::kCanOffload) | bit(Callback::kFlush);
}

bool TcBpfProvider::canOffload(const ct_offload_ctx&) { return config_.can_offload; }

int TcBpfProvider::connAdd(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  stats_.counters["conn_add"]++;
  if (!startLocked().ok()) return ENODEV;
  Entry e;
  e.fwd = *ctsim_conn_key_fwd(ctx.conn);
  e.rev = ctsim_conn_key_rev(ctx.conn);
  BpfKey kf = bpfKey(e.fwd), kr = bpfKey(e.rev);
  e.one_key = std::memcmp(&kf, &kr, sizeof kf) == 0;
  e.added_ms = ctsim_now_ms();
  BpfValue zero{};
  if (bpf_map_update_elem(flows_fd_, &kf, &zero, BPF_NOEXIST) != 0) {
    int err = errno == E2BIG || errno == ENOMEM ? ENOSPC : errno;
    stats_.failures[err == ENOSPC ? "full" : err == EEXIST ? "exists" : "add_error"]++;
    return err;
  }
  if (!e.one_key && bpf_map_update_elem(flows_fd_, &kr, &zero, BPF_NOEXIST) != 0) {
    int err = errno == E2BIG || errno == ENOMEM ? ENOSPC : errno;
    (void)bpf_map_delete_elem(flows_fd_, &kf);
    stats_.failures[err == ENOSPC ? "full" : err == EEXIST ? "exists" : "add_error"]++;
    return err;
  }
  stats_.entries += e.one_key ? 1 : 2;
  stats_.active = stats_.entries;
  stats_.entries_peak = std::max(stats_.entries_peak, stats_.entries);
  // The map write is synchronous: requested and active at once, at trace time (ns).
  int64_t now_ns = std::max<int64_t>(now_ns_, e.added_ms * 1000000);
  stats_.offload_latency.push_back({e.fwd, now_ns, now_ns});
  conns_[ctx.conn] = e;
  return 0;
}

void TcBpfProvider::connDel(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  stats_.counters["conn_del"]++;
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end()) return;
  BpfKey kf = bpfKey(it->second.fwd), kr = bpfKey(it->second.rev);
  (void)bpf_map_delete_elem(flows_fd_, &kf);
  if (!it->second.one_key) (void)bpf_map_delete_elem(flows_fd_, &kr);
  stats_.entries -= it->second.one_key ? 1 : 2;
  stats_.active = stats_.entries;
  conns_.erase(it);
}

long long TcBpfProvider::connUpdate(const ct_offload_ctx& ctx) {
  long long now = ctsim_now_ms();
  std::lock_guard lock(mu_);
  stats_.counters["conn_update"]++;
  auto it = conns_.find(ctx.conn);
  if (it == conns_.end()) return 0;
  uint64_t last = 0;
  for (const ctsim_conn_key* k : {&it->second.fwd, &it->second.rev}) {
    BpfKey bk = bpfKey(*k);
    BpfValue v{};
    if (bpf_map_lookup_elem(flows_fd_, &bk, &v) == 0) last = std::max(last, v.last_ns);
  }
  if (last == 0) return std::max(it->second.added_ms, 1LL);
  long long idle_ms = (long long)((monotonicNs() - std::min(last, monotonicNs())) / 1000000);
  return std::max(now - idle_ms, 1LL);
}

void TcBpfProvider::flush() {
  std::lock_guard lock(mu_);
  stats_.counters["flush"]++;
  if (flows_fd_ >= 0) {
    BpfKey k{}, next{};
    // Delete by walking: always restart from the first key (the walk is invalidated).
    while (bpf_map_get_next_key(flows_fd_, nullptr, &next) == 0) {
      if (bpf_map_delete_elem(flows_fd_, &next) != 0) break;
      k = next;
    }
    (void)k;
  }
  conns_.clear();
  stats_.entries = stats_.active = 0;
}

void TcBpfProvider::setNow(int64_t now_ns) {
  std::lock_guard lock(mu_);
  now_ns_ = std::max(now_ns_, now_ns);
}

void TcBpfProvider::drainLocked() {
  char buf[65536 + 64];
  while (::recv(rx_.get(), buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
    stats_.counters["software_received"]++;
  }
}

FastPathVerdict TcBpfProvider::countLocked(uint32_t verdict, uint32_t bytes, bool) {
  if (verdict == 0) return countMiss(stats_, bytes, false);
  stats_.hit_packets++;
  stats_.hit_bytes += bytes;
  if (verdict == 2) {
    stats_.up_packets++;
    stats_.up_bytes += bytes;
    return FastPathVerdict::kUp;
  }
  return FastPathVerdict::kConsumed;
}

FastPathVerdict TcBpfProvider::process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                                       uint8_t tcp_flags) {
  std::lock_guard lock(mu_);
  if (!startLocked().ok()) return countMiss(stats_, bytes, false);
  stats_.counters["looked_up_in_user_space"]++;
  BpfKey k = bpfKey(pkt_key);
  k.zone = 0;
  BpfValue v{};
  if (bpf_map_lookup_elem(flows_fd_, &k, &v) != 0) return countLocked(0, bytes, false);
  bool up = pkt_key.proto == 6 && (tcp_flags & 0x07) != 0;
  return countLocked(up ? 2 : 1, bytes, false);
}

FastPathVerdict TcBpfProvider::processFrame(const uint8_t* frame, uint32_t caplen,
                                            uint32_t linktype, const ctsim_conn_key& pkt_key,
                                            uint32_t bytes, uint8_t tcp_flags) {
  std::unique_lock lock(mu_);
  if (!startLocked().ok()) return countMiss(stats_, bytes, false);
  // The frame as Ethernet.
  std::vector<uint8_t> eth;
  if (linktype == 1 && caplen >= 14) {
    eth.assign(frame, frame + caplen);
  } else if (linktype != 1) {
    ParseOptions po;
    po.verify_checksums = false;
    PacketInfo pi = parsePacket(linktype, frame, caplen, caplen, po);
    if (pi.ip_version == 4 || pi.ip_version == 6) {
      eth.assign(14, 0);
      eth[0] = 0x02;
      eth[6] = 0x02;
      eth[11] = 0x01;
      eth[12] = pi.ip_version == 4 ? 0x08 : 0x86;
      eth[13] = pi.ip_version == 4 ? 0x00 : 0xdd;
      eth.insert(eth.end(), frame + pi.l3_offset, frame + caplen);
    }
  }
  if (eth.empty()) {
    stats_.counters["not_sent"]++;
    lock.unlock();
    return process(pkt_key, bytes, tcp_flags);
  }
  if (::send(tx_.get(), eth.data(), eth.size(), 0) != ssize_t(eth.size())) {
    stats_.failures["send"]++;
    lock.unlock();
    return process(pkt_key, bytes, tcp_flags);
  }
  stats_.counters["sent"]++;
  // The program's verdict for this frame (normally there when send() returns: the veth hands
  // the frame over in the sender's softirq).
  uint32_t zero = 0;
  BpfLast last{};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  for (int spin = 0;; spin++) {
    if (bpf_map_lookup_elem(last_fd_, &zero, &last) == 0 && last.seen > seen_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      // The program never saw it (dropped by the stack before tc, e.g. too short).
      stats_.failures["no_verdict"]++;
      drainLocked();
      return countMiss(stats_, bytes, false);
    }
    if (spin > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  seen_ = last.seen;
  drainLocked();
  return countLocked(last.verdict, bytes, true);
}

uint64_t TcBpfProvider::softwareReceived() {
  std::lock_guard lock(mu_);
  if (rx_.valid()) drainLocked();
  auto it = stats_.counters.find("software_received");
  return it == stats_.counters.end() ? 0 : it->second;
}

long TcBpfProvider::mapEntries() const {
  std::lock_guard lock(mu_);
  if (flows_fd_ < 0) return -1;
  long n = 0;
  BpfKey k{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(flows_fd_, prev, &next) == 0) {
    n++;
    k = next;
    prev = &k;
  }
  return n;
}

FastPathStats TcBpfProvider::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ctsim::tc_bpf
