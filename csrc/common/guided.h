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

// sgz_fast.denoise's regulariser of one low-resolution pixel, in [0, 1] units squared: the
// output's noise there squared, (noise x gain)^2, noise in levels and gain = (Le + 1) /
// (Ld + 1) clamped to [1, max_gain], Le and Ld the lumas (levels) of the enhanced and the dark
// image's area means there; a floor of 1e-6 levels^2 keeps A finite where both are flat.
SGZ_HD float gain_regulariser(float luma_enhanced, float luma_dark, float noise, float max_gain) {
  float gain = (luma_enhanced + 1.0f) / (luma_dark + 1.0f);
  gain = gain > 1.0f ? gain : 1.0f;
  gain = gain < max_gain ? gain : max_gain;
  const float deviation = noise * gain;
  return (deviation * deviation + 1e-6f) / (255.0f * 255.0f);
}

}  // namespace sgz
