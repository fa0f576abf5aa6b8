#pragma once
// IP fragment reassembly before conntrack, as OVS's ipf module does it for one packet per
// conntrack call: valid fragments are held (the packet gets no ct_state); the fragment that
// completes a datagram hands the reassembled datagram to conntrack; invalid, duplicate and
// overlapping fragments, too-small non-final fragments and fragments beyond the limits are
// invalid. After each call completed fragments are released (at most a batch of 32 a call) and
// at most one expired list is dropped.

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "sim/conntrack/extract.h"

namespace ctsim::ct {

struct IpfConfig {
  bool enabled = true;               // reassemble (OVS default: on for v4 and v6).
  uint32_t min_v4_frag_size = 1200;  // smallest non-final IPv4 fragment (whole datagram).
  uint32_t min_v6_frag_size = 1280;  // smallest non-final IPv6 fragment.
  uint32_t max_frags = 1000;         // fragments held at once.
  int64_t list_timeout_ms = 15000;   // a fragment list expires this long after its first.
};

// Counters, as OVS's ipf status.
struct IpfStats {
  uint64_t accepted = 0;       // fragments held.
  uint64_t completed = 0;      // datagrams reassembled.
  uint64_t too_small = 0;      // non-final fragments under the minimum size.
  uint64_t overlap = 0;        // duplicate or overlapping fragments.
  uint64_t over_limit = 0;     // refused: too many held, or the list is full or done.
  uint64_t expired_lists = 0;  // lists dropped on expiry.
  uint64_t reass_failed = 0;   // complete lists too big to reassemble.
};

class Ipf {
 public:
  enum class Verdict : uint8_t {
    kNotFragment,  // not a fragment: conntrack handles the packet itself.
    kInvalid,      // an invalid fragment, or one ipf refused: ct_state inv.
    kHeld,         // held for reassembly: no ct_state.
    kCompleted,    // completed a datagram: conntrack handles the reassembled datagram.
  };

  explicit Ipf(IpfConfig config = {}) : config_(config) {}

  // Looks at one packet of `zone` at time `now` (ms). For kCompleted, `datagram` receives the
  // reassembled IP datagram (IPv4 header with options; IPv6 header followed by the upper layer).
  Verdict preprocess(const NetView& v, uint16_t zone, int64_t now, std::vector<uint8_t>* datagram);
  // After conntrack has seen the packet: releases completed fragments and expires at most one
  // list. `packet_in_batch`: the packet itself was not consumed by preprocess().
  void postprocess(int64_t now, bool packet_in_batch);

  // Fragments held now (OVS's nfrag).
  uint32_t heldFragments() const { return nfrag_; }
  const IpfStats& stats() const { return stats_; }
  const IpfConfig& config() const { return config_; }

 private:
  // Identity of a datagram's fragments.
  struct ListKey {
    uint8_t src[16];  // source address.
    uint8_t dst[16];  // destination address.
    uint32_t id;      // IPv4 identification or IPv6 fragment identification.
    uint16_t zone;    // conntrack zone.
    uint8_t version;  // 4 or 6.
    uint8_t proto;    // IPv4 protocol; 0 for IPv6.
    bool operator==(const ListKey& o) const;
  };
  struct ListKeyHash {
    size_t operator()(const ListKey& k) const;
  };
  // One held fragment.
  struct Frag {
    uint16_t start = 0;          // first data byte (OVS's start_data_byte).
    uint16_t end = 0;            // last data byte.
    uint32_t l4_off = 0;         // offset of the data in `bytes`.
    std::vector<uint8_t> bytes;  // the fragment's IP datagram.
  };
  enum class ListState : uint8_t { kUnused, kReassFail, kOther, kFirst, kLast, kFirstLast, kDone };
  // The fragments of one datagram.
  struct FragList {
    ListKey key{};                         // identity.
    std::vector<Frag> frags;               // held fragments (sorted once first+last seen).
    size_t cap = 0;                        // current capacity (grows by 4 to the maximum).
    size_t sent = 0;                       // fragments released so far.
    int64_t expiration = 0;                // ms.
    ListState state = ListState::kUnused;  // reassembly state.
    bool on_expiry_list = false;           // in expiry_ (else in completed_ or nowhere).
  };

  bool validV4(const NetView& v, bool* invalid);
  bool validV6(const NetView& v, bool* invalid);
  // Adds a valid fragment; false when refused (the packet is then invalid).
  bool handle(const NetView& v, uint16_t zone, int64_t now, std::vector<uint8_t>* datagram,
              bool* completed);
  bool reassemble(const FragList& l, std::vector<uint8_t>* out) const;
  // Releases up to `*room` unsent fragments of `l`; true when none is left.
  bool release(FragList& l, int* room);
  bool purgeIfStuck(FragList& l, int64_t now);
  void removeList(FragList* l);

  IpfConfig config_;
  std::unordered_map<ListKey, std::unique_ptr<FragList>, ListKeyHash> lists_;
  std::list<FragList*> expiry_;     // lists not yet complete, oldest first.
  std::list<FragList*> completed_;  // reassembled lists whose fragments are being released.
  uint32_t nfrag_ = 0;              // fragments held.
  IpfStats stats_;
};

}  // namespace ctsim::ct
