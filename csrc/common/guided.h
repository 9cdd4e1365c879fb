#pragma once
#include <cstdint>

#include "macros.h"

namespace sgz {

// The self-guided filter's coefficient maps (He, Sun & Tang, "Guided Image Filtering", ECCV
// 2010, eqs. 5-6 and 8, with the guide I the input itself): per window of (2r + 1)^2 pixels
//   A = var / (var + eps),  B = mean - A mean   (mean and var of I over the window),
// and the maps a and b, the window means of A and B; the filter's output is a I + b (affine.h).
// Both devices take the window means the same way: the 2r + 1 rows summed first, top to
// bottom, then the 2r + 1 column sums, left to right, times 1 / (2r + 1)^2.

// Index i of a line of n samples, beyond its ends mirrored with the end sample repeated
// (OpenCV's BORDER_REFLECT, "fedcba|abcdefgh|hgfedcb"), as often as it takes for any i.
SGZ_HD int64_t reflect_index(int64_t i, int64_t n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

// A and B of one window from the means of I and I^2 there; the variance is clamped at 0
// (the two means' rounding can make it slightly negative on flat regions).
template <typename T>
SGZ_HD void self_guided_linear(T mean, T mean_sq, T eps, T& A, T& B) {
  T var = mean_sq - mean * mean;
  var = var > T(0) ? var : T(0);
  A = var / (var + eps);
  B = mean - A * mean;
}

// The colour guided filter's coefficients (He, Sun & Tang, "Guided Image Filtering", ECCV 2010,
// eq. 14), the guide I being the 3-channel input itself: per window, with S the 3 x 3
// covariance of I there and m its mean,
//   A = S (S + eps U)^-1 = U - eps (S + eps U)^-1,  B = m - A m,
// and the maps a and b their window means; the output is a I + b (colour_affine in affine.h).
// A is symmetric (S and (S + eps U)^-1 commute), so it is kept as its 6 upper entries, in the
// order 00 01 02 11 12 22, as the products of channels are. Against the per-channel filter, an
// edge in all three channels keeps the noise along its own colour only: the other two
// directions of the noise, a pixel's chroma noise, are averaged away on the edge too.
constexpr int kSymmetric3 = 6;  // entries of a symmetric 3 x 3 matrix: 00 01 02 11 12 22

// eps is taken as at least this (in [0, 1] units squared, a deviation of 0.26 levels): the
// covariance from float32 means of I and I_i I_j is off by about 1e-7, which a smaller eps
// could turn into a singular or indefinite S + eps U.
constexpr float kColourGuidedMinEps = 1e-6f;

// A (6 entries) and B (3) of one window from the window means of I's channels (mean) and of
// their products (products, the 6 of kSymmetric3). S + eps U is inverted by its adjugate.
template <typename T>
SGZ_HD void colour_guided_linear(const T* mean, const T* products, T eps, T* A, T* B) {
  eps = eps > T(kColourGuidedMinEps) ? eps : T(kColourGuidedMinEps);
  T var0 = products[0] - mean[0] * mean[0], var1 = products[3] - mean[1] * mean[1];
  T var2 = products[5] - mean[2] * mean[2];
  var0 = var0 > T(0) ? var0 : T(0);
  var1 = var1 > T(0) ? var1 : T(0);
  var2 = var2 > T(0) ? var2 : T(0);
  // S + eps U
  const T m00 = var0 + eps, m11 = var1 + eps, m22 = var2 + eps;
  const T m01 = products[1] - mean[0] * mean[1], m02 = products[2] - mean[0] * mean[2];
  const T m12 = products[4] - mean[1] * mean[2];
  // Its adjugate (symmetric) and determinant.
  const T i00 = m11 * m22 - m12 * m12, i01 = m02 * m12 - m01 * m22, i02 = m01 * m12 - m02 * m11;
  const T i11 = m00 * m22 - m02 * m02, i12 = m01 * m02 - m00 * m12, i22 = m00 * m11 - m01 * m01;
  const T k = eps / (m00 * i00 + m01 * i01 + m02 * i02);
  A[0] = T(1) - k * i00;
  A[1] = -k * i01;
  A[2] = -k * i02;
  A[3] = T(1) - k * i11;
  A[4] = -k * i12;
  A[5] = T(1) - k * i22;
  B[0] = mean[0] - (A[0] * mean[0] + A[1] * mean[1] + A[2] * mean[2]);
  B[1] = mean[1] - (A[1] * mean[0] + A[3] * mean[1] + A[4] * mean[2]);
  B[2] = mean[2] - (A[2] * mean[0] + A[4] * mean[1] + A[5] * mean[2]);
}

// sgz_fast.denoise's regulariser of one low-resolution pixel, in [0, 1] units squared: the
// noise the brightening added there, squared: noise^2 (gain^2 - 1), the output's noise
// (noise x gain)^2 less the input's own, noise in levels and gain = (Le + 1) / (Ld + 1)
// clamped to [1, max_gain], Le and Ld the lumas (levels) of the enhanced and the dark image's
// area means there. So a region left as bright as it was (gain 1) keeps its grain; a floor of
// 1e-6 levels^2 keeps A finite there and where both are flat.
SGZ_HD float gain_regulariser(float luma_enhanced, float luma_dark, float noise, float max_gain) {
  float gain = (luma_enhanced + 1.0f) / (luma_dark + 1.0f);
  gain = gain > 1.0f ? gain : 1.0f;
  gain = gain < max_gain ? gain : max_gain;
  return (noise * noise * (gain * gain - 1.0f) + 1e-6f) / (255.0f * 255.0f);
}

}  // namespace sgz
