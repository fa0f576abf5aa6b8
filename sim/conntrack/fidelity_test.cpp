// Fidelity: for every capture with an OVS oracle, ctsim's per-packet ct_state equals OVS's, on
// the frozen clock (<file>.ctstate) and on the trace clock (<file>.trace-time.ctstate).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "sim/conntrack/replay.h"
#include "sim/testing/corpus.h"

namespace ctsim::ct {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> readLines(const fs::path& p) {
  std::vector<std::string> lines;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// ctsim's lines for a capture ("N: flags"), or an empty list when it cannot be read.
std::vector<std::string> replayLines(const fs::path& capture, ClockMode clock) {
  ReplayOptions opt;
  opt.clock = clock;
  Replayer r(opt);
  std::vector<std::string> lines;
  auto res = r.run(capture.string(), [&](const TraceRecord& rec, const Verdict& v) {
    lines.push_back(std::to_string(rec.index) + ": " + formatCtState(v.state));
  });
  return lines;
}

struct Diff {
  size_t compared = 0;   // oracle lines compared.
  size_t differing = 0;  // lines that differ (or are missing from ctsim's output).
  std::string first;     // the first difference, for the failure message.
};

Diff compare(const std::vector<std::string>& oracle, const std::vector<std::string>& got) {
  Diff d;
  d.compared = oracle.size();  // OVS may stop early: its file is a prefix of ours.
  for (size_t i = 0; i < oracle.size(); ++i) {
    std::string g = i < got.size() ? got[i] : "<missing>";
    if (g != oracle[i]) {
      if (d.differing == 0) d.first = "expected '" + oracle[i] + "', got '" + g + "'";
      ++d.differing;
    }
  }
  return d;
}

// Captures whose oracle ctsim does not match yet, per clock (none: every file must match).
const std::set<std::string> kKnownFrozenMismatch = {};
const std::set<std::string> kKnownTraceMismatch = {};

void checkAll(ClockMode clock) {
  if (!testing::corpusPresent()) GTEST_SKIP() << testing::corpusMissingMessage();
  fs::path oracle_dir = testing::corpusDir() / "oracle" / "ovs";
  fs::path public_dir = testing::corpusDir() / "public";
  if (!fs::exists(oracle_dir)) GTEST_SKIP() << "no oracle at " << oracle_dir;
  const char* suffix = clock == ClockMode::kFrozen ? ".ctstate" : ".trace-time.ctstate";
  const auto& known = clock == ClockMode::kFrozen ? kKnownFrozenMismatch : kKnownTraceMismatch;
  std::vector<fs::path> oracles;
  for (const auto& e : fs::directory_iterator(oracle_dir)) {
    std::string name = e.path().filename().string();
    bool trace_file = name.ends_with(".trace-time.ctstate");
    if (!name.ends_with(".ctstate") || trace_file != (clock == ClockMode::kTrace)) continue;
    oracles.push_back(e.path());
  }
  std::sort(oracles.begin(), oracles.end());
  ASSERT_FALSE(oracles.empty());
  size_t files_ok = 0, lines = 0, lines_bad = 0;
  for (const auto& o : oracles) {
    std::string name = o.filename().string();
    std::string capture = name.substr(0, name.size() - std::string(suffix).size());
    fs::path cap = public_dir / capture;
    ASSERT_TRUE(fs::exists(cap)) << cap;
    Diff d = compare(readLines(o), replayLines(cap, clock));
    lines += d.compared;
    lines_bad += d.differing;
    if (d.differing == 0) ++files_ok;
    std::printf("%-70s %6zu lines %6zu differ (%.2f%%)\n", capture.c_str(), d.compared, d.differing,
                d.compared ? 100.0 * double(d.compared - d.differing) / double(d.compared) : 100.0);
    if (known.count(capture) == 0) {
      EXPECT_EQ(d.differing, 0u) << capture << ": first difference: " << d.first;
    }
  }
  std::printf("files matching: %zu/%zu; lines differing: %zu/%zu\n", files_ok, oracles.size(),
              lines_bad, lines);
}

// Frozen clock (OVS replaying at full speed): every line equals <file>.ctstate.
TEST(ConntrackFidelity, FrozenClockMatchesOvs) { checkAll(ClockMode::kFrozen); }

// Trace clock (now = capture time): every line equals <file>.trace-time.ctstate.
TEST(ConntrackFidelity, TraceClockMatchesOvs) { checkAll(ClockMode::kTrace); }

}  // namespace
}  // namespace ctsim::ct
