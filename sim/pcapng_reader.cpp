#include "sim/pcapng_reader.h"

#include "sim/trace_reader.h"

#include <cerrno>

namespace ctsim {
namespace {

constexpr uint32_t kShb = 0x0a0d0d0a;
constexpr uint32_t kIdb = 1;
constexpr uint32_t kOpb = 2;  // obsolete packet block.
constexpr uint32_t kSpb = 3;
constexpr uint32_t kNrb = 4;  // name resolution.
constexpr uint32_t kIsb = 5;  // interface statistics.
constexpr uint32_t kEpb = 6;
constexpr uint32_t kSje = 9;                // systemd journal export.
constexpr uint32_t kDsb = 10;               // decryption secrets.
constexpr uint32_t kCustom = 0xbad;         // custom block, may be copied.
constexpr uint32_t kCustomNc = 0x40000bad;  // custom block, not to be copied.
constexpr uint32_t kMaxBlock = 16u << 20;   // larger blocks are treated as damage.

}  // namespace

PcapngReader::~PcapngReader() {
  if (f_ != nullptr) std::fclose(f_);
}

uint32_t PcapngReader::u32(const uint8_t* p) const {
  return swapped_ ? (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]
                  : uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) |
                        (uint32_t(p[3]) << 24);
}

uint16_t PcapngReader::u16(const uint8_t* p) const {
  return swapped_ ? uint16_t((p[0] << 8) | p[1]) : uint16_t(p[0] | (p[1] << 8));
}

bool PcapngReader::isKnownBlockType(uint32_t type) {
  switch (type) {
    case kShb:
    case kIdb:
    case kOpb:
    case kSpb:
    case kNrb:
    case kIsb:
    case kEpb:
    case kSje:
    case kDsb:
    case kCustom:
    case kCustomNc:
      return true;
    default:
      return false;
  }
}

bool PcapngReader::readBlock(uint32_t& type, std::vector<uint8_t>& body, bool& eof,
                             bool skip_body) {
  uint8_t hdr[8];
  size_t n = std::fread(hdr, 1, 8, f_);
  eof = n == 0;
  if (eof) return false;
  if (n < 8) {
    error_ = "truncated block header";
    return false;
  }
  uint32_t raw_type = uint32_t(hdr[0]) | (uint32_t(hdr[1]) << 8) | (uint32_t(hdr[2]) << 16) |
                      (uint32_t(hdr[3]) << 24);
  if (raw_type == kShb) {  // a new section: its byte-order magic decides how to read it.
    uint8_t bom[4];
    if (std::fread(bom, 1, 4, f_) != 4) {
      error_ = "truncated section header";
      return false;
    }
    swapped_ = bom[0] == 0x1a;
    type = kShb;
    uint32_t len = u32(hdr + 4);
    if (len < 28 || len % 4 != 0 || len > kMaxBlock) {
      error_ = "section header with impossible length " + std::to_string(len);
      return false;
    }
    body.resize(len - 16);
    if (std::fread(body.data(), 1, body.size(), f_) != body.size()) {
      error_ = "truncated section header";
      return false;
    }
    uint8_t trailer[4];
    if (std::fread(trailer, 1, 4, f_) != 4) {
      error_ = "truncated section header";
      return false;
    }
    return true;
  }
  type = u32(hdr);
  uint32_t len = u32(hdr + 4);
  if (len < 12 || len % 4 != 0 || len > kMaxBlock) {
    error_ = "block with impossible length " + std::to_string(len);
    return false;
  }
  if (skip_body && type != kIdb) {  // body and trailer; a cut file is the real read's business.
    body.clear();
    return std::fseek(f_, long(len - 8), SEEK_CUR) == 0;
  }
  body.resize(len - 12);
  uint8_t trailer[4];
  if (std::fread(body.data(), 1, body.size(), f_) != body.size() ||
      std::fread(trailer, 1, 4, f_) != 4) {
    error_ = "truncated block";
    return false;
  }
  return true;
}

void PcapngReader::parseInterface(const std::vector<uint8_t>& body) {
  Interface itf;
  if (body.size() >= 8) {
    itf.linktype = u16(body.data());
    itf.snaplen = u32(body.data() + 4);
    size_t i = 8;
    while (i + 4 <= body.size()) {  // options: code, length, value padded to 4.
      uint16_t code = u16(body.data() + i);
      uint16_t olen = u16(body.data() + i + 2);
      if (code == 0 || i + 4 + olen > body.size()) break;
      const uint8_t* v = body.data() + i + 4;
      if (code == 9 && olen >= 1) {  // if_tsresol.
        uint8_t r = v[0];
        uint64_t tps = 1;
        int exp = r & 0x7f;
        if (exp > 18) exp = 18;  // beyond nanoseconds is clamped (out of int64 range).
        for (int k = 0; k < exp; ++k) tps *= (r & 0x80) ? 2 : 10;
        itf.ticks_per_second = tps;
      } else if (code == 14 && olen >= 8) {  // if_tsoffset.
        uint64_t lo = u32(v), hi = u32(v + 4);
        itf.offset_s = int64_t(swapped_ ? (lo << 32) | hi : (hi << 32) | lo);
      }
      i += 4 + ((olen + 3u) & ~3u);
    }
  }
  interfaces_.push_back(itf);
}

int PcapngReader::next(Record& rec) {
  for (;;) {
    uint32_t type;
    bool eof;
    if (!readBlock(type, body_, eof)) return eof ? 0 : -1;
    if (type == kShb) {
      interfaces_.clear();
      continue;
    }
    if (type == kIdb) {
      parseInterface(body_);
      continue;
    }
    if (type != kEpb && type != kOpb && type != kSpb) continue;  // statistics, names, ...
    auto fail = [this](std::string why) {
      error_ = std::move(why);
      return -1;
    };
    const uint8_t* b = body_.data();
    uint32_t ifid = 0, caplen, wirelen;
    uint64_t ticks = 0;
    size_t hdr;
    if (type == kSpb) {
      if (body_.size() < 4) return fail("short simple packet block");
      wirelen = u32(b);
      hdr = 4;
      caplen = std::min<uint32_t>(wirelen, uint32_t(body_.size() - 4));
    } else {
      if (body_.size() < 20) return fail("short packet block");
      ifid = type == kOpb ? u16(b) : u32(b);
      ticks = (uint64_t(u32(b + 4)) << 32) | u32(b + 8);
      caplen = u32(b + 12);
      wirelen = u32(b + 16);
      hdr = 20;
    }
    if (ifid >= interfaces_.size()) {
      return fail("packet block names interface " + std::to_string(ifid) + " of " +
                  std::to_string(interfaces_.size()));
    }
    if (caplen > body_.size() - hdr) {
      return fail("packet block captured length " + std::to_string(caplen) + " exceeds its block");
    }
    const Interface& itf = interfaces_[ifid];
    uint64_t tps = itf.ticks_per_second;
    int64_t secs = int64_t(ticks / tps);
    int64_t frac = int64_t(ticks % tps);
    int64_t sec = itf.offset_s > 0 && secs > INT64_MAX - itf.offset_s   ? INT64_MAX
                  : itf.offset_s < 0 && secs < INT64_MIN - itf.offset_s ? INT64_MIN
                                                                        : secs + itf.offset_s;
    rec.ts_ns = saturatingNs(sec, int64_t((__int128)frac * 1000000000 / tps));
    rec.caplen = caplen;
    rec.wirelen = wirelen;
    rec.linktype = itf.linktype;
    rec.snaplen = itf.snaplen;
    rec.data = b + hdr;
    return 1;
  }
}

Status PcapngReader::scanInterfaces(const std::string& path, bool& mixed, uint32_t& first_linktype,
                                    uint32_t& first_snaplen, uint32_t* unknown_blocks) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status(errno, "cannot open");
  PcapngReader r(f);
  mixed = false;
  if (unknown_blocks != nullptr) *unknown_blocks = 0;
  bool have_first = false;
  std::vector<uint8_t> body;
  for (;;) {
    uint32_t type;
    bool eof;
    if (!r.readBlock(type, body, eof, true)) break;  // damage is reported by the real read.
    if (unknown_blocks != nullptr && !isKnownBlockType(type)) ++*unknown_blocks;
    if (type != kIdb || body.size() < 8 || mixed) continue;
    uint32_t lt = r.u16(body.data()), snap = r.u32(body.data() + 4);
    if (!have_first) {
      first_linktype = lt;
      first_snaplen = snap;
      have_first = true;
    } else if (lt != first_linktype || snap != first_snaplen) {
      mixed = true;
      if (unknown_blocks == nullptr) break;
    }
  }
  return Status();
}

}  // namespace ctsim
