// Hot loops of the affine_uint8 and colour_affine_uint8 CPU kernels, compiled once per
// capability level (capability.h): one row of W * C interleaved bytes as one vectorizable loop
// (byte to float, the coefficients lerped between two cached source rows, a x + b, float to
// byte); for the colour op, one loop over the row's pixels, 3 bytes and 9 coefficients each.
#include "affine_uint8_kernels.h"

#include "../../common/affine.h"
#include "../../common/bilinear.h"
#include "../../common/guided.h"
#include "../../common/pixels.h"
#include "level.h"
#include "vec.h"  // the level's intrinsics

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

template <bool Lerp>
SGZ_ALWAYS_INLINE void row_impl(const uint8_t* __restrict in, uint8_t* __restrict out,
                                const float* __restrict a_top, const float* __restrict a_bot,
                                const float* __restrict b_top, const float* __restrict b_bot,
                                float w0, float w1, int64_t m) {
  for (int64_t e = 0; e < m; ++e) {
    const float a = Lerp ? lerp(a_top[e], a_bot[e], w0, w1) : a_top[e];
    const float b = Lerp ? lerp(b_top[e], b_bot[e], w0, w1) : b_top[e];
    out[e] = byte_from_unit(affine(unit_from_byte(in[e]), a, b));
  }
}

void affine_row(const uint8_t* in, uint8_t* out, const float* a_top, const float* a_bot,
                const float* b_top, const float* b_bot, float w0, float w1, int64_t m) {
  if (a_bot == nullptr) {
    row_impl<false>(in, out, a_top, a_top, b_top, b_top, w0, w1, m);
  } else {
    row_impl<true>(in, out, a_top, a_bot, b_top, b_bot, w0, w1, m);
  }
}

// The maps' rows are planar (a's entry k at k * W + X, b's channel c at c * W + X): over the
// pixels this loop vectorizes, over interleaved maps (6 and 3 values a pixel) it did not.
template <bool Lerp>
SGZ_ALWAYS_INLINE void colour_row_impl(const uint8_t* __restrict in, uint8_t* __restrict out,
                                       const float* __restrict a_top, const float* __restrict a_bot,
                                       const float* __restrict b_top, const float* __restrict b_bot,
                                       float w0, float w1, int64_t W) {
#pragma GCC ivdep  // the maps' rows are W apart: GCC would want alias checks between them
  for (int64_t X = 0; X < W; ++X) {
    float x[3], a[kSymmetric3];
    for (int c = 0; c < 3; ++c) x[c] = unit_from_byte(in[X * 3 + c]);
    for (int k = 0; k < kSymmetric3; ++k) {
      const int64_t e = k * W + X;
      a[k] = Lerp ? lerp(a_top[e], a_bot[e], w0, w1) : a_top[e];
    }
    for (int c = 0; c < 3; ++c) {
      const int64_t e = c * W + X;
      const float b = Lerp ? lerp(b_top[e], b_bot[e], w0, w1) : b_top[e];
      out[X * 3 + c] = byte_from_unit(colour_affine(c, x, a, b));
    }
  }
}

void colour_row(const uint8_t* in, uint8_t* out, const float* a_top, const float* a_bot,
                const float* b_top, const float* b_bot, float w0, float w1, int64_t W) {
  if (a_bot == nullptr) {
    colour_row_impl<false>(in, out, a_top, a_top, b_top, b_top, w0, w1, W);
  } else {
    colour_row_impl<true>(in, out, a_top, a_bot, b_top, b_bot, w0, w1, W);
  }
}

// Blocks of consecutive outputs whose taps' sources lie within one vector's reach, as they do
// when upsampling (the maps are never larger than the frames: a block's i0 grow by at most
// one per output). A block's two source vectors, loaded from its first i0 and the next, are
// permuted into place by the taps' offsets: one permute per vector where a gather of 16
// (slow on these Xeons) took twice the colour apply's own loop.
#if defined(CPU_CAPABILITY_AVX512)
constexpr int64_t kColumnsBlock = 16;
SGZ_ALWAYS_INLINE void columns_block(const float* src, const int32_t* i0, const float* w0,
                                     const float* w1, float* out) {
  // The all-lanes masked permute: GCC 12 warns on the plain one's undefined operand (vec.h).
  const __mmask16 all(0xFFFF);
  const __m512i offsets = _mm512_sub_epi32(_mm512_loadu_si512(i0), _mm512_set1_epi32(i0[0]));
  const __m512 a = _mm512_maskz_permutexvar_ps(all, offsets, _mm512_loadu_ps(src + i0[0]));
  const __m512 b = _mm512_maskz_permutexvar_ps(all, offsets, _mm512_loadu_ps(src + i0[0] + 1));
  _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(w0), a),
                                      _mm512_mul_ps(_mm512_loadu_ps(w1), b)));
}
#elif defined(CPU_CAPABILITY_AVX2)
constexpr int64_t kColumnsBlock = 8;
SGZ_ALWAYS_INLINE void columns_block(const float* src, const int32_t* i0, const float* w0,
                                     const float* w1, float* out) {
  const __m256i offsets = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(i0)),
                                           _mm256_set1_epi32(i0[0]));
  const __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src + i0[0]), offsets);
  const __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src + i0[0] + 1), offsets);
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(w0), a),
                                      _mm256_mul_ps(_mm256_loadu_ps(w1), b)));
}
#else
constexpr int64_t kColumnsBlock = 0;  // no permute: the scalar loop does every output
SGZ_ALWAYS_INLINE void columns_block(const float*, const int32_t*, const float*, const float*,
                                     float*) {}
#endif

void columns(const float* __restrict src, int64_t w, const int32_t* __restrict i0,
             const int32_t* __restrict i1, const float* __restrict w0, const float* __restrict w1,
             int64_t W, float* __restrict out) {
  int64_t X = 0;
  // A block reads src[i0[X] .. i0[X] + kColumnsBlock]: within the row until near its end,
  // where every i1 is i0 + 1 too.
  if constexpr (kColumnsBlock > 0) {
    for (; X + kColumnsBlock <= W && i0[X] + kColumnsBlock < w; X += kColumnsBlock) {
      columns_block(src, i0 + X, w0 + X, w1 + X, out + X);
    }
  }
  for (; X < W; ++X) out[X] = lerp(src[i0[X]], src[i1[X]], w0[X], w1[X]);
}

}  // namespace

template <typename T>
const AffineUint8Kernels<T>& affine_uint8_kernels() {
  static const AffineUint8Kernels<T> table{&affine_row, &colour_row, &columns};
  return table;
}

template const AffineUint8Kernels<float>& affine_uint8_kernels<float>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
