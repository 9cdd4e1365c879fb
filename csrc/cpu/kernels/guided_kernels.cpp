// Hot loops of the guided filter's CPU kernels, compiled once per capability level
// (capability.h). guided_coefficients: a row's window means in two vectorizable passes, the
// 2r + 1 rows summed for every column (with the r columns beyond each end mirrored), then
// 2r + 1 shifted column sums added: the order common/guided.h gives for both devices.
// guided_inputs_uint8: a row of s x s area means, the s byte rows summed in one vectorizable
// pass, then s values per pixel and channel.
#include "guided_kernels.h"

#include <cstdint>

#include "../../common/guided.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// sums[r + x] = the sum over rows y - r .. y + r (mirrored at the plane's ends) of column x,
// of the values or, SQUARE, of their squares; sums[0 .. r) and sums[r + w ..) the columns
// beyond the ends, mirrored. `rows` holds the plane's rows from `first` on.
template <bool SQUARE>
SGZ_ALWAYS_INLINE void column_sums(const float* rows, int64_t first, int64_t y, int64_t h,
                                   int64_t w, int64_t r, float* __restrict sums) {
  float* __restrict s = sums + r;
  for (int64_t x = 0; x < w; ++x) s[x] = 0.0f;
  for (int64_t k = -r; k <= r; ++k) {
    const float* __restrict row = rows + (reflect_index(y + k, h) - first) * w;
    for (int64_t x = 0; x < w; ++x) s[x] += SQUARE ? row[x] * row[x] : row[x];
  }
  for (int64_t j = 1; j <= r; ++j) {
    s[-j] = s[reflect_index(-j, w)];
    s[w - 1 + j] = s[reflect_index(w - 1 + j, w)];
  }
}

// out[x] = (sums[x] + ... + sums[x + 2r]) / (2r + 1)^2.
SGZ_ALWAYS_INLINE void window_means(const float* __restrict sums, int64_t w, int64_t r,
                                    float* __restrict out) {
  for (int64_t x = 0; x < w; ++x) out[x] = 0.0f;
  for (int64_t j = 0; j <= 2 * r; ++j) {
    for (int64_t x = 0; x < w; ++x) out[x] += sums[x + j];
  }
  const float inv_area = 1.0f / static_cast<float>((2 * r + 1) * (2 * r + 1));
  for (int64_t x = 0; x < w; ++x) out[x] *= inv_area;
}

void linear_row(const float* plane, const float* eps, int64_t y, int64_t h, int64_t w, int64_t r,
                float* A, float* B, float* scratch) {
  float* sums = scratch;
  float* mean = scratch + (w + 2 * r);
  float* mean_sq = mean + (w + 2 * r);
  column_sums<false>(plane, 0, y, h, w, r, sums);
  window_means(sums, w, r, mean);
  column_sums<true>(plane, 0, y, h, w, r, sums);
  window_means(sums, w, r, mean_sq);
  for (int64_t x = 0; x < w; ++x) self_guided_linear(mean[x], mean_sq[x], eps[x], A[x], B[x]);
}

void mean_row(const float* rows, int64_t first, int64_t y, int64_t h, int64_t w, int64_t r,
              float* out, float* scratch) {
  column_sums<false>(rows, first, y, h, w, r, scratch);
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
  static const GuidedKernels<T> table{&linear_row, &mean_row, &inputs_row};
  return table;
}

template const GuidedKernels<float>& guided_kernels<float>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
