#pragma once
// OffloadLog: emu-hw's record of every completed insertion (FastPathStats::offload_latency),
// kept compact because it grows by one sample per insertion for the whole run.
//
// On this machine kind a fresh page costs ~10 us to fault in, about 2.4 ns per byte recorded:
// the 56-byte FastPathOffloadSample in a vector (which also copies itself at each doubling) cost
// more than the rest of conn_add + conn_del. A sample whose key has zero address bytes beyond the
// first 4 of each address (every IPv4 key), whose latency fits 32 bits and whose request time is
// within 2^31 ns of the previous sample's is stored in 24 bytes; any other goes whole to a side
// list and leaves a marker in its place, so samples() gives back exactly what was pushed, in
// order. Storage is a deque: chunks, never moved.

#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include "providers/fast_path.h"

namespace ctsim::emu_hw {

class OffloadLog {
 public:
  void push(const FastPathOffloadSample& s) {
    const uint64_t latency = static_cast<uint64_t>(s.active_ns - s.request_ns);
    uint8_t raw[sizeof s.key];
    std::memcpy(raw, &s.key, sizeof raw);
    // Wrapping arithmetic: a difference outside int32 is caught by the range check.
    const int64_t delta =
        static_cast<int64_t>(static_cast<uint64_t>(s.request_ns) - static_cast<uint64_t>(last_));
    Compact c;
    if (s.active_ns >= s.request_ns && latency < kFull && delta >= INT32_MIN &&
        delta <= INT32_MAX && isZero(raw + 4, 12) && isZero(raw + 20, 12)) {
      c.request_delta = static_cast<int32_t>(delta);
      c.latency_ns = static_cast<uint32_t>(latency);
      std::memcpy(c.key, raw, 4);
      std::memcpy(c.key + 4, raw + 16, 4);
      std::memcpy(c.key + 8, raw + 32, 8);
    } else {
      c.request_delta = 0;
      c.latency_ns = kFull;
      full_.push_back(s);
    }
    last_ = s.request_ns;
    log_.push_back(c);
  }

  // Every sample pushed, in order.
  std::vector<FastPathOffloadSample> samples() const {
    std::vector<FastPathOffloadSample> out;
    out.reserve(log_.size());
    size_t full = 0;
    int64_t last = 0;
    for (const Compact& c : log_) {
      if (c.latency_ns == kFull) {
        out.push_back(full_[full++]);
        last = out.back().request_ns;
        continue;
      }
      uint8_t raw[sizeof(ctsim_conn_key)] = {};
      std::memcpy(raw, c.key, 4);
      std::memcpy(raw + 16, c.key + 4, 4);
      std::memcpy(raw + 32, c.key + 8, 8);
      FastPathOffloadSample& s = out.emplace_back();
      std::memcpy(&s.key, raw, sizeof raw);
      s.request_ns = static_cast<int64_t>(static_cast<uint64_t>(last) +
                                          static_cast<uint64_t>(int64_t{c.request_delta}));
      s.active_ns = s.request_ns + static_cast<int64_t>(c.latency_ns);
      last = s.request_ns;
    }
    return out;
  }
  size_t size() const { return log_.size(); }

 private:
  static constexpr uint32_t kFull = UINT32_MAX;  // latency_ns marking a sample kept whole.
  static bool isZero(const uint8_t* p, size_t n) {
    uint8_t any = 0;
    for (size_t i = 0; i < n; i++) any |= p[i];
    return any == 0;
  }
  struct Compact {
    int32_t request_delta;  // request_ns - the previous sample's (0 when latency_ns == kFull).
    uint32_t latency_ns;    // active_ns - request_ns, or kFull: the sample is the next of full_.
    uint8_t key[16];        // Key bytes 0-3 (src), 16-19 (dst), 32-39 (ports, zone, af, proto).
  };
  static_assert(sizeof(Compact) == 24);
  static_assert(sizeof(ctsim_conn_key) == 40);

  std::deque<Compact> log_;
  std::deque<FastPathOffloadSample> full_;
  int64_t last_ = 0;  // request_ns of the latest sample pushed.
};

}  // namespace ctsim::emu_hw
