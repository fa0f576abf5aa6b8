#pragma once
// ConnTable: the engine's key -> connection index, an open-addressing hash multimap.
//
// Every connection is indexed twice, by its forward and by its reverse key. A slot is one
// 64-bit word: the connection's address, bit 0 saying which of its keys the slot stands for,
// and the top 16 bits holding a tag from the key's hash, so that a probe dereferences a
// connection only when the tags agree. Keys are not copied into the table, which keeps the
// index at 8 bytes per key and slot; a connection stores only its forward key, and a reverse
// slot's candidate is compared crosswise against it (keyEqualReverse, no key built). Linear
// probing, load at most 3/4, deletion by backward shift (no tombstones, so churn never degrades
// lookups); the hash of a shifted or rehashed entry is recomputed from its connection's key.
//
// Duplicates are allowed, as in OVS's cmap: an expired connection stays indexed until swept
// while its successor for the same tuple is already in. forEach() visits every match.
//
// Chosen over std::unordered_multimap (a node per key: 80 bytes and a cache miss per key) and
// measured against absl::flat_hash_map and rte_hash in bench/ (see bench/README.md). The slot
// array lives on transparent huge pages once it is large (huge_pages.h).

#include <cstddef>
#include <cstdint>
#include "sim/conntrack/conn_key.h"
#include "sim/conntrack/huge_pages.h"

namespace ctsim::ct {

struct Conn;

class ConnTable {
 public:
  ConnTable();
  ~ConnTable();
  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;

  // Indexes `conn` under its forward (reply = false) or reverse key.
  void insert(Conn* conn, bool reply);
  // Removes that index entry (it must be present).
  void erase(Conn* conn, bool reply);
  // Calls fn(Conn*, bool reply) for each entry whose key equals `key`, until fn returns true.
  // Returns the connection for which fn returned true, or nullptr.
  template <typename Fn>
  Conn* forEach(const ConnKey& key, Fn&& fn) const;

  // Hints for a batch of packets (contents unchanged; a later insert or erase only makes a hint
  // stale): prefetchHome() starts loading the first slot probed for hash `h`; candidate() reads
  // h's probe run up to the first slot whose tag agrees and returns its connection (likely the
  // key's, to prefetch), or nullptr.
  void prefetchHome(uint64_t h) const { __builtin_prefetch(&slots_[home(h)]); }
  const Conn* candidate(uint64_t h) const {
    for (size_t i = home(h); slots_[i] != 0; i = (i + 1) & mask_) {
      if (tagOf(slots_[i]) == tagOf(h)) return connOf(slots_[i]);
    }
    return nullptr;
  }

  size_t size() const { return size_; }          // entries (2 per connection).
  size_t capacity() const { return mask_ + 1; }  // slots.
  size_t bytes() const { return capacity() * sizeof(uint64_t); }

  // The table's hash of a key (directional: a key and its reverse differ).
  static uint64_t hash(const ConnKey& key);

 private:
  static constexpr uint64_t kPtrMask = (uint64_t(1) << 48) - 1;
  static uint64_t tagOf(uint64_t h) { return h & ~kPtrMask; }
  static Conn* connOf(uint64_t slot) { return reinterpret_cast<Conn*>(slot & kPtrMask & ~1ull); }
  static bool replyOf(uint64_t slot) { return (slot & 1) != 0; }
  // The hash of the connection's key of that direction (the reverse key built for it).
  static uint64_t hashOf(const Conn* conn, bool reply);
  size_t home(uint64_t h) const { return size_t(h) & mask_; }
  void grow();
  void place(uint64_t slot, uint64_t h);

  HugeArray<uint64_t> slots_;  // 0: empty. On huge pages once large (huge_pages.h).
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace ctsim::ct
