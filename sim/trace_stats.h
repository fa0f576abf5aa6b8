#pragma once
// Statistics of one capture file, as `ctsim trace-info` shows them: format, link type, counts,
// time span, parser outcomes, protocol mix and flows (both directions folded into one).

#include <array>
#include <cstdint>
#include <string>

#include "sim/packet.h"
#include "sim/parser.h"
#include "sim/status.h"
#include "sim/trace_reader.h"

namespace ctsim {

// Flow and packet counts per L4 family.
enum class L4Family : uint8_t { kTcp, kUdp, kIcmp, kOther };
inline constexpr int kL4FamilyCount = 4;
std::string_view l4FamilyName(L4Family f);

struct TraceStats {
  std::string path;
  CaptureFormat format = CaptureFormat::kPcap;
  bool big_endian = false;
  uint32_t linktype = 0;
  uint32_t snaplen = 0;
  bool mixed_interfaces = false;  // pcapng interfaces differ (read by ctsim's pcapng reader).

  uint64_t records = 0;         // records read (every one has exactly one outcome).
  uint64_t captured_bytes = 0;  // sum of captured lengths.
  uint64_t wire_bytes = 0;      // sum of on-the-wire lengths.
  int64_t first_ts_ns = 0;      // timestamp of the first record.
  int64_t last_ts_ns = 0;       // timestamp of the last record.
  int64_t min_ts_ns = 0;        // earliest timestamp seen.
  int64_t max_ts_ns = 0;        // latest timestamp seen.
  uint64_t ts_backwards = 0;    // records whose timestamp is before the previous record's.

  std::array<uint64_t, kOutcomeCount> outcomes{};            // by Outcome.
  std::array<uint64_t, kLayerCount> truncated_at{};          // truncated records by Layer.
  std::array<uint64_t, kMalformationCount> malformed_why{};  // malformed records by reason.

  uint64_t ipv4 = 0;                                  // records with an IPv4 header read.
  uint64_t ipv6 = 0;                                  // records with an IPv6 header read.
  uint64_t fragments = 0;                             // IP fragments.
  uint64_t ip_csum_bad = 0;                           // bad IPv4 header checksums.
  uint64_t l4_csum_bad = 0;                           // bad TCP/UDP/ICMP/ICMPv6 checksums.
  std::array<uint64_t, kL4FamilyCount> l4_packets{};  // IP records by L4 family.
  uint64_t icmpv6_packets = 0;                   // of l4_packets[kIcmp], those that are ICMPv6.
  uint64_t sctp_packets = 0;                     // of l4_packets[kOther], those that are SCTP.
  std::array<uint64_t, kL4FamilyCount> flows{};  // distinct folded flows by L4 family.

  TraceEnd end;  // end of file, or the record that could not be read and why.

  double spanSeconds() const { return double(last_ts_ns - first_ts_ns) / 1e9; }
};

// Reads the whole capture at `path`. An error means the file could not be opened as a capture;
// a damaged record is not an error but ends the trace (see TraceStats::end).
Result<TraceStats> collectTraceStats(const std::string& path, const ParseOptions& options = {});

// L4 family of a parsed packet.
L4Family l4FamilyOf(const PacketInfo& pi);

}  // namespace ctsim
