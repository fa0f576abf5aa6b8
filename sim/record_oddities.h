#pragma once
// Oddities of capture records that are processed anyway, counted so that a report says what a
// hostile or damaged capture contained (issue 10, traces/hostile.md).  None of them stops a
// replay: the record is replayed as it is (its bytes as captured, its time as stamped).

#include <cstdint>
#include <map>
#include <string>

#include "sim/trace_reader.h"

namespace ctsim {

class RecordOddities {
 public:
  // A forward gap this large between consecutive records is counted as a jump.
  static constexpr int64_t kJumpNs = int64_t(86400) * 1000000000;  // One day.

  // Counts what is odd about 'rec' (call once per record, in replay order).
  void see(const TraceRecord& rec);
  // By name, only those seen at least once: "zero_length" (no captured byte),
  // "caplen_above_wirelen" (more bytes captured than were on the wire), "caplen_above_snaplen"
  // (captured beyond the file's snap length: classic pcap replays its first snaplen bytes, as
  // libpcap delivers them; a mixed-interface pcapng replays it whole),
  // "pcapng_unknown_block" (pcapng blocks of an unknown type, skipped; counted for the whole file
  // with its first record), "time_backwards" (earlier than the latest record before it),
  // "time_jump_over_1d" (more than a day after it).
  const std::map<std::string, uint64_t>& counts() const { return counts_; }

 private:
  std::map<std::string, uint64_t> counts_;
  bool have_time_ = false;
  int64_t latest_ns_ = 0;  // Latest timestamp seen so far.
};

}  // namespace ctsim
