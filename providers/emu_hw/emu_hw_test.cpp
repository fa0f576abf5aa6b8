// The emu-hw provider and its fast path, driven through a Registry (the ABI path) with
// connections built as the engine builds them; trace time is set explicitly, never read.
#include "providers/emu_hw/emu_hw.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include "providers/builtin.h"
#include "providers/conn.h"
#include "providers/emu_hw/offload_log.h"
#include "providers/emu_hw/open_table.h"
#include "providers/fast_path.h"
#include "providers/test_util.h"

namespace ctsim::emu_hw {
namespace {

using ctsim::testing::makeConn;

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;
constexpr int64_t kT0 = 1000 * kSec;  // A trace start away from 0.

// A quiet registry with one emu-hw made from 'options' ("" for defaults).
struct Bed {
  explicit Bed(const std::string& options, Profile profile = Profile::kRfcV1)
      : reg(profile), scope(&reg) {
    reg.setLogSink(nullptr, nullptr);
    auto spec = parseProviderSpec(options.empty() ? "emu-hw" : "emu-hw:" + options);
    EXPECT_TRUE(spec.ok()) << spec.status().toString();
    auto p = makeBuiltinProvider(spec.value());
    EXPECT_TRUE(p.ok()) << p.status().toString();
    hw = dynamic_cast<EmuHwProvider*>(p.value().get());
    EXPECT_EQ(reg.registerProvider(std::move(p).value(), kOriginBuiltin), 0);
  }
  int add(const conn& c) { return reg.connAdd(makeCtx(c)); }
  void del(const conn& c) { reg.connDel(makeCtx(c)); }
  long long update(const conn& c) { return reg.connUpdate(makeCtx(c)); }
  void est(const conn& c) { reg.connEstablished(makeCtx(c)); }
  // One packet of 'c' in the forward (or reverse) direction.
  FastPathVerdict pkt(const conn& c, bool reply = false, uint8_t flags = kTcpAck,
                      uint32_t bytes = 100) {
    return hw->process(reply ? ctsim_conn_key_rev(&c) : c.key_fwd, bytes, flags);
  }

  Registry reg;
  ScopedCurrentRegistry scope;
  EmuHwProvider* hw = nullptr;
};

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

std::string writeTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// ---- Capacity ----------------------------------------------------------------------------------

// A full table refuses with ENOSPC, counts it, and the registry leaves the connection unmarked.
TEST(EmuHwCapacity, FullIsEnospcAndConnectionRefused) {
  Bed b("capacity=4,insert_latency=10ms");
  b.hw->setNow(kT0);
  auto cs = conns(10);
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(b.add(cs[i]), i < 4 ? 0 : ENOSPC) << i;
    EXPECT_EQ(ct_offload_conn_is_offloaded(&cs[i]), i < 4) << i;
  }
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.entries, 4u);  // All still pending: pending insertions hold slots.
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.entries_peak, 4u);
  EXPECT_EQ(failures(s, "full"), 6u);
  // A completed deletion frees a slot.
  b.del(cs[0]);
  EXPECT_EQ(b.add(cs[4]), 0);
}

// Under random adds, deletes and time steps the table never holds more than its capacity.
TEST(EmuHwCapacity, NeverExceededUnderRandomLoad) {
  const uint64_t seed = 20260518;
  SCOPED_TRACE("test seed " + std::to_string(seed));
  Bed b(
      "capacity=16,insert_latency=uniform:0:3ms,delete_latency=uniform:0:5ms,rate=5000,"
      "queue=8,del_fail=0.1,del_fail_kind=permanent,aging=20ms,add_stuck=0.05");
  std::mt19937_64 rng(seed);
  auto cs = conns(64);
  std::vector<bool> added(cs.size());
  int64_t t = kT0;
  uint64_t ok = 0;
  for (int step = 0; step < 5000; step++) {
    t += static_cast<int64_t>(rng() % (200 * 1000));
    b.hw->setNow(t);
    size_t i = rng() % cs.size();
    if (!added[i]) {
      int err = b.add(cs[i]);
      added[i] = err == 0;
      ok += err == 0;
    } else if (rng() % 3 == 0) {
      b.del(cs[i]);
      added[i] = false;
    } else {
      b.pkt(cs[i]);
    }
    ASSERT_LE(b.hw->stats().entries, 16u) << "step " << step;
  }
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.entries_peak, 16u);
  EXPECT_GT(ok, 100u);
  EXPECT_GT(failures(s, "full"), 0u);
}

// ---- Latency -----------------------------------------------------------------------------------

// With a fixed latency an entry is active exactly at request + latency: a miss before, a hit at.
TEST(EmuHwLatency, ActiveExactlyAtRequestPlusLatency) {
  Bed b("insert_latency=5ms");
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  b.hw->setNow(kT0 + 5 * kMs - 1);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kMiss);
  EXPECT_EQ(b.update(c), 0);  // Pending: unknown to hardware yet.
  b.hw->setNow(kT0 + 5 * kMs);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);
  auto e = b.hw->entry(c.key_fwd);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->request_ns, kT0);
  EXPECT_EQ(e->active_ns, kT0 + 5 * kMs);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.miss_pending_packets, 1u);
  EXPECT_EQ(s.hit_packets, 1u);
  ASSERT_EQ(s.offload_latency.size(), 1u);
  EXPECT_EQ(s.offload_latency[0].request_ns, kT0);
  EXPECT_EQ(s.offload_latency[0].active_ns, kT0 + 5 * kMs);
  EXPECT_EQ(std::memcmp(&s.offload_latency[0].key, &c.key_fwd, sizeof c.key_fwd), 0);
}

// Zero latency: the entry is active for the very next packet at the same time.
TEST(EmuHwLatency, ZeroLatencyIsImmediate) {
  Bed b("");
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);
}

// A rate limit spaces insertions: active at request + queueing + latency.
TEST(EmuHwLatency, RateLimitSpacesCommands) {
  Bed b("rate=1000,insert_latency=2ms");
  auto cs = conns(3);
  b.hw->setNow(kT0);
  for (const conn& c : cs) ASSERT_EQ(b.add(c), 0);
  b.hw->setNow(kT0 + 10 * kMs);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(b.hw->entry(cs[i].key_fwd)->active_ns, kT0 + (i + 2) * kMs) << i;
  }
}

// A deletion frees the slot only after its latency; the entry still matches until then.
TEST(EmuHwLatency, DeletionCompletesAfterLatency) {
  Bed b("capacity=1,delete_latency=3ms");
  auto cs = conns(2);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(cs[0]), 0);
  b.del(cs[0]);
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kConsumed);
  EXPECT_EQ(b.add(cs[1]), ENOSPC);
  b.hw->setNow(kT0 + 3 * kMs);
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kMiss);
  EXPECT_EQ(b.add(cs[1]), 0);
}

// An empirical histogram draws only its values with positive weight.
TEST(EmuHwLatency, HistogramDrawsItsValues) {
  std::string path = writeTemp("emu_hw_hist.csv", "# value,weight\n1ms,1\n3ms,0\n2ms,3\n");
  auto d = Distribution::parse("insert_latency", "hist:" + path, "");
  ASSERT_TRUE(d.ok()) << d.status().toString();
  std::mt19937_64 rng(7);
  int ones = 0, twos = 0;
  for (int i = 0; i < 4000; i++) {
    int64_t v = d.value().draw(rng);
    ASSERT_TRUE(v == kMs || v == 2 * kMs) << v;
    (v == kMs ? ones : twos)++;
  }
  EXPECT_NEAR(twos / 4000.0, 0.75, 0.05);
  // And through the provider option.
  Bed b("insert_latency=hist:" + path);
  EXPECT_EQ(b.hw->config().insert_latency.kind(), Distribution::Kind::kHistogram);
}

// Lognormal draws have the configured median.
TEST(EmuHwLatency, LognormalHasItsMedian) {
  auto d = Distribution::parse("x", "lognormal:100us:0.5", "");
  ASSERT_TRUE(d.ok());
  std::mt19937_64 rng(3);
  std::vector<int64_t> v;
  for (int i = 0; i < 10001; i++) v.push_back(d.value().draw(rng));
  std::nth_element(v.begin(), v.begin() + 5000, v.end());
  EXPECT_NEAR(static_cast<double>(v[5000]), 100e3, 5e3);
}

// ---- Reproducibility ---------------------------------------------------------------------------

// Outcomes (errors, activation times) of one scripted run with a given seed.
std::vector<int64_t> scriptedRun(uint64_t seed) {
  Bed b("seed=" + std::to_string(seed) +
        ",insert_latency=uniform:1us:900us,add_fail=0.3,add_stuck=0.1,rate=100000,queue=4");
  auto cs = conns(200);
  std::vector<int64_t> out;
  int64_t t = kT0;
  for (const conn& c : cs) {
    b.hw->setNow(t += 3000);
    out.push_back(b.add(c));
  }
  b.hw->setNow(t + kSec);
  for (const conn& c : cs) {
    auto e = b.hw->entry(c.key_fwd);
    out.push_back(e ? e->active_ns : -2);
  }
  return out;
}

// The same seed gives the same run; another seed a different one.
TEST(EmuHwSeed, SameSeedSameRunDifferentSeedDifferentRun) {
  auto a = scriptedRun(42), b = scriptedRun(42), c = scriptedRun(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  Bed bed("seed=42");
  EXPECT_NE(bed.hw->stats().config.find("seed=42"), std::string::npos);
}

// ---- Rate limit --------------------------------------------------------------------------------

// Commands beyond the queue depth get EBUSY (counted); the queue drains as time passes.
TEST(EmuHwRate, QueueOverflowIsEbusy) {
  Bed b("rate=1000,queue=2");
  auto cs = conns(5);
  b.hw->setNow(kT0);
  EXPECT_EQ(b.add(cs[0]), 0);  // Issued at once.
  EXPECT_EQ(b.add(cs[1]), 0);  // Waits 1 ms.
  EXPECT_EQ(b.add(cs[2]), 0);  // Waits 2 ms.
  EXPECT_EQ(b.add(cs[3]), EBUSY);
  EXPECT_FALSE(ct_offload_conn_is_offloaded(&cs[3]));
  EXPECT_EQ(failures(b.hw->stats(), "busy"), 1u);
  b.hw->setNow(kT0 + 1 * kMs);
  EXPECT_EQ(b.add(cs[3]), 0);
  EXPECT_EQ(b.add(cs[4]), EBUSY);
}

// ---- Aging and last-used -----------------------------------------------------------------------

// Hardware removes an entry idle for the aging time; conn_update then answers 0.
TEST(EmuHwAging, IdleEntriesAgeOutAndUpdateReturnsZero) {
  Bed b("aging=2s");
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  b.hw->setNow(kT0 + kSec);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kConsumed);  // last-used = T0 + 1 s.
  b.hw->setNow(kT0 + 3 * kSec - 1);
  EXPECT_NE(b.update(c), 0);
  b.hw->setNow(kT0 + 3 * kSec);
  EXPECT_FALSE(b.hw->entry(c.key_fwd).has_value());
  EXPECT_EQ(b.update(c), 0);
  EXPECT_EQ(b.pkt(c), FastPathVerdict::kMiss);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(counter(s, "aged"), 1u);
  EXPECT_EQ(s.entries, 0u);
  b.del(c);  // The engine's later conn_del is harmless.
  EXPECT_EQ(b.hw->stats().entries, 0u);
}

// conn_update reports last-used in ms since the epoch, rounded down to the granularity.
TEST(EmuHwAging, LastUsedGranularity) {
  Bed coarse("granularity=1s"), fine("");
  conn c = makeConn();
  for (Bed* b : {&coarse, &fine}) {
    b->hw->setNow(kT0);
    ScopedCurrentRegistry cur(&b->reg);
    ASSERT_EQ(b->add(c), 0);
    b->hw->setNow(kT0 + 5700 * kMs);
    b->pkt(c);
  }
  EXPECT_EQ(coarse.update(c), (kT0 + 5 * kSec) / kMs);
  EXPECT_EQ(fine.update(c), (kT0 + 5700 * kMs) / kMs);
}

// Hardware-consumed packets refresh last-used, which is what keeps the software connection
// alive (only through conn_update); a connection without hits keeps its activation time.
TEST(EmuHwAging, HitsRefreshLastUsed) {
  Bed b("");
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
TEST(EmuHwAging, CallbacksUseTheRegistryClock) {
  Bed b("insert_latency=1ms");
  long long now_ms = kT0 / kMs;
  b.reg.setClock([](void* arg) { return *static_cast<long long*>(arg); }, &now_ms);
  conn c = makeConn();
  ASSERT_EQ(b.add(c), 0);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->request_ns, kT0);
  now_ms += 1;
  EXPECT_NE(b.update(c), 0);  // Completed on the callback's clock.
}

// ---- Packet policy -----------------------------------------------------------------------------

// TCP SYN, FIN and RST hits are counted but go up; other hits are consumed; reply keys match.
TEST(EmuHwPolicy, TcpControlPacketsGoUp) {
  Bed b("");
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
  EXPECT_EQ(b.pkt(u, false, kTcpSyn), FastPathVerdict::kConsumed);  // Flags mean nothing for UDP.
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.hit_packets, 6u);
  EXPECT_EQ(s.up_packets, 4u);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->packets, 5u);
}

// Mirror mode sends every hit up, and still counts it on the entry.
TEST(EmuHwPolicy, MirrorSendsEverythingUpButCounts) {
  Bed b("mirror=true");
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  for (int i = 0; i < 3; i++) EXPECT_EQ(b.pkt(c, i % 2, kTcpAck, 60), FastPathVerdict::kUp);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->packets, 3u);
  EXPECT_EQ(b.hw->entry(c.key_fwd)->bytes, 180u);
  EXPECT_EQ(b.hw->stats().up_bytes, 180u);
}

// program_at=tcp-est: TCP is inserted at conn_established, UDP at conn_add.
TEST(EmuHwPolicy, TcpProgrammedAfterHandshake) {
  Bed b("program_at=tcp-est,capacity=2,insert_latency=1ms");
  auto tcp = conns(2);
  conn udp = makeConn(3000, 17);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(tcp[0]), 0);
  EXPECT_FALSE(b.hw->entry(tcp[0].key_fwd).has_value());
  ASSERT_EQ(b.add(udp), 0);
  EXPECT_TRUE(b.hw->entry(udp.key_fwd).has_value());
  b.hw->setNow(kT0 + 10 * kMs);
  b.est(tcp[0]);
  EXPECT_EQ(b.hw->entry(tcp[0].key_fwd)->request_ns, kT0 + 10 * kMs);
  // Full at conn_established: counted, the connection stays in software.
  ASSERT_EQ(b.add(tcp[1]), ENOSPC);
  b.del(udp);
  ASSERT_EQ(b.add(tcp[1]), 0);
  conn udp2 = makeConn(3001, 17);
  ASSERT_EQ(b.add(udp2), 0);
  b.est(tcp[1]);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(counter(s, "est_refused"), 1u);
  b.hw->setNow(kT0 + 20 * kMs);
  EXPECT_EQ(b.update(tcp[1]), 0);
  EXPECT_NE(b.update(tcp[0]), 0);
}

// A key already in the table is refused with EEXIST (e.g. the §5.1 duplicate connection).
TEST(EmuHwPolicy, DuplicateKeyIsEexist) {
  Bed b("");
  conn c1 = makeConn(), c2 = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c1), 0);
  EXPECT_EQ(b.add(c2), EEXIST);
  EXPECT_EQ(failures(b.hw->stats(), "exists"), 1u);
}

// ---- Failure injection -------------------------------------------------------------------------

// add_fail=1: every insertion fails, transient EAGAIN or permanent EIO (then the key for good).
TEST(EmuHwFailures, AddProbabilityOne) {
  Bed t("add_fail=1"), p("add_fail=1,add_fail_kind=permanent");
  conn c = makeConn();
  t.hw->setNow(kT0);
  p.hw->setNow(kT0);
  {
    ScopedCurrentRegistry cur(&t.reg);
    EXPECT_EQ(t.add(c), EAGAIN);
    EXPECT_EQ(failures(t.hw->stats(), "add_transient"), 1u);
  }
  EXPECT_EQ(p.add(c), EIO);
  EXPECT_EQ(p.add(c), EIO);
  FastPathStats s = p.hw->stats();
  EXPECT_EQ(failures(s, "add_permanent"), 1u);
  EXPECT_EQ(failures(s, "refused_permanent"), 1u);
  EXPECT_EQ(s.entries, 0u);
}

// add_fail_at fails exactly the scheduled insertions.
TEST(EmuHwFailures, AddSchedule) {
  Bed b("add_fail_at=2;4-5");
  auto cs = conns(7);
  b.hw->setNow(kT0);
  std::vector<int> errs;
  for (const conn& c : cs) errs.push_back(b.add(c));
  EXPECT_EQ(errs, (std::vector<int>{0, EAGAIN, 0, EAGAIN, EAGAIN, 0, 0}));
}

// A permanently failed delete orphans the entry: it keeps its slot and matches until aged.
TEST(EmuHwFailures, DeletePermanentOrphansUntilAging) {
  Bed b("del_fail_at=1,del_fail_kind=permanent,aging=1s,capacity=1");
  auto cs = conns(2);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(cs[0]), 0);
  b.del(cs[0]);
  EXPECT_TRUE(b.hw->entry(cs[0].key_fwd)->orphaned);
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kConsumed);
  EXPECT_EQ(b.add(cs[1]), ENOSPC);
  b.hw->setNow(kT0 + 3 * kSec);
  EXPECT_EQ(b.add(cs[1]), 0);
  EXPECT_EQ(failures(b.hw->stats(), "del_permanent"), 1u);
}

// A transiently failed delete is retried: the slot frees one more delete latency later.
TEST(EmuHwFailures, DeleteTransientIsRetried) {
  Bed b("del_fail=1,delete_latency=2ms");
  conn c = makeConn();
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(c), 0);
  b.del(c);
  b.hw->setNow(kT0 + 4 * kMs - 1);
  EXPECT_TRUE(b.hw->entry(c.key_fwd).has_value());
  b.hw->setNow(kT0 + 4 * kMs);
  EXPECT_FALSE(b.hw->entry(c.key_fwd).has_value());
}

// Update failures: transient answers 0 once; permanent answers 0 from then on.
TEST(EmuHwFailures, UpdateTransientAndPermanent) {
  Bed t("upd_fail_at=1"), p("upd_fail_at=1,upd_fail_kind=permanent");
  conn c = makeConn();
  for (Bed* b : {&t, &p}) {
    ScopedCurrentRegistry cur(&b->reg);
    b->hw->setNow(kT0);
    ASSERT_EQ(b->add(c), 0);
    EXPECT_EQ(b->update(c), 0);
  }
  {
    ScopedCurrentRegistry cur(&t.reg);
    EXPECT_NE(t.update(c), 0);
  }
  EXPECT_EQ(p.update(c), 0);
  EXPECT_EQ(failures(p.hw->stats(), "upd_permanent"), 1u);
}

// Insertions that never complete hold their slot, never match, and free it on conn_del.
TEST(EmuHwFailures, NeverCompletingEntriesStayInactive) {
  Bed b("add_stuck=1,capacity=1");
  auto cs = conns(2);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(cs[0]), 0);
  b.hw->setNow(kT0 + 3600 * kSec);
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kMiss);
  EXPECT_TRUE(b.hw->entry(cs[0].key_fwd)->stuck);
  EXPECT_EQ(b.update(cs[0]), 0);
  EXPECT_EQ(b.add(cs[1]), ENOSPC);
  b.del(cs[0]);
  EXPECT_EQ(b.add(cs[1]), 0);
  FastPathStats s = b.hw->stats();
  EXPECT_EQ(s.miss_pending_packets, 1u);
  EXPECT_EQ(failures(s, "add_stuck"), 2u);
}

// ---- Batches -----------------------------------------------------------------------------------

// batch_submit sets each op's error per the ABI (called directly, as a registry would).
TEST(EmuHwBatch, PerOpErrors) {
  Bed b("batch=true,capacity=1");
  EXPECT_TRUE(b.hw->callbacks() & bit(Callback::kBatchSubmit));
  b.hw->setNow(kT0);
  auto cs = conns(3);
  ct_offload_op_batch batch;
  ct_offload_op_batch_init(&batch);
  auto ctx0 = makeCtx(cs[0]), ctx1 = makeCtx(cs[1]), ctx2 = makeCtx(cs[2]);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_ADD, &ctx0);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_ADD, &ctx1);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_UPD, &ctx0);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_UPD, &ctx2);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_POLICY, &ctx2);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_EST, &ctx0);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_DEL, &ctx0);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_FLUSH, &ctx0);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_ADD, &ctx2);
  int bogus = 99;
  std::memcpy(&batch.ops[8].type, &bogus, sizeof bogus);
  b.hw->batchSubmit(batch);  // Current registry rfc-v1: UPD without timestamp is ENODATA.
  std::vector<int> errs;
  for (size_t i = 0; i < batch.n_ops; i++) errs.push_back(batch.ops[i].error);
  EXPECT_EQ(errs, (std::vector<int>{0, ENOSPC, 0, ENODATA, 0, 0, 0, 0, EINVAL}));
  ct_offload_op_batch_destroy(&batch);
}

// Through a strict registry, the ADD errors of batch_submit decide which connections are marked.
TEST(EmuHwBatch, StrictRegistryReadsAddErrors) {
  Bed b("batch=true,capacity=1", Profile::kStrict);
  b.hw->setNow(kT0);
  auto cs = conns(2);
  ct_offload_op_batch batch;
  ct_offload_op_batch_init(&batch);
  auto ctx0 = makeCtx(cs[0]), ctx1 = makeCtx(cs[1]);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_ADD, &ctx0);
  ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_ADD, &ctx1);
  b.reg.submit(batch);
  EXPECT_EQ(batch.ops[0].error, 0);
  EXPECT_EQ(batch.ops[1].error, ENOSPC);
  EXPECT_TRUE(ct_offload_conn_is_offloaded(&cs[0]));
  EXPECT_FALSE(ct_offload_conn_is_offloaded(&cs[1]));
  EXPECT_EQ(b.pkt(cs[0]), FastPathVerdict::kConsumed);
  ct_offload_op_batch_destroy(&batch);
}

// ---- Occupancy series --------------------------------------------------------------------------

// Occupancy is sampled at multiples of the interval, after the events due by then.
TEST(EmuHwStats, OccupancySeries) {
  Bed b("sample_interval=1s,insert_latency=500ms");
  auto cs = conns(2);
  b.hw->setNow(kT0);  // Sample at T0 (a multiple of 1 s): empty.
  ASSERT_EQ(b.add(cs[0]), 0);
  b.hw->setNow(kT0 + 1500 * kMs);
  ASSERT_EQ(b.add(cs[1]), 0);
  b.hw->setNow(kT0 + 2 * kSec);
  FastPathStats s = b.hw->stats();
  ASSERT_EQ(s.occupancy.size(), 3u);
  EXPECT_EQ(s.occupancy[0].t_ns, kT0);
  EXPECT_EQ(s.occupancy[0].entries, 0u);
  EXPECT_EQ(s.occupancy[1].entries, 1u);
  EXPECT_EQ(s.occupancy[1].active, 1u);
  EXPECT_EQ(s.occupancy[2].t_ns, kT0 + 2 * kSec);
  EXPECT_EQ(s.occupancy[2].entries, 2u);
  EXPECT_EQ(s.occupancy[2].active, 2u);  // cs[1] completed at exactly T0 + 2 s.
}

// A jump of ten days keeps the idle stretch's first and last samples, not 864,000 of them.
TEST(EmuHwStats, OccupancyLongIdleGapIsSummarised) {
  Bed b("sample_interval=1s");
  auto cs = conns(1);
  b.hw->setNow(kT0);
  ASSERT_EQ(b.add(cs[0]), 0);
  b.hw->setNow(kT0 + 10 * 86400 * kSec);
  FastPathStats s = b.hw->stats();
  ASSERT_EQ(s.occupancy.size(), 3u);  // T0 (before the add), the gap's first and last.
  EXPECT_EQ(s.occupancy[1].t_ns, kT0 + kSec);
  EXPECT_EQ(s.occupancy[2].t_ns, kT0 + 10 * 86400 * kSec);
  EXPECT_EQ(s.occupancy[2].entries, 1u);
  EXPECT_EQ(counter(s, "occupancy_gaps"), 1u);
  // A stretch of exactly the bound is sampled in full.
  b.hw->setNow(kT0 + 10 * 86400 * kSec + FastPathStats::kOccupancyMaxGap * kSec);
  s = b.hw->stats();
  EXPECT_EQ(s.occupancy.size(), 3u + FastPathStats::kOccupancyMaxGap);
  EXPECT_EQ(counter(s, "occupancy_gaps"), 1u);
}

// The replay finds fast paths among the registered providers.
TEST(EmuHwStats, FastPathsOfRegistry) {
  Registry r;
  ASSERT_TRUE(addBuiltinProvider(r, "dummy").ok());
  ASSERT_TRUE(addBuiltinProvider(r, "emu-hw:name=hw1").ok());
  ASSERT_TRUE(addBuiltinProvider(r, "emu-hw:name=hw2,profile=ideal").ok());
  auto fps = fastPathsOf(r);
  ASSERT_EQ(fps.size(), 2u);
  EXPECT_EQ(fastPathOf(*r.providerObjects()[0]), nullptr);
  EXPECT_EQ(fps[0], fastPathOf(*r.providerObjects()[1]));
}

// ---- Configuration -----------------------------------------------------------------------------

// Every shipped profile loads; explicit options override it whatever their order.
TEST(EmuHwConfig, ProfilesLoadAndOptionsOverride) {
  for (const char* name : {"ideal", "mlx5-hws", "mlx5-sws", "tc-flower"}) {
    auto c = parseConfig(parseProviderSpec(std::string("emu-hw:profile=") + name).value());
    EXPECT_TRUE(c.ok()) << name << ": " << c.status().toString();
  }
  auto c = parseConfig(parseProviderSpec("emu-hw:capacity=10,profile=mlx5-hws").value());
  ASSERT_TRUE(c.ok()) << c.status().toString();
  EXPECT_EQ(c.value().capacity, 10u);
  EXPECT_EQ(c.value().rate, 600000);
  EXPECT_EQ(c.value().granularity_ns, kSec);
  EXPECT_EQ(c.value().program_at, ProgramAt::kTcpEst);
  EXPECT_NE(c.value().profile.find("mlx5-hws.conf"), std::string::npos);
  // A profile given as a path, resolving its histogram beside it.
  writeTemp("emu_hw_lat.csv", "10us,1\n");
  std::string path = writeTemp("emu_hw_custom.conf",
                               "capacity = 7  # small\nrate=5\n"
                               "insert_latency=hist:emu_hw_lat.csv\n");
  auto d = parseConfig(parseProviderSpec("emu-hw:profile=" + path).value());
  ASSERT_TRUE(d.ok()) << d.status().toString();
  EXPECT_EQ(d.value().capacity, 7u);
  EXPECT_EQ(d.value().rate, 5);
  EXPECT_EQ(d.value().insert_latency.kind(), Distribution::Kind::kHistogram);
}

// Bad options are EINVAL (missing files ENOENT) with a message naming what is wrong.
TEST(EmuHwConfig, BadOptionsAreEinvalWithAClearMessage) {
  const std::pair<const char*, const char*> cases[] = {
      {"colour=red", "unknown option 'colour'"},
      {"capacity=-1", "capacity"},
      {"program_at=later", "program_at"},
      {"insert_latency=uniform:5ms:1ms", "out of order"},
      {"insert_latency=gauss:1ms", "insert_latency"},
      {"aging=10", "aging: expected a duration"},
      {"add_fail=1.5", "add_fail"},
      {"add_fail_at=0", "add_fail_at"},
      {"del_fail_kind=sometimes", "del_fail_kind"},
      {"granularity=1500us", "whole number of milliseconds"},
      {"insert_latency=lognormal:1ms:-1", "sigma"},
      {"mirror=maybe", "mirror"},
  };
  for (const auto& [opt, msg] : cases) {
    Registry r;
    Status s = addBuiltinProvider(r, std::string("emu-hw:") + opt);
    EXPECT_EQ(s.code(), EINVAL) << opt;
    EXPECT_NE(s.message().find(msg), std::string::npos) << opt << ": " << s.message();
    EXPECT_EQ(r.size(), 0u);
  }
  Registry r;
  Status s = addBuiltinProvider(r, "emu-hw:profile=nosuch");
  EXPECT_EQ(s.code(), ENOENT);
  EXPECT_NE(s.message().find("nosuch"), std::string::npos);
  std::string bad = writeTemp("emu_hw_bad.conf", "capacity=1\nrate\n");
  s = addBuiltinProvider(r, "emu-hw:profile=" + bad);
  EXPECT_EQ(s.code(), EINVAL);
  EXPECT_NE(s.message().find("emu_hw_bad.conf:2"), std::string::npos) << s.message();
}

// ---- Internals ---------------------------------------------------------------------------------

// The compact offload log gives back every sample exactly as pushed, in order: IPv4 keys
// (compact), IPv6 keys, keys with stray bytes beyond an IPv4 address, latencies too long for
// 32 bits and request times far from the previous one (kept whole), interleaved.
TEST(EmuHwOffloadLog, SamplesComeBackExactlyInOrder) {
  const uint64_t seed = 20261203;
  SCOPED_TRACE("test seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  OffloadLog log;
  std::vector<FastPathOffloadSample> pushed;
  int64_t t = kT0;
  for (int i = 0; i < 5000; i++) {
    FastPathOffloadSample s;
    uint8_t raw[sizeof s.key] = {};
    for (uint8_t& b : raw) b = static_cast<uint8_t>(rng());
    switch (rng() % 4) {
      case 0:  // IPv4-shaped: compact.
      case 1:
        std::memset(raw + 4, 0, 12);
        std::memset(raw + 20, 0, 12);
        break;
      case 2:  // One stray byte beyond the first 4 of an address: whole.
        std::memset(raw + 4, 0, 12);
        std::memset(raw + 20, 0, 12);
        raw[4 + rng() % 12 + (rng() % 2) * 16] = 1;
        break;
      default:  // IPv6: whole.
        break;
    }
    std::memcpy(&s.key, raw, sizeof raw);
    // Mostly close to the previous request (compact), sometimes a jump either way (whole).
    t += rng() % 16 == 0 ? (rng() % 2 ? int64_t(1) << 40 : -(int64_t(1) << 33))
                         : int64_t(rng() % 1000000) - 1000;
    s.request_ns = t;
    s.active_ns = s.request_ns + (rng() % 8 == 0 ? int64_t(5) << 32 : int64_t(rng() % 100000));
    log.push(s);
    pushed.push_back(s);
  }
  std::vector<FastPathOffloadSample> got = log.samples();
  ASSERT_EQ(got.size(), pushed.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(std::memcmp(&got[i].key, &pushed[i].key, sizeof got[i].key), 0) << i;
    EXPECT_EQ(got[i].request_ns, pushed[i].request_ns) << i;
    EXPECT_EQ(got[i].active_ns, pushed[i].active_ns) << i;
  }
}

// The open-addressing index agrees with std::map under random insert/erase churn with many
// colliding hashes (the backward-shift deletion must keep every remaining key findable).
TEST(EmuHwOpenTable, AgreesWithAMapUnderChurn) {
  const uint64_t seed = 77;
  SCOPED_TRACE("test seed " + std::to_string(seed));
  struct Slot {
    uint32_t key = 0;  // 0 = empty.
    uint32_t value = 0;
  };
  struct Traits {
    static bool empty(const Slot& s) { return s.key == 0; }
    static uint64_t hash(const Slot& s) { return s.key % 61; }  // Many collisions.
  };
  OpenTable<Slot, Traits> table;
  std::map<uint32_t, uint32_t> model;
  std::mt19937_64 rng(seed);
  auto find = [&](uint32_t k) {
    return table.find(k % 61, [k](const Slot& s) { return s.key == k; });
  };
  for (int step = 0; step < 50000; step++) {
    const uint32_t k = 1 + static_cast<uint32_t>(rng() % 500);
    Slot* s = find(k);
    ASSERT_EQ(s != nullptr, model.count(k) == 1) << "step " << step << " key " << k;
    if (s != nullptr) {
      ASSERT_EQ(s->value, model[k]);
      table.erase(s);
      model.erase(k);
    } else {
      const uint32_t v = static_cast<uint32_t>(rng());
      table.insert(k % 61, Slot{k, v});
      model[k] = v;
    }
    ASSERT_EQ(table.size(), model.size());
  }
  for (const auto& [k, v] : model) {
    const Slot* s = find(k);
    ASSERT_NE(s, nullptr) << k;
    EXPECT_EQ(s->value, v);
  }
}

}  // namespace
}  // namespace ctsim::emu_hw
