#pragma once
// LatencyHistogram: a lock-free histogram of durations in ns with 8 sub-buckets per power of
// two (relative error at most 12.5%), for per-provider, per-callback wall-clock latency. Values
// are only ever added (relaxed atomics), so recording is safe from any number of threads.

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace ctsim {

// A snapshot of a histogram: quantiles as bucket upper bounds, in ns.
struct LatencySummary {
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
};

class LatencyHistogram {
 public:
  static constexpr int kSub = 8;                  // sub-buckets per power of two.
  static constexpr int kBuckets = 8 + 61 * kSub;  // values below 8 exact, then 2^3 .. 2^63.

  void record(uint64_t ns) {
    buckets_[index(ns)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(ns, std::memory_order_relaxed);
    uint64_t m = max_.load(std::memory_order_relaxed);
    while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
  }

  LatencySummary summary() const {
    LatencySummary s;
    s.count = count_.load(std::memory_order_relaxed);
    s.sum_ns = sum_.load(std::memory_order_relaxed);
    s.max_ns = max_.load(std::memory_order_relaxed);
    if (s.count == 0) return s;
    uint64_t* targets[] = {&s.p50_ns, &s.p90_ns, &s.p99_ns, &s.p999_ns};
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    uint64_t seen = 0;
    int q = 0;
    for (int i = 0; i < kBuckets && q < 4; ++i) {
      seen += buckets_[i].load(std::memory_order_relaxed);
      while (q < 4 && double(seen) >= qs[q] * double(s.count)) {
        uint64_t upper = upperBound(i);
        *targets[q++] = upper < s.max_ns ? upper : s.max_ns;
      }
    }
    return s;
  }

  // Bucket of a value, and the largest value a bucket holds.
  static int index(uint64_t ns) {
    if (ns < 8) return int(ns);
    int exp = 63 - std::countl_zero(ns);  // >= 3.
    int sub = int((ns >> (exp - 3)) & (kSub - 1));
    return 8 + (exp - 3) * kSub + sub;
  }
  static uint64_t upperBound(int i) {
    if (i < 8) return uint64_t(i);
    int exp = (i - 8) / kSub + 3;
    uint64_t sub = uint64_t((i - 8) % kSub);
    uint64_t base = (uint64_t(1) << exp) + (sub << (exp - 3));
    return base + (uint64_t(1) << (exp - 3)) - 1;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
};

}  // namespace ctsim
