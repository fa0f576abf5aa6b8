#include "sim/conntrack/conn_table.h"

#include <cstdio>
#include <cstdlib>

#include "sim/conntrack/conntrack.h"

namespace ctsim::ct {
namespace {
constexpr size_t kInitialSlots = 64;
}  // namespace

ConnTable::ConnTable() : slots_(kInitialSlots), mask_(kInitialSlots - 1) {}

ConnTable::~ConnTable() = default;

uint64_t ConnTable::hash(const ConnKey& key) { return keyHashDirected(key); }

uint64_t ConnTable::hashOf(const Conn* conn, bool reply) {
  return reply ? hash(reverseKey(conn->key())) : hash(conn->key());
}

void ConnTable::place(uint64_t slot, uint64_t h) {
  size_t i = home(h);
  while (slots_[i] != 0) i = (i + 1) & mask_;
  slots_[i] = slot;
}

void ConnTable::grow() {
  size_t old_cap = capacity();
  HugeArray<uint64_t> old = std::move(slots_);
  slots_ = HugeArray<uint64_t>(old_cap * 2);
  mask_ = old_cap * 2 - 1;
  for (size_t i = 0; i < old_cap; ++i) {
    if (old[i] != 0) place(old[i], hashOf(connOf(old[i]), replyOf(old[i])));
  }
}

void ConnTable::insert(Conn* conn, bool reply) {
  auto addr = reinterpret_cast<uint64_t>(conn);
  if ((addr & ~kPtrMask) != 0 || (addr & 1) != 0) {
    // Never on Linux x86-64/arm64 user space (47/48-bit addresses, aligned objects).
    std::fprintf(stderr, "ctsim: connection address %p does not fit the table\n",
                 static_cast<void*>(conn));
    std::abort();
  }
  if ((size_ + 1) * 4 > capacity() * 3) grow();
  uint64_t h = hashOf(conn, reply);
  place(tagOf(h) | addr | (reply ? 1 : 0), h);
  ++size_;
}

void ConnTable::erase(Conn* conn, bool reply) {
  uint64_t h = hashOf(conn, reply);
  uint64_t want = tagOf(h) | reinterpret_cast<uint64_t>(conn) | (reply ? 1 : 0);
  size_t i = home(h);
  while (slots_[i] != want) {
    if (slots_[i] == 0) return;  // not indexed (cannot happen: callers erase what they put).
    i = (i + 1) & mask_;
  }
  // Backward shift: pull each later entry of the cluster into the hole unless its home lies
  // cyclically in (hole, its position].
  size_t hole = i;
  for (size_t j = (i + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
    size_t k = home(hashOf(connOf(slots_[j]), replyOf(slots_[j])));
    bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = 0;
  --size_;
}

}  // namespace ctsim::ct
