#pragma once
// Long sums in double without a chain of dependent double adds (which bound a row's sum at one
// add per 4 cycles): kLanes partial sums in T over blocks of kBlock terms, which the compiler
// keeps in vector registers, added into double after each block. Each partial sum takes at
// most kBlock / kLanes terms, so float's rounding stays at a few ulp; the order is fixed, so the
// result does not depend on the caller's threads.
#include <algorithm>
#include <cstdint>

namespace sgz {

// The sum over i < n of term(i).
template <typename T, typename Term>
inline double lane_sum(int64_t n, const Term& term) {
  constexpr int64_t kLanes = 16, kBlock = 256;
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(n, begin + kBlock);
    T lanes[kLanes] = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] += term(i + l);
    }
    for (; i < end; ++i) lanes[0] += term(i);
    for (int64_t l = 0; l < kLanes; ++l) total += lanes[l];
  }
  return total;
}

}  // namespace sgz
