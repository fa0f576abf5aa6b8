#pragma once
// Writing classic pcap files with nanosecond timestamps (through libpcap's dump API), for
// generated traces and counterexamples.

#include <cstdint>
#include <memory>
#include <string>

#include "sim/status.h"

struct pcap;
struct pcap_dumper;

namespace ctsim {

class PcapWriter {
 public:
  // Creates (or truncates) `path` for frames of `linktype`, with the given snap length.
  static Result<std::unique_ptr<PcapWriter>> create(const std::string& path, uint32_t linktype,
                                                    uint32_t snaplen = 262144);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Appends one record: `caplen` bytes of `data`, with `wirelen` bytes on the wire (0: caplen).
  void write(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wirelen = 0);
  // Flushes and closes the file; reports a write error if one happened.
  Status close();

 private:
  PcapWriter() = default;
  pcap* pcap_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
  std::string path_;
};

}  // namespace ctsim
