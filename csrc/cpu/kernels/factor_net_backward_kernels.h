#pragma once
// What the fused factor network's backward operator (cpu/factor_net_backward.cpp) and its
// per-level hot loop (kernels/factor_net_backward_kernels.cpp) share: the rings' sizes, the
// per-thread buffers, the weight-gradient sums of one band, and the table of hot loops.
// Members used by the hot loops are always inlined: an out-of-line copy compiled for AVX-512
// could otherwise be the one the linker keeps for every level.
#include <cstdint>
#include <vector>

#include "factor_net_kernels.h"

namespace sgz::cpu {

// The backward streams rows one at a time. At step t the input's row t + 7 is loaded, the
// forward recomputes row t + 7 - k of x_k (k = 1..6), and layer k's backward runs on its row
// t - 7 + k (e_conv7 on row t, e_conv1 on row t - 6): each layer's row waits until every
// layer that reads it has computed the gradient rows on both sides of it.
// Rows of x_k's ring (k = 0: the input): from the row its own backward reads to the row the
// forward writes, 15 - 2 k.
constexpr int64_t kBackActivationRing[kNetLayers] = {15, 13, 11, 9, 7, 5, 3};

// The layer whose backward comes last among those that read x_k: its reader with the highest
// index (e_conv7 reads x1 and x6, e_conv6 x2 and x5, e_conv5 x3 and x4).
constexpr int last_reader(int k) {
  int last = 0;
  for (int j = 1; j <= kNetLayers; ++j) {
    for (int src : kNetSources[j]) last = src == k ? j : last;
  }
  return last;
}

// Rows of the ring of x_k's gradient (k = 1..6): reader j's backward at step t adds into rows
// t - 8 + j .. t - 6 + j, and layer k's backward reads row t - 7 + k: last_reader(k) + 2 - k
// rows (x1: 8, x2: 6, x3: 4, x4..x6: 3).
constexpr int64_t back_gradient_ring(int k) { return k == 0 ? 0 : last_reader(k) + 2 - k; }

// The 64-channel layers, e_conv5 and 6, keep their depthwise result on the tile's own rows and
// columns from the forward for their backward's weight gradients, instead of computing it
// again (576 multiply-adds a pixel each); their ring holds the rows from the one the forward
// computes at step t, t + 7 - k, to the one the backward reads, t - 7 + k: 15 - 2 k. Keeping
// the 32-channel layers' too (rings of 7 to 11 rows, 0.44 MB more, the L2 then overfull)
// measured no better (benchmarks/NOTES.md).
constexpr bool keeps_depthwise(int k) { return k == 5 || k == 6; }
constexpr int64_t kept_depthwise_ring(int k) {
  return keeps_depthwise(k) ? kBackActivationRing[k] : 0;  // x_k's ring spans the same rows
}

// Rows (and columns) the forward recomputes beyond a tile, for x_k (k = 0: the input). Layer
// k's backward covers k - 1 rows more on each side than the tile (the layers below it need its
// gradient rows around theirs); there it needs x_k only, for ReLU's mask (its g_d is
// pw^T g_z; its sources are read for the weight gradients, on the tile's rows). So x6 is
// needed 5 rows beyond the tile (e_conv6's mask), x5 6 (x6's forward), ..., the input 11.
constexpr int64_t back_forward_halo(int k) { return 2 * kNetLayers - 3 - k; }

// The weight gradients of one layer, summed over a band's rows: dwt (9 x cin, the transpose of
// depth_conv.weight's), db (cin), pw (cout x cin; for e_conv1 its transpose, cin x cout), pb
// (cout).
template <typename T>
struct NetLayerGrads {
  T *dwt, *db, *pw, *pb;
};

// One thread's buffers for tiles up to `max_columns` wide, in local columns (the tile's and
// back_forward_halo(0) more on each side, and a column of zero padding beyond those), rows
// padded to `stride` values: the rings of the input (3 planes) and of x1..x6 and their
// gradients (channels last: a row is stride x width values, pixel by pixel), one chunk's
// output gradient and recomputed depthwise result, a row of the depthwise result's gradient
// (channels last, and planar for e_conv1), a zero row, a sink row for the gradient of rows
// beyond the image, and the kept depthwise rows (kept_row values each: the tile's columns x
// 2 width channels). clear() zeroes the rings before each tile.
template <typename T>
struct NetBackwardScratch {
  static constexpr int64_t kLine = 64 / sizeof(T);  // values per cache line
  int64_t stride, kept_row;
  T *activations, *gradients, *gz, *depthwise, *gd_row, *gd_planes, *zeros, *sink, *kept;
  std::vector<T> storage;

  // Values from one ring row of `channels` channels to the next: a cache line more than the
  // row, so that rows are not a multiple of 4 KB apart (a 128-wide float tile's 32-channel row
  // is 20 KB), where a load from one row waits on the store just made at the same offset of
  // the row before (4K aliasing; the backward ~3% faster at AVX2 and ~8% at AVX-512 without
  // it, benchmarks/NOTES.md).
  SGZ_ALWAYS_INLINE int64_t pitch(int64_t channels) const { return channels * stride + kLine; }

  NetBackwardScratch(int64_t width, int64_t max_columns)
      : stride(round_up(max_columns + 2 * back_forward_halo(0) + 2, kLine)),
        kept_row(round_up(max_columns * 2 * width, kLine)) {
    int64_t activation_values = kBackActivationRing[0] * pitch(3), gradient_values = 0;
    int64_t kept_values = 0;
    for (int k = 1; k < kNetLayers; ++k) {
      activation_values += kBackActivationRing[k] * pitch(width);
      gradient_values += back_gradient_ring(k) * pitch(width);
      kept_values += kept_depthwise_ring(k) * kept_row;
    }
    const int64_t sizes[] = {activation_values,     gradient_values,    kNetChunk * width,
                             kNetChunk * 2 * width, stride * 2 * width, 3 * stride,
                             stride * 2 * width,    stride * width,     kept_values};
    int64_t total = kLine;
    for (int64_t size : sizes) total += round_up(size, kLine);
    storage.assign(total, T(0));
    const auto address = reinterpret_cast<uintptr_t>(storage.data());
    T* next = storage.data() + (round_up<uintptr_t>(address, 64) - address) / sizeof(T);
    T** parts[] = {&activations, &gradients, &gz,   &depthwise, &gd_row,
                   &gd_planes,   &zeros,     &sink, &kept};
    for (int i = 0; i < 9; ++i) {
      *parts[i] = next;
      next += round_up(sizes[i], kLine);
    }
  }
  SGZ_ALWAYS_INLINE void clear() {
    for (T* p = activations; p != gz; ++p) *p = T(0);
  }
};

template <typename T>
struct FactorNetBackwardKernels {
  // Adds to grads[k] (k = 0..6: e_conv1..7) the weight gradients of the tile's pixels (rows
  // [y0, y1), columns [x0, x1) of image n), from x (strides in the tile), out (the forward's
  // x_r) and grad (dL/dx_r), both N x 3 x H x W contiguous. The activations are recomputed;
  // the rows and columns around the tile that its gradients depend on are recomputed too, not
  // shared.
  void (*tile)(const T* x, const T* out, const T* grad, const NetLayer<T>* layers,
               const NetLayerGrads<T>* grads, const NetTile& tile, NetBackwardScratch<T>& scratch);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(FactorNetBackwardKernels, factor_net_backward_kernels)
