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
SGZ_ALWAYS_INLINE Vec<T> operator-(const Vec<T>& a, const Vec<T>& b) {
  Vec<T> r;
  r.v = a.v - b.v;
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

template <typename T>
SGZ_ALWAYS_INLINE T reduce_add(const Vec<T>& v) {
  T sum = 0;
  for (int64_t i = 0; i < Vec<T>::size(); ++i) sum += v.v[i];
  return sum;
}

#else

template <typename T>
using Vec = at::vec::Vectorized<T>;
using at::vec::fmadd;

// The sum of a vector's lanes (AVX2 and AVX-512: Vectorized<T> converts to and from __m256,
// __m512).
#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
SGZ_ALWAYS_INLINE float reduce_add(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
SGZ_ALWAYS_INLINE double reduce_add(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#endif

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
SGZ_ALWAYS_INLINE float reduce_add(const Vec<float>& v) {
  const __mmask8 all(0xFF);
  return reduce_add(_mm256_add_ps(_mm512_maskz_extractf32x8_ps(all, v, 0),
                                  _mm512_maskz_extractf32x8_ps(all, v, 1)));
}
SGZ_ALWAYS_INLINE double reduce_add(const Vec<double>& v) {
  const __mmask8 all(0xF);
  return reduce_add(_mm256_add_pd(_mm512_maskz_extractf64x4_pd(all, v, 0),
                                  _mm512_maskz_extractf64x4_pd(all, v, 1)));
}
// at::vec::clamp's min and max, and the upper half for the lane sum, in the masked forms for
// the same reason.
SGZ_ALWAYS_INLINE Vec<float> clamp(const Vec<float>& a, const Vec<float>& lo,
                                   const Vec<float>& hi) {
  const __mmask16 all(0xFFFF);
  return _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, a, lo), hi);
}
// The lane sums of L vectors at once: lane i of the result is the sum of v[i]'s lanes. Pairs
// of vectors are folded into one by in-lane shuffles and adds, halving the count at each of
// log2(L) levels: 45 operations for 16 sums at AVX-512 where 16 reduce_adds take about 150.
// (The shuffles in their all-lanes masked forms, as for max above.)
SGZ_ALWAYS_INLINE Vec<float> lane_sums(const Vec<float> (&v)[16]) {
  const __mmask16 all(0xFFFF);
  __m512 pairs[8], quads[4];  // within each 128-bit lane: sums over 2, then 4 of its values
  for (int i = 0; i < 8; ++i) {
    const __m512 a = v[2 * i], b = v[2 * i + 1];
    pairs[i] =
        _mm512_add_ps(_mm512_maskz_unpacklo_ps(all, a, b), _mm512_maskz_unpackhi_ps(all, a, b));
  }
  for (int i = 0; i < 4; ++i) {
    const __m512 a = pairs[2 * i], b = pairs[2 * i + 1];
    quads[i] = _mm512_add_ps(_mm512_maskz_shuffle_ps(all, a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_maskz_shuffle_ps(all, a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // Across the four 128-bit lanes: lane j of quads[i] holds vectors 4 i .. 4 i + 3's sums over
  // their lane j.
  const auto fold = [all](__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_maskz_shuffle_f32x4(all, a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  return fold(fold(quads[0], quads[1]), fold(quads[2], quads[3]));
}
#elif defined(CPU_CAPABILITY_AVX2)
SGZ_ALWAYS_INLINE Vec<float> relu(const Vec<float>& z) {
  return _mm256_max_ps(z, _mm256_setzero_ps());
}
SGZ_ALWAYS_INLINE Vec<double> relu(const Vec<double>& z) {
  return _mm256_max_pd(z, _mm256_setzero_pd());
}
// lane_sums as at AVX-512 (above): 21 operations for 8 sums.
SGZ_ALWAYS_INLINE Vec<float> lane_sums(const Vec<float> (&v)[8]) {
  __m256 pairs[4], quads[2];
  for (int i = 0; i < 4; ++i) {
    const __m256 a = v[2 * i], b = v[2 * i + 1];
    pairs[i] = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
  }
  for (int i = 0; i < 2; ++i) {
    const __m256 a = pairs[2 * i], b = pairs[2 * i + 1];
    quads[i] = _mm256_add_ps(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  return _mm256_add_ps(_mm256_permute2f128_ps(quads[0], quads[1], 0x20),
                       _mm256_permute2f128_ps(quads[0], quads[1], 0x31));
}
using at::vec::clamp;
#else
template <typename T>
SGZ_ALWAYS_INLINE Vec<T> relu(const Vec<T>& z) {
  const Vec<T> zero(T(0));
  return Vec<T>::blendv(zero, z, z > zero);
}
template <typename T>
SGZ_ALWAYS_INLINE T reduce_add(const Vec<T>& v) {
  T lanes[Vec<T>::size()];
  v.store(lanes);
  T sum = 0;
  for (int64_t i = 0; i < Vec<T>::size(); ++i) sum += lanes[i];
  return sum;
}
using at::vec::clamp;
#endif

#endif

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
