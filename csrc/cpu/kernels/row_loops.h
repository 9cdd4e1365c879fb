#pragma once
// The row loops that the dsconv kernels and the fused factor network share, compiled into each
// capability level's unit that includes this (inside its anonymous namespace): the depthwise
// 3x3 rows, the register-blocked pointwise product and the vector tanh.
//
// The pointwise product runs on the level's vector, Vec<T> (vec.h: AVX-512 16 floats, AVX2 8,
// NEON and baseline SSE2 4). Its register block, ROWS output channels x VECS vectors of
// pixels, is sized to the level's register file so the accumulators never leave registers:
// the block's accumulators plus the VECS loaded vectors and one broadcast weight must fit.
//   AVX-512, aarch64 (32 vector registers):  8 x 2 = 16 accumulators (+2 +1)
//   AVX2 (16 ymm):                           6 x 2 = 12 accumulators (+2 +1)
//   baseline x86-64 (16 xmm, no FMA: each multiply needs a temporary), others: 4 x 2 = 8
// (scripts/check_cpu_isa.py checks the built code of each level for spilled accumulators).
// Each loaded vector feeds ROWS FMAs, each broadcast VECS: the loop runs on the FMA units,
// not on loads. The weight gradient's outer products are blocked the same way.
#include <cmath>
#include <cstdint>

#include "../../common/dsconv.h"
#include "level.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

#if defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
constexpr int kRows = 8, kVecs = 2;      // pointwise block
constexpr int kOuterA = 4, kOuterB = 4;  // outer-product block: 16 sums + 8 loaded
#elif defined(CPU_CAPABILITY_AVX2)
constexpr int kRows = 6, kVecs = 2;
constexpr int kOuterA = 3, kOuterB = 3;  // 9 sums + 6 loaded
#else
constexpr int kRows = 4, kVecs = 2;
constexpr int kOuterA = 2, kOuterB = 3;  // 6 sums + 5 loaded + temporaries
#endif
// The depthwise rows on explicit vectors holding the 9 weights: not on baseline x86-64, whose
// 16 registers cannot also hold SSE2's multiply temporaries; GCC's own vectorization of the
// scalar loop serves it.
#if defined(CPU_CAPABILITY_DEFAULT) && defined(__x86_64__)
constexpr bool kVectorDepthwise = false;
#else
constexpr bool kVectorDepthwise = true;
#endif

// Loops over a register block: unrolled whole, so each accumulator is its own register.
#define SGZ_UNROLL _Pragma("GCC unroll 16")

// Reads one row; `Row` of depthwise3x3 for interior columns, where x - 1 .. x + 1 exist.
template <typename T>
struct RowPtr {
  const T* p;
  SGZ_ALWAYS_INLINE T operator()(int64_t x) const { return p[x]; }
};

// The same for the two border columns: zero outside [0, W).
template <typename T>
struct RowClamped {
  const T* p;
  int64_t W;
  SGZ_ALWAYS_INLINE T operator()(int64_t x) const { return x >= 0 && x < W ? p[x] : T(0); }
};

// The same for L consecutive columns: a vector loaded from x.
template <typename T>
struct RowVec {
  const T* p;
  SGZ_ALWAYS_INLINE Vec<T> operator()(int64_t x) const { return Vec<T>::loadu(p + x); }
};

#if defined(CPU_CAPABILITY_AVX512)
// AVX-512: a 64-byte load at x - 1 or x + 1 always straddles two cache lines, two of every three
// of the taps' loads. Instead each row is loaded once per vector, from x (aligned where the row
// is), and its neighbours x - 1 and x + 1 are shifted in from the vectors before and after.
template <typename T>
SGZ_ALWAYS_INLINE Vec<T> shift_in_before(const Vec<T>& centre, const Vec<T>& before);
template <typename T>
SGZ_ALWAYS_INLINE Vec<T> shift_in_after(const Vec<T>& centre, const Vec<T>& after);
template <>
SGZ_ALWAYS_INLINE Vec<float> shift_in_before(const Vec<float>& centre, const Vec<float>& before) {
  return _mm512_castsi512_ps(_mm512_maskz_alignr_epi32(
      __mmask16(0xFFFF), _mm512_castps_si512(centre), _mm512_castps_si512(before), 15));
}
template <>
SGZ_ALWAYS_INLINE Vec<float> shift_in_after(const Vec<float>& centre, const Vec<float>& after) {
  return _mm512_castsi512_ps(_mm512_maskz_alignr_epi32(
      __mmask16(0xFFFF), _mm512_castps_si512(after), _mm512_castps_si512(centre), 1));
}
template <>
SGZ_ALWAYS_INLINE Vec<double> shift_in_before(const Vec<double>& centre,
                                              const Vec<double>& before) {
  return _mm512_castsi512_pd(_mm512_maskz_alignr_epi64(__mmask8(0xFF), _mm512_castpd_si512(centre),
                                                       _mm512_castpd_si512(before), 7));
}
template <>
SGZ_ALWAYS_INLINE Vec<double> shift_in_after(const Vec<double>& centre, const Vec<double>& after) {
  return _mm512_castsi512_pd(_mm512_maskz_alignr_epi64(__mmask8(0xFF), _mm512_castpd_si512(after),
                                                       _mm512_castpd_si512(centre), 1));
}

// One row for depthwise3x3 at the vector of columns x0: columns x0 - 1, x0, x0 + 1 + lane.
template <typename T>
struct RowShifted {
  Vec<T> before, centre, after;
  int64_t x0;
  SGZ_ALWAYS_INLINE Vec<T> operator()(int64_t x) const {
    return x < x0 ? before : x > x0 ? after : centre;
  }
};

// A row read one vector ahead: the vectors at x - L, x, x + L, zeros beyond [0, W).
template <typename T>
struct RowStream {
  const T* p;
  int64_t W;
  Vec<T> previous, current, next;
  SGZ_ALWAYS_INLINE Vec<T> load(int64_t x) const {
    constexpr int64_t L = Vec<T>::size();
    return x + L <= W ? Vec<T>::loadu(p + x) : x < W ? Vec<T>::loadu(p + x, W - x) : Vec<T>(T(0));
  }
  SGZ_ALWAYS_INLINE RowStream(const T* p, int64_t W)
      : p(p), W(W), previous(T(0)), current(load(0)), next(load(Vec<T>::size())) {}
  SGZ_ALWAYS_INLINE RowShifted<T> at(int64_t x) const {
    return {shift_in_before(current, previous), current, shift_in_after(current, next), x};
  }
  SGZ_ALWAYS_INLINE void advance(int64_t x) {  // to the vector at x + L
    previous = current;
    current = next;
    next = load(x + 2 * Vec<T>::size());
  }
};

// depthwise_row on whole vectors from column 0, the last one partial, no border case: the
// zeros loaded beyond the row are the conv's padding.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_row_shifted(const T* up, const T* mid, const T* down, const T* w,
                                             T bias, T* __restrict out, int64_t W) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V wv[9];
  for (int k = 0; k < 9; ++k) wv[k] = V(w[k]);
  const V b(bias);
  RowStream<T> su(up, W), sm(mid, W), sd(down, W);
  int64_t x = 0;
  for (; x + L <= W; x += L) {
    (b + depthwise3x3(su.at(x), sm.at(x), sd.at(x), x, wv)).store(out + x);
    su.advance(x);
    sm.advance(x);
    sd.advance(x);
  }
  if (x < W) (b + depthwise3x3(su.at(x), sm.at(x), sd.at(x), x, wv)).store(out + x, W - x);
}
#endif

// One output row of a depthwise 3x3 conv with zero padding: out[x] = bias + taps.
// up / down point to a zero row at the image's top and bottom. The interior runs on whole
// vectors, the formula of depthwise3x3 taken lane by lane, its last vector overlapping the one
// before rather than leaving up to L - 1 columns to a scalar loop; the two border columns and
// rows narrower than a vector take the scalar loop. (AVX-512: depthwise_row_shifted.)
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_row(const T* up, const T* mid, const T* down, const T* w, T bias,
                                     T* __restrict out, int64_t W) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
#if defined(CPU_CAPABILITY_AVX512)
  if (W >= L) return depthwise_row_shifted(up, mid, down, w, bias, out, W);
#endif
  int64_t x = 1;
  if (kVectorDepthwise && W - 2 >= L) {
    V wv[9];
    for (int k = 0; k < 9; ++k) wv[k] = V(w[k]);
    const V b(bias);
    const RowVec<T> vu{up}, vm{mid}, vd{down};
    for (; x + L <= W - 1; x += L) (b + depthwise3x3(vu, vm, vd, x, wv)).store(out + x);
    if (x < W - 1) (b + depthwise3x3(vu, vm, vd, W - 1 - L, wv)).store(out + W - 1 - L);
    x = W - 1;
  }
  for (; x < W - 1; ++x) {
    out[x] = bias + depthwise3x3(RowPtr<T>{up}, RowPtr<T>{mid}, RowPtr<T>{down}, x, w);
  }
  const RowClamped<T> cu{up, W}, cm{mid, W}, cd{down, W};
  out[0] = bias + depthwise3x3(cu, cm, cd, 0, w);
  if (W > 1) out[W - 1] = bias + depthwise3x3(cu, cm, cd, W - 1, w);
}

// The depthwise rows of a padded buffer: out[i] = bias + taps at column i of up / mid / down,
// for i in [0, count), where column -1 and column count of each row are readable (zero
// padding, or a neighbouring tile's values the caller wants): no border cases. Whole vectors,
// the last one overlapping the one before; rows narrower than a vector take the scalar loop.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_span(const T* up, const T* mid, const T* down, const T* w, T bias,
                                      T* __restrict out, int64_t count) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  if (kVectorDepthwise && count >= L) {
    V wv[9];
    for (int k = 0; k < 9; ++k) wv[k] = V(w[k]);
    const V b(bias);
    const RowVec<T> vu{up}, vm{mid}, vd{down};
    int64_t x = 0;
    for (; x + L <= count; x += L) (b + depthwise3x3(vu, vm, vd, x, wv)).store(out + x);
    if (x < count) (b + depthwise3x3(vu, vm, vd, count - L, wv)).store(out + count - L);
    return;
  }
  for (int64_t x = 0; x < count; ++x) {
    out[x] = bias + depthwise3x3(RowPtr<T>{up}, RowPtr<T>{mid}, RowPtr<T>{down}, x, w);
  }
}

// ---- The pointwise product ------------------------------------------------------------------

// out[o][x] = bias[o] + sum_c w[o * wo + c * wc] * in[c][x] for ROWS outputs from o, c < K,
// and VECS vectors of pixels from x (or, PARTIAL, the `count` pixels from x), with
// in[c] = in + c * in_stride and out[o] = out + o * out_stride; with RELU, max(0, that), in
// registers on the way out.
template <typename T, int ROWS, int VECS, bool PARTIAL, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_tile(const T* w, int64_t wo, int64_t wc, const T* bias,
                                      const T* in, int64_t in_stride, int64_t K, T* out,
                                      int64_t out_stride, int64_t o, int64_t x, int64_t count) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V acc[ROWS][VECS];
  SGZ_UNROLL for (int i = 0; i < ROWS; ++i) {
    SGZ_UNROLL for (int j = 0; j < VECS; ++j) acc[i][j] = V(bias ? bias[o + i] : T(0));
  }
  for (int64_t c = 0; c < K; ++c) {
    const T* src = in + c * in_stride + x;
    V v[VECS];
    SGZ_UNROLL for (int j = 0; j < VECS; ++j) {
      v[j] = PARTIAL ? V::loadu(src, count) : V::loadu(src + j * L);
    }
    SGZ_UNROLL for (int i = 0; i < ROWS; ++i) {
      const V wi(w[(o + i) * wo + c * wc]);
      SGZ_UNROLL for (int j = 0; j < VECS; ++j) acc[i][j] = fmadd(wi, v[j], acc[i][j]);
    }
  }
  // Every loop over the block fully unrolled and the stores from copies: an accumulator array
  // indexed by a variable or whose element's address escapes lives in memory, and GCC then
  // writes it back every iteration of the loop over c (seen on aarch64).
  SGZ_UNROLL for (int i = 0; i < ROWS; ++i) {
    T* dst = out + (o + i) * out_stride + x;
    SGZ_UNROLL for (int j = 0; j < VECS; ++j) {
      const V result = RELU ? relu(V(acc[i][j])) : acc[i][j];
      if constexpr (PARTIAL) {
        result.store(dst, count);
      } else {
        result.store(dst + j * L);
      }
    }
  }
}

// The same for all X pixels: blocks of kVecs vectors, then single vectors, then one partial.
template <typename T, int ROWS, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_block(const T* w, int64_t wo, int64_t wc, const T* bias,
                                       const T* in, int64_t in_stride, int64_t K, T* out,
                                       int64_t out_stride, int64_t o, int64_t X) {
  constexpr int64_t L = Vec<T>::size();
  int64_t x = 0;
  for (; x + kVecs * L <= X; x += kVecs * L) {
    pointwise_tile<T, ROWS, kVecs, false, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride,
                                                o, x, L);
  }
  for (; x + L <= X; x += L) {
    pointwise_tile<T, ROWS, 1, false, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o,
                                            x, L);
  }
  if (x < X) {
    pointwise_tile<T, ROWS, 1, true, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, x,
                                           X - x);
  }
}

// Output channels [o, o + left) with left < ROWS, one block of exactly that many rows.
template <typename T, int ROWS, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_rest(const T* w, int64_t wo, int64_t wc, const T* bias,
                                      const T* in, int64_t in_stride, int64_t K, T* out,
                                      int64_t out_stride, int64_t o, int64_t left, int64_t X) {
  if constexpr (ROWS > 0) {
    if (left == ROWS) {
      pointwise_block<T, ROWS, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, X);
    } else {
      pointwise_rest<T, ROWS - 1, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, left,
                                        X);
    }
  }
}

// M output rows of the pointwise product, ReLU applied when RELU.
template <typename T, bool RELU = false>
SGZ_ALWAYS_INLINE void pointwise(const T* w, int64_t wo, int64_t wc, const T* bias, const T* in,
                                 int64_t in_stride, int64_t K, T* out, int64_t out_stride,
                                 int64_t M, int64_t X) {
  int64_t o = 0;
  for (; o + kRows <= M; o += kRows) {
    pointwise_block<T, kRows, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, X);
  }
  pointwise_rest<T, kRows - 1, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, M - o,
                                     X);
}

// ---- tanh -----------------------------------------------------------------------------------

// tanh in place on `rows` rows of `count` values, row i at p + i * stride: float32 by
// tanh_rational (common/dsconv.h) on vectors, as libm's scalar tanhf took half of e_conv7's
// forward (NOTES.md, factor_net).
SGZ_ALWAYS_INLINE void tanh_rows(float* p, int64_t stride, int64_t rows, int64_t count) {
  using V = Vec<float>;
  constexpr int64_t L = V::size();
  const V limit(7.90531110763549805f), neg_limit(-7.90531110763549805f), one(1.0f), neg_one(-1.0f);
  const auto tanh_vec = [&](V z) {
    return clamp(tanh_rational(clamp(z, neg_limit, limit)), neg_one, one);
  };
  for (int64_t i = 0; i < rows; ++i) {
    float* row = p + i * stride;
    int64_t x = 0;
    for (; x + L <= count; x += L) tanh_vec(V::loadu(row + x)).store(row + x);
    if (x < count) tanh_vec(V::loadu(row + x, count - x)).store(row + x, count - x);
  }
}

// float64 keeps libm's tanh, to the reference's rounding.
SGZ_ALWAYS_INLINE void tanh_rows(double* p, int64_t stride, int64_t rows, int64_t count) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t x = 0; x < count; ++x) p[i * stride + x] = std::tanh(p[i * stride + x]);
  }
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
