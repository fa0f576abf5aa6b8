// The net_pcap packet source: the bundled trace through DPDK gives the same frames as the
// TraceReader, in bursts, and errors are clear.
#include "providers/dpdk/pcap_port.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>

#include <cerrno>
#include <fstream>
#include <vector>

#include "providers/dpdk/eal.h"
#include "sim/trace_reader.h"

namespace ctsim::dpdk {
namespace {

const std::string kTrace = std::string(CTSIM_SOURCE_DIR) + "/traces/bundled/mixed-small.pcap";

// One frame as copied out of a callback.
struct Copy {
  std::vector<uint8_t> bytes;  // Frame bytes.
  int64_t ts_ns = 0;           // Timestamp.
};

#define SKIP_WITHOUT_EAL()                                           \
  do {                                                               \
    Status eal_ = ensureEal();                                       \
    if (!ealUsable(eal_)) GTEST_SKIP() << "EAL: " << eal_.message(); \
  } while (0)

// All 229 frames of mixed-small.pcap arrive with the TraceReader's bytes and timestamps (at
// net_pcap's microsecond precision), and the device is gone afterwards.
TEST(PcapPort, BundledTraceMatchesTraceReader) {
  SKIP_WITHOUT_EAL();
  auto reader = TraceReader::open(kTrace);
  ASSERT_TRUE(reader.ok()) << reader.status().toString();
  std::vector<Copy> want;
  TraceRecord rec;
  while (reader.value()->next(rec)) {
    want.push_back({std::vector<uint8_t>(rec.data, rec.data + rec.caplen), rec.ts_ns});
  }
  const uint16_t ports_before = rte_eth_dev_count_avail();
  std::vector<Copy> got;
  Status s = forEachFrame(kTrace, [&](const uint8_t* d, uint32_t len, int64_t ts) {
    got.push_back({std::vector<uint8_t>(d, d + len), ts});
  });
  ASSERT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(rte_eth_dev_count_avail(), ports_before);
  ASSERT_EQ(want.size(), 229u);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].bytes, want[i].bytes) << "frame " << i + 1;
    EXPECT_EQ(got[i].ts_ns, want[i].ts_ns / 1000 * 1000) << "frame " << i + 1;
  }
}

// Bursts hold at most 'burst' frames; reading twice in one process works (clean teardown).
TEST(PcapPort, BurstsAndRepeatedReads) {
  SKIP_WITHOUT_EAL();
  for (int round = 0; round < 2; round++) {
    size_t frames = 0, bursts = 0, largest = 0;
    PcapPortOptions o;
    o.burst = 7;
    o.mbufs = 63;
    Status s = forEachBurst(
        kTrace,
        [&](const Frame*, size_t n) {
          frames += n;
          bursts++;
          largest = std::max(largest, n);
        },
        o);
    ASSERT_TRUE(s.ok()) << s.toString();
    EXPECT_EQ(frames, 229u) << "round " << round;
    EXPECT_EQ(largest, 7u);
    EXPECT_EQ(bursts, (229u + 6) / 7);
  }
}

// Missing files, paths devargs cannot carry, non-captures and bad options fail clearly.
TEST(PcapPort, ErrorsAreClear) {
  SKIP_WITHOUT_EAL();
  auto noop = [](const uint8_t*, uint32_t, int64_t) {};
  Status s = forEachFrame("/nonexistent/x.pcap", noop);
  EXPECT_EQ(s.code(), ENOENT);
  EXPECT_NE(s.message().find("/nonexistent/x.pcap"), std::string::npos);
  EXPECT_EQ(forEachFrame("/tmp/a,b.pcap", noop).code(), EINVAL);
  const std::string text = ::testing::TempDir() + "/not_a_capture.pcap";
  std::ofstream(text) << "hello, not a capture\n";
  s = forEachFrame(text, noop);
  EXPECT_EQ(s.code(), ENODEV) << s.toString();
  EXPECT_NE(s.message().find("net_pcap"), std::string::npos) << s.message();
  PcapPortOptions bad;
  bad.burst = 0;
  EXPECT_EQ(forEachFrame(kTrace, noop, bad).code(), EINVAL);
}

}  // namespace
}  // namespace ctsim::dpdk
