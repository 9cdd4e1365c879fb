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

}  // namespace sgz
