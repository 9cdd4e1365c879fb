#pragma once
// The channels-last loops of the fused factor network that its forward
// (factor_net_kernels.cpp) and its backward (factor_net_backward_kernels.cpp) share: the
// depthwise 3x3 of rows whose pixels hold their channels contiguous, and the pointwise product
// as a register block of pixels x output-channel vectors. Included once per capability level;
// everything here is internal to the including file.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../../common/dsconv.h"
#include "factor_net_kernels.h"
#include "level.h"
#include "row_loops.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// The channels-last register block of the pointwise product: NX pixels x NO vectors of
// output channels, sized to the level's register file like the planar block (row_loops.h):
// NX * NO accumulators + NO weight vectors + one broadcast pixel value.
// The depthwise loop's window: kWindow pixels' outputs in kDepthwiseRows rows from
// kWindow + 2 loaded vectors per source row, next to the 9 weights, the bias and the
// kWindow x kDepthwiseRows chains of depthwise3x3_chain. Baseline x86-64 does a step's two
// rows one after the other, each source row loaded for each.
#if defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
constexpr int kPixels = 8, kOutVecs = 2;        // 16 + 2 + 1 of 32 registers
constexpr int kWindow = 2, kDepthwiseRows = 2;  // 16 + 10 + 4 of 32
#elif defined(CPU_CAPABILITY_AVX2)
constexpr int kPixels = 6, kOutVecs = 2;        // 12 + 2 + 1 of 16
constexpr int kWindow = 1, kDepthwiseRows = 2;  // 12 + 2 of 16: weights and bias from L1
#else
constexpr int kPixels = 4, kOutVecs = 2;  // 8 + 2 + 1 of 16, and SSE2's temporaries
constexpr int kWindow = 1, kDepthwiseRows = 1;
#endif
static_assert(kDepthwiseRows == 1 || kDepthwiseRows == kNetRowsPerStep);

// Reads a channels-last row: the vector of L channels at pixel x, from NX + 2 vectors loaded
// once for pixels x0 - 1 .. x0 + NX (x counted from x0): each loaded vector serves up to three
// outputs' taps, in registers.
template <typename T, int NX>
struct PixelWindow {
  const Vec<T>* v;
  SGZ_ALWAYS_INLINE Vec<T> operator()(int64_t x) const { return v[x + 1]; }
};

// The depthwise result of NX pixels from x in ROWS consecutive output rows, channels
// [g, g + L) of a source of C channels: output row r from source rows r .. r + 2 of `src`, each
// source row loaded once for all the output rows that read it.
template <typename T, int NX, int ROWS>
SGZ_ALWAYS_INLINE void depthwise_pixels(const T* const (&src)[ROWS + 2], int64_t C, int64_t g,
                                        const Vec<T> (&w)[9], const Vec<T>& b, T* const (&d)[ROWS],
                                        int64_t dx, int64_t x) {
  using V = Vec<T>;
  V r[ROWS + 2][NX + 2];
  SGZ_UNROLL for (int j = 0; j < ROWS + 2; ++j) {
    SGZ_UNROLL for (int i = 0; i < NX + 2; ++i) r[j][i] = V::loadu(src[j] + (x + i - 1) * C + g);
  }
  SGZ_UNROLL for (int j = 0; j < ROWS; ++j) {
    const PixelWindow<T, NX> up{r[j]}, mid{r[j + 1]}, down{r[j + 2]};
    SGZ_UNROLL for (int i = 0; i < NX; ++i) {
      depthwise3x3_chain(b, up, mid, down, int64_t(i), w).store(d[j] + (x + i) * dx + g);
    }
  }
}

// d[r][x * dx + (c0 + c)] for pixels [0, n), c < C, r < ROWS: the 3x3 depthwise result of a
// channels-last source of C channels, output row r from source rows src[r .. r + 2] (at the
// chunk's first pixel; pixel -1 and n readable), the shared formula on vectors of L channels,
// kWindow pixels at a time. Its weights are channels [c0, c0 + C) of dwt (9 x dx) and db.
template <typename T, int ROWS>
SGZ_ALWAYS_INLINE void depthwise_channels_last(const T* const (&src)[ROWS + 2], int64_t C,
                                               const T* dwt, const T* db, int64_t c0,
                                               T* const (&d)[ROWS], int64_t dx, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  T* dc[ROWS];
  for (int j = 0; j < ROWS; ++j) dc[j] = d[j] + c0;
  for (int64_t g = 0; g < C; g += L) {
    V w[9];
    for (int k = 0; k < 9; ++k) w[k] = V::loadu(dwt + k * dx + c0 + g);
    const V b = V::loadu(db + c0 + g);
    int64_t x = 0;
    for (; x + kWindow <= n; x += kWindow) {
      depthwise_pixels<T, kWindow, ROWS>(src, C, g, w, b, dc, dx, x);
    }
    for (; x < n; ++x) depthwise_pixels<T, 1, ROWS>(src, C, g, w, b, dc, dx, x);
  }
}

// out[x * M + o] = bias[o] + sum_c pwt[c * M + o] * d[x * dx + c * dc], ReLU'd if RELU, for NX
// pixels from x and NO vectors of outputs from o: each pixel value is broadcast once per c and
// feeds NO FMAs, each weight vector NX. The sum runs from the bias over c in order, as the planar
// pointwise product's does.
template <typename T, int NX, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_pixels(const T* pwt, const T* bias, const T* d, int64_t dx,
                                        int64_t dc, int64_t K, T* out, int64_t M, int64_t x,
                                        int64_t o) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V acc[NX][kOutVecs];
  SGZ_UNROLL for (int j = 0; j < kOutVecs; ++j) {
    const V b = V::loadu(bias + o + j * L);
    SGZ_UNROLL for (int i = 0; i < NX; ++i) acc[i][j] = b;
  }
  for (int64_t c = 0; c < K; ++c) {
    V w[kOutVecs];
    SGZ_UNROLL for (int j = 0; j < kOutVecs; ++j) w[j] = V::loadu(pwt + c * M + o + j * L);
    SGZ_UNROLL for (int i = 0; i < NX; ++i) {
      const V v(d[(x + i) * dx + c * dc]);
      SGZ_UNROLL for (int j = 0; j < kOutVecs; ++j) acc[i][j] = fmadd(w[j], v, acc[i][j]);
    }
  }
  SGZ_UNROLL for (int i = 0; i < NX; ++i) {
    SGZ_UNROLL for (int j = 0; j < kOutVecs; ++j) {
      const V result = RELU ? relu(V(acc[i][j])) : acc[i][j];
      result.store(out + (x + i) * M + o + j * L);
    }
  }
}

// The last pixels of a chunk, fewer than kPixels: one block of exactly that many.
template <typename T, int NX, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_pixels_rest(const T* pwt, const T* bias, const T* d, int64_t dx,
                                             int64_t dc, int64_t K, T* out, int64_t M, int64_t x,
                                             int64_t o, int64_t left) {
  if constexpr (NX > 0) {
    if (left == NX) {
      pointwise_pixels<T, NX, RELU>(pwt, bias, d, dx, dc, K, out, M, x, o);
    } else {
      pointwise_pixels_rest<T, NX - 1, RELU>(pwt, bias, d, dx, dc, K, out, M, x, o, left);
    }
  }
}

// The pointwise product (and ReLU if RELU) into a channels-last row: out[x * M + o], pixels
// [0, n), all M outputs (a multiple of kOutVecs vectors).
template <typename T, bool RELU = true>
SGZ_ALWAYS_INLINE void pointwise_channels_last(const T* pwt, const T* bias, const T* d, int64_t dx,
                                               int64_t dc, int64_t K, T* out, int64_t M,
                                               int64_t n) {
  constexpr int64_t block = kOutVecs * Vec<T>::size();
  for (int64_t o = 0; o < M; o += block) {
    int64_t x = 0;
    for (; x + kPixels <= n; x += kPixels) {
      pointwise_pixels<T, kPixels, RELU>(pwt, bias, d, dx, dc, K, out, M, x, o);
    }
    pointwise_pixels_rest<T, kPixels - 1, RELU>(pwt, bias, d, dx, dc, K, out, M, x, o, n - x);
  }
}

// e_conv7's pointwise product, M (3) outputs from channels-last d into planar rows:
// out[o * out_stride + x] = bias[o] + sum_c pw[o * K + c] * d[x * K + c], the sum over c in
// vectors of L channels, then across the lanes: at AVX2 and AVX-512 (float) for L pixels at
// once by lane_sums (vec.h), which the planar output stores as one vector. The chunk's last
// block is computed whole too (d holds kNetChunk pixels, a multiple of L; those beyond n are
// not stored), so every pixel's sum is added in one order, wherever the tiles' and chunks'
// edges fall: the result does not depend on the thread count.
template <typename T>
SGZ_ALWAYS_INLINE void pointwise_to_planes(const T* pw, const T* bias, const T* d, int64_t K,
                                           T* out, int64_t out_stride, int64_t M, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    static_assert(kNetChunk % L == 0);
    for (int64_t x = 0; x < n; x += L) {
      for (int64_t o = 0; o < M; ++o) {
        V acc[L];
        SGZ_UNROLL for (int i = 0; i < L; ++i) acc[i] = V(T(0));
        for (int64_t c = 0; c < K; c += L) {
          const V w = V::loadu(pw + o * K + c);
          SGZ_UNROLL for (int i = 0; i < L; ++i) {
            acc[i] = fmadd(w, V::loadu(d + (x + i) * K + c), acc[i]);
          }
        }
        (lane_sums(acc) + V(bias[o])).store(out + o * out_stride + x, std::min(L, n - x));
      }
    }
    return;
  }
#endif
  for (int64_t x = 0; x < n; ++x) {
    for (int64_t o = 0; o < M; ++o) {
      V acc(T(0));
      for (int64_t c = 0; c < K; c += L) {
        acc = fmadd(V::loadu(pw + o * K + c), V::loadu(d + x * K + c), acc);
      }
      out[o * out_stride + x] = bias[o] + reduce_add(acc);
    }
  }
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
