#include "sim/conntrack/huge_pages.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define CTSIM_HUGE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTSIM_HUGE_ASAN 1
#endif
#endif

namespace ctsim::ct {
namespace {

#ifdef CTSIM_HUGE_ASAN
constexpr bool kMap = false;  // calloc: AddressSanitizer checks the block's bounds.
#else
constexpr bool kMap = true;
#endif

// Whether a block of `bytes` is mmap'd (a function of the size alone, so hugeFree agrees): more
// than half a huge page (a pool chunk is a huge page less what a whole object does not fill).
bool mapped(size_t bytes) { return kMap && bytes > kHugePageSize / 2; }

size_t roundUp(size_t bytes) { return (bytes + kHugePageSize - 1) & ~(kHugePageSize - 1); }

[[noreturn]] void outOfMemory(size_t bytes) {
  std::fprintf(stderr, "ctsim: out of memory allocating %zu bytes\n", bytes);
  std::abort();
}

}  // namespace

void* hugeAlloc(size_t bytes) {
  if (!mapped(bytes)) {
    void* p = std::calloc(1, bytes == 0 ? 1 : bytes);
    if (p == nullptr) outOfMemory(bytes);
    return p;
  }
  // Map one huge page more than needed, then unmap the unaligned head and the tail.
  size_t len = roundUp(bytes);
  size_t span = len + kHugePageSize;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) outOfMemory(bytes);
  auto base = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (base + kHugePageSize - 1) & ~uintptr_t(kHugePageSize - 1);
  if (aligned > base) munmap(raw, aligned - base);
  size_t tail = base + span - (aligned + len);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + len), tail);
  void* p = reinterpret_cast<void*>(aligned);
  (void)madvise(p, len, MADV_HUGEPAGE);  // EINVAL without THP: normal pages, same contents.
  return p;
}

void hugeFree(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (mapped(bytes)) {
    munmap(p, roundUp(bytes));
  } else {
    std::free(p);
  }
}

}  // namespace ctsim::ct
