// The dpdk provider against the emu-hw behaviour where their capabilities overlap (capacity,
// hits, policy, aging, last-used, flush, delete), plus what is its own: cuckoo bucket limits,
// rte_flow refusal and fallback.  Driven through a Registry; trace time set explicitly.  Every
// test skips with the EAL's reason where the EAL cannot start.
#include "providers/dpdk/dpdk_provider.h"

#include <gtest/gtest.h>
#include <rte_dev.h>
#include <rte_ethdev.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "providers/builtin.h"
#include "providers/conn.h"
#include "providers/dpdk/eal.h"
#include "providers/fast_path.h"
#include "providers/test_util.h"

namespace ctsim::dpdk {
namespace {

using ctsim::testing::makeConn;

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;
constexpr int64_t kT0 = 1000 * kSec;  // A trace start away from 0.

// A quiet registry with one dpdk provider made from 'options' ("" for defaults).
struct Bed {
  explicit Bed(const std::string& options) : reg(Profile::kRfcV1), scope(&reg) {
    reg.setLogSink(nullptr, nullptr);
    auto spec = parseProviderSpec(options.empty() ? "dpdk" : "dpdk:" + options);
    EXPECT_TRUE(spec.ok()) << spec.status().toString();
    auto p = makeBuiltinProvider(spec.value());
    EXPECT_TRUE(p.ok()) << p.status().toString();
    hw = dynamic_cast<DpdkProvider*>(p.value().get());
    started = hw->start();
    EXPECT_EQ(reg.registerProvider(std::move(p).value(), kOriginBuiltin), 0);
  }
  int add(const conn& c) { return reg.connAdd(makeCtx(c)); }
  void del(const conn& c) { reg.connDel(makeCtx(c)); }
  long long update(const conn& c) { return reg.connUpdate(makeCtx(c)); }
  FastPathVerdict pkt(const conn& c, bool reply = false, uint8_t flags = kTcpAck,
                      uint32_t bytes = 100) {
    return hw->process(reply ? ctsim_conn_key_rev(&c) : c.key_fwd, bytes, flags);
  }

  Registry reg;                 // rfc-v1 registry, warnings silenced (counted).
  ScopedCurrentRegistry scope;  // Makes 'reg' current for the test.
  DpdkProvider* hw = nullptr;   // The provider under test (owned by reg).
  Status started;               // hw->start(): the EAL and table.
};

#define SKIP_WITHOUT_EAL(bed) \
  if (!(bed).started.ok()) GTEST_SKIP() << "EAL cannot start here: " << (bed).started.message()

std::vector<conn> conns(int n, uint8_t proto = 6) {
  std::vector<conn> v;
  for (int i = 0; i < n; i++) v.push_back(makeConn(static_cast<uint16_t>(1000 + i), proto));
  return v;
}

uint64_t failures(const FastPathStats& s, const char* cause) {
  auto it = s.failures.find(cause);
  return it == s.failures.end() ? 0 : it->second;
}

uint64_t counter(const FastPathStats& s, const char* name) {
  auto it = s.counters.find(name);
  return it == s.counters.end() ? 0 : it->second;
}

// ---- Capacity ----------------------------------------------------------------------------------

// Capacity counts rte_hash keys, two per connection: the fifth connection of an 8-key table is
// refused with ENOSPC, counted, and left unmarked; a deletion frees its keys.
TEST(DpdkCapacity, FullIsEnospcAndConnectionRefused) {
  Bed b("capacity=8");
  SKIP_WITHOUT_EAL(b);
  b.hw->setNow(kT0);
  auto cs = conns(10);
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(b.add(cs[i]), i < 4 ? 0 : ENOSPC) << i;
    EXPECT_EQ(ct_offload_conn_is_offloaded(&cs[i]), i < 4) << i;
  }
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.capacity, 8u);
  EXPECT_EQ(s.entries, 8u);
  EXPECT_EQ(s.entries_peak, 8u);
  EXPECT_EQ(failures(s, "full") + failures(s, "bucket_full"), 6u);
  b.del(cs[0]);
  EXPECT_EQ(b.hw->stats().entries, 6u);
  EXPECT_EQ(b.add(cs[4]), 0);
}

// Under random adds, deletes, packets and aging the table never holds more keys than its
// capacity, and refusals happen.
TEST(DpdkCapacity, NeverExceededUnderRandomLoad) {
  const uint64_t seed = 20260518;
  SCOPED_TRACE("test seed " + std::to_string(seed));
  Bed b("capacity=64,aging=20ms,aging_scan=1ms,insert_latency=1ms");
  SKIP_WITHOUT_EAL(b);
  std::mt19937_64 rng(seed);
  auto cs = conns(128);
  std::vector<bool> added(cs.size());
  int64_t t = kT0;
  uint64_t ok = 0, refused = 0;
  for (int step = 0; step < 5000; step++) {
    t += static_cast<int64_t>(rng() % (200 * 1000));
    b.hw->setNow(t);
    size_t i = rng() % cs.size();
    if (!added[i]) {
      int err = b.add(cs[i]);
      added[i] = err == 0;
      ok += err == 0;
      refused += err == ENOSPC;
    } else if (rng() % 3 == 0) {
      b.del(cs[i]);
      added[i] = false;
    } else {
      b.pkt(cs[i]);
    }
    ASSERT_LE(b.hw->stats().entries, 64u) << "step " << step;
  }
  FastPathStats s = b.hw->stats();
  EXPECT_GT(ok, 100u);
  EXPECT_GT(refused, 0u);
  EXPECT_GT(counter(s, "aged"), 0u);
}

// Without the extendable bucket table a cuckoo table refuses inserts before every key slot is
// used, as hardware buckets do; the first refusal comes near full load, never at low load.
TEST(DpdkCapacity, CuckooRefusesNearFullLoad) {
  Bed b("capacity=4096");
  SKIP_WITHOUT_EAL(b);
  b.hw->setNow(kT0);
  std::mt19937_64 rng(7);
  std::vector<conn> cs(2048);
  uint64_t first_refusal_load = 0;
  for (size_t i = 0; i < cs.size(); i++) {
    cs[i] = makeConn(static_cast<uint16_t>(rng()), 6);
    cs[i].key_fwd.src[3] = static_cast<uint8_t>(rng());
    cs[i].key_fwd.dst[2] = static_cast<uint8_t>(i);
    cs[i].key_fwd.dst[1] = static_cast<uint8_t>(i >> 8);
    if (b.add(cs[i]) == ENOSPC && first_refusal_load == 0) {
      first_refusal_load = b.hw->stats().entries;
    }
  }
  FastPathStats s = b.hw->stats();
  RecordProperty("first_refusal_keys", std::to_string(first_refusal_load));
  RecordProperty("bucket_full", std::to_string(failures(s, "bucket_full")));
  EXPECT_LE(s.entries, 4096u);
  // Measured with DPDK 22.11's CRC hash: the first refusal at 4050 of 4096 keys.
  EXPECT_GT(first_refusal_load, 4096u * 9 / 10) << "refused below 90% load";
  EXPECT_LT(first_refusal_load, 4096u) << "no bucket refusal before the table was full";
  EXPECT_GT(failures(s, "bucket_full"), 0u);
}

// ---- Latency -----------------------------------------------------------------------------------

// Zero latency (the default) is a real table write: the entry matches the next packet.
TEST(DpdkLatency, ZeroLatencyIsImmediate) {
  Bed b("");
  SKIP_WITHOUT_EAL(b);
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);
  FastPathStats s = b.hw->stats();
  ASSERT_EQ(s.offload_latency.size(), 1u);
  EXPECT_EQ(s.offload_latency[0].active_ns, kT0);
}

// With insert_latency the entry is active exactly at request + latency: a miss before.
TEST(DpdkLatency, ActiveExactlyAtRequestPlusLatency) {
  Bed b("insert_latency=5ms");
  SKIP_WITHOUT_EAL(b);
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  b.hw->setNow(kT0 + 5 * kMs - 1);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kMiss);
  EXPECT_EQ(b.update(c), 0);
  b.hw->setNow(kT0 + 5 * kMs);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->active_ns, kT0 + 5 * kMs);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.miss_pending_packets, 1u);
  EXPECT_EQ(s.hit_packets, 1u);
}

// ---- Aging and last-used -----------------------------------------------------------------------

// The aging walk removes an entry idle for the aging time; conn_update then answers 0.
TEST(DpdkAging, IdleEntriesAgeOutAndUpdateReturnsZero) {
  Bed b("aging=2s");
  SKIP_WITHOUT_EAL(b);
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  b.hw->setNow(kT0 + kSec);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);  // last-used = T0 + 1 s.
  b.hw->setNow(kT0 + 3 * kSec - 1);
  EXPECT_NE(b.update(c), 0);
  b.hw->setNow(kT0 + 3 * kSec);
  EXPECT_FALSE(b.hw->entry(c.key_fwd).has_value());
  EXPECT_FALSE(b.hw->entry(ctsim_conn_key_rev(&c)).has_value());
  EXPECT_EQ(b.update(c), 0);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kMiss);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(counter(s, "aged"), 1u);
  EXPECT_GT(counter(s, "aging_walks"), 0u);
  EXPECT_EQ(s.entries, 0u);
  b.del(c);  // The engine's later conn_del is harmless.
  EXPECT_EQ(b.hw->stats().entries, 0u);
}

// conn_update reports last-used in ms since the epoch, rounded down to the granularity.
TEST(DpdkAging, LastUsedGranularity) {
  Bed coarse("granularity=1s"), fine("");
  SKIP_WITHOUT_EAL(fine);
  conn c = makeConn();
  for (Bed* b : {&coarse, &fine}) {
    b->hw->setNow(kT0);
    ScopedCurrentRegistry cur(&b->reg);
    ASSERT_EQ(b->add(c), 0);
    b->hw->setNow(kT0 + 5700 * kMs);
    b->pkt(c);
  }
  {
    ScopedCurrentRegistry cur(&coarse.reg);
    EXPECT_EQ(coarse.update(c), (kT0 + 5 * kSec) / kMs);
  }
  EXPECT_EQ(fine.update(c), (kT0 + 5700 * kMs) / kMs);
}

// Hits in either direction refresh last-used and count on the entry; an entry without hits
// keeps its activation time.
TEST(DpdkAging, HitsRefreshLastUsed) {
  Bed b("");
  SKIP_WITHOUT_EAL(b);
  auto cs = conns(2);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(cs[0]), 0);
  ASSERT_EQ(b.add(cs[1]), 0);
  b.hw->setNow(kT0 + 7 * kSec);
  EXPECT_EQ(b.pkt(cs[0], true), FastPathVerdict::kConsumed);
  b.hw->setNow(kT0 + 9 * kSec);
  EXPECT_EQ(b.update(cs[0]), (kT0 + 7 * kSec) / kMs);
  EXPECT_EQ(b.update(cs[1]), kT0 / kMs);
  auto e = b.hw->entry(ctsim_conn_key_rev(&cs[0]));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->packets, 1u);
  EXPECT_EQ(e->bytes, 100u);
}

// Callbacks follow the registry clock when it is ahead of setNow().
TEST(DpdkAging, CallbacksUseTheRegistryClock) {
  Bed b("insert_latency=1ms");
  SKIP_WITHOUT_EAL(b);
  long long now_ms = kT0 / kMs;
  b.reg.setClock([](void* arg) { return *static_cast<long long*>(arg); }, &now_ms);
  conn c = makeConn();
  ASSERT_EQ(b.add(c), 0);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->request_ns, kT0);
  now_ms += 1;
  EXPECT_NE(b.update(c), 0);
}

// ---- Packet policy -----------------------------------------------------------------------------

// TCP SYN, FIN and RST hits are counted but go up; other hits are consumed; reply keys match.
TEST(DpdkPolicy, TcpControlPacketsGoUp) {
  Bed b("");
  SKIP_WITHOUT_EAL(b);
  conn c = makeConn();
  conn u = makeConn(2000, 17);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  ASSERT_EQ(b.add(u), 0);
  EXPECT_EQ(b.pkt(c, false, kTcpSyn), FastPathVerdict::kUp);
  EXPECT_EQ(b.pkt(c, true, kTcpSyn | kTcpAck), FastPathVerdict::kUp);
  EXPECT_EQ(b.pkt(c, false, kTcpFin | kTcpAck), FastPathVerdict::kUp);
  EXPECT_EQ(b.pkt(c, true, kTcpRst), FastPathVerdict::kUp);
  EXPECT_EQ(b.pkt(c, true, kTcpAck), FastPathVerdict::kConsumed);
  EXPECT_EQ(b.pkt(u, false, kTcpSyn), FastPathVerdict::kConsumed);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.hit_packets, 6u);
  EXPECT_EQ(s.up_packets, 4u);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->packets, 5u);
  conn other = makeConn(3000);
  EXPECT_EQ(b.pkt(other), FastPathVerdict::kMiss);
  EXPECT_EQ(b.hw->stats().miss_packets, 1u);
}

// Mirror mode sends every hit up, and still counts it on the entry.
TEST(DpdkPolicy, MirrorSendsEverythingUpButCounts) {
  Bed b("mirror=true");
  SKIP_WITHOUT_EAL(b);
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  for (int i = 0; i < 3; i++) EXPECT_EQ(b.pkt(c, i % 2, kTcpAck, 60), FastPathVerdict::kUp);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->packets, 3u);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->bytes, 180u);
  EXPECT_EQ(b.hw->stats().up_bytes, 180u);
}

// A key already in the table is refused with EEXIST (e.g. the §5.1 duplicate connection).
TEST(DpdkPolicy, DuplicateKeyIsEexist) {
  Bed b("");
  SKIP_WITHOUT_EAL(b);
  conn c1 = makeConn(), c2 = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c1), 0);
  EXPECT_EQ(b.add(c2), EEXIST);
  EXPECT_EQ(failures(b.hw->stats(), "exists"), 1u);
}

// conn_del removes both keys at once; flush empties the table; both leave nothing matching.
TEST(DpdkPolicy, DelRemovesAndFlushEmpties) {
  Bed b("");
  SKIP_WITHOUT_EAL(b);
  auto cs = conns(3);
  b.hw->setNow(kT0);
  for (const conn& c : cs) ASSERT_EQ(b.add(c), 0);
  EXPECT_EQ(b.hw->stats().entries, 6u);
  b.del(cs[0]);
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kMiss);
  EXPECT_EQ(b.pkt(cs[0], true), FastPathVerdict::kMiss);
  EXPECT_EQ(b.pkt(cs[1]), FastPathVerdict::kConsumed);
  EXPECT_EQ(b.hw->stats().entries, 4u);
  b.reg.flush();
  EXPECT_EQ(b.pkt(cs[1]), FastPathVerdict::kMiss);
  EXPECT_EQ(b.pkt(cs[2], true), FastPathVerdict::kMiss);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(b.add(cs[1]), 0);  // The flushed connection can come back.
}

// ---- rte_flow ----------------------------------------------------------------------------------

// A port that does not exist refuses: a clear error naming it, one registry warning, counted,
// and the connection works from the software table.
TEST(DpdkFlow, MissingPortFallsBackToTheTable) {
  Bed b("port=31");  // A valid port number (RTE_MAX_ETHPORTS 32) with no device.
  SKIP_WITHOUT_EAL(b);
  auto cs = conns(2);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(cs[0]), 0);
  ASSERT_EQ(b.add(cs[1]), 0);
  const std::string err = b.hw->flowError();
  EXPECT_NE(err.find("port 31: no such DPDK port"), std::string::npos) << err;
  EXPECT_NE(err.find("software table"), std::string::npos) << err;
  EXPECT_EQ(b.reg.warnings(), 1u);  // Reported once.
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(failures(s, "flow_refused"), 2u);
  EXPECT_EQ(counter(s, "flow_fallback"), 2u);
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kConsumed);
  EXPECT_FALSE(b.hw->entry(cs[0].key_fwd)->flows_on_port);
}

// A real port without rte_flow support (net_pcap) refuses at rte_flow_validate; the error
// carries the rte_flow_error text and the connection stays in the table.
TEST(DpdkFlow, PortWithoutFlowSupportRefusesWithRteFlowError) {
  Status eal = ensureEal();
  if (!ealUsable(eal)) GTEST_SKIP() << "EAL cannot start here: " << eal.message();
  const std::string pcap = std::string(CTSIM_SOURCE_DIR) + "/traces/bundled/mixed-small.pcap";
  ASSERT_EQ(rte_eal_hotplug_add("vdev", "net_pcap_flowtest", ("rx_pcap=" + pcap).c_str()), 0);
  uint16_t port = 0;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_pcap_flowtest", &port), 0);
  {
    Bed b("port=" + std::to_string(port));
    ASSERT_TRUE(b.started.ok()) << b.started.message();
    conn c = makeConn();
    b.hw->setNow(kT0);
    ASSERT_EQ(b.add(c), 0);
    const std::string err = b.hw->flowError();
    EXPECT_NE(err.find("port " + std::to_string(port) +
                       " refused the rule for proto 6 "
                       "10.0.0.1:1000 -> 10.0.0.2:80: rte_flow_validate: "),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("rte_flow_error type"), std::string::npos) << err;
    EXPECT_EQ(failures(b.hw->stats(), "flow_refused"), 1u);
    EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);
  }
  rte_eth_dev_close(port);
  rte_eal_hotplug_remove("vdev", "net_pcap_flowtest");
}

// ---- Configuration and listing -----------------------------------------------------------------

// Bad options are EINVAL with a message naming the option; nothing is registered.
TEST(DpdkConfig, BadOptionsAreEinvalWithAClearMessage) {
  const std::pair<const char*, const char*> cases[] = {
      {"colour=red", "unknown option 'colour'"},
      {"capacity=4", "at least 8"},
      {"capacity=x", "capacity"},
      {"aging=10", "aging"},
      {"aging_scan=0s", "must be positive"},
      {"granularity=1500us", "whole number of milliseconds"},
      {"mirror=maybe", "mirror"},
      {"port=100000", "port"},
  };
  for (const auto& [opt, msg] : cases) {
    Registry r;
    Status s = addBuiltinProvider(r, std::string("dpdk:") + opt);
    EXPECT_EQ(s.code(), EINVAL) << opt;
    EXPECT_NE(s.message().find(msg), std::string::npos) << opt << ": " << s.message();
    EXPECT_EQ(r.size(), 0u);
  }
}

// The built-in listing registers dpdk (a fast path) without starting the EAL.
TEST(DpdkConfig, ListedWithoutStartingEal) {
  if (ealRunning()) GTEST_SKIP() << "an earlier test of this process started the EAL";
  Registry r(Profile::kStrict);
  ASSERT_TRUE(registerBuiltinProviders(r).ok());
  bool found = false;
  for (Provider* p : r.providerObjects()) {
    if (std::string(p->name()) == "dpdk") found = fastPathOf(*p) != nullptr;
  }
  EXPECT_TRUE(found);
  EXPECT_FALSE(ealRunning());
}

}  // namespace
}  // namespace ctsim::dpdk
