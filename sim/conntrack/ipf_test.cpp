// Unit tests of fragment reassembly as conntrack sees it.
#include "sim/conntrack/ipf.h"

#include <gtest/gtest.h>

#include "sim/conntrack/conntrack.h"
#include "sim/conntrack/test_util.h"
#include "sim/packet_builder.h"

namespace ctsim::ct {
namespace {

using testing::fragmentV4;
using testing::run;

std::vector<uint8_t> bigUdp(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  return PacketBuilder().ipv4(src, dst).udp(sport, dport).payload(2600).buildIp();
}

// Held fragments print 0; the completing one gets the datagram's state.
TEST(IpfTest, ReassemblyGivesDatagramState) {
  Conntrack ct;
  auto frags = fragmentV4(bigUdp("10.0.0.1", "10.0.0.2", 1, 2), 1288);
  ASSERT_EQ(frags.size(), 3u);
  EXPECT_EQ(run(ct, frags[0]), "0");
  EXPECT_EQ(run(ct, frags[2]), "0");
  EXPECT_EQ(run(ct, frags[1]), "new|trk");
  EXPECT_EQ(ct.ipf().heldFragments(), 0u);
  auto back = fragmentV4(bigUdp("10.0.0.2", "10.0.0.1", 2, 1), 1288, 7);
  run(ct, back[0]);
  run(ct, back[1]);
  EXPECT_EQ(run(ct, back[2]), "est|rpl|trk");
}

// A non-final fragment under 1200 bytes is invalid; a duplicate is invalid.
TEST(IpfTest, TooSmallAndDuplicate) {
  Conntrack ct;
  auto small = fragmentV4(bigUdp("10.0.0.1", "10.0.0.2", 1, 2), 600);
  EXPECT_EQ(run(ct, small[0]), "inv|trk");
  auto frags = fragmentV4(bigUdp("10.0.0.1", "10.0.0.2", 3, 4), 1288, 9);
  EXPECT_EQ(run(ct, frags[0]), "0");
  EXPECT_EQ(run(ct, frags[0]), "inv|trk");
  EXPECT_EQ(ct.ipf().stats().overlap, 1u);
}

// At most max_frags fragments are held; later ones are invalid.
TEST(IpfTest, HeldLimit) {
  ConntrackConfig cfg;
  cfg.ipf.max_frags = 2;
  Conntrack ct(cfg);
  for (uint16_t id = 1; id <= 3; ++id) {
    auto frags = fragmentV4(bigUdp("10.0.0.1", "10.0.0.2", 1, 2), 1288, id);
    EXPECT_EQ(run(ct, frags[0]), id <= 2 ? "0" : "inv|trk");
  }
}

// A list expires 15 s after its first fragment: its fragments are dropped and a late fragment
// starts a new list instead of completing the datagram.
TEST(IpfTest, ListExpiry) {
  Conntrack ct;
  auto frags = fragmentV4(bigUdp("10.0.0.1", "10.0.0.2", 1, 2), 1288);
  EXPECT_EQ(run(ct, frags[0], 0), "0");
  EXPECT_EQ(run(ct, frags[1], 0), "0");
  EXPECT_EQ(run(ct, testing::udp(true), 15001), "new|trk");  // any packet ends the list.
  EXPECT_EQ(ct.ipf().heldFragments(), 0u);
  EXPECT_EQ(run(ct, frags[2], 15001), "0");
}

}  // namespace
}  // namespace ctsim::ct
