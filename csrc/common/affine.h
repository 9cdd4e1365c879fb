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

}  // namespace sgz
