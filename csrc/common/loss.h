#pragma once
// The formulas of the zero-reference losses' reductions (Guo et al., "Zero-Reference Deep Curve
// Estimation", CVPR 2020; SGZ, Zheng & Gupta, WACV 2022) that the kernels of loss_pools and
// total_variation share. The losses themselves are small functions of these reductions
// (sgz_fast/losses.py); what is done over every pixel is here.
#include <cstdint>

#include "macros.h"

namespace sgz {

// loss_pools reduces enhanced (N, C, H, W) and image to three maps: spatial, the mean over
// p x p cells of the channel mean of enhanced - image; exposure, the mean over e x e cells of
// enhanced's channel mean; means, enhanced's mean per plane. A pixel's share of each mean is one
// over the number of values it takes (these scales), which is also the gradient's factor; pixels
// right of or below the last whole cell belong to no cell (average pooling drops a partial one).
struct PoolScales {
  double spatial, exposure, mean;
};

inline PoolScales pool_scales(int64_t channels, int64_t height, int64_t width, int64_t p,
                              int64_t e) {
  return {1.0 / static_cast<double>(channels * p * p), 1.0 / static_cast<double>(channels * e * e),
          1.0 / static_cast<double>(height * width)};
}

// total_variation sums (r[y + 1][x] - r[y][x])^2 (vertical) and (r[y][x + 1] - r[y][x])^2
// (horizontal) over every plane. The gradient at r, weighted gv and gh, with a missing
// neighbour (at a border) given as r itself, whose difference is then 0.
template <typename T>
SGZ_HD T total_variation_grad(T r, T up, T down, T left, T right, T gv, T gh) {
  return T(2) * (gv * ((r - up) + (r - down)) + gh * ((r - left) + (r - right)));
}

}  // namespace sgz
