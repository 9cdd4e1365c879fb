// Hot loops of the guided filter's CPU kernels, compiled once per capability level
// (capability.h). guided_coefficients and colour_guided_coefficients: a row's window means in
// two vectorizable passes, the 2r + 1 rows summed for every column (with the r columns beyond
// each end mirrored), then 2r + 1 shifted column sums added: the order common/guided.h gives
// for both devices (at radius 1 each pass one loop, at other radii one loop per row).
// guided_inputs_uint8: a row of s x s area means, the s byte rows summed in one vectorizable
// pass, then s values per pixel and channel.
#include "guided_kernels.h"

#include <cstdint>
#include <utility>

#include "../../common/guided.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// sums[r + x] = the sum over the window rows (rows[0 .. 2r], each offset by `at`) of column x,
// of the values or, PRODUCT, of their products with those of the rows offset by `other`;
// sums[0 .. r) and sums[r + w ..) the columns beyond the ends, mirrored.
template <bool PRODUCT>
SGZ_ALWAYS_INLINE void column_sums(const float* const* rows, int64_t at, int64_t other, int64_t w,
                                   int64_t r, float* __restrict sums) {
  float* __restrict s = sums + r;
  if (r == 1) {  // the denoise's radius: the three rows in one pass (the same sums, in order)
    const float* __restrict row0 = rows[0] + at;
    const float* __restrict row1 = rows[1] + at;
    const float* __restrict row2 = rows[2] + at;
    const float* __restrict with0 = rows[0] + other;
    const float* __restrict with1 = rows[1] + other;
    const float* __restrict with2 = rows[2] + other;
    for (int64_t x = 0; x < w; ++x) {
      float sum = PRODUCT ? row0[x] * with0[x] : row0[x];
      sum += PRODUCT ? row1[x] * with1[x] : row1[x];
      sum += PRODUCT ? row2[x] * with2[x] : row2[x];
      s[x] = sum;
    }
  } else {
    for (int64_t x = 0; x < w; ++x) s[x] = 0.0f;
    for (int64_t k = 0; k <= 2 * r; ++k) {
      const float* __restrict row = rows[k] + at;
      const float* __restrict with = rows[k] + other;
      for (int64_t x = 0; x < w; ++x) s[x] += PRODUCT ? row[x] * with[x] : row[x];
    }
  }
  for (int64_t j = 1; j <= r; ++j) {
    s[-j] = s[reflect_index(-j, w)];
    s[w - 1 + j] = s[reflect_index(w - 1 + j, w)];
  }
}

// out[x] = (sums[x] + ... + sums[x + 2r]) / (2r + 1)^2.
SGZ_ALWAYS_INLINE void window_means(const float* __restrict sums, int64_t w, int64_t r,
                                    float* __restrict out) {
  const float inv_area = 1.0f / static_cast<float>((2 * r + 1) * (2 * r + 1));
  if (r == 1) {  // one pass, the same sums in order
    for (int64_t x = 0; x < w; ++x) out[x] = (sums[x] + sums[x + 1] + sums[x + 2]) * inv_area;
    return;
  }
  for (int64_t x = 0; x < w; ++x) out[x] = 0.0f;
  for (int64_t j = 0; j <= 2 * r; ++j) {
    for (int64_t x = 0; x < w; ++x) out[x] += sums[x + j];
  }
  for (int64_t x = 0; x < w; ++x) out[x] *= inv_area;
}

void linear_row(const float* const* rows, const float* eps, int64_t w, int64_t r, float* A,
                float* B, float* scratch) {
  float* sums = scratch;
  float* mean = scratch + (w + 2 * r);
  float* mean_sq = mean + (w + 2 * r);
  column_sums<false>(rows, 0, 0, w, r, sums);
  window_means(sums, w, r, mean);
  column_sums<true>(rows, 0, 0, w, r, sums);
  window_means(sums, w, r, mean_sq);
  for (int64_t x = 0; x < w; ++x) self_guided_linear(mean[x], mean_sq[x], eps[x], A[x], B[x]);
}

void colour_linear_row(const float* const* rows, int64_t channel_stride, const float* eps,
                       int64_t w, int64_t r, float* out, int64_t out_stride, float* scratch) {
  float* sums = scratch;
  float* means = scratch + (w + 2 * r);  // 9 rows of w: the 3 channels', the 6 products'
  for (int c = 0; c < 3; ++c) {
    column_sums<false>(rows, c * channel_stride, 0, w, r, sums);
    window_means(sums, w, r, means + c * w);
  }
  static constexpr int kPairs[kSymmetric3][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}};
  for (int k = 0; k < kSymmetric3; ++k) {
    column_sums<true>(rows, kPairs[k][0] * channel_stride, kPairs[k][1] * channel_stride, w, r,
                      sums);
    window_means(sums, w, r, means + (3 + k) * w);
  }
  // The rows of `means` and of `out` are one buffer each at strides GCC cannot prove apart:
  // ivdep, or it gives up on the alias checks it would need and leaves the loop scalar.
  const float* __restrict m = means;
  float* __restrict o = out;
#pragma GCC ivdep
  for (int64_t x = 0; x < w; ++x) {
    float mean[3], products[kSymmetric3], A[kSymmetric3], B[3];
    for (int c = 0; c < 3; ++c) mean[c] = m[c * w + x];
    for (int k = 0; k < kSymmetric3; ++k) products[k] = m[(3 + k) * w + x];
    colour_guided_linear(mean, products, eps[x], A, B);
    for (int k = 0; k < kSymmetric3; ++k) o[k * out_stride + x] = A[k];
    for (int c = 0; c < 3; ++c) o[(kSymmetric3 + c) * out_stride + x] = B[c];
  }
}

void mean_row(const float* const* rows, int64_t w, int64_t r, float* out, float* scratch) {
  column_sums<false>(rows, 0, 0, w, r, scratch);
  window_means(scratch, w, r, out);
}

// The area means of one row of blocks: the s byte rows summed per byte (whole numbers, exact
// in float for s up to 256, so the CUDA kernel's order gives the same), then s of those per
// pixel and channel into planar rows, then the means, lumas and eps in loops over the row's
// pixels that vectorize (their divisions on vectors: a scalar loop over the pixels spent most
// of its time dividing). CHANNELS is C and SCALE s, or 0 for any.
template <int CHANNELS, int SCALE>
SGZ_ALWAYS_INLINE void inputs_row_impl(const uint8_t* enhanced, const uint8_t* dark, int64_t W,
                                       int64_t C_any, int64_t s_any, int64_t w, const float* luma,
                                       float noise, float max_gain, float* guide, int64_t plane,
                                       float* eps, float* scratch) {
  const int64_t C = CHANNELS > 0 ? CHANNELS : C_any, s = SCALE > 0 ? SCALE : s_any;
  const int64_t m = w * s * C;
  float* __restrict ce = scratch;
  float* __restrict cd = ce + m;
  float* __restrict se = cd + m;  // C rows of w block sums
  float* __restrict sd = se + C * w;
  for (int64_t e = 0; e < m; ++e) ce[e] = cd[e] = 0.0f;
  for (int64_t i = 0; i < s; ++i) {
    const uint8_t* __restrict re = enhanced + i * W * C;
    const uint8_t* __restrict rd = dark + i * W * C;
    for (int64_t e = 0; e < m; ++e) {
      ce[e] += static_cast<float>(re[e]);
      cd[e] += static_cast<float>(rd[e]);
    }
  }
  if constexpr (CHANNELS == 3 && SCALE == 2) {
    // Deinterleaved into planar rows first, then pairs added: both loops vectorize (a loop
    // reading at a stride of 6 did not), with ivdep for the planar rows that share one
    // buffer (as in colour_linear_row). 0 + x + y, as the loop below sums.
    float* __restrict planar = sd + 4 * w;  // after sd's 3 rows and the luma's row
    const int64_t W2 = 2 * w;
    for (auto [sums, out] : {std::pair{ce, se}, std::pair{cd, sd}}) {
#pragma GCC ivdep
      for (int64_t X = 0; X < W2; ++X) {
        for (int c = 0; c < 3; ++c) planar[c * W2 + X] = sums[3 * X + c];
      }
      for (int c = 0; c < 3; ++c) {
        for (int64_t x = 0; x < w; ++x) {
          out[c * w + x] = planar[c * W2 + 2 * x] + planar[c * W2 + 2 * x + 1];
        }
      }
    }
  } else {
    for (int64_t x = 0; x < w; ++x) {
      for (int64_t c = 0; c < C; ++c) {
        float sum_e = 0.0f, sum_d = 0.0f;
        for (int64_t j = 0; j < s; ++j) {
          sum_e += ce[(x * s + j) * C + c];
          sum_d += cd[(x * s + j) * C + c];
        }
        se[c * w + x] = sum_e;
        sd[c * w + x] = sum_d;
      }
    }
  }
  const float area = static_cast<float>(s * s);
  float* __restrict out_eps = eps;
  for (int64_t x = 0; x < w; ++x) out_eps[x] = 0.0f;  // the dark luma first, then eps
  for (int64_t c = 0; c < C; ++c) {                   // the luma of the dark means
    const float weight = luma[c];
    const float* __restrict sums = sd + c * w;
    for (int64_t x = 0; x < w; ++x) out_eps[x] += weight * (sums[x] / area);
  }
  float* __restrict luma_e = sd + C * w;  // the enhanced means' luma
  for (int64_t x = 0; x < w; ++x) luma_e[x] = 0.0f;
  for (int64_t c = 0; c < C; ++c) {
    const float weight = luma[c];
    const float* __restrict sums = se + c * w;
    float* __restrict out = guide + c * plane;
    for (int64_t x = 0; x < w; ++x) {
      const float mean = sums[x] / area;
      out[x] = mean / 255.0f;
      luma_e[x] += weight * mean;
    }
  }
  for (int64_t x = 0; x < w; ++x) {
    out_eps[x] = gain_regulariser(luma_e[x], out_eps[x], noise, max_gain);
  }
}

void inputs_row(const uint8_t* enhanced, const uint8_t* dark, int64_t W, int64_t C, int64_t s,
                int64_t w, const float* luma, float noise, float max_gain, float* guide,
                int64_t plane, float* eps, float* scratch) {
  // RGB frames at the denoise's scale 2 with every loop's trip count known (the block sums,
  // strided and scalar, fully unrolled: 3.3 -> 2.0 ms at 1080p), RGB at other scales, the rest.
  if (C == 3 && s == 2) {
    inputs_row_impl<3, 2>(enhanced, dark, W, C, s, w, luma, noise, max_gain, guide, plane, eps,
                          scratch);
  } else if (C == 3) {
    inputs_row_impl<3, 0>(enhanced, dark, W, C, s, w, luma, noise, max_gain, guide, plane, eps,
                          scratch);
  } else {
    inputs_row_impl<0, 0>(enhanced, dark, W, C, s, w, luma, noise, max_gain, guide, plane, eps,
                          scratch);
  }
}

}  // namespace

template <typename T>
const GuidedKernels<T>& guided_kernels() {
  static const GuidedKernels<T> table{&linear_row, &colour_linear_row, &mean_row, &inputs_row};
  return table;
}

template const GuidedKernels<float>& guided_kernels<float>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
