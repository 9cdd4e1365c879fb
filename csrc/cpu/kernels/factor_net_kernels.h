#pragma once
// What the fused factor network's operator (cpu/factor_net.cpp) and its per-level hot loop
// (kernels/factor_net_kernels.cpp) share: the layers' parameters, the tile to compute, and the
// per-thread line buffers.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "../../common/macros.h"
#include "../capability.h"

namespace sgz::cpu {

// SGZ's factor network: seven depthwise-separable layers, e_conv1..7. Layer k reads the
// layers named in kNetSources[k] (0: the input image), channels concatenated in that order.
constexpr int kNetLayers = 7;
constexpr int kNetSources[kNetLayers + 1][2] = {{-1, -1}, {0, -1}, {1, -1}, {2, -1},
                                                {3, -1},  {3, 4},  {2, 5},  {1, 6}};
// Rows each layer computes per step: two, so that each source row read from L2 serves two
// output rows' 3x3 (NOTES.md, factor_net).
constexpr int64_t kNetRowsPerStep = 2;
// Rows of layer k's ring of line buffers (k = 0: the input). At step t layer k computes rows
// t - 2 (k - 1) and the next (the input rows up to t + 2 are loaded), and reader j of layer k
// reads rows t - 2 (j - 1) - 1 .. t - 2 (j - 1) + 2: a ring of 2 (j - k) + 3 rows holds the
// rows its furthest reader j still needs next to the two it writes (x1 until e_conv7 reads
// it, x2 until e_conv6, x3 until e_conv5, the others until the next layer). The input, read
// by e_conv1 only and loaded one row further ahead, needs 4; it has 5.
constexpr int64_t kNetRing[kNetLayers] = {5, 15, 11, 7, 5, 5, 5};
// Columns of a row whose depthwise result is computed before the pointwise product reads it.
constexpr int64_t kNetChunk = 64;

// `value` rounded up to a multiple of `multiple` (the rings' rows to whole cache lines).
template <typename I>
SGZ_ALWAYS_INLINE constexpr I round_up(I value, I multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// One layer's parameters, contiguous, with the two transposes the channels-last loops read as
// vectors over channels: dw (cin x 9), dwt (9 x cin), db (cin), pw (cout x cin),
// pwt (cin x cout), pb (cout).
template <typename T>
struct NetLayer {
  const T *dw, *dwt, *db, *pw, *pwt, *pb;
  int64_t cin, cout;
};

// The image, x's strides (in values: any layout, e.g. channels last as an 8-bit frame
// converts), and the tile of it a call computes: rows [y0, y1) and columns [x0, x1) of image n.
struct NetTile {
  int64_t N, H, W;
  int64_t stride_n, stride_c, stride_h, stride_w;
  int64_t n, y0, y1, x0, x1;
};

// One thread's buffers, allocated by the operator for tiles up to `max_columns` wide, in the
// tile's local columns (its columns plus a halo of kNetLayers on each side, padded to
// `stride`): the input's ring (3 planes of a row), the rings of e_conv1..6 (channels last:
// a row is stride x width values, pixel by pixel), the depthwise result of one chunk of each
// of a step's rows (kNetChunk pixels x up to 2 width channels) and a zero row. A tile's rings are
// zeroed when it starts: columns outside the image are never written, so they read as the zero
// padding.
template <typename T>
struct NetScratch {
  static constexpr int64_t kLine = 64 / sizeof(T);  // values per cache line
  int64_t stride;
  int64_t depthwise_row;         // values of one row's chunk: kNetChunk x 2 width channels
  T *rings, *depthwise, *zeros;  // each starts on a cache line
  std::vector<T> storage;

  NetScratch(int64_t width, int64_t max_columns)
      : stride(round_up(max_columns + 2 * kNetLayers, kLine)),
        depthwise_row(2 * width * kNetChunk) {
    int64_t ring_values = kNetRing[0] * 3 * stride;
    for (int k = 1; k < kNetLayers; ++k) ring_values += kNetRing[k] * width * stride;
    const int64_t depthwise_values = round_up(kNetRowsPerStep * depthwise_row, kLine);
    storage.resize(ring_values + depthwise_values + stride * width + kLine);
    const auto address = reinterpret_cast<uintptr_t>(storage.data());
    rings = storage.data() + (round_up<uintptr_t>(address, 64) - address) / sizeof(T);
    depthwise = rings + ring_values;
    zeros = depthwise + depthwise_values;
    std::fill(zeros, zeros + stride * width, T(0));
  }
  void clear_rings() { std::fill(rings, depthwise, T(0)); }
};

template <typename T>
struct FactorNetKernels {
  // The factors of one tile of image n: out (N x 3 x H x W, contiguous) for the tile's rows
  // and columns, from x (N x 3 x H x W, strides in the tile). Rows and columns around the tile that
  // it depends on (7 on each side, fewer at the image's borders) are recomputed, not shared with
  // other tiles.
  void (*tile)(const T* x, const NetLayer<T>* layers, T* out, const NetTile& tile,
               NetScratch<T>& scratch);
  int64_t width_multiple;  // the network's width must be a multiple of it (a register block)
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(FactorNetKernels, factor_net_kernels)
