// Hot loop of the fused factor network (cpu/factor_net.cpp), compiled once per capability
// level: all seven depthwise-separable layers of SGZ over one tile, row by row, so the
// 32-channel activations live in a few line buffers in cache and never in memory.
//
// Row streaming: at step t, the input row t + 1 is copied in, then layer k (1..7) computes its
// row t - (k - 1), whose 3x3 needs rows t - k .. t - k + 2 of its sources: all computed by the
// steps so far. Each layer keeps a ring of its last rows (kNetRing: the skip inputs x1, x2, x3
// stay until e_conv7, 6 and 5 have read them), so nothing is computed twice within a tile.
// Columns: the tile's columns plus the halo its layers depend on (layer k needs 7 - k more on
// each side), in a local frame with a zero column beyond the image: the depthwise loop has no
// border case. Per row and layer, the depthwise result of all channels (up to 64 x the tile's
// width) is the pointwise product's input, as in the dsconv forward (row_loops.h).
//
// Memory, per thread: rings of 3 x 3 + 27 x 32 rows and a 64-row depthwise buffer of
// (tile width + 14) values: 0.9 MB for a 256-wide float tile (NetScratch), in L2. The
// per-layer model writes and rereads seven full-size 32-channel tensors instead.
#include "factor_net_kernels.h"

#include <algorithm>
#include <cmath>

#include "../../common/dsconv.h"
#include "level.h"
#include "row_loops.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// One row of a layer: its channel c at p + c * channel_stride (0 for the zero row beyond the
// image's top and bottom).
template <typename T>
struct RowRef {
  const T* p;
  int64_t channel_stride;
};

// tanh in place on `rows` rows of `count` values, row i at p + i * stride.
SGZ_ALWAYS_INLINE void tanh_rows(float* p, int64_t stride, int64_t rows, int64_t count) {
  using V = Vec<float>;
  constexpr int64_t L = V::size();
  const V limit(7.90531110763549805f), neg_limit(-7.90531110763549805f), one(1.0f), neg_one(-1.0f);
  const auto tanh_vec = [&](V z) {
    return clamp(tanh_rational(clamp(z, neg_limit, limit)), neg_one, one);
  };
  for (int64_t i = 0; i < rows; ++i) {
    float* row = p + i * stride;
    int64_t x = 0;
    for (; x + L <= count; x += L) tanh_vec(V::loadu(row + x)).store(row + x);
    if (x < count) tanh_vec(V::loadu(row + x, count - x)).store(row + x, count - x);
  }
}

// float64 keeps libm's tanh: the fused network then equals the per-layer model to rounding.
SGZ_ALWAYS_INLINE void tanh_rows(double* p, int64_t stride, int64_t rows, int64_t count) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t x = 0; x < count; ++x) p[i * stride + x] = std::tanh(p[i * stride + x]);
  }
}

template <typename T>
void tile(const T* x, const NetLayer<T>* layers, T* out, const NetTile& t,
          NetScratch<T>& scratch) {
  const int64_t stride = scratch.stride, H = t.H, W = t.W;
  const int64_t origin = t.x0 - kNetLayers;  // image column of local column 0
  T* ring[kNetLayers];
  int64_t channels[kNetLayers];
  ring[0] = scratch.rings.data();
  channels[0] = 3;
  for (int k = 1; k < kNetLayers; ++k) {
    ring[k] = ring[k - 1] + kNetRing[k - 1] * channels[k - 1] * stride;
    channels[k] = layers[k - 1].cout;
  }
  std::fill(scratch.rings.begin(), scratch.rings.end(), T(0));
  // Rows and columns [lo, hi) that layer k (0: the input) computes for this tile.
  const auto halo = [](int k) { return int64_t(kNetLayers - k); };
  const auto row_lo = [&](int k) { return std::max<int64_t>(0, t.y0 - halo(k)); };
  const auto row_hi = [&](int k) { return std::min(H, t.y1 + halo(k)); };
  const auto col_lo = [&](int k) { return std::max<int64_t>(0, t.x0 - halo(k)); };
  const auto col_hi = [&](int k) { return std::min(W, t.x1 + halo(k)); };
  const auto slot = [&](int k, int64_t y) {
    return ring[k] + (y % kNetRing[k]) * channels[k] * stride;
  };
  const auto row_of = [&](int k, int64_t y) {
    return y < 0 || y >= H ? RowRef<T>{scratch.zeros.data(), 0} : RowRef<T>{slot(k, y), stride};
  };

  const auto load_input = [&](int64_t y) {
    const int64_t lo = col_lo(0), count = col_hi(0) - lo;
    for (int64_t c = 0; c < 3; ++c) {
      std::copy_n(x + ((t.n * 3 + c) * H + y) * W + lo, count, slot(0, y) + c * stride + lo - origin);
    }
  };

  // Layer k's row y, in chunks of kNetChunk columns: the chunk's depthwise result (up to
  // 64 x kNetChunk values) stays in L1 for the pointwise product.
  const auto run_layer = [&](int k, int64_t y) {
    const NetLayer<T>& layer = layers[k - 1];
    const int64_t lo = col_lo(k), count = col_hi(k) - lo;
    RowRef<T> rows[2][3];
    for (int i = 0; i < 2; ++i) {
      const int src = kNetSources[k][i];
      if (src < 0) continue;
      for (int r = 0; r < 3; ++r) rows[i][r] = row_of(src, y + r - 1);
    }
    T* dst = k < kNetLayers ? slot(k, y) + lo - origin : out + (t.n * layer.cout * H + y) * W + lo;
    const int64_t dst_stride = k < kNetLayers ? stride : H * W;
    T* d = scratch.depthwise.data();
    for (int64_t first = 0; first < count; first += kNetChunk) {
      const int64_t n = std::min(kNetChunk, count - first), j = lo - origin + first;
      int64_t c0 = 0;
      for (int i = 0; i < 2; ++i) {
        const int src = kNetSources[k][i];
        if (src < 0) continue;
        const RowRef<T>* r = rows[i];
        for (int64_t c = 0; c < channels[src]; ++c, ++c0) {
          depthwise_span(r[0].p + c * r[0].channel_stride + j, r[1].p + c * r[1].channel_stride + j,
                         r[2].p + c * r[2].channel_stride + j, layer.dw + 9 * c0, layer.db[c0],
                         d + c0 * kNetChunk, n);
        }
      }
      if (k < kNetLayers) {  // ReLU layers, into the ring
        pointwise<T, true>(layer.pw, layer.cin, int64_t(1), layer.pb, d, kNetChunk, layer.cin,
                           dst + first, dst_stride, layer.cout, n);
        continue;
      }
      pointwise(layer.pw, layer.cin, int64_t(1), layer.pb, d, kNetChunk, layer.cin, dst + first,
                dst_stride, layer.cout, n);  // e_conv7: tanh, into the output
      tanh_rows(dst + first, dst_stride, layer.cout, n);
    }
  };

  int64_t next_input = row_lo(0);
  for (int64_t step = row_lo(1); step < t.y1 + kNetLayers - 1; ++step) {
    for (; next_input < row_hi(0) && next_input <= step + 1; ++next_input) load_input(next_input);
    for (int k = 1; k <= kNetLayers; ++k) {
      const int64_t y = step - (k - 1);
      if (y >= row_lo(k) && y < row_hi(k)) run_layer(k, y);
    }
  }
}

}  // namespace

template <typename T>
const FactorNetKernels<T>& factor_net_kernels() {
  static const FactorNetKernels<T> table{&tile<T>, Vec<T>::size()};
  return table;
}
template const FactorNetKernels<float>& factor_net_kernels<float>();
template const FactorNetKernels<double>& factor_net_kernels<double>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
