#pragma once
// What the fused factor network's operator (cpu/factor_net.cpp) and its per-level hot loop
// (kernels/factor_net_kernels.cpp) share: the layers' parameters, the tile to compute, and the
// per-thread line buffers.
#include <cstdint>
#include <vector>

#include "../../common/macros.h"
#include "../capability.h"

namespace sgz::cpu {

// SGZ's factor network: seven depthwise-separable layers, e_conv1..7. Layer k reads the
// layers named in kNetSources[k] (0: the input image), channels concatenated in that order.
constexpr int kNetLayers = 7;
constexpr int kNetSources[kNetLayers + 1][2] = {
    {-1, -1}, {0, -1}, {1, -1}, {2, -1}, {3, -1}, {3, 4}, {2, 5}, {1, 6}};
// Rows of layer k's ring of line buffers (k = 0: the input). At step t layer k computes row
// t - (k - 1) (the input row t + 1 is loaded); a row stays until its last reader's step:
// x1 until e_conv7 (6 steps later) reads it, x2 until e_conv6, x3 until e_conv5.
constexpr int64_t kNetRing[kNetLayers] = {3, 8, 6, 4, 3, 3, 3};
// Columns of a row whose depthwise result is computed before the pointwise product reads it.
constexpr int64_t kNetChunk = 64;

// One layer's parameters, contiguous: dw (cin x 9), db (cin), pw (cout x cin), pb (cout).
template <typename T>
struct NetLayer {
  const T *dw, *db, *pw, *pb;
  int64_t cin, cout;
};

// The image and the tile of it a call computes: rows [y0, y1) and columns [x0, x1) of image n.
struct NetTile {
  int64_t N, H, W;
  int64_t n, y0, y1, x0, x1;
};

// One thread's buffers, allocated by the operator for tiles up to `max_columns` wide: the
// rings of every layer (kNetRing[k] rows of cout x stride values each) in the tile's local
// columns (tile columns plus a halo of kNetLayers on each side), the depthwise result of one
// row (2 width x stride) and a zero row. A tile's rings are zeroed when it starts: columns
// outside the image are never written, so they read as the conv's zero padding.
template <typename T>
struct NetScratch {
  int64_t stride;
  std::vector<T> rings, depthwise, zeros;
  NetScratch(int64_t width, int64_t max_columns, int64_t vector_size)
      : stride((max_columns + 2 * kNetLayers + vector_size - 1) / vector_size * vector_size),
        depthwise(2 * width * kNetChunk), zeros(stride, T(0)) {
    int64_t rows = kNetRing[0] * 3;  // the input's 3 channels
    for (int k = 1; k < kNetLayers; ++k) rows += kNetRing[k] * width;
    rings.resize(rows * stride);
  }
};

template <typename T>
struct FactorNetKernels {
  // The factors of one tile of image n: out (N x 3 x H x W) for the tile's rows and columns,
  // from x (N x 3 x H x W, contiguous). Rows and columns around the tile that it depends on
  // (7 on each side, fewer at the image's borders) are recomputed, not shared with other tiles.
  void (*tile)(const T* x, const NetLayer<T>* layers, T* out, const NetTile& tile,
               NetScratch<T>& scratch);
  int64_t vector_size;  // elements per vector: the operator pads the line buffers to it
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(FactorNetKernels, factor_net_kernels)
