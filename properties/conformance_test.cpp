// `ctsim conformance` as a library and as a command: the dummy passes with 20+ invariants, each
// broken provider fails naming its clause, rfc-v1/rfc-v2 report the RFC defects (facts §5) and
// strict none, JUnit XML is well escaped, the exit code follows the result.
#include "properties/conformance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "providers/broken/broken.h"

namespace ctsim::props {
namespace {

ConformanceReport run(const std::string& spec, Profile profile = Profile::kStrict,
                      std::string filter = "") {
  ConformanceOptions o;
  o.provider_spec = spec;
  o.profile = profile;
  o.filter = std::move(filter);
  o.cases = 6;
  auto r = runConformance(o);
  EXPECT_TRUE(r.ok()) << spec;
  return r.ok() ? r.value() : ConformanceReport{};
}

std::set<std::string> failed(const ConformanceReport& r) {
  std::set<std::string> out;
  for (const TestResult& t : r.tests) {
    if (t.outcome == TestOutcome::kFail) out.insert(t.name);
  }
  return out;
}

// The dummy passes under strict, with at least 20 invariants run.
TEST(Conformance, DummyPassesStrict) {
  ConformanceReport r = run("dummy");
  for (const TestResult& t : r.tests) {
    EXPECT_NE(t.outcome, TestOutcome::kFail) << t.name << ": " << t.message;
  }
  size_t inv = 0;
  for (const TestResult& t : r.tests) inv += t.name.rfind("invariant.", 0) == 0;
  EXPECT_GE(inv, 20u);
  EXPECT_TRUE(r.ok());
}

// emu-hw (capacity 16, so the table fills) passes under strict too, also when it takes its ops
// through batch_submit (its POLICY and UPD answers in a batch count as one by one).
TEST(Conformance, EmuHwPassesStrict) {
  for (const char* spec : {"emu-hw:capacity=16", "emu-hw:capacity=16,batch=true"}) {
    ConformanceReport r = run(spec);
    for (const TestResult& t : r.tests) {
      EXPECT_NE(t.outcome, TestOutcome::kFail) << spec << ": " << t.name << ": " << t.message;
    }
    EXPECT_TRUE(r.ok()) << spec;
  }
}

// Every broken provider fails the suite, and the failures include its clause.
TEST(Conformance, EachBrokenProviderFailsItsClause) {
  for (const broken::BrokenInfo& b : broken::brokenProviders()) {
    ConformanceReport r = run(b.name);
    std::string want = b.clause;
    if (want.rfind("contract.", 0) != 0) want = "invariant." + want;
    EXPECT_FALSE(r.ok()) << b.name;
    EXPECT_TRUE(failed(r).count(want)) << b.name << " did not fail " << want;
  }
}

// Under rfc-v1 and rfc-v2 the suite reports the RFC's defects; under strict none of them.
TEST(Conformance, RfcProfilesReportTheDefects) {
  const std::set<std::string> v2 = {
      "invariant.unique-tuple",                 // §5.1 duplicate connections.
      "invariant.one-add-per-tuple",            // §5.1.
      "invariant.del-on-removal",               // §5.2 multi-provider leak (v2).
      "invariant.mark-needs-acceptor",          // §5.4 added without a provider.
      "invariant.responder-rst-validated",      // §5.5.
      "invariant.mandatory-callbacks-checked",  // §5.6.
  };
  ConformanceReport r2 = run("dummy", Profile::kRfcV2);
  for (const std::string& t : v2) EXPECT_TRUE(failed(r2).count(t)) << "rfc-v2: " << t;
  ConformanceReport r1 = run("dummy", Profile::kRfcV1);
  for (const std::string& t : v2) {
    if (t == "invariant.del-on-removal") continue;  // v1 sends conn_del for everything.
    EXPECT_TRUE(failed(r1).count(t)) << "rfc-v1: " << t;
  }
  // §5.3 immortal connections, with a provider that answers stale timestamps.
  EXPECT_TRUE(failed(run("broken-stale", Profile::kRfcV2)).count("invariant.idle-expires"));
  EXPECT_FALSE(failed(run("broken-stale", Profile::kStrict)).count("invariant.idle-expires"));
  ConformanceReport s = run("dummy", Profile::kStrict);
  for (const std::string& t : v2) EXPECT_FALSE(failed(s).count(t)) << "strict: " << t;
}

// --filter keeps only the matching tests (substring or glob).
TEST(Conformance, FilterSelects) {
  ConformanceReport r = run("dummy", Profile::kStrict, "contract.conn_add");
  ASSERT_FALSE(r.tests.empty());
  for (const TestResult& t : r.tests) EXPECT_EQ(t.name.rfind("contract.conn_add", 0), 0u);
  ConformanceReport g = run("dummy", Profile::kStrict, "invariant.est-*");
  EXPECT_EQ(g.tests.size(), 2u);
}

// JUnit XML escapes names and messages and counts failures.
TEST(Conformance, JunitEscapesAndCounts) {
  ConformanceReport r;
  r.provider = "x<&>\"'";
  r.tests.push_back({"contract.a", "clause <1>", TestOutcome::kFail, "bad & \"worse\"", 0.5});
  r.tests.push_back({"invariant.b", "c", TestOutcome::kSkip, "no fast path", 0});
  r.tests.push_back({"invariant.c", "c", TestOutcome::kPass, "", 0});
  std::string x = junitXml(r);
  EXPECT_NE(x.find("failures=\"1\""), std::string::npos);
  EXPECT_NE(x.find("bad &amp; &quot;worse&quot;"), std::string::npos);
  EXPECT_NE(x.find("x&lt;&amp;&gt;&quot;&apos;"), std::string::npos);
  EXPECT_NE(x.find("<skipped message=\"no fast path\"/>"), std::string::npos);
  EXPECT_EQ(x.find("clause <1>"), std::string::npos);
  EXPECT_EQ(xmlEscape(std::string("a\x01") + "b"), "a?b");
}

// The command: exit 0 for the dummy with JUnit written, 1 for a broken provider, 2 for bad input.
TEST(Conformance, CommandExitCodes) {
  std::string drv = std::string(CTSIM_BINARY_DIR) + "/properties/conformance_cli_driver";
  std::string xml = ::testing::TempDir() + "/out.xml";
  std::string q = " >/dev/null 2>&1";
  EXPECT_EQ(std::system((drv + " conformance --provider dummy --junit " + xml + q).c_str()), 0);
  std::ifstream in(xml);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("<testsuites"), std::string::npos);
  EXPECT_NE(std::system((drv + " conformance --provider broken-est-twice" + q).c_str()), 0);
  int bad = std::system((drv + " conformance --provider no-such-provider" + q).c_str());
  EXPECT_EQ(WEXITSTATUS(bad), 2);
}

// The real `ctsim conformance --provider-lib` on the C example plug-in
// (providers/examples/example_count.c): exit 0, JUnit with every test as a testcase, none
// failed, and exactly the tests of optional capabilities it lacks skipped (no batch_submit, no
// fast path; init ran when the plug-in was loaded). Its conn_update answers 0 for connections
// it does not hold, which the suite checks on the simulated clock.
TEST(Conformance, ExamplePluginPassesThroughTheCommand) {
  std::string xml = ::testing::TempDir() + "/example-count.xml";
  std::string cmd = std::string(CTSIM_CLI) + " conformance --provider-lib " + CTSIM_EXAMPLE_PLUGIN +
                    " --junit " + xml + " >/dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
  std::ifstream in(xml);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string x = ss.str();
  ASSERT_NE(x.find("<testsuites name=\"ctsim-conformance\""), std::string::npos);
  EXPECT_NE(x.find("failures=\"0\" skipped=\"4\""), std::string::npos);
  EXPECT_EQ(x.find("<failure"), std::string::npos);
  // Every testcase, and which skipped (a testcase followed by its <skipped .../>).
  std::map<std::string, std::string> skipped;
  size_t cases = 0, at = 0;
  while ((at = x.find("<testcase ", at)) != std::string::npos) {
    ++cases;
    size_t n = x.find(" name=\"", at) + 7;
    std::string name = x.substr(n, x.find('"', n) - n);
    size_t end = x.find('>', at);
    if (x[end - 1] != '/') {
      size_t sk = x.find("<skipped message=\"", end);
      if (sk != std::string::npos && sk < x.find("</testcase>", end)) {
        sk += 18;
        skipped[name] = x.substr(sk, x.find('"', sk) - sk);
      }
    }
    at = end;
  }
  size_t invariants = 0;
  for (size_t i = x.find("name=\"invariant."); i != std::string::npos;
       i = x.find("name=\"invariant.", i + 1)) {
    ++invariants;
  }
  EXPECT_GE(cases, 60u);
  EXPECT_GE(invariants, 20u);
  std::map<std::string, std::string> want = {
      {"contract.init.once", "init ran when the plug-in was loaded"},
      {"contract.batch_submit.whole", "no batch_submit"},
      {"invariant.capacity-respected", "the provider has no fast path"},
      {"invariant.consumed-only-offloaded", "the provider has no fast path"},
  };
  EXPECT_EQ(skipped, want);
  for (const char* t : {"contract.conn_update.zero-when-unknown", "contract.flush.drops-all",
                        "contract.conn_del.unknown-harmless", "invariant.sharded-equals-single",
                        "trace.bundled.mixed-small"}) {
    EXPECT_NE(x.find(std::string("name=\"") + t + "\""), std::string::npos) << t;
  }
}

}  // namespace
}  // namespace ctsim::props
