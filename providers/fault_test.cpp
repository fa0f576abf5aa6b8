// Misbehaving providers in-process (issue 10): exceptions are caught at the registry's boundary,
// the provider is marked failed and no longer called, and the providers after it keep getting
// exactly the callbacks they get without it.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "providers/plugin_loader.h"
#include "providers/registry.h"
#include "providers/test_util.h"

namespace ctsim {
namespace {

using testing::CallLog;
using testing::countCalls;
using testing::driveConnections;
using testing::makeConn;

// Accepts 'ok_calls' conn_adds, then throws from conn_add (and from every other callback).
class Thrower final : public Provider {
 public:
  explicit Thrower(int ok_calls) : ok_calls_(ok_calls) {}
  const char* name() const override { return "thrower"; }
  CallbackMask callbacks() const override { return testing::kPerConn; }
  int connAdd(const ct_offload_ctx&) override {
    if (adds_++ >= ok_calls_) throw std::runtime_error("boom");
    return 0;
  }
  bool canOffload(const ct_offload_ctx&) override { return true; }

 private:
  int ok_calls_;
  int adds_ = 0;
};

const ProviderInfo* findInfo(const std::vector<ProviderInfo>& infos, const std::string& name) {
  for (const ProviderInfo& p : infos) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// Every profile: an exception leaving conn_add is caught, the provider is marked failed (kind,
// callback, message), skipped from then on, and the Fake after it gets the same calls as alone.
TEST(ProviderFaults, ExceptionIsCaughtAndLaterProvidersUnaffected) {
  for (Profile profile : {Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict}) {
    CallLog alone_log, log;
    {
      Registry alone(profile);
      alone.setLogSink(nullptr, nullptr);
      testing::addFake(alone, "later", &alone_log);
      driveConnections(alone, 10);
    }
    Registry r(profile);
    r.setLogSink(nullptr, nullptr);
    ASSERT_EQ(r.registerProvider(std::make_unique<Thrower>(3), kOriginProgram), 0);
    testing::addFake(r, "later", &log);
    driveConnections(r, 10);
    EXPECT_EQ(log, alone_log) << profileName(profile);
    auto infos = r.providers();
    const ProviderInfo* t = findInfo(infos, "thrower");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->fault.kind, FaultKind::kException);
    EXPECT_EQ(t->fault.callback, Callback::kConnAdd);
    EXPECT_NE(t->fault.message.find("std::runtime_error"), std::string::npos) << t->fault.message;
    EXPECT_NE(t->fault.message.find("boom"), std::string::npos);
    EXPECT_EQ(t->calls[int(Callback::kConnAdd)], 4u);  // 3 accepted, the 4th threw.
    EXPECT_GT(t->skipped_calls, 0u);
    EXPECT_EQ(r.warnings(), 1u);  // One warning naming the fault.
    EXPECT_EQ(findInfo(infos, "later")->fault.kind, FaultKind::kNone);
  }
}

// The faulting conn_add is no answer: neither an error for the engine nor an acceptance.
TEST(ProviderFaults, FaultingCallIsNoAnswer) {
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_EQ(r.registerProvider(std::make_unique<Thrower>(0), kOriginProgram), 0);
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  EXPECT_EQ(r.connAdd(ctx), 0);
  EXPECT_EQ(c.offload_acceptors, 0u);
  EXPECT_EQ(c.offload_mark, OffloadMark::kNone);
  EXPECT_FALSE(r.canOffload(ctx));  // Failed: declines from now on.
}

// A provider reporting its own fault (as the --isolate proxy does) is handled like a throw.
TEST(ProviderFaults, ReportFaultMarksFailed) {
  class SelfReporting final : public Provider {
   public:
    const char* name() const override { return "self"; }
    CallbackMask callbacks() const override { return bit(Callback::kConnUpdate); }
    long long connUpdate(const ct_offload_ctx&) override {
      reportFault(Callback::kConnUpdate, FaultKind::kTimeout, "timeout after 5 ms in conn_update");
      return 0;
    }
  };
  Registry r(Profile::kRfcV1);
  r.setLogSink(nullptr, nullptr);
  ASSERT_EQ(r.registerProvider(std::make_unique<SelfReporting>(), kOriginProgram), 0);
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  r.connUpdate(ctx);
  r.connUpdate(ctx);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kTimeout);
  EXPECT_EQ(p.fault.message, "timeout after 5 ms in conn_update");
  EXPECT_EQ(p.calls[int(Callback::kConnUpdate)], 1u);
  EXPECT_EQ(p.skipped_calls, 1u);
}

// A provider with the strict profile's mandatory callbacks whose conn_add is `add` (given the
// provider, to report a fault of its own); can_offload says yes, conn_del does nothing.
class StrictAdder final : public Provider {
 public:
  using AddFn = std::function<int(StrictAdder&)>;
  StrictAdder(std::string name, AddFn add) : name_(std::move(name)), add_(std::move(add)) {}
  using Provider::reportFault;
  const char* name() const override { return name_.c_str(); }
  CallbackMask callbacks() const override {
    return bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kCanOffload);
  }
  bool canOffload(const ct_offload_ctx&) override { return true; }
  int connAdd(const ct_offload_ctx&) override { return add_(*this); }
  void connDel(const ct_offload_ctx&) override {}

 private:
  std::string name_;
  AddFn add_;
};

// The same in conn_add (the registry's plain conn_add loop, without observer, timing or
// watchdog): the answer given with the fault is no acceptance, later calls are skipped.
TEST(ProviderFaults, ReportFaultInConnAddIsNoAnswer) {
  auto add = [](StrictAdder& p) {
    p.reportFault(Callback::kConnAdd, FaultKind::kCrash, "child died in conn_add");
    return 0;
  };
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_EQ(r.registerProvider(std::make_unique<StrictAdder>("self-add", add), kOriginProgram), 0);
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  EXPECT_EQ(r.connAdd(ctx), 0);
  EXPECT_EQ(c.offload_acceptors, 0u);
  EXPECT_EQ(c.offload_mark, OffloadMark::kNone);
  EXPECT_EQ(r.connAdd(ctx), 0);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kCrash);
  EXPECT_EQ(p.calls[int(Callback::kConnAdd)], 1u);
  EXPECT_EQ(p.skipped_calls, 1u);
}

// An exception out of conn_add in the plain loop (no observer, timing or watchdog): caught, the
// provider marked failed, the next provider still called and accepting.
TEST(ProviderFaults, ExceptionInThePlainConnAddLoop) {
  CallLog log;
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_EQ(r.registerProvider(
                std::make_unique<StrictAdder>(
                    "add-thrower", [](StrictAdder&) -> int { throw std::runtime_error("bang"); }),
                kOriginProgram),
            0);
  testing::addFake(r, "later", &log);
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  EXPECT_EQ(r.connAdd(ctx), 0);
  EXPECT_EQ(c.offload_acceptors, uint64_t(1) << 1);  // only "later" (slot 1) accepted.
  auto infos = r.providers();
  EXPECT_EQ(findInfo(infos, "add-thrower")->fault.kind, FaultKind::kException);
  EXPECT_NE(findInfo(infos, "add-thrower")->fault.message.find("bang"), std::string::npos);
  EXPECT_EQ(findInfo(infos, "later")->calls[int(Callback::kConnAdd)], 1u);
}

// init throwing refuses the registration with EIO and a message naming the exception.
TEST(ProviderFaults, InitThrowingRefusesRegistration) {
  class InitThrows final : public Provider {
   public:
    const char* name() const override { return "init-throws"; }
    CallbackMask callbacks() const override { return bit(Callback::kInit); }
    int init() override { throw std::logic_error("no hardware"); }
  };
  std::string warning;
  Registry r;
  r.setLogSink([](void* a, const std::string& m) { *static_cast<std::string*>(a) += m + "\n"; },
               &warning);
  EXPECT_EQ(r.registerProvider(std::make_unique<InitThrows>(), kOriginProgram), EIO);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_NE(warning.find("no hardware"), std::string::npos) << warning;
}

// A batch provider throwing from batch_submit: its ADD results are not read (strict) and the
// per-op fallback still reaches the provider without batch_submit.
TEST(ProviderFaults, BatchSubmitThrowing) {
  class BatchThrower final : public Provider {
   public:
    const char* name() const override { return "batch-thrower"; }
    CallbackMask callbacks() const override {
      return testing::kPerConn | bit(Callback::kBatchSubmit);
    }
    void batchSubmit(ct_offload_op_batch&) override { throw 42; }
  };
  CallLog log;
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_EQ(r.registerProvider(std::make_unique<BatchThrower>(), kOriginProgram), 0);
  testing::addFake(r, "later", &log);
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &ctx);
  r.submit(b);
  EXPECT_EQ(b.ops[0].error, 0);
  EXPECT_EQ(countCalls(log, "later.conn_add"), 1u);
  ct_offload_op_batch_destroy(&b);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kException);
  EXPECT_EQ(p.fault.message, "threw int");
}

// conn_add errors are counted per provider (with the first errno) and are not a fault.
TEST(ProviderFaults, ErrorsAreCountedNotFaults) {
  CallLog log;
  Registry r(Profile::kStrict);
  testing::Fake* f = testing::addFake(r, "erring", &log);
  ASSERT_NE(f, nullptr);
  f->add_result = EIO;
  driveConnections(r, 5);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kNone);
  EXPECT_EQ(p.add_errors, 5u);
  EXPECT_EQ(p.first_add_error, EIO);
  EXPECT_EQ(p.skipped_calls, 0u);
}

// A C++ plug-in throwing through the C ABI (misbehave_throw.so, after 3 conn_adds) is caught too.
TEST(ProviderFaults, PluginThrowingThroughTheCAbi) {
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_TRUE(loadProviderLibrary(r, MISBEHAVE_THROW).ok());
  CallLog log;
  testing::addFake(r, "later", &log);
  driveConnections(r, 8);
  EXPECT_EQ(countCalls(log, "later.conn_add"), 8u);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.name, "misbehave-throw");
  EXPECT_EQ(p.fault.kind, FaultKind::kException);
  EXPECT_NE(p.fault.message.find("injected failure after 3 conn_add calls"), std::string::npos)
      << p.fault.message;
}

// Blocks in conn_add until released.
class Blocker final : public Provider {
 public:
  const char* name() const override { return "blocker"; }
  CallbackMask callbacks() const override { return bit(Callback::kConnAdd); }
  int connAdd(const ct_offload_ctx&) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return released_; });
    return 0;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

struct HangSeen {
  std::mutex mu;
  std::condition_variable cv;
  std::string provider;
  Callback callback = Callback::kInit;
};

void onHang(void* arg, const std::string& provider, Callback c, int) {
  auto* seen = static_cast<HangSeen*>(arg);
  std::lock_guard lock(seen->mu);
  seen->provider = provider;
  seen->callback = c;
  seen->cv.notify_all();
}

// The in-process watchdog notices a call that does not return: the provider is marked failed
// (timeout, naming the callback) and the hang function is told; the call itself goes on.
TEST(ProviderFaults, WatchdogReportsAnInProcessHang) {
  Registry r(Profile::kRfcV1);
  r.setLogSink(nullptr, nullptr);
  auto blocker = std::make_unique<Blocker>();
  Blocker* b = blocker.get();
  ASSERT_EQ(r.registerProvider(std::move(blocker), kOriginProgram), 0);
  HangSeen seen;
  r.setWatchdog(50, &onHang, &seen);
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  std::thread dispatch([&] { r.connAdd(ctx); });
  {
    std::unique_lock lock(seen.mu);
    ASSERT_TRUE(
        seen.cv.wait_for(lock, std::chrono::seconds(60), [&] { return !seen.provider.empty(); }));
  }
  b->release();
  dispatch.join();
  EXPECT_EQ(seen.provider, "blocker");
  EXPECT_EQ(seen.callback, Callback::kConnAdd);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kTimeout);
  EXPECT_EQ(p.fault.message,
            "no return from conn_add within 50 ms (in-process: the call cannot be abandoned)");
}

// Calls that return are never reported, however many (a generous limit: no timing race).
TEST(ProviderFaults, WatchdogQuietForReturningCalls) {
  CallLog log;
  Registry r(Profile::kStrict);
  HangSeen seen;
  testing::addFake(r, "quick", &log);
  r.setWatchdog(5000, &onHang, &seen);
  driveConnections(r, 2000);
  r.setWatchdog(0, nullptr, nullptr);
  EXPECT_TRUE(seen.provider.empty());
  EXPECT_EQ(r.providers()[0].fault.kind, FaultKind::kNone);
}

// Calls made before the watchdog is armed (init at registration, earlier dispatch) count as
// returned: an idle provider is not reported after arming (the limit passes 10 times over).
TEST(ProviderFaults, WatchdogQuietWhenIdleAfterEarlierCalls) {
  CallLog log;
  Registry r(Profile::kStrict);
  HangSeen seen;
  testing::addFake(r, "idle", &log);
  driveConnections(r, 10);
  r.setWatchdog(20, &onHang, &seen);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.setWatchdog(0, nullptr, nullptr);
  EXPECT_TRUE(seen.provider.empty()) << seen.provider;
  EXPECT_EQ(r.providers()[0].fault.kind, FaultKind::kNone);
  // Disarmed, calls do not count their returns; armed again, those calls are not in flight.
  driveConnections(r, 10);
  r.setWatchdog(20, &onHang, &seen);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.setWatchdog(0, nullptr, nullptr);
  EXPECT_TRUE(seen.provider.empty()) << seen.provider;
  EXPECT_EQ(r.providers()[0].fault.kind, FaultKind::kNone);
}

}  // namespace
}  // namespace ctsim
