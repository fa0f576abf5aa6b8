#include "providers/tc_bpf/tc_bpf.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "providers/conn.h"
#include "providers/test_util.h"
#include "sim/packet_builder.h"

namespace ctsim::tc_bpf {
namespace {

using testing::makeConn;

#define REQUIRE_BPF(p)                                                      \
  do {                                                                      \
    Status st_ = (p).start();                                               \
    if (!st_.ok()) GTEST_SKIP() << "tc-bpf unavailable: " << st_.message(); \
  } while (0)

TcBpfProvider make(const std::string& opts = "") {
  auto spec = parseProviderSpec(opts.empty() ? "tc-bpf" : "tc-bpf:" + opts);
  return TcBpfProvider(parseConfig(spec.value()).value());
}

// The frame of a packet of `c` (forward direction unless `reply`) with TCP `flags`.
std::vector<uint8_t> frameOf(const conn& c, bool reply, uint8_t flags = kTcpAck) {
  const ctsim_conn_key k = reply ? ctsim_conn_key_rev(&c) : c.key_fwd;
  char s[16], d[16];
  std::snprintf(s, sizeof s, "%u.%u.%u.%u", k.src[0], k.src[1], k.src[2], k.src[3]);
  std::snprintf(d, sizeof d, "%u.%u.%u.%u", k.dst[0], k.dst[1], k.dst[2], k.dst[3]);
  PacketBuilder b;
  b.ipv4(s, d);
  if (k.proto == 6) {
    b.tcp(k.ports.src, k.ports.dst, flags);
  } else {
    b.udp(k.ports.src, k.ports.dst);
  }
  return b.payload(100).build();
}

FastPathVerdict send(TcBpfProvider& p, const conn& c, bool reply, uint8_t flags = kTcpAck) {
  std::vector<uint8_t> f = frameOf(c, reply, flags);
  const ctsim_conn_key k = reply ? ctsim_conn_key_rev(&c) : c.key_fwd;
  return p.processFrame(f.data(), uint32_t(f.size()), 1, k, uint32_t(f.size()),
                        c.key_fwd.proto == 6 ? flags : 0);
}

// The names of every BPF program loaded in the kernel.
// The names of the loaded BPF objects of one kind (programs or maps), by walking their ids.
template <typename Info>
std::vector<std::string> bpfNames(int (*next)(uint32_t, uint32_t*), int (*by_id)(uint32_t)) {
  std::vector<std::string> names;
  uint32_t id = 0;
  while (next(id, &id) == 0) {
    int fd = by_id(id);
    if (fd < 0) continue;
    Info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) names.push_back(info.name);
    ::close(fd);
  }
  return names;
}
std::vector<std::string> loadedPrograms() {
  return bpfNames<bpf_prog_info>(bpf_prog_get_next_id, bpf_prog_get_fd_by_id);
}
std::vector<std::string> loadedMaps() {
  return bpfNames<bpf_map_info>(bpf_map_get_next_id, bpf_map_get_fd_by_id);
}

// The network namespaces this process holds descriptors of ("net:[inode]" links in
// /proc/self/fd), besides the one it lives in.
std::set<std::string> heldNamespaces() {
  std::set<std::string> out;
  std::error_code ec;
  auto own = std::filesystem::read_symlink("/proc/self/ns/net", ec).string();
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (target.rfind("net:[", 0) == 0 && target != own) out.insert(target);
  }
  return out;
}

// A packet of an offloaded connection is consumed by the kernel program in both directions; a
// packet of another flow misses and reaches ctsim's software side through the up interface.
TEST(TcBpf, HitsAreConsumedMissesGoUp) {
  TcBpfProvider p = make();
  REQUIRE_BPF(p);
  conn c = makeConn(7000, 17), other = makeConn(7001, 17);
  EXPECT_EQ(send(p, c, false), FastPathVerdict::kMiss);
  ASSERT_EQ(p.connAdd(makeCtx(c)), 0);
  EXPECT_EQ(p.mapEntries(), 2);
  EXPECT_EQ(send(p, c, false), FastPathVerdict::kConsumed);
  EXPECT_EQ(send(p, c, true), FastPathVerdict::kConsumed);
  EXPECT_EQ(send(p, other, false), FastPathVerdict::kMiss);
  FastPathStats st = p.stats();
  EXPECT_EQ(st.hit_packets, 2u);
  EXPECT_EQ(st.miss_packets, 2u);
  EXPECT_EQ(p.softwareReceived(), 2u);  // Exactly the misses.
  p.connDel(makeCtx(c));
  EXPECT_EQ(p.mapEntries(), 0);
  EXPECT_EQ(send(p, c, false), FastPathVerdict::kMiss);
}

// TCP SYN/FIN/RST of an offloaded connection are counted but go up to software.
TEST(TcBpf, TcpControlPacketsGoUp) {
  TcBpfProvider p = make();
  REQUIRE_BPF(p);
  conn c = makeConn(7100, 6);
  ASSERT_EQ(p.connAdd(makeCtx(c)), 0);
  EXPECT_EQ(send(p, c, false, kTcpAck), FastPathVerdict::kConsumed);
  EXPECT_EQ(send(p, c, true, kTcpFin | kTcpAck), FastPathVerdict::kUp);
  EXPECT_EQ(p.stats().up_packets, 1u);
  EXPECT_EQ(p.softwareReceived(), 1u);
}

// conn_update reads the kernel's last-hit stamp: a hit just now gives "now"; never hit gives the
// conn_add time; an unknown connection 0.
TEST(TcBpf, UpdateReadsKernelStamp) {
  TcBpfProvider p = make();
  REQUIRE_BPF(p);
  Registry reg;
  long long now_ms = 9'000'000;
  reg.setClock([](void* a) { return *static_cast<long long*>(a); }, &now_ms);
  ScopedCurrentRegistry cur(&reg);
  conn c = makeConn(7200, 17);
  ASSERT_EQ(p.connAdd(makeCtx(c)), 0);
  now_ms += 5000;
  EXPECT_EQ(p.connUpdate(makeCtx(c)), 9'000'000);  // Never hit: its conn_add time.
  EXPECT_EQ(send(p, c, false), FastPathVerdict::kConsumed);
  long long lu = p.connUpdate(makeCtx(c));
  EXPECT_LE(lu, now_ms);
  EXPECT_GE(lu, now_ms - 100);
  conn unknown = makeConn(7201, 17);
  EXPECT_EQ(p.connUpdate(makeCtx(unknown)), 0);
}

// A full map refuses with ENOSPC; an existing key with EEXIST.
TEST(TcBpf, FullMapIsEnospc) {
  TcBpfProvider p = make("capacity=4");
  REQUIRE_BPF(p);
  conn a = makeConn(7300, 17), b = makeConn(7301, 17), c = makeConn(7302, 17);
  EXPECT_EQ(p.connAdd(makeCtx(a)), 0);
  EXPECT_EQ(p.connAdd(makeCtx(a)), EEXIST);
  EXPECT_EQ(p.connAdd(makeCtx(b)), 0);
  EXPECT_EQ(p.connAdd(makeCtx(c)), ENOSPC);
  EXPECT_EQ(p.mapEntries(), 4);
  p.flush();
  EXPECT_EQ(p.mapEntries(), 0);
}

// Destroying the provider leaves nothing behind: no namespace held (its veths live and die in
// it), no BPF program, no BPF map (nothing is pinned).  The program and maps are looked for by
// name, so a concurrent ctsim elsewhere on the machine would make this fail.
TEST(TcBpf, LeavesNothingBehind) {
  auto ours = [](const std::vector<std::string>& names) {
    size_t n = 0;
    for (const std::string& x : names) {
      n += x == "ctsim_fastpath" || x == "ctsim_flows" || x == "ctsim_last" || x == "ctsim_cfg";
    }
    return n;
  };
  std::set<std::string> before = heldNamespaces();
  {
    TcBpfProvider p = make();
    REQUIRE_BPF(p);
    EXPECT_GE(ours(loadedPrograms()), 1u);
    EXPECT_GE(ours(loadedMaps()), 3u);
    EXPECT_GT(heldNamespaces().size(), before.size());
  }
  EXPECT_EQ(heldNamespaces(), before);
  // Namespace teardown is asynchronous in the kernel: allow it a moment.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; i++) {
    gone = ours(loadedPrograms()) == 0 && ours(loadedMaps()) == 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

// Bad options are EINVAL naming the option.
TEST(TcBpf, BadOptions) {
  auto bad = [](const char* text) { return parseConfig(parseProviderSpec(text).value()).status(); };
  EXPECT_EQ(bad("tc-bpf:capacity=1").code(), EINVAL);
  EXPECT_EQ(bad("tc-bpf:bogus=1").code(), EINVAL);
  EXPECT_TRUE(bad("tc-bpf:capacity=8,can_offload=false").ok());
}

}  // namespace
}  // namespace ctsim::tc_bpf
