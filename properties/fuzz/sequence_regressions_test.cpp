// The fuzz_sequence format in the ordinary test suite: every kept sequence under
// traces/regressions/*.seq (fuzzer findings, minimized, and hand-made cases) and every seed
// replays through the same decoder with the invariant checker finding nothing; and the checker is
// really watching (the same sequences with a broken provider do violate invariants).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "properties/fuzz/sequence.h"
#include "properties/workload.h"

namespace ctsim::props::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> keptSequences() {
  std::vector<std::string> files;
  for (const auto& e :
       fs::directory_iterator(std::string(CTSIM_SOURCE_DIR) + "/traces/regressions")) {
    if (e.path().extension() == ".seq") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every kept .seq replays clean under strict (and the folder holds some).
TEST(SequenceRegressions, KeptSequencesReplayClean) {
  auto files = keptSequences();
  ASSERT_FALSE(files.empty()) << "no .seq under traces/regressions";
  for (const std::string& f : files) {
    auto bytes = readSequenceFile(f);
    ASSERT_TRUE(bytes.ok()) << f;
    Scenario sc = decodeSequence(bytes.value());
    EXPECT_FALSE(sc.steps.empty()) << f;
    const auto& b = bytes.value();
    EXPECT_EQ(runSequence(b.data(), b.size()), "") << f << "\n"
                                                   << describeSequence(b.data(), b.size());
  }
}

// The hand-made seeds replay clean, and one of them is kept as a .seq.
TEST(SequenceRegressions, SeedsReplayCleanAndOneIsKept) {
  auto files = keptSequences();
  bool kept = false;
  for (const auto& [name, bytes] : seedSequences()) {
    EXPECT_EQ(runSequence(bytes.data(), bytes.size()), "") << name;
    for (const std::string& f : files) {
      auto b = readSequenceFile(f);
      if (fs::path(f).stem() == name && b.ok() && b.value() == bytes) kept = true;
    }
  }
  EXPECT_TRUE(kept) << "regenerate with: sequence_tool seeds traces/regressions";
}

// The seeds reach what the format promises: registrations, faults, expiry (removals by a
// sweep), TCP establishment, fast-path hits and ICMP errors.
TEST(SequenceRegressions, SeedsReachEveryKindOfStep) {
  std::set<Step::Kind> kinds;
  uint64_t removed = 0, established = 0, hw = 0;
  for (const auto& [name, bytes] : seedSequences()) {
    Scenario sc = decodeSequence(bytes);
    for (const Step& s : sc.steps) kinds.insert(s.kind);
    auto r = runScenario(sc);
    ASSERT_TRUE(r.ok()) << name;
    removed += r.value().summary.engine.conns_removed;
    established += r.value().hooks.est;
    for (const std::string& st : r.value().states) hw += st == "hw";
  }
  EXPECT_EQ(kinds.size(), 8u);
  EXPECT_GT(removed, 0u);
  EXPECT_GT(established, 0u);
  EXPECT_GT(hw, 0u);
}

// Every spec a sequence can register makes a provider, named as kNames says (a bad spec would
// only make its registration steps fail quietly).
TEST(SequenceRegressions, EverySpecMakesItsNamedProvider) {
  ProviderFactory factory = defaultProviderFactory();
  for (int i = 0; i < 16; ++i) {
    auto h = factory(kSpecs[i]);
    ASSERT_TRUE(h.ok()) << kSpecs[i] << ": " << h.status().toString();
    EXPECT_STREQ(h.value().owned->name(), kNames[i]) << kSpecs[i];
  }
}

// Decoding is total and deterministic: truncated and arbitrary inputs decode, twice the same.
TEST(SequenceRegressions, AnyBytesDecodeTheSameWay) {
  std::vector<uint8_t> junk;
  for (int i = 0; i < 600; ++i) junk.push_back(uint8_t(i * 37 + (i >> 3)));
  for (size_t n : {size_t(0), size_t(1), size_t(3), size_t(4), size_t(77), junk.size()}) {
    std::vector<std::string> a, b;
    decodeSequence(junk.data(), n, &a);
    decodeSequence(junk.data(), n, &b);
    EXPECT_EQ(a, b);
  }
  EXPECT_EQ(runSequence(junk.data(), junk.size()), "");
}

// The checker is watching: with the dummy replaced by a provider that breaks its contract by
// design, the kept sequences do report violations.
TEST(SequenceRegressions, BrokenProviderIsCaught) {
  ProviderFactory base = defaultProviderFactory();
  ProviderFactory broken = [base](const std::string& spec) {
    return base(spec == "dummy" ? "broken-est-twice" : spec);
  };
  auto seeds = seedSequences();
  const auto& b = seeds.front().second;
  EXPECT_NE(runSequence(b.data(), b.size(), broken), "");
}

}  // namespace
}  // namespace ctsim::props::fuzz
