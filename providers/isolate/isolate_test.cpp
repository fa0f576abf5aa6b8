// --isolate (issue 10): plug-ins in a child process behave as in-process ones, and a crash, a
// hang (watchdog) or an exception in one is a fault of that provider only; children are reaped.
#include "providers/isolate/isolate.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>

#include "providers/plugin_loader.h"
#include "providers/registry.h"
#include "providers/test_util.h"

namespace ctsim {
namespace {

using testing::CallLog;
using testing::countCalls;
using testing::driveConnections;
using testing::makeConn;

// No child process of this test is left (running or zombie).
bool noChildren() {
  int status = 0;
  return ::waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

long long fixedClock(void*) { return 123456; }

PluginLoadOptions isolated(int watchdog_ms = 0) { return PluginLoadOptions{true, watchdog_ms}; }

// An isolated plug-in answers as in-process: example_count offloads TCP, declines ICMP, reads
// the TCP peer through the accessors and returns the registry's simulated clock from conn_update.
TEST(Isolate, AnswersLikeInProcess) {
  {
    Registry r(Profile::kStrict);
    r.setClock(&fixedClock, nullptr);
    ASSERT_TRUE(loadProviderLibrary(r, PLUGIN_EXAMPLE, isolated()).ok());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r.providers()[0].name, "example-count");
    EXPECT_EQ(r.providers()[0].origin, PLUGIN_EXAMPLE);
    conn tcp = makeConn(1000, 6), icmp = makeConn(1001, 1);
    ct_offload_ctx t = makeCtx(tcp), i = makeCtx(icmp);
    EXPECT_TRUE(r.canOffload(t));
    EXPECT_FALSE(r.canOffload(i));
    EXPECT_EQ(r.connAdd(t), 0);
    EXPECT_EQ(tcp.offload_mark, OffloadMark::kAdded);
    EXPECT_EQ(r.connUpdate(t), 123456);
    r.connDel(t);
    EXPECT_EQ(r.providers()[0].fault.kind, FaultKind::kNone);
  }
  EXPECT_TRUE(noChildren());  // The registry's destruction reaped the child.
}

// A plug-in file with two classes gives two proxies sharing one child; a failing init is one
// error naming the file, and nothing stays registered.
TEST(Isolate, LoadErrorsAndSeveralClasses) {
  Registry r(Profile::kRfcV1);
  r.setLogSink(nullptr, nullptr);
  ASSERT_TRUE(loadProviderLibrary(r, PLUGIN_GOOD, isolated()).ok());
  EXPECT_EQ(r.size(), 2u);
  Status bad = loadProviderLibrary(r, PLUGIN_INIT_FAILS, isolated());
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find(PLUGIN_INIT_FAILS), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("ctsim_plugin_init failed"), std::string::npos) << bad.message();
  EXPECT_EQ(r.size(), 2u);
}

// A plug-in that segfaults in its 4th conn_add: fault kind crash naming the signal and the
// callback; the provider after it gets exactly the calls it gets alone; the child is reaped.
TEST(Isolate, CrashIsAFaultAndTheReplayGoesOn) {
  CallLog alone_log, log;
  {
    Registry alone(Profile::kStrict);
    testing::addFake(alone, "later", &alone_log);
    driveConnections(alone, 8);
  }
  {
    Registry r(Profile::kStrict);
    r.setLogSink(nullptr, nullptr);
    ASSERT_TRUE(loadProviderLibrary(r, MISBEHAVE_CRASH, isolated()).ok());
    testing::addFake(r, "later", &log);
    driveConnections(r, 8);
    EXPECT_EQ(log, alone_log);
    ProviderInfo p = r.providers()[0];
    EXPECT_EQ(p.name, "misbehave-crash");
    EXPECT_EQ(p.fault.kind, FaultKind::kCrash);
    EXPECT_EQ(p.fault.callback, Callback::kConnAdd);
    EXPECT_NE(p.fault.message.find("signal 11, SIGSEGV"), std::string::npos) << p.fault.message;
    EXPECT_NE(p.fault.message.find("in conn_add"), std::string::npos) << p.fault.message;
    EXPECT_EQ(p.calls[int(Callback::kConnAdd)], 4u);
    EXPECT_EQ(countCalls(log, "later.conn_add"), 8u);
  }
  EXPECT_TRUE(noChildren());
}

// abort() in the child is reported as SIGABRT (CTSIM_MISBEHAVE_SIGNAL=6).
TEST(Isolate, AbortIsReportedWithItsSignal) {
  ::setenv("CTSIM_MISBEHAVE_SIGNAL", "6", 1);
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_TRUE(loadProviderLibrary(r, MISBEHAVE_CRASH, isolated()).ok());
  ::unsetenv("CTSIM_MISBEHAVE_SIGNAL");
  driveConnections(r, 5);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kCrash);
  EXPECT_NE(p.fault.message.find("signal 6, SIGABRT"), std::string::npos) << p.fault.message;
}

// A plug-in hanging in its 4th conn_add is killed by the watchdog: fault kind timeout with the
// limit and the callback; the later provider is unaffected and no child is left.
TEST(Isolate, WatchdogEndsAHang) {
  CallLog log;
  {
    Registry r(Profile::kStrict);
    r.setLogSink(nullptr, nullptr);
    ASSERT_TRUE(loadProviderLibrary(r, MISBEHAVE_HANG, isolated(200)).ok());
    testing::addFake(r, "later", &log);
    driveConnections(r, 6);
    ProviderInfo p = r.providers()[0];
    EXPECT_EQ(p.fault.kind, FaultKind::kTimeout);
    EXPECT_EQ(p.fault.callback, Callback::kConnAdd);
    EXPECT_NE(p.fault.message.find("timeout after 200 ms in conn_add"), std::string::npos)
        << p.fault.message;
    EXPECT_EQ(countCalls(log, "later.conn_add"), 6u);
    EXPECT_EQ(countCalls(log, "later.conn_del"), 6u);
  }
  EXPECT_TRUE(noChildren());
}

// An exception in the child comes back as an exception fault with its text; the child lives on.
TEST(Isolate, ExceptionInTheChild) {
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  ASSERT_TRUE(loadProviderLibrary(r, MISBEHAVE_THROW, isolated()).ok());
  driveConnections(r, 5);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kException);
  EXPECT_NE(p.fault.message.find("injected failure"), std::string::npos) << p.fault.message;
  EXPECT_NE(p.fault.message.find("isolated process"), std::string::npos) << p.fault.message;
}

// Errors returned by an isolated plug-in arrive as such (counted, not a fault).
TEST(Isolate, ErrorsCrossTheBoundary) {
  Registry r(Profile::kStrict);
  ASSERT_TRUE(loadProviderLibrary(r, MISBEHAVE_ERRORS, isolated()).ok());
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  EXPECT_EQ(r.connAdd(ctx), EIO);
  ProviderInfo p = r.providers()[0];
  EXPECT_EQ(p.fault.kind, FaultKind::kNone);
  EXPECT_EQ(p.add_errors, 1u);
  EXPECT_EQ(p.first_add_error, EIO);
}

// A batch reaches an isolated batch provider whole; its per-op errors come back (strict reads
// ADD results). The test plug-in has no batch_submit, so the per-op fallback is used: ADD 0.
TEST(Isolate, BatchFallbackThroughTheProxy) {
  Registry r(Profile::kStrict);
  ASSERT_TRUE(loadProviderLibrary(r, PLUGIN_EXAMPLE, isolated()).ok());
  conn c = makeConn();
  ct_offload_ctx ctx = makeCtx(c);
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &ctx);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_POLICY, &ctx);
  r.submit(b);
  EXPECT_EQ(b.ops[0].error, 0);
  EXPECT_EQ(b.ops[1].error, 0);
  EXPECT_NE(c.offload_acceptors, 0u);
  ct_offload_op_batch_destroy(&b);
}

}  // namespace
}  // namespace ctsim
