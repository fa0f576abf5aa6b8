#pragma once
// Storage for the engine's large arrays (the key table's slots, the connection pool's chunks) on
// 2 MiB transparent huge pages where the kernel gives them.
//
// One packet of a random flow touches a slot of the key table (tens of MB at 1 M flows) and a
// connection (hundreds of MB): on 4 KiB pages each is a TLB miss and a page walk on top of the
// cache miss. With transparent huge pages in `madvise` mode (many distributions' default) only
// regions marked MADV_HUGEPAGE get huge pages, so blocks of more than half of kHugePageSize are
// mmap'd (rounded up to whole huge pages), 2 MiB-aligned and marked. Smaller blocks, and every
// block under AddressSanitizer (so that its heap checks still apply), come from calloc. A kernel
// without THP leaves the block on normal pages, silently: the only difference is speed.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace ctsim::ct {

inline constexpr size_t kHugePageSize = size_t(2) << 20;

// `bytes` zeroed bytes (at least 16-byte aligned; 2 MiB-aligned when mmap'd). Aborts with a
// message when memory is exhausted (no exceptions). Give the same `bytes` to hugeFree().
void* hugeAlloc(size_t bytes);
void hugeFree(void* p, size_t bytes);

// A fixed number of T on hugeAlloc() storage. The bytes start zeroed; no constructor is run
// (T is an implicit-lifetime type such as uint64_t, or its owner placement-constructs elements)
// and no destructor either (T must be trivially destructible).
template <typename T>
class HugeArray {
  static_assert(std::is_trivially_destructible_v<T>, "elements are never destroyed");

 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) : p_(static_cast<T*>(hugeAlloc(n * sizeof(T)))), n_(n) {}
  ~HugeArray() { reset(); }
  HugeArray(HugeArray&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  HugeArray& operator=(HugeArray&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;

  T& operator[](size_t i) const { return p_[i]; }
  T* data() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

 private:
  void reset() {
    if (p_ != nullptr) hugeFree(p_, n_ * sizeof(T));
    p_ = nullptr;
    n_ = 0;
  }

  T* p_ = nullptr;
  size_t n_ = 0;
};

// A standard allocator on hugeAlloc() storage, for vectors that grow large (a replay's
// connection lifecycles: hundreds of MB at a million connections, whose 4 KiB page faults cost
// more than filling them on these guests).
template <typename T>
struct HugeAllocator {
  using value_type = T;
  HugeAllocator() = default;
  template <typename U>
  HugeAllocator(const HugeAllocator<U>&) {}  // NOLINT: implicit, as std::allocator's.
  T* allocate(size_t n) { return static_cast<T*>(hugeAlloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { hugeFree(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const HugeAllocator<U>&) const {
    return true;
  }
};

}  // namespace ctsim::ct
