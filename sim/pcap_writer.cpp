#include "sim/pcap_writer.h"

#include <pcap/pcap.h>

#include <cerrno>

namespace ctsim {

Result<std::unique_ptr<PcapWriter>> PcapWriter::create(const std::string& path, uint32_t linktype,
                                                       uint32_t snaplen) {
  std::unique_ptr<PcapWriter> w(new PcapWriter());
  w->path_ = path;
  w->pcap_ =
      pcap_open_dead_with_tstamp_precision(int(linktype), int(snaplen), PCAP_TSTAMP_PRECISION_NANO);
  if (w->pcap_ == nullptr) return Status(ENOMEM, "cannot create a pcap handle");
  w->dumper_ = pcap_dump_open(w->pcap_, path.c_str());
  if (w->dumper_ == nullptr) return Status(EIO, pcap_geterr(w->pcap_));
  return w;
}

PcapWriter::~PcapWriter() { (void)close(); }

void PcapWriter::write(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wirelen) {
  pcap_pkthdr h{};
  h.ts.tv_sec = ts_ns / 1000000000;
  h.ts.tv_usec = ts_ns % 1000000000;  // nanoseconds: the handle has nanosecond precision.
  h.caplen = caplen;
  h.len = wirelen == 0 ? caplen : wirelen;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, data);
}

Status PcapWriter::close() {
  Status s;
  if (dumper_ != nullptr) {
    if (pcap_dump_flush(dumper_) != 0) s = Status(EIO, "write to " + path_ + " failed");
    pcap_dump_close(dumper_);
    dumper_ = nullptr;
  }
  if (pcap_ != nullptr) {
    pcap_close(pcap_);
    pcap_ = nullptr;
  }
  return s;
}

}  // namespace ctsim
