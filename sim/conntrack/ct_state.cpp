#include "sim/conntrack/ct_state.h"

namespace ctsim::ct {

const char* ctStateBitName(uint8_t bit) {
  switch (bit) {
    case kCsNew:
      return "new";
    case kCsEstablished:
      return "est";
    case kCsRelated:
      return "rel";
    case kCsReply:
      return "rpl";
    case kCsInvalid:
      return "inv";
    case kCsTracked:
      return "trk";
    case kCsSrcNat:
      return "snat";
    case kCsDstNat:
      return "dnat";
    default:
      return "?";
  }
}

std::string formatCtState(uint8_t state) {
  if (state == 0) return "0";
  std::string out;
  for (int i = 0; i < kCtStateBits; ++i) {
    uint8_t bit = uint8_t(1u << i);
    if ((state & bit) == 0) continue;
    if (!out.empty()) out += '|';
    out += ctStateBitName(bit);
  }
  return out;
}

}  // namespace ctsim::ct
