#pragma once
// Helpers for the conntrack unit tests: frames built with PacketBuilder, run through an engine.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/conntrack/conntrack.h"
#include "sim/packet_builder.h"

namespace ctsim::ct::testing {

// Runs one Ethernet frame through `ct` at `now` (ms) in `zone`; returns the printed ct_state.
inline std::string run(Conntrack& ct, const std::vector<uint8_t>& frame, int64_t now = 1000,
                       uint16_t zone = 0) {
  return formatCtState(
      ct.execute(kLinkEthernet, frame.data(), uint32_t(frame.size()), now, zone).state);
}

// A TCP segment between 10.0.0.1:1000 (client) and 10.0.0.2:80 (server).
inline std::vector<uint8_t> tcp(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
                                size_t payload = 0, uint16_t window = 65535) {
  PacketBuilder b;
  if (from_client) {
    b.ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 80, flags, seq, ack, window);
  } else {
    b.ipv4("10.0.0.2", "10.0.0.1").tcp(80, 1000, flags, seq, ack, window);
  }
  if (payload > 0) b.payload(payload);
  return b.build();
}

// A UDP datagram between 10.0.0.1:5000 and 10.0.0.2:53.
inline std::vector<uint8_t> udp(bool from_client, size_t payload = 20) {
  PacketBuilder b;
  if (from_client) {
    b.ipv4("10.0.0.1", "10.0.0.2").udp(5000, 53);
  } else {
    b.ipv4("10.0.0.2", "10.0.0.1").udp(53, 5000);
  }
  return b.payload(payload).build();
}

// Prepends an Ethernet header to an IP packet.
inline std::vector<uint8_t> ethernet(const std::vector<uint8_t>& ip, uint16_t ethertype) {
  std::vector<uint8_t> f = {
      0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, uint8_t(ethertype >> 8), uint8_t(ethertype)};
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

}  // namespace ctsim::ct::testing
