#pragma once
// A DPDK packet source for `ctsim replay --input dpdk`: a capture read through the net_pcap
// poll-mode driver into mbufs, in bursts, as a DPDK datapath receives them.
//
// Each call creates a net_pcap virtual device "net_pcap_ctsimN" with rx_pcap=FILE (and a
// dropping tx queue), configures one rx and one tx queue over a private mbuf pool, starts it,
// polls rte_eth_rx_burst until it returns 0 (net_pcap's end of file: without infinite_rx it
// reads the file once and then returns nothing), hands the frames to the callback, frees the
// mbufs, and finally stops, closes and removes the device and frees the pool, on every path.
//
// Timestamps: net_pcap writes the capture time into the mbuf's dynamic timestamp field
// (RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, flag RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME) on every packet,
// whether or not RTE_ETH_RX_OFFLOAD_TIMESTAMP is requested (the driver does not even advertise
// that offload, so it is not requested), in MICROSECONDS: it opens the file with
// pcap_open_offline, so nanosecond captures are read at microsecond precision.  ts_ns is that
// value times 1000 (the TraceReader's ts_ns rounded down to the microsecond), or -1 for a frame
// without the flag.  Frame length: net_pcap keeps only the captured bytes (pkt_len = caplen);
// the original wire length is lost.  Frames larger than one mbuf arrive chained and are copied
// into one buffer before the callback.
//
// Needs the EAL: ensureEal("") is called (whatever args it already runs with, else defaults).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "sim/status.h"

namespace ctsim::dpdk {

// One received frame; 'data' is valid only during the callback.
struct Frame {
  const uint8_t* data = nullptr;  // The frame's bytes (contiguous).
  uint32_t len = 0;               // Captured length.
  int64_t ts_ns = -1;             // Capture time (microsecond precision), -1 if unknown.
};

// Receive parameters.
struct PcapPortOptions {
  uint16_t burst = 32;    // rte_eth_rx_burst size (1..512).
  unsigned mbufs = 1023;  // mbuf pool size (must exceed 'burst').
};

using FrameFn = std::function<void(const uint8_t* data, uint32_t len, int64_t ts_ns)>;
using BurstFn = std::function<void(const Frame* frames, size_t n)>;

// Reads 'pcap' through net_pcap and calls 'fn' once per rx burst, in file order.  Errors:
// ENOENT (no such file), EINVAL (a ',' in the path, which devargs cannot carry; bad options),
// the EAL's error if it cannot start, ENODEV/EIO when the device cannot be created or started
// (message names the DPDK call), EIO when net_pcap hit an unreadable record (frames before it
// were delivered).
Status forEachBurst(const std::string& pcap, const BurstFn& fn,
                    const PcapPortOptions& options = {});
// The same, one frame at a time.
Status forEachFrame(const std::string& pcap, const FrameFn& fn,
                    const PcapPortOptions& options = {});

}  // namespace ctsim::dpdk
