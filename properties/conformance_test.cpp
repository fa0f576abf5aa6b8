// `ctsim conformance` as a library and as a command: the dummy passes with 20+ invariants, each
// broken provider fails naming its clause, rfc-v1/rfc-v2 report the RFC defects (facts §5) and
// strict none, JUnit XML is well escaped, the exit code follows the result.
#include "properties/conformance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
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

// emu-hw (capacity 16, so the table fills) passes under strict too.
TEST(Conformance, EmuHwPassesStrict) {
  ConformanceReport r = run("emu-hw:capacity=16");
  for (const TestResult& t : r.tests) {
    EXPECT_NE(t.outcome, TestOutcome::kFail) << t.name << ": " << t.message;
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

}  // namespace
}  // namespace ctsim::props
