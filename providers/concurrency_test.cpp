// Dispatch runs without a lock while registration changes: threads dispatching on their own
// connections race a thread registering and unregistering providers.  Meaningful under
// ThreadSanitizer (-DCTSIM_TSAN=ON), where any unsynchronised access would be reported.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "providers/registry.h"
#include "providers/test_util.h"

namespace ctsim {
namespace {

// A provider that accepts everything and counts conn_add atomically.
class Counting final : public Provider {
 public:
  explicit Counting(std::string name) : name_(std::move(name)) {}
  std::atomic<uint64_t> adds{0};
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override { return testing::kPerConn; }
  int connAdd(const ct_offload_ctx&) override {
    adds.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  bool canOffload(const ct_offload_ctx&) override { return true; }
  long long connUpdate(const ct_offload_ctx&) override { return 1; }

 private:
  std::string name_;
};

int churnAdd(const ct_offload_ctx*) { return 0; }
void churnDel(const ct_offload_ctx*) {}
bool churnCan(const ct_offload_ctx*) { return true; }
const ct_offload_class kChurnClass = {"churn-c", nullptr,  churnAdd, churnDel, nullptr,
                                      nullptr,   churnCan, nullptr,  nullptr};

class Concurrency : public ::testing::TestWithParam<Profile> {};

INSTANTIATE_TEST_SUITE_P(Registry, Concurrency,
                         ::testing::Values(Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict),
                         [](const auto& info) {
                           std::string n = profileName(info.param);
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

// Every dispatch reaches the stable provider exactly once while another thread churns the
// provider list (C classes and C++ providers); nothing races (TSan) or crashes (ASan).
TEST_P(Concurrency, DispatchWhileRegisteringIsSafe) {
  Registry r(GetParam());
  r.setLogSink(nullptr, nullptr);
  auto stable = std::make_unique<Counting>("stable");
  Counting* counter = stable.get();
  ASSERT_EQ(r.registerProvider(std::move(stable), kOriginProgram), 0);

  constexpr int kThreads = 2, kIterations = 4000;
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    ScopedCurrentRegistry cur(&r);
    for (int i = 0; !stop.load(std::memory_order_relaxed); i++) {
      r.registerProvider(std::make_unique<Counting>("churn-" + std::to_string(i % 3)),
                         kOriginProgram);
      ct_offload_register(&kChurnClass);
      r.unregisterName("churn-" + std::to_string((i + 1) % 3));
      ct_offload_unregister(&kChurnClass);
      (void)r.providers();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; t++) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kIterations; i++) {
        conn c = testing::makeConn(static_cast<uint16_t>(t * kIterations + i));
        auto ctx = makeCtx(c);
        EXPECT_EQ(r.connAdd(ctx), 0);
        r.connEstablished(ctx);
        EXPECT_NE(r.connUpdate(ctx), 0);
        ct_offload_op_batch b;
        ct_offload_op_batch_init(&b);
        ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_UPD, &ctx);
        ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_DEL, &ctx);
        r.submit(b);
        EXPECT_EQ(b.ops[0].error, 0);
        ct_offload_op_batch_destroy(&b);
        EXPECT_EQ(c.offload_mark, OffloadMark::kNone);
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  churn.join();
  EXPECT_EQ(counter->adds.load(), uint64_t{kThreads} * kIterations);
}

}  // namespace
}  // namespace ctsim
