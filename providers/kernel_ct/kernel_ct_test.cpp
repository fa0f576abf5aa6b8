#include "providers/kernel_ct/kernel_ct.h"

#include <gtest/gtest.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "providers/builtin.h"
#include "providers/conn.h"
#include "providers/test_util.h"

namespace ctsim::kernel_ct {
namespace {

using testing::makeConn;

// Skips the test with the one reason the kernel cannot be used here.
#define REQUIRE_KERNEL(p)                                                   \
  do {                                                                      \
    Status st_ = (p).start();                                               \
    if (!st_.ok()) GTEST_SKIP() << "kernel unavailable: " << st_.message(); \
  } while (0)

KernelCtProvider make(const std::string& opts = "") {
  auto spec = parseProviderSpec(opts.empty() ? "kernel-ct" : "kernel-ct:" + opts);
  return KernelCtProvider(parseConfig(spec.value()).value());
}

// An IPv4 connection with a distinct source address per index (for bulk tests).
conn bulkConn(uint32_t i, uint8_t proto = 17) {
  conn c = makeConn(uint16_t(1024 + i % 60000), proto);
  c.key_fwd.src[1] = uint8_t(i >> 16);
  c.key_fwd.src[2] = uint8_t(i >> 8);
  c.key_fwd.src[3] = uint8_t(i);
  return c;
}

// conn_add creates a kernel entry with the connection's tuples and timeout; conn_del removes it.
TEST(KernelCt, AddCreatesAndDelDeletes) {
  KernelCtProvider p = make("timeout=300");
  REQUIRE_KERNEL(p);
  conn c = makeConn(4000);
  ct_offload_ctx ctx = makeCtx(c);
  ASSERT_EQ(p.connAdd(ctx), 0);
  EXPECT_EQ(p.kernelCount(), 1);
  long left = p.remainingTimeout(c.key_fwd);
  EXPECT_GE(left, 298);
  EXPECT_LE(left, 300);
  EXPECT_EQ(p.connAdd(ctx), EEXIST);  // The same tuple again.
  p.connDel(ctx);
  EXPECT_EQ(p.kernelCount(), 0);
  EXPECT_EQ(p.remainingTimeout(c.key_fwd), -1);
}

// Every protocol family the engine produces is accepted by the kernel (UDP, ICMP echo, IPv6
// TCP, a generic protocol).
TEST(KernelCt, ProtocolsAndIpv6) {
  KernelCtProvider p = make();
  REQUIRE_KERNEL(p);
  conn udp = makeConn(5000, 17);
  conn icmp = makeConn(0, 1);
  icmp.key_fwd.icmp = {7, 8, 0};
  icmp.state = CTSIM_CS_ICMP_FIRST;
  conn gre = makeConn(0, 47);
  gre.key_fwd.ports = {0, 0};
  conn v6 = makeConn(6000, 6);
  for (conn* c : {&v6}) {
    c->key_fwd.af = CTSIM_AF_INET6;
    uint8_t a[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    uint8_t b[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(c->key_fwd.src, a, 16);
    std::memcpy(c->key_fwd.dst, b, 16);
  }
  for (conn* c : {&udp, &icmp, &gre, &v6}) {
    EXPECT_EQ(p.connAdd(makeCtx(*c)), 0) << int(c->key_fwd.proto);
  }
  EXPECT_EQ(p.kernelCount(), 4);
  p.flush();
  EXPECT_EQ(p.kernelCount(), 0);
}

// conn_update derives last-used from the remaining timeout: right after conn_add it is "now";
// an entry the kernel no longer has answers 0.
TEST(KernelCt, UpdateFromRemainingTimeout) {
  KernelCtProvider p = make("timeout=100");
  REQUIRE_KERNEL(p);
  Registry reg;
  long long now_ms = 5'000'000;
  reg.setClock([](void* a) { return *static_cast<long long*>(a); }, &now_ms);
  ScopedCurrentRegistry cur(&reg);
  conn c = makeConn(4100);
  ASSERT_EQ(p.connAdd(makeCtx(c)), 0);
  long long lu = p.connUpdate(makeCtx(c));
  EXPECT_LE(lu, now_ms);
  EXPECT_GE(lu, now_ms - 1000);            // 1 s resolution.
  p.flush();                               // The kernel forgets it...
  EXPECT_EQ(p.connUpdate(makeCtx(c)), 0);  // ...and so does conn_update.
}

// conn_established moves the kernel entry to ESTABLISHED with ASSURED set.
TEST(KernelCt, EstablishedUpdatesStateAndStatus) {
  KernelCtProvider p = make();
  REQUIRE_KERNEL(p);
  conn c = makeConn(4200);
  ASSERT_EQ(p.connAdd(makeCtx(c)), 0);
  p.connEstablished(makeCtx(c));
  EXPECT_EQ(p.stats().update.errors, 0u);
  EXPECT_EQ(p.stats().update.calls, 1u);
}

// The provider's capacity option refuses with ENOSPC once reached.
TEST(KernelCt, CapacityIsEnospc) {
  KernelCtProvider p = make("capacity=2");
  REQUIRE_KERNEL(p);
  conn a = bulkConn(1), b = bulkConn(2), c = bulkConn(3);
  EXPECT_EQ(p.connAdd(makeCtx(a)), 0);
  EXPECT_EQ(p.connAdd(makeCtx(b)), 0);
  EXPECT_EQ(p.connAdd(makeCtx(c)), ENOSPC);
  EXPECT_EQ(p.stats().failures.at("full"), 1u);
}

// A full kernel table (nf_conntrack_max entries in the namespace) is ENOSPC; batched creates
// fill it quickly, and the measured rates are printed.
TEST(KernelCt, KernelTableFullIsEnospcAndBatchRate) {
  KernelCtProvider p = make("batch=true");
  REQUIRE_KERNEL(p);
  uint64_t max = p.stats().kernel_max;
  ASSERT_GT(max, 0u);
  if (max > 300000) GTEST_SKIP() << "nf_conntrack_max " << max << " is too large to fill here";
  std::vector<conn> conns(max + 1);
  for (uint32_t i = 0; i < conns.size(); i++) conns[i] = bulkConn(i);
  std::vector<ct_offload_op> ops(conns.size());
  for (size_t i = 0; i < conns.size(); i++) {
    ops[i].type = CT_OFFLOAD_OP_ADD;
    ops[i].ctx = makeCtx(conns[i]);
  }
  ct_offload_op_batch b{ops.data(), ops.size(), ops.size()};
  auto t0 = std::chrono::steady_clock::now();
  p.batchSubmit(b);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t i = 0; i < max; i++) ASSERT_EQ(ops[i].error, 0) << i;
  EXPECT_EQ(ops[max].error, ENOSPC);
  EXPECT_EQ(p.kernelCount(), long(max));
  std::printf("kernel-ct: %llu batched creates in %.3f s: %.0f/s\n", (unsigned long long)max, s,
              double(max) / s);
  // Deletes of a few thousand one at a time, for the per-op rate.
  const size_t n = 5000;
  t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; i++) p.connDel(makeCtx(conns[i]));
  s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("kernel-ct: %zu single deletes: %.0f/s\n", n, double(n) / s);
  t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; i++) ASSERT_EQ(p.connAdd(makeCtx(conns[i])), 0);
  s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("kernel-ct: %zu single creates: %.0f/s\n%s", n, double(n) / s,
              p.stats().text().c_str());
  p.flush();
  EXPECT_EQ(p.kernelCount(), 0);
}

// Through the registry: the provider registers, answers calls, and its namespace goes away
// with it (nothing to clean up by hand).
TEST(KernelCt, RegistersAsBuiltin) {
  if (!kern::namespaceUnavailableReason().empty()) {
    GTEST_SKIP() << "kernel unavailable: " << kern::namespaceUnavailableReason();
  }
  Registry reg(Profile::kStrict);
  ASSERT_TRUE(addBuiltinProvider(reg, "kernel-ct:timeout=60").ok());
  conn c = makeConn(4300);
  EXPECT_EQ(reg.connAdd(makeCtx(c)), 0);
  reg.connDel(makeCtx(c));
  reg.flush();
}

// Unknown options and bad values are EINVAL naming the option.
TEST(KernelCt, BadOptions) {
  auto bad = [](const char* text) { return parseConfig(parseProviderSpec(text).value()).status(); };
  EXPECT_EQ(bad("kernel-ct:timeout=0").code(), EINVAL);
  EXPECT_EQ(bad("kernel-ct:capacity=x").code(), EINVAL);
  EXPECT_EQ(bad("kernel-ct:bogus=1").code(), EINVAL);
  EXPECT_TRUE(bad("kernel-ct:timeout=5,capacity=3,batch=true").ok());
}

}  // namespace
}  // namespace ctsim::kernel_ct
