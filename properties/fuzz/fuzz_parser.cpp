// Fuzz target: one frame's bytes -> the packet parser and the engine's extraction, under every
// supported link type. The first input byte picks the link type; the rest is the frame. Checks
// the parser's own contract: exactly one outcome, with its detail set when (and only when) the
// outcome calls for one, and nothing read past the captured length (ASan).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "sim/conntrack/extract.h"
#include "sim/parser.h"

namespace {

constexpr uint32_t kLinks[] = {ctsim::kLinkEthernet,  ctsim::kLinkLinuxSll,
                               ctsim::kLinkLinuxSll2, ctsim::kLinkNull,
                               ctsim::kLinkLoop,      ctsim::kLinkRaw,
                               ctsim::kLinkIpv4,      ctsim::kLinkIpv6,
                               ctsim::kLinkPpp,       147 /* unsupported */};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint32_t link = kLinks[data[0] % (sizeof kLinks / sizeof kLinks[0])];
  size_t n = size - 1;
  // An exactly sized copy, so any read past the frame is caught.
  std::unique_ptr<uint8_t[]> frame(new uint8_t[n == 0 ? 1 : n]);
  if (n != 0) std::memcpy(frame.get(), data + 1, n);
  for (uint32_t wire : {uint32_t(n), uint32_t(n) + 100}) {
    ctsim::PacketInfo pi = ctsim::parsePacket(link, frame.get(), uint32_t(n), wire);
    check(int(pi.outcome) < ctsim::kOutcomeCount);
    check((pi.outcome == ctsim::Outcome::kTruncated) == (pi.truncated_at != ctsim::Layer::kNone));
    check((pi.outcome == ctsim::Outcome::kMalformed) ==
          (pi.malformation != ctsim::Malformation::kNone));
    if (pi.has_l4) check(pi.l4_offset <= n);
    check(pi.vlan_count <= 2);
  }
  ctsim::ct::NetView nv = ctsim::ct::netView(link, frame.get(), uint32_t(n));
  (void)nv;
  return 0;
}
