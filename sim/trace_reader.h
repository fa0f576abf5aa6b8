#pragma once
// Reading captures: classic pcap (micro- and nanosecond, either byte order) and pcapng, through
// libpcap, with nanosecond timestamps. A record libpcap cannot read ends the trace; the reason
// and the record number are kept, and everything read before stays valid.

#include <cstdint>
#include <memory>
#include <string>

#include "sim/status.h"

struct pcap;

namespace ctsim {
class PcapngReader;
}

namespace ctsim {

enum class CaptureFormat : uint8_t {
  kPcap,      // classic pcap, microsecond timestamps.
  kPcapNsec,  // classic pcap, nanosecond timestamps (magic a1b23c4d).
  kPcapng,    // pcapng.
};
const char* captureFormatName(CaptureFormat f);

// One record. `data` stays valid until the next call to TraceReader::next().
struct TraceRecord {
  uint64_t index = 0;     // 1-based record number in the file.
  int64_t ts_ns = 0;      // capture time, nanoseconds since the epoch.
  uint32_t caplen = 0;    // captured bytes.
  uint32_t wirelen = 0;   // bytes on the wire.
  uint32_t linktype = 0;  // DLT_* of this record (pcapng interfaces may differ).
  const uint8_t* data = nullptr;
  // What the reader saw around the record, for RecordOddities (traces/hostile.md):
  bool above_snaplen = false;   // captured beyond the snap length (classic pcap: libpcap keeps
                                // the first snaplen bytes; mixed-interface pcapng: kept whole).
  uint32_t unknown_blocks = 0;  // pcapng: blocks of an unknown type in the whole file, given
                                // with the first record only (0 on the others).
};

// sec * 1e9 + subsec_ns, saturated to the int64 range (about +-292 years around 1970): a capture
// may claim any 64-bit time, and time arithmetic must not overflow on it.
int64_t saturatingNs(int64_t sec, int64_t subsec_ns);

// How a trace ended.
struct TraceEnd {
  bool error = false;      // false: end of file; true: a record could not be read.
  uint64_t at_record = 0;  // for an error: the number of the record that could not be read.
  std::string reason;      // for an error: libpcap's explanation.
};

class TraceReader {
 public:
  // Opens a capture. Errors (code ENOENT, EACCES or EINVAL) carry a message without the path:
  // "no such file", "not a pcap or pcapng capture", "truncated file header", ...
  static Result<std::unique_ptr<TraceReader>> open(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  // Reads the next record into `rec`. Returns false at the end of the trace (see end()).
  bool next(TraceRecord& rec);
  // Valid once next() has returned false.
  const TraceEnd& end() const { return end_; }

  const std::string& path() const { return path_; }
  CaptureFormat format() const { return format_; }
  bool bigEndian() const { return big_endian_; }
  uint32_t linktype() const { return linktype_; }
  uint32_t snaplen() const { return snaplen_; }
  // True when the file is a pcapng whose interfaces differ in link type or snapshot length,
  // which libpcap refuses; ctsim's own pcapng reader reads it instead.
  bool mixedInterfaces() const { return pcapng_ != nullptr; }

 private:
  TraceReader() = default;

  std::string path_;
  std::unique_ptr<char[]> io_buffer_;  // the FILE's stdio buffer; outlives pcap_ and pcapng_.
  pcap* pcap_ = nullptr;
  std::unique_ptr<PcapngReader> pcapng_;  // only for mixed-interface pcapng files.
  CaptureFormat format_ = CaptureFormat::kPcap;
  bool big_endian_ = false;  // byte order the file was written in.
  uint32_t linktype_ = 0;    // DLT_* of the file (first interface for pcapng).
  uint32_t snaplen_ = 0;
  uint64_t records_ = 0;         // records returned so far.
  uint32_t unknown_blocks_ = 0;  // pcapng: unknown blocks found by the pre-scan.
  long next_pos_ = -1;  // classic pcap: file offset after the last record had it been whole.
  bool done_ = false;
  TraceEnd end_;
};

}  // namespace ctsim
