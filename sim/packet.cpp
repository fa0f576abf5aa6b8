#include "sim/packet.h"

namespace ctsim {

std::string_view outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kParsed:
      return "parsed";
    case Outcome::kTruncated:
      return "truncated";
    case Outcome::kMalformed:
      return "malformed";
    case Outcome::kNotIp:
      return "not_ip";
    case Outcome::kUnsupportedLink:
      return "unsupported_link";
  }
  return "?";
}

std::string_view layerName(Layer l) {
  switch (l) {
    case Layer::kNone:
      return "none";
    case Layer::kLink:
      return "link";
    case Layer::kVlan:
      return "vlan";
    case Layer::kIpv4:
      return "ipv4";
    case Layer::kIpv6:
      return "ipv6";
    case Layer::kIpv6Ext:
      return "ipv6_ext";
    case Layer::kTcp:
      return "tcp";
    case Layer::kUdp:
      return "udp";
    case Layer::kSctp:
      return "sctp";
    case Layer::kIcmp:
      return "icmp";
    case Layer::kIcmpInner:
      return "icmp_inner";
    case Layer::kPayload:
      return "payload";
  }
  return "?";
}

std::string_view malformationName(Malformation m) {
  switch (m) {
    case Malformation::kNone:
      return "none";
    case Malformation::kIpVersion:
      return "ip_version";
    case Malformation::kIpv4HeaderLength:
      return "ipv4_header_length";
    case Malformation::kIpv4TotalLength:
      return "ipv4_total_length";
    case Malformation::kIpv6PayloadLength:
      return "ipv6_payload_length";
    case Malformation::kIpv6ExtChain:
      return "ipv6_ext_chain";
    case Malformation::kFragmentOffset:
      return "fragment_offset";
    case Malformation::kTcpDataOffset:
      return "tcp_data_offset";
    case Malformation::kUdpLength:
      return "udp_length";
    case Malformation::kL4TooShort:
      return "l4_too_short";
    case Malformation::kIcmpInner:
      return "icmp_inner";
  }
  return "?";
}

std::string_view checksumStateName(ChecksumState c) {
  switch (c) {
    case ChecksumState::kNotChecked:
      return "not_checked";
    case ChecksumState::kGood:
      return "good";
    case ChecksumState::kBad:
      return "bad";
    case ChecksumState::kUnverifiable:
      return "unverifiable";
  }
  return "?";
}

}  // namespace ctsim
