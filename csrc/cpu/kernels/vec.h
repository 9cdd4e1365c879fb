#pragma once
// The SIMD vector of this capability level's hot loops: sgz::cpu::<LEVEL>::Vec<T>.
//
// AVX2, AVX-512 and every non-x86 build (NEON on aarch64, SVE, VSX): ATen's
// at::vec::Vectorized<T> of the same level, compiled with the level's flags.
// Baseline x86-64 (SSE2): ATen's portable Vectorized is a 32-byte std::array whose operators
// GCC does not keep in registers (the dsconv forward ran at 9 GFLOP/s with it, slower than
// eager PyTorch); a 16-byte GCC vector type with the same few members runs on SSE registers.
#include <ATen/cpu/vec/vec.h>

#include <cstdint>
#include <cstring>

#include "../../common/macros.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {

#if defined(CPU_CAPABILITY_DEFAULT) && defined(__x86_64__) && defined(__GNUC__)

template <typename T>
struct Vec {
  typedef T Native __attribute__((vector_size(16)));
  Native v;

  static constexpr int64_t size() { return 16 / sizeof(T); }
  Vec() = default;
  SGZ_ALWAYS_INLINE Vec(T value) : v(Native{} + value) {}
  static SGZ_ALWAYS_INLINE Vec loadu(const T* p) {
    Vec r;
    std::memcpy(&r.v, p, sizeof(Native));
    return r;
  }
  static SGZ_ALWAYS_INLINE Vec loadu(const T* p, int64_t count) {  // zeros beyond count
    Vec r(T(0));
    std::memcpy(&r.v, p, count * sizeof(T));
    return r;
  }
  SGZ_ALWAYS_INLINE void store(T* p) const { std::memcpy(p, &v, sizeof(Native)); }
  SGZ_ALWAYS_INLINE void store(T* p, int64_t count) const { std::memcpy(p, &v, count * sizeof(T)); }
};

template <typename T>
SGZ_ALWAYS_INLINE Vec<T> operator*(const Vec<T>& a, const Vec<T>& b) {
  Vec<T> r;
  r.v = a.v * b.v;
  return r;
}

template <typename T>
SGZ_ALWAYS_INLINE Vec<T> operator+(const Vec<T>& a, const Vec<T>& b) {
  Vec<T> r;
  r.v = a.v + b.v;
  return r;
}

template <typename T>
SGZ_ALWAYS_INLINE Vec<T> operator/(const Vec<T>& a, const Vec<T>& b) {
  Vec<T> r;
  r.v = a.v / b.v;
  return r;
}

template <typename T>
SGZ_ALWAYS_INLINE Vec<T> clamp(const Vec<T>& a, const Vec<T>& lo, const Vec<T>& hi) {
  Vec<T> r;
  r.v = a.v < lo.v ? lo.v : (a.v > hi.v ? hi.v : a.v);
  return r;
}

template <typename T>
SGZ_ALWAYS_INLINE Vec<T> fmadd(const Vec<T>& a, const Vec<T>& b, const Vec<T>& c) {
  return a * b + c;
}

// activate(z, kRelu) of common/dsconv.h lane by lane: z > 0 ? z : 0 (NaN gives 0).
template <typename T>
SGZ_ALWAYS_INLINE Vec<T> relu(const Vec<T>& z) {
  Vec<T> r;
  r.v = z.v > T(0) ? z.v : T(0);
  return r;
}

#else

template <typename T>
using Vec = at::vec::Vectorized<T>;
using at::vec::fmadd;

// activate(z, kRelu) of common/dsconv.h lane by lane: z > 0 ? z : 0 (NaN and -0 give +0).
// x86's max(z, 0) is exactly that (it returns its second operand unless z > 0): one
// instruction where a compare and blend would take four and the accumulators' registers.
// (AVX-512: the all-lanes masked form, as GCC 12 warns on _mm512_max_ps's undefined operand.)
#if defined(CPU_CAPABILITY_AVX512)
SGZ_ALWAYS_INLINE Vec<float> relu(const Vec<float>& z) {
  return _mm512_maskz_max_ps(__mmask16(0xFFFF), z, _mm512_setzero_ps());
}
SGZ_ALWAYS_INLINE Vec<double> relu(const Vec<double>& z) {
  return _mm512_maskz_max_pd(__mmask8(0xFF), z, _mm512_setzero_pd());
}
// at::vec::clamp's min and max, in the masked form for the same reason.
SGZ_ALWAYS_INLINE Vec<float> clamp(const Vec<float>& a, const Vec<float>& lo,
                                   const Vec<float>& hi) {
  const __mmask16 all(0xFFFF);
  return _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, a, lo), hi);
}
#elif defined(CPU_CAPABILITY_AVX2)
SGZ_ALWAYS_INLINE Vec<float> relu(const Vec<float>& z) {
  return _mm256_max_ps(z, _mm256_setzero_ps());
}
SGZ_ALWAYS_INLINE Vec<double> relu(const Vec<double>& z) {
  return _mm256_max_pd(z, _mm256_setzero_pd());
}
using at::vec::clamp;
#else
template <typename T>
SGZ_ALWAYS_INLINE Vec<T> relu(const Vec<T>& z) {
  const Vec<T> zero(T(0));
  return Vec<T>::blendv(zero, z, z > zero);
}
using at::vec::clamp;
#endif

#endif

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
