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
    uint32_t snaplen = 0;           // the interface's snap length (0: none).
    const uint8_t* data = nullptr;  // valid until the next call.
  };

  // Walks the block structure of the whole file (block headers only; interface descriptions
  // are read, other bodies skipped). Sets `mixed` when the interfaces differ in link type or
  // snapshot length (the case libpcap cannot read) and, when `unknown_blocks` is given, counts
  // the blocks of a type ctsim does not know (isKnownBlockType), which every reader skips.
  // Damage ends the walk quietly: the real read reports it.
  static Status scanInterfaces(const std::string& path, bool& mixed, uint32_t& first_linktype,
                               uint32_t& first_snaplen, uint32_t* unknown_blocks = nullptr);
  // The block types of the pcapng specification (section header, interface description, packet
  // blocks, name resolution, interface statistics, systemd journal export, decryption secrets,
  // custom blocks).
  static bool isKnownBlockType(uint32_t type);

  explicit PcapngReader(FILE* f) : f_(f) {}
  ~PcapngReader();
  PcapngReader(const PcapngReader&) = delete;
  PcapngReader& operator=(const PcapngReader&) = delete;

  // 1: a record was read; 0: end of file; -1: error (see error()).
  int next(Record& rec);
  const std::string& error() const { return error_; }

 private:
  // Reads one block; with `skip_body` (and a type other than IDB/SHB) seeks past its body.
  bool readBlock(uint32_t& type, std::vector<uint8_t>& body, bool& eof, bool skip_body = false);
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
