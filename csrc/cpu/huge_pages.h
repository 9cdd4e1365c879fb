#pragma once
// Large CPU outputs are written once, front to back, right after allocation: with 4 KB pages,
// a 1080p 32-channel float map (265 MB) takes ~65,000 page faults, about 85 ms on our 2-core
// machine, more than the kernel's arithmetic. Asking the kernel for transparent huge pages on
// such a fresh buffer (the "madvise" THP mode most distributions default to) cuts that ~5x.
// PyTorch's own switch, THP_MEM_ALLOC_ENABLE=1, does the same for every allocation.
#include <ATen/core/Tensor.h>

#include <cstdint>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sgz {

// Returns `t` (a fresh, untouched CPU tensor) after advising huge pages for the 2 MB-aligned
// part of its memory. Only a hint: without THP support nothing changes.
inline at::Tensor with_huge_pages(at::Tensor t) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  if (t.nbytes() >= 2 * kHuge) {
    const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
    const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t last = (begin + t.nbytes()) & ~(kHuge - 1);
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#endif
  return t;
}

}  // namespace sgz
