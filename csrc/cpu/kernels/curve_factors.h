#pragma once
// Where the curve kernels' enhancement factors come from: r at x's size, or one row of an
// upsampled r lerped from two source rows. vec<V>(e, count) gives elements e .. e + count - 1
// as one vector, zeros after count (for curve_chains.h). Level-agnostic: V is the caller's
// vector type.
#include <cstdint>

#include "../../common/macros.h"

namespace sgz::cpu {

// r at x's size.
template <typename T>
struct Factors {
  const T* r;
  template <typename V>
  SGZ_ALWAYS_INLINE V vec(int64_t e, int64_t count) const { return V::loadu(r + e, count); }
  SGZ_ALWAYS_INLINE Factors shifted(int64_t s) const { return {r + s}; }
};

// One row of an upsampled r: the lerp of two column-upsampled source rows, computed where it
// is used so the row is never stored.
template <typename T>
struct LerpedFactors {
  const T* top;
  const T* bot;
  T w0, w1;
  template <typename V>
  SGZ_ALWAYS_INLINE V vec(int64_t e, int64_t count) const {
    // w1 * bot rounded, w0 * top fused into the sum: the rounding of lerp's scalar form as GCC
    // compiled it before these vector loops (left to GCC, the vector form fuses the other).
    return fmadd(V(w0), V::loadu(top + e, count), V(w1) * V::loadu(bot + e, count));
  }
  SGZ_ALWAYS_INLINE LerpedFactors shifted(int64_t s) const { return {top + s, bot + s, w0, w1}; }
};

}  // namespace sgz::cpu
