#pragma once
// Helpers for tests that replay small hand-made captures: timed frames written to a pcap in the
// test's temporary folder, and the UDP flows they are usually made of.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sim/packet_builder.h"
#include "sim/pcap_writer.h"

namespace ctsim::ct::testing {

// One record of a capture to write.
struct TimedFrame {
  int64_t ns;                  // capture time.
  std::vector<uint8_t> frame;  // Ethernet frame.
};

// A UDP datagram between 10.0.0.1:`sport` and 10.0.0.2:53 (`reply`: the other way).
inline std::vector<uint8_t> udpFlow(uint16_t sport, bool reply = false) {
  PacketBuilder b;
  reply ? b.ipv4("10.0.0.2", "10.0.0.1").udp(53, sport)
        : b.ipv4("10.0.0.1", "10.0.0.2").udp(sport, 53);
  return b.payload(30).build();
}

// Writes `recs` as an Ethernet pcap NAME.pcap in the test's temporary folder; returns its path.
inline std::string writeTrace(const std::string& name, const std::vector<TimedFrame>& recs) {
  std::string path = (std::filesystem::path(::testing::TempDir()) / (name + ".pcap")).string();
  auto w = PcapWriter::create(path, kLinkEthernet);
  EXPECT_TRUE(w.ok());
  for (const TimedFrame& r : recs) {
    w.value()->write(r.ns, r.frame.data(), uint32_t(r.frame.size()));
  }
  EXPECT_TRUE(w.value()->close().ok());
  return path;
}

}  // namespace ctsim::ct::testing
