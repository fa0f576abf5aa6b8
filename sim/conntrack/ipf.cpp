#include "sim/conntrack/ipf.h"

#include <algorithm>
#include <cstring>

#include "sim/checksum.h"

namespace ctsim::ct {
namespace {

inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline void wr16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

constexpr int kBatchSize = 32;        // OVS's NETDEV_MAX_BURST.
constexpr size_t kListIncrement = 4;  // fragment lists grow by this many.
constexpr size_t kV6MaxListSize = 65535;
constexpr int64_t kPurgeDelayMs = 10000;  // a list this long past expiry is dropped outright.

}  // namespace

bool Ipf::ListKey::operator==(const ListKey& o) const {
  return std::memcmp(src, o.src, 16) == 0 && std::memcmp(dst, o.dst, 16) == 0 && id == o.id &&
         zone == o.zone && version == o.version && proto == o.proto;
}

size_t Ipf::ListKeyHash::operator()(const ListKey& k) const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  mix(k.src, 16);
  mix(k.dst, 16);
  mix(reinterpret_cast<const uint8_t*>(&k.id), 4);
  uint8_t rest[4] = {uint8_t(k.zone), uint8_t(k.zone >> 8), k.version, k.proto};
  mix(rest, 4);
  return size_t(h);
}

bool Ipf::validV4(const NetView& v, bool* invalid) {
  const uint8_t* ip = v.l3;
  uint32_t size = v.l3_size;
  if (size < 20) return *invalid = true, false;
  if ((rd16(ip + 6) & 0x3fff) == 0) return false;  // not a fragment.
  if (rd16(ip + 2) != size) return *invalid = true, false;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < 20 || size < ihl) return *invalid = true, false;
  if (checksumFinish(checksumAdd(0, ip, ihl)) != 0) return *invalid = true, false;
  bool last = (rd16(ip + 6) & 0x1fff) != 0 && (rd16(ip + 6) & 0x2000) == 0;
  if (!last && size < config_.min_v4_frag_size) {
    ++stats_.too_small;
    return *invalid = true, false;
  }
  return true;
}

bool Ipf::validV6(const NetView& v, bool* invalid) {
  if (!v.sane || v.l3_size < 40) return *invalid = true, false;
  const uint8_t* ip = v.l3;
  uint8_t proto = ip[6];
  uint32_t off = 0;
  int32_t frag_hdr = -1;
  bool fragment = false;
  if (!walkIpv6Ext(ip + 40, v.l3_size - 40, &proto, &off, &frag_hdr, &fragment) || !fragment ||
      frag_hdr < 0) {
    return false;
  }
  if (rd16(ip + 4) + 40u != v.l3_size) return *invalid = true, false;
  uint16_t offlg = rd16(ip + 40 + frag_hdr + 2);
  if ((offlg & 0xfff9) == 0) return false;  // neither an offset nor "more fragments".
  bool last = (offlg & 0xfff8) != 0 && (offlg & 1) == 0;
  if (!last && v.l3_size < config_.min_v6_frag_size) {
    ++stats_.too_small;
    return *invalid = true, false;
  }
  return true;
}

Ipf::Verdict Ipf::preprocess(const NetView& v, uint16_t zone, int64_t now,
                             std::vector<uint8_t>* datagram) {
  if (!config_.enabled || !v.has_l3) return Verdict::kNotFragment;
  bool invalid = false;
  bool valid = v.version == 4 ? validV4(v, &invalid) : validV6(v, &invalid);
  if (invalid) return Verdict::kInvalid;
  if (!valid) return Verdict::kNotFragment;
  bool completed = false;
  if (!handle(v, zone, now, datagram, &completed)) return Verdict::kInvalid;
  return completed ? Verdict::kCompleted : Verdict::kHeld;
}

bool Ipf::handle(const NetView& v, uint16_t zone, int64_t now, std::vector<uint8_t>* datagram,
                 bool* completed) {
  const uint8_t* ip = v.l3;
  ListKey key{};
  key.zone = zone;
  key.version = v.version;
  Frag frag;
  bool first, last;
  size_t max_list;
  if (v.version == 4) {
    uint32_t ihl = (ip[0] & 0x0f) * 4u;
    uint16_t fo = rd16(ip + 6);
    frag.start = uint16_t((fo & 0x1fff) * 8u);
    frag.end = uint16_t(frag.start + v.l3_size - ihl - 1);
    frag.l4_off = ihl;
    first = (fo & 0x1fff) == 0 && (fo & 0x2000) != 0;
    last = (fo & 0x1fff) != 0 && (fo & 0x2000) == 0;
    key.id = rd16(ip + 4);
    key.proto = ip[9];
    std::memcpy(key.src, ip + 12, 4);
    std::memcpy(key.dst, ip + 16, 4);
    // As OVS: ceil((65535 - 60) / (min size - 60)) fragments at most per datagram.
    uint32_t min = config_.min_v4_frag_size > 61 ? config_.min_v4_frag_size : 61;
    max_list = (65535 - 60 + (min - 60) - 1) / (min - 60);
  } else {
    uint8_t proto = ip[6];
    uint32_t off = 0;
    int32_t fh = -1;
    bool fragment = false;
    walkIpv6Ext(ip + 40, v.l3_size - 40, &proto, &off, &fh, &fragment);
    uint16_t offlg = rd16(ip + 40 + fh + 2);
    frag.start = uint16_t((offlg & 0xfff8) + 8u);
    frag.end = uint16_t(frag.start + (v.l3_size - v.l4_off) - 1);
    frag.l4_off = v.l4_off;
    first = (offlg & 0xfff8) == 0 && (offlg & 1) != 0;
    last = (offlg & 0xfff8) != 0 && (offlg & 1) == 0;
    key.id = rd32(ip + 40 + fh + 4);
    std::memcpy(key.src, ip + 8, 16);
    std::memcpy(key.dst, ip + 24, 16);
    max_list = kV6MaxListSize;
  }

  if (nfrag_ >= config_.max_frags) {
    ++stats_.over_limit;
    return false;
  }
  auto it = lists_.find(key);
  FragList* l;
  if (it == lists_.end()) {
    auto owned = std::make_unique<FragList>();
    l = owned.get();
    l->key = key;
    l->cap = std::min(max_list, kListIncrement);
    l->expiration = now + config_.list_timeout_ms;
    l->on_expiry_list = true;
    expiry_.push_back(l);
    lists_.emplace(key, std::move(owned));
  } else {
    l = it->second.get();
    if (l->state == ListState::kReassFail || l->state == ListState::kDone) {
      ++stats_.over_limit;
      return false;
    }
    if (l->frags.size() >= l->cap) {
      size_t inc = std::min(kListIncrement, max_list > l->cap ? max_list - l->cap : 0);
      if (inc == 0) {
        ++stats_.over_limit;
        return false;
      }
      l->cap += inc;
    }
  }

  for (const Frag& f : l->frags) {  // duplicates and overlaps are invalid.
    if ((frag.start >= f.start && frag.start <= f.end) ||
        (frag.end >= f.start && frag.end <= f.end)) {
      ++stats_.overlap;
      return false;
    }
  }
  frag.bytes.assign(ip, ip + v.l3_size);
  l->frags.push_back(std::move(frag));
  ++nfrag_;
  ++stats_.accepted;

  ListState next;
  switch (l->state) {
    case ListState::kUnused:
    case ListState::kOther:
      next = first ? ListState::kFirst : last ? ListState::kLast : ListState::kOther;
      break;
    case ListState::kFirst:
      next = last ? ListState::kFirstLast : ListState::kFirst;
      break;
    case ListState::kLast:
      next = first ? ListState::kFirstLast : ListState::kLast;
      break;
    default:
      next = ListState::kFirstLast;
      break;
  }
  if (next == ListState::kFirstLast) {
    std::stable_sort(l->frags.begin(), l->frags.end(),
                     [](const Frag& a, const Frag& b) { return a.start < b.start; });
    bool contiguous = true;
    for (size_t i = 1; i < l->frags.size(); ++i) {
      if (uint16_t(l->frags[i - 1].end + 1) != l->frags[i].start) contiguous = false;
    }
    if (contiguous) {
      if (reassemble(*l, datagram)) {
        expiry_.remove(l);
        l->on_expiry_list = false;
        completed_.push_back(l);
        next = ListState::kDone;
        ++stats_.completed;
        *completed = true;
      } else {
        next = ListState::kReassFail;
        ++stats_.reass_failed;
      }
    }
  }
  l->state = next;
  return true;
}

bool Ipf::reassemble(const FragList& l, std::vector<uint8_t>* out) const {
  const Frag& f0 = l.frags[0];
  int rest = int(l.frags.back().end) - int(l.frags[1].start) + 1;
  std::vector<uint8_t>& d = *out;
  if (l.key.version == 4) {
    int len = int(f0.bytes.size());
    if (len + rest > 65535) return false;
    d.assign(f0.bytes.begin(), f0.bytes.end());
    for (size_t i = 1; i < l.frags.size(); ++i) {
      const Frag& f = l.frags[i];
      size_t add = size_t(f.end - f.start) + 1;
      size_t have = f.bytes.size() - f.l4_off;
      d.insert(d.end(), f.bytes.begin() + f.l4_off,
               f.bytes.begin() + f.l4_off + std::min(add, have));
    }
    uint32_t ihl = (d[0] & 0x0f) * 4u;
    wr16(&d[2], uint16_t(d.size()));
    wr16(&d[6], rd16(&d[6]) & ~0x2000);  // clear "more fragments".
    wr16(&d[10], 0);
    wr16(&d[10], checksumFinish(checksumAdd(0, d.data(), ihl)));
    return true;
  }
  int pl = int(rd16(&f0.bytes[4])) - 8;
  if (pl + rest > 65535) return false;
  // The first fragment's header with the upper-layer protocol as next header, then its data and
  // the rest: what OVS's conntrack reads from its reassembled packet.
  uint8_t proto = f0.bytes[6];
  uint32_t off = 0;
  int32_t fh = -1;
  bool fragment = false;
  walkIpv6Ext(f0.bytes.data() + 40, uint32_t(f0.bytes.size() - 40), &proto, &off, &fh, &fragment);
  d.assign(f0.bytes.begin(), f0.bytes.begin() + 40);
  d.insert(d.end(), f0.bytes.begin() + f0.l4_off, f0.bytes.end());
  for (size_t i = 1; i < l.frags.size(); ++i) {
    const Frag& f = l.frags[i];
    size_t add = size_t(f.end - f.start) + 1;
    size_t have = f.bytes.size() - f.l4_off;
    d.insert(d.end(), f.bytes.begin() + f.l4_off, f.bytes.begin() + f.l4_off + std::min(add, have));
  }
  d[6] = proto;
  wr16(&d[4], uint16_t(d.size() - 40));
  return true;
}

bool Ipf::release(FragList& l, int* room) {
  while (l.sent < l.frags.size()) {
    if (*room <= 0) return false;
    --*room;
    ++l.sent;
    --nfrag_;
  }
  return true;
}

bool Ipf::purgeIfStuck(FragList& l, int64_t now) {
  if (now < l.expiration + kPurgeDelayMs) return false;
  nfrag_ -= uint32_t(l.frags.size() - l.sent);
  l.sent = l.frags.size();
  return true;
}

void Ipf::removeList(FragList* l) {
  ListKey key = l->key;
  lists_.erase(key);
}

void Ipf::postprocess(int64_t now, bool packet_in_batch) {
  if (!config_.enabled && nfrag_ == 0) return;
  int room = kBatchSize - (packet_in_batch ? 1 : 0);
  while (!completed_.empty()) {
    FragList* l = completed_.front();
    if (purgeIfStuck(*l, now) || release(*l, &room)) {
      completed_.pop_front();
      removeList(l);
    } else {
      break;
    }
  }
  if (!expiry_.empty()) {
    FragList* l = expiry_.front();
    if (now > l->expiration) {
      if (purgeIfStuck(*l, now) || release(*l, &room)) {
        expiry_.pop_front();
        ++stats_.expired_lists;
        removeList(l);
      }
    }
  }
}

}  // namespace ctsim::ct
