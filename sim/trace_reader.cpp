#include "sim/trace_reader.h"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sim/pcapng_reader.h"

namespace ctsim {

const char* captureFormatName(CaptureFormat f) {
  switch (f) {
    case CaptureFormat::kPcap:
      return "pcap";
    case CaptureFormat::kPcapNsec:
      return "pcap-nsec";
    case CaptureFormat::kPcapng:
      return "pcapng";
  }
  return "?";
}

int64_t saturatingNs(int64_t sec, int64_t subsec_ns) {
  constexpr int64_t kMaxSec = INT64_MAX / 1000000000 - 1;
  if (sec > kMaxSec) return INT64_MAX;
  if (sec < -kMaxSec) return INT64_MIN;
  return sec * 1000000000 + subsec_ns;
}

namespace {

// Looks at the magic number to name the format and byte order before libpcap opens the file.
Status sniffFormat(const std::string& path, CaptureFormat& format, bool& big_endian) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    int e = errno;
    if (e == ENOENT) return Status(ENOENT, "no such file");
    return Status(e, std::strerror(e));
  }
  uint8_t m[12] = {};
  size_t n = std::fread(m, 1, sizeof m, f);
  std::fclose(f);
  if (n == 0) return Status(EINVAL, "empty file, not a capture");
  if (n < 4) return Status(EINVAL, "truncated file header");
  uint32_t be = (uint32_t(m[0]) << 24) | (uint32_t(m[1]) << 16) | (uint32_t(m[2]) << 8) | m[3];
  switch (be) {
    case 0xa1b2c3d4:
      format = CaptureFormat::kPcap;
      big_endian = true;
      return Status();
    case 0xd4c3b2a1:
      format = CaptureFormat::kPcap;
      big_endian = false;
      return Status();
    case 0xa1b23c4d:
      format = CaptureFormat::kPcapNsec;
      big_endian = true;
      return Status();
    case 0x4d3cb2a1:
      format = CaptureFormat::kPcapNsec;
      big_endian = false;
      return Status();
    case 0x0a0d0d0a:
      format = CaptureFormat::kPcapng;
      if (n < 12) return Status(EINVAL, "truncated pcapng section header");
      big_endian = m[8] == 0x1a;  // byte-order magic 0x1a2b3c4d as written.
      return Status();
    default:
      return Status(EINVAL, "not a pcap or pcapng capture (unknown magic number)");
  }
}

// Opens `path` for reading with a stdio buffer of kIoBuffer bytes in `buffer` (which must outlive
// the FILE). glibc's default buffer is the file system's block size (4 KiB): one read(2) per
// 4 KiB of capture, which on the KVM guests here cost as much as libpcap's own work per record
// (perf: ~10 % of a replay from the file in read(2) and its page-table work).
constexpr size_t kIoBuffer = size_t(1) << 20;
FILE* openBuffered(const std::string& path, std::unique_ptr<char[]>& buffer) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return nullptr;
  buffer = std::make_unique_for_overwrite<char[]>(kIoBuffer);
  if (std::setvbuf(f, buffer.get(), _IOFBF, kIoBuffer) != 0) buffer.reset();  // default buffer.
  return f;
}

}  // namespace

Result<std::unique_ptr<TraceReader>> TraceReader::open(const std::string& path) {
  std::unique_ptr<TraceReader> r(new TraceReader());
  r->path_ = path;
  Status s = sniffFormat(path, r->format_, r->big_endian_);
  if (!s.ok()) return s;
  if (r->format_ == CaptureFormat::kPcapng) {
    bool mixed = false;
    Status scan =
        PcapngReader::scanInterfaces(path, mixed, r->linktype_, r->snaplen_, &r->unknown_blocks_);
    if (!scan.ok()) return scan;
    if (mixed) {
      FILE* f = openBuffered(path, r->io_buffer_);
      if (f == nullptr) return Status(errno, std::strerror(errno));
      r->pcapng_ = std::make_unique<PcapngReader>(f);
      return r;
    }
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  FILE* f = openBuffered(path, r->io_buffer_);
  if (f == nullptr) return Status(errno, std::strerror(errno));
  // libpcap closes `f` in pcap_close(); when it cannot open the capture, the caller does.
  r->pcap_ = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (r->pcap_ == nullptr) {
    std::fclose(f);
    std::string why = errbuf;
    if (why.find("truncated") != std::string::npos) {
      return Status(EINVAL, "truncated file header (" + why + ")");
    }
    return Status(EINVAL, why.empty() ? "libpcap could not open it" : why);
  }
  r->linktype_ = uint32_t(pcap_datalink(r->pcap_));
  r->snaplen_ = uint32_t(pcap_snapshot(r->pcap_));
  if (r->format_ != CaptureFormat::kPcapng) {
    if (FILE* f = pcap_file(r->pcap_)) r->next_pos_ = std::ftell(f);
  }
  return r;
}

TraceReader::~TraceReader() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

bool TraceReader::next(TraceRecord& rec) {
  if (done_) return false;
  if (pcapng_ != nullptr) {
    PcapngReader::Record r;
    int rc = pcapng_->next(r);
    if (rc == 1) {
      rec.index = ++records_;
      rec.ts_ns = r.ts_ns;
      rec.caplen = r.caplen;
      rec.wirelen = r.wirelen;
      rec.linktype = r.linktype;
      rec.data = r.data;
      rec.above_snaplen = r.snaplen != 0 && r.caplen > r.snaplen;
      rec.unknown_blocks = records_ == 1 ? unknown_blocks_ : 0;
      return true;
    }
    done_ = true;
    if (rc < 0) {
      end_.error = true;
      end_.at_record = records_ + 1;
      end_.reason = pcapng_->error();
    }
    return false;
  }
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(pcap_, &hdr, &data);
  if (rc == 1) {
    rec.index = ++records_;
    rec.ts_ns = saturatingNs(int64_t(hdr->ts.tv_sec), int64_t(hdr->ts.tv_usec));
    rec.caplen = hdr->caplen;
    rec.wirelen = hdr->len;
    rec.linktype = linktype_;
    rec.data = data;
    rec.unknown_blocks = records_ == 1 ? unknown_blocks_ : 0;
    // libpcap cuts a classic-pcap record captured beyond the snap length to the snap length
    // and skips the rest: such a record is exactly snaplen long and took more of the file than
    // its 16-byte header and caplen. The file is asked its position only for those records.
    rec.above_snaplen = false;
    if (next_pos_ >= 0) {
      next_pos_ += 16 + long(hdr->caplen);
      if (hdr->caplen == snaplen_) {
        long pos = std::ftell(pcap_file(pcap_));
        rec.above_snaplen = pos > next_pos_;
        next_pos_ = pos;
      }
    }
    return true;
  }
  done_ = true;
  if (rc == PCAP_ERROR_BREAK) return false;  // end of file.
  end_.error = true;
  end_.at_record = records_ + 1;
  end_.reason = pcap_geterr(pcap_);
  if (end_.reason.empty()) end_.reason = "unreadable record";
  return false;
}

}  // namespace ctsim
