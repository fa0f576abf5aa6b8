#pragma once
// OpenTable: the open-addressing hash table behind emu-hw's key and connection indexes.
//
// Slots are small values stored in one array (no node per entry, no allocation per insertion
// once the array has grown); linear probing, load at most 3/4, deletion by backward shift (no
// tombstones, so add/delete churn never degrades lookups). The caller gives the hash with each
// insertion and lookup; Traits says how to tell an empty slot and how to get a stored slot's
// hash back (for shifts and growth), so a slot may keep its hash inside or recompute it:
//   struct Traits {
//     static bool empty(const Slot&);     // Slot{} must be empty.
//     static uint64_t hash(const Slot&);  // The hash the slot was inserted with.
//   };

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ctsim::emu_hw {

template <class Slot, class Traits>
class OpenTable {
 public:
  // The slot for which match(slot) is true among those inserted with hash h, or nullptr.
  template <class Match>
  Slot* find(uint64_t h, Match&& match) {
    if (size_ == 0) return nullptr;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (Traits::empty(s)) return nullptr;
      if (match(s)) return &s;
    }
  }
  template <class Match>
  const Slot* find(uint64_t h, Match&& match) const {
    return const_cast<OpenTable*>(this)->find(h, std::forward<Match>(match));
  }

  // Stores `slot` (not empty, hash h); duplicates are the caller's business. Returns where it
  // went (valid until the next insert or erase).
  Slot* insert(uint64_t h, const Slot& slot) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    size_++;
    return place(h, slot);
  }

  // Removes the slot `s` points to (from find()).
  void erase(Slot* s) {
    size_t hole = static_cast<size_t>(s - slots_.data());
    *s = Slot{};
    size_--;
    // Backward shift: move up every later slot of the run whose home is not between the hole
    // and its position.
    for (size_t i = (hole + 1) & mask_;; i = (i + 1) & mask_) {
      Slot& next = slots_[i];
      if (Traits::empty(next)) return;
      const size_t home = Traits::hash(next) & mask_;
      if (((i - home) & mask_) >= ((i - hole) & mask_)) {
        slots_[hole] = next;
        next = Slot{};
        hole = i;
      }
    }
  }

  void clear() {
    slots_.assign(slots_.size(), Slot{});
    size_ = 0;
  }
  size_t size() const { return size_; }

 private:
  Slot* place(uint64_t h, const Slot& slot) {
    size_t i = h & mask_;
    while (!Traits::empty(slots_[i])) i = (i + 1) & mask_;
    slots_[i] = slot;
    return &slots_[i];
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    const size_t n = old.empty() ? 64 : old.size() * 2;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    for (const Slot& s : old) {
      if (!Traits::empty(s)) place(Traits::hash(s), s);
    }
  }

  std::vector<Slot> slots_;  // Power-of-two size; empty until the first insertion.
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace ctsim::emu_hw
