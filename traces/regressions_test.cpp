// Replays every capture under traces/regressions/ (minimized inputs of real bugs).
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <numeric>

#include "sim/conntrack/replay.h"
#include "sim/trace_reader.h"
#include "sim/trace_stats.h"

namespace ctsim {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> regressionFiles() {
  std::vector<std::string> files;
  for (const auto& e :
       fs::directory_iterator(std::string(CTSIM_SOURCE_DIR) + "/traces/regressions")) {
    // Captures only: counterexample scripts (.script) are replayed by properties/script_test,
    // fuzz_sequence cases (.seq) by properties/fuzz/sequence_regressions_test.
    const auto ext = e.path().extension();
    if (ext != ".md" && ext != ".script" && ext != ".seq") {
      files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every regression capture reads, parses and replays with every record accounted for once.
TEST(RegressionsTest, EveryCaptureReplaysAndAccounts) {
  auto files = regressionFiles();
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) {
    auto st = collectTraceStats(f);
    ASSERT_TRUE(st.ok()) << f << ": " << st.status().toString();
    const TraceStats& s = st.value();
    EXPECT_EQ(std::accumulate(s.outcomes.begin(), s.outcomes.end(), uint64_t(0)), s.records) << f;
    ct::Replayer replayer(ct::ReplayOptions{});
    auto sum = replayer.run(f);
    ASSERT_TRUE(sum.ok()) << f;
    uint64_t states = 0;
    for (const auto& [state, n] : sum.value().by_ct_state) states += n;
    EXPECT_EQ(states, s.records) << f;
  }
}

// A pcapng timestamp past the int64 nanosecond range saturates instead of overflowing.
TEST(RegressionsTest, TimestampOverflowSaturates) {
  auto r = TraceReader::open(std::string(CTSIM_SOURCE_DIR) +
                             "/traces/regressions/timestamp-overflow.pcapng");
  ASSERT_TRUE(r.ok());
  TraceRecord rec;
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.ts_ns, INT64_MAX);
  EXPECT_EQ(saturatingNs(-(INT64_MAX / 1000000000), 0), INT64_MIN);
  EXPECT_EQ(saturatingNs(5, 7), 5000000007);
}

}  // namespace
}  // namespace ctsim
