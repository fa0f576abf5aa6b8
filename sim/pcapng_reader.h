#pragma once
// A small pcapng reader for the one case libpcap (1.10) refuses: a section whose interfaces have
// different link types or snapshot lengths. Each record then carries its interface's link type.
// TraceReader uses it only for such files; everything else goes through libpcap.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sim/status.h"

namespace ctsim {

class PcapngReader {
 public:
  struct Interface {
    uint32_t linktype = 0;
    uint32_t snaplen = 0;
    uint64_t ticks_per_second = 1000000;  // if_tsresol, default microseconds.
    int64_t offset_s = 0;                 // if_tsoffset.
  };
  struct Record {
    int64_t ts_ns = 0;
    uint32_t caplen = 0;
    uint32_t wirelen = 0;
    uint32_t linktype = 0;
    const uint8_t* data = nullptr;  // valid until the next call.
  };

  // Scans the interface description blocks of the whole file. Sets `mixed` when they differ in
  // link type or snapshot length (the case libpcap cannot read).
  static Status scanInterfaces(const std::string& path, bool& mixed, uint32_t& first_linktype,
                               uint32_t& first_snaplen);

  explicit PcapngReader(FILE* f) : f_(f) {}
  ~PcapngReader();
  PcapngReader(const PcapngReader&) = delete;
  PcapngReader& operator=(const PcapngReader&) = delete;

  // 1: a record was read; 0: end of file; -1: error (see error()).
  int next(Record& rec);
  const std::string& error() const { return error_; }

 private:
  bool readBlock(uint32_t& type, std::vector<uint8_t>& body, bool& eof);
  uint32_t u32(const uint8_t* p) const;
  uint16_t u16(const uint8_t* p) const;
  void parseInterface(const std::vector<uint8_t>& body);

  FILE* f_;
  bool swapped_ = false;  // the section's byte order differs from little-endian.
  std::vector<Interface> interfaces_;
  std::vector<uint8_t> body_;
  std::string error_;
};

}  // namespace ctsim
