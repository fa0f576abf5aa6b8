#include "providers/latency_histogram.h"

#include <gtest/gtest.h>

#include <random>

#include "providers/builtin.h"
#include "providers/conn.h"
#include "providers/registry.h"

namespace ctsim {
namespace {

// Every value falls in a bucket whose upper bound is at most 12.5% above it.
TEST(LatencyHistogramTest, BucketsBoundTheRelativeError) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    int b = LatencyHistogram::index(v);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    uint64_t up = LatencyHistogram::upperBound(b);
    ASSERT_GE(up, v);
    ASSERT_LE(double(up - v), double(v) / 8 + 1) << v;
    if (b > 0) {
      ASSERT_LT(LatencyHistogram::upperBound(b - 1), v);
    }
  }
}

// Quantiles of 1..1000 ns come out within a bucket of the exact values; max is exact.
TEST(LatencyHistogramTest, Quantiles) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v);
  LatencySummary s = h.summary();
  EXPECT_EQ(s.count, 1000u);
  EXPECT_EQ(s.sum_ns, 500500u);
  EXPECT_EQ(s.max_ns, 1000u);
  EXPECT_GE(s.p50_ns, 500u);
  EXPECT_LE(s.p50_ns, 500u * 9 / 8);
  EXPECT_GE(s.p99_ns, 990u);
  EXPECT_LE(s.p99_ns, 1000u);
  EXPECT_EQ(LatencyHistogram().summary().count, 0u);
}

// With timing on, the registry records one latency sample per provider call; off, none.
TEST(LatencyHistogramTest, RegistryTimesEveryCall) {
  for (bool timing : {false, true}) {
    Registry r(Profile::kStrict);
    ASSERT_TRUE(addBuiltinProvider(r, "dummy").ok());
    r.setTiming(timing);
    conn c{};
    c.key_fwd.af = CTSIM_AF_INET;
    c.key_fwd.proto = 17;
    ct_offload_ctx ctx = makeCtx(c);
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(r.connAdd(ctx), 0);
      r.connDel(ctx);
    }
    ProviderInfo p = r.providers()[0];
    auto add = p.latency[static_cast<int>(Callback::kConnAdd)];
    EXPECT_EQ(p.calls[static_cast<int>(Callback::kConnAdd)], 10u);
    EXPECT_EQ(add.count, timing ? 10u : 0u);
    EXPECT_EQ(p.latency[static_cast<int>(Callback::kConnDel)].count, timing ? 10u : 0u);
  }
}

}  // namespace
}  // namespace ctsim
