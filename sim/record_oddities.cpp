#include "sim/record_oddities.h"

namespace ctsim {

void RecordOddities::see(const TraceRecord& rec) {
  if (rec.caplen == 0) ++counts_["zero_length"];
  if (rec.caplen > rec.wirelen) ++counts_["caplen_above_wirelen"];
  if (rec.above_snaplen) ++counts_["caplen_above_snaplen"];
  if (rec.unknown_blocks != 0) counts_["pcapng_unknown_block"] += rec.unknown_blocks;
  if (have_time_) {
    if (rec.ts_ns < latest_ns_) {
      ++counts_["time_backwards"];
    } else if (rec.ts_ns - latest_ns_ > kJumpNs) {  // Both saturated: no overflow.
      ++counts_["time_jump_over_1d"];
    }
  }
  if (!have_time_ || rec.ts_ns > latest_ns_) latest_ns_ = rec.ts_ns;
  have_time_ = true;
}

}  // namespace ctsim
