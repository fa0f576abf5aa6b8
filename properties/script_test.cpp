// Counterexample scripts: write, read back, replay the same run; the regression cases under
// traces/regressions/ reproduce their failures.
#include "properties/script.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "properties/workload.h"

namespace ctsim::props {
namespace {

// A scenario with every step kind survives writeScript -> readScript and replays identically.
TEST(Script, RoundTripReplaysTheSameRun) {
  Scenario sc;
  sc.config.profile = Profile::kRfcV2;
  sc.config.providers = {"dummy", "dummy:name=d2"};
  sc.config.sweep_interval_ms = 1000000;
  addPacket(sc, udpFrame(1, false));
  addPacket(sc, udpFrame(1, true), 3);
  addStep(sc, Step::Kind::kAdvance, 61000);
  addPacket(sc, udpFrame(1, false));
  addStep(sc, Step::Kind::kSweep);
  addStep(sc, Step::Kind::kFlushZone, 0, 7);
  Step f;
  f.kind = Step::Kind::kFault;
  f.arg = "d2";
  f.faults.add_error = 28;
  f.faults.add_error_left = 2;
  sc.steps.push_back(f);
  Step reg;
  reg.kind = Step::Kind::kRegister;
  reg.arg = "dummy:name=d3";
  sc.steps.push_back(reg);
  addPacket(sc, tcpFrame(2, false, kTcpSyn, 7, 0, 7), 2);
  Step unreg;
  unreg.kind = Step::Kind::kUnregister;
  unreg.arg = "d3";
  sc.steps.push_back(unreg);
  addStep(sc, Step::Kind::kFlush);
  auto before = runScenario(sc);
  ASSERT_TRUE(before.ok());
  std::string dir = ::testing::TempDir() + "/script_rt";
  auto path = saveCounterexample(sc, "rt", {"unique-tuple"}, dir);
  ASSERT_TRUE(path.ok()) << path.status().message();
  ScriptOutcome out;
  Status st = runScript(path.value(), &out);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(out.report.digest(), before.value().digest());
  EXPECT_EQ(out.report.counts, before.value().counts);
  EXPECT_TRUE(out.reproduced);  // rfc-v2 keeps the duplicate alive (facts §5.1).
}

// batch-hooks on survives writeScript -> readScript; its absence reads back as off.
TEST(Script, BatchHooksRoundTrip) {
  for (bool on : {false, true}) {
    Scenario sc;
    sc.config.batch_hooks = on;
    addPacket(sc, udpFrame(1, false));
    std::string dir = ::testing::TempDir();
    std::string path = dir + "/batch_hooks.script";
    ASSERT_TRUE(writeScript(sc, path, dir + "/batch_hooks.pcap").ok());
    auto back = readScript(path);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back.value().config.batch_hooks, on);
  }
}

// Malformed scripts are refused with the file and line.
TEST(Script, BadLineIsReportedWithItsLine) {
  std::string path = ::testing::TempDir() + "/bad.script";
  {
    std::ofstream o(path);
    o << "ctsim-script 1\nprofile strict\nwarp 9\n";
  }
  ScriptOutcome out;
  Status st = runScript(path, &out);
  EXPECT_EQ(st.code(), EINVAL);
  EXPECT_NE(st.message().find(":3:"), std::string::npos) << st.message();
}

// Every regression script under traces/regressions/ reproduces the failure it expects.
TEST(Script, RegressionScriptsReproduce) {
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& e :
       fs::directory_iterator(std::string(CTSIM_SOURCE_DIR) + "/traces/regressions")) {
    if (e.path().extension() != ".script") continue;
    ScriptOutcome out;
    Status st = runScript(e.path().string(), &out);
    ASSERT_TRUE(st.ok()) << e.path() << ": " << st.message();
    EXPECT_TRUE(out.reproduced) << e.path();
    ++n;
  }
  if (n == 0) GTEST_SKIP() << "no .script under traces/regressions/ yet";
}

}  // namespace
}  // namespace ctsim::props

namespace ctsim::props {
namespace {

// With CTSIM_SCRIPT=FILE: replays it and prints every packet's ct_state and the violations (a
// debugging aid until `ctsim replay --script` exists; skipped otherwise).
TEST(Script, ReplayFromEnvironment) {
  const char* path = std::getenv("CTSIM_SCRIPT");
  if (path == nullptr) GTEST_SKIP() << "set CTSIM_SCRIPT=FILE to replay a script";
  ScriptOutcome out;
  Status st = runScript(path, &out);
  ASSERT_TRUE(st.ok()) << st.message();
  for (size_t i = 0; i < out.report.states.size(); ++i) {
    std::printf("%zu: %s\n", i + 1, out.report.states[i].c_str());
  }
  for (const Violation& v : out.report.violations) std::printf("%s\n", formatViolation(v).c_str());
}

}  // namespace
}  // namespace ctsim::props
