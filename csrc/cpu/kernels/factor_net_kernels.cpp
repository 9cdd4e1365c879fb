// Hot loop of the fused factor network (cpu/factor_net.cpp), compiled once per capability
// level: all seven depthwise-separable layers of SGZ over one tile, two rows at a time, so the
// 32-channel activations live in a few line buffers in cache and never in memory.
//
// Row streaming: at step t (t advancing by 2), the input rows up to t + 2 are copied in, then
// layer k (1..7) computes its rows t - 2 (k - 1) and the next, whose 3x3 needs rows
// t - 2 k + 1 .. t - 2 k + 4 of its sources: all computed by the steps so far. Two rows per
// step, because each source row then comes from L2 once for two output rows instead of once
// for each (NOTES.md, factor_net). Each layer keeps a ring of its last rows (kNetRing: the skip
// inputs x1, x2, x3 stay until e_conv7, 6 and 5 have read them), so nothing is computed twice
// within a tile.
// Columns: the tile's columns plus the halo its layers depend on (layer k needs 7 - k more on
// each side), in a local frame with zero columns beyond the image: no border cases.
// Layout: the rings of e_conv1..6 are channels last (pixel after pixel, each pixel's 32
// channels contiguous, rows on cache lines), so the depthwise taps of x - 1, x, x + 1 are
// aligned vectors of channels (planar rows made two of every three AVX-512 loads split across
// cache lines: NOTES.md); the input's ring is its 3 planes. Each row is done in chunks of
// kNetChunk pixels: the chunk's depthwise result (up to 64 channels) stays in L1 for the
// pointwise product.
//
// Memory, per thread (NetScratch): rings of 5 x 3 plane rows and 48 rows of 32 channels over
// the tile's width + 14, padded to a cache line (0.89 MB for a 128-wide float tile, in L2), the
// two rows' chunks (32 KB, in a 48 KB L1d). The per-layer model writes and rereads seven
// full-size 32-channel tensors instead.
#include "factor_net_kernels.h"

#include <algorithm>
#include <type_traits>

#include "channels_last.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

template <typename T>
void tile(const T* x, const NetLayer<T>* layers, T* out, const NetTile& t, NetScratch<T>& scratch) {
  const int64_t stride = scratch.stride, H = t.H, W = t.W;
  const int64_t origin = t.x0 - kNetLayers;  // image column of local column 0
  // Layer k's ring: kNetRing[k] rows of channels[k] x stride values (the input: 3 planes;
  // e_conv1..6: channels last).
  T* ring[kNetLayers];
  int64_t channels[kNetLayers];
  ring[0] = scratch.rings;
  channels[0] = 3;
  for (int k = 1; k < kNetLayers; ++k) {
    ring[k] = ring[k - 1] + kNetRing[k - 1] * channels[k - 1] * stride;
    channels[k] = layers[k - 1].cout;
  }
  scratch.clear_rings();
  // Rows and columns [lo, hi) that layer k (0: the input) computes for this tile.
  const auto halo = [](int k) { return int64_t(kNetLayers - k); };
  const auto row_lo = [&](int k) { return std::max<int64_t>(0, t.y0 - halo(k)); };
  const auto row_hi = [&](int k) { return std::min(H, t.y1 + halo(k)); };
  const auto col_lo = [&](int k) { return std::max<int64_t>(0, t.x0 - halo(k)); };
  const auto col_hi = [&](int k) { return std::min(W, t.x1 + halo(k)); };
  // Row y of layer k; beyond the image's top and bottom, the zero row (stride x width zeros:
  // a row of any layer, the input's 3 planes included).
  const auto row_of = [&](int k, int64_t y) -> T* {
    if (y < 0 || y >= H) return scratch.zeros;
    return ring[k] + (y % kNetRing[k]) * channels[k] * stride;
  };

  const auto load_input = [&](int64_t y) {
    const int64_t lo = col_lo(0), count = col_hi(0) - lo;
    for (int64_t c = 0; c < 3; ++c) {
      const T* src = x + t.n * t.stride_n + c * t.stride_c + y * t.stride_h + lo * t.stride_w;
      T* dst = row_of(0, y) + c * stride + lo - origin;
      if (t.stride_w == 1) {
        std::copy_n(src, count, dst);
      } else {
        for (int64_t i = 0; i < count; ++i) dst[i] = src[i * t.stride_w];
      }
    }
  };

  // Layer k's rows [y, y + rows) (rows <= kNetRowsPerStep), in chunks of kNetChunk pixels:
  // the chunk's depthwise result of each row (up to 64 channels x kNetChunk pixels) stays in
  // L1 for the pointwise product.
  const auto run_layer = [&](int k, int64_t y, int64_t rows) {
    const NetLayer<T>& layer = layers[k - 1];
    const int64_t lo = col_lo(k), count = col_hi(k) - lo;
    T* d[kNetRowsPerStep];
    for (int r = 0; r < kNetRowsPerStep; ++r) d[r] = scratch.depthwise + r * scratch.depthwise_row;
    for (int64_t first = 0; first < count; first += kNetChunk) {
      const int64_t n = std::min(kNetChunk, count - first), j = lo - origin + first;
      if (k == 1) {  // from the input's planes: d planar, cin x kNetChunk
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < 3; ++c) {
            const int64_t at = c * stride + j;
            depthwise_span(row_of(0, y + r - 1) + at, row_of(0, y + r) + at,
                           row_of(0, y + r + 1) + at, layer.dw + 9 * c, layer.db[c],
                           d[r] + c * kNetChunk, n);
          }
          pointwise_channels_last(layer.pwt, layer.pb, d[r], int64_t(1), kNetChunk, layer.cin,
                                  row_of(1, y + r) + j * layer.cout, layer.cout, n);
        }
        continue;
      }
      int64_t c0 = 0;  // d channels last, n x cin
      for (int src : kNetSources[k]) {
        if (src < 0) continue;
        const int64_t C = channels[src];
        const auto at = [&](int64_t row) -> const T* { return row_of(src, row) + j * C; };
        if constexpr (kDepthwiseRows == 2) {
          if (rows == 2) {
            const T* const four[4] = {at(y - 1), at(y), at(y + 1), at(y + 2)};
            depthwise_channels_last<T, 2>(four, C, layer.dwt, layer.db, c0, d, layer.cin, n);
            c0 += C;
            continue;
          }
        }
        for (int64_t r = 0; r < rows; ++r) {
          const T* const three[3] = {at(y + r - 1), at(y + r), at(y + r + 1)};
          T* const one[1] = {d[r]};
          depthwise_channels_last<T, 1>(three, C, layer.dwt, layer.db, c0, one, layer.cin, n);
        }
        c0 += C;
      }
      for (int64_t r = 0; r < rows; ++r) {
        if (k < kNetLayers) {
          pointwise_channels_last(layer.pwt, layer.pb, d[r], layer.cin, int64_t(1), layer.cin,
                                  row_of(k, y + r) + j * layer.cout, layer.cout, n);
          continue;
        }
        T* dst = out + (t.n * layer.cout * H + y + r) * W + lo + first;  // e_conv7: tanh, planar
        pointwise_to_planes(layer.pw, layer.pb, d[r], layer.cin, dst, H * W, layer.cout, n);
        tanh_rows(dst, H * W, layer.cout, n);
      }
    }
  };

  int64_t next_input = row_lo(0);
  constexpr int64_t R = kNetRowsPerStep;
  for (int64_t step = row_lo(1); step < t.y1 + R * (kNetLayers - 1); step += R) {
    for (; next_input < row_hi(0) && next_input <= step + R; ++next_input) load_input(next_input);
    for (int k = 1; k <= kNetLayers; ++k) {
      const int64_t first = step - R * (k - 1);
      const int64_t y = std::max(first, row_lo(k)), end = std::min(first + R, row_hi(k));
      if (y < end) run_layer(k, y, end - y);
    }
  }
}

}  // namespace

template <typename T>
const FactorNetKernels<T>& factor_net_kernels() {
  static const FactorNetKernels<T> table{&tile<T>, kOutVecs * Vec<T>::size()};
  return table;
}
template const FactorNetKernels<float>& factor_net_kernels<float>();
template const FactorNetKernels<double>& factor_net_kernels<double>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
