#pragma once
// Helpers for the conntrack unit tests: frames built with PacketBuilder, run through an engine.

#include <algorithm>
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

// Splits an IPv4 packet (20-byte header) into Ethernet frames of `chunk` data bytes each
// (a multiple of 8), with correct headers.
inline std::vector<std::vector<uint8_t>> fragmentV4(const std::vector<uint8_t>& ip, size_t chunk,
                                                    uint16_t id = 0x4242) {
  std::vector<std::vector<uint8_t>> out;
  size_t data = ip.size() - 20;
  for (size_t off = 0; off < data; off += chunk) {
    size_t n = std::min(chunk, data - off);
    std::vector<uint8_t> f(ip.begin(), ip.begin() + 20);
    f.insert(f.end(), ip.begin() + 20 + long(off), ip.begin() + 20 + long(off + n));
    bool more = off + n < data;
    uint16_t fo = uint16_t((more ? 0x2000 : 0) | (off / 8));
    f[2] = uint8_t(f.size() >> 8);
    f[3] = uint8_t(f.size());
    f[4] = uint8_t(id >> 8);
    f[5] = uint8_t(id);
    f[6] = uint8_t(fo >> 8);
    f[7] = uint8_t(fo);
    f[10] = f[11] = 0;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += uint32_t(f[i] << 8 | f[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    f[10] = uint8_t(~sum >> 8);
    f[11] = uint8_t(~sum);
    out.push_back(ethernet(f, 0x0800));
  }
  return out;
}

}  // namespace ctsim::ct::testing
