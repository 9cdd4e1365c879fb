#pragma once
#include "macros.h"

namespace sgz {

// The guided filter's output q = a I + b (He, Sun & Tang, "Guided Image Filtering", ECCV 2010),
// a and b being the window means of the local linear coefficients. sgz_fast.denoise computes
// them at low resolution (He & Sun, "Fast Guided Filter", arXiv:1505.00996, 2015); the
// affine_uint8 kernels apply them at full resolution, upsampled as they are read.
template <typename T>
SGZ_HD T affine(T x, T a, T b) {
  return a * x + b;
}

// The colour guided filter's output (guided.h, colour_guided_linear) for channel c of a pixel
// x (3 values): row c of the symmetric a (its 6 upper entries, 00 01 02 11 12 22) times x,
// plus b.
template <typename T>
SGZ_HD T colour_affine(int c, const T* x, const T* a, T b) {
  // Row c's entries: c = 0: 0 1 2; c = 1: 1 3 4; c = 2: 2 4 5.
  const int j0 = c, j1 = c == 0 ? 1 : (c == 1 ? 3 : 4), j2 = c == 0 ? 2 : (c == 1 ? 4 : 5);
  return a[j0] * x[0] + a[j1] * x[1] + a[j2] * x[2] + b;
}

}  // namespace sgz
