// Hot loops of the curve_iter CPU kernels, compiled once per capability level (capability.h).
//
// Work goes in blocks of kBlock elements that stay in L1. The curve's steps, forward and the
// backward's tangents, run as interleaved chains of vectors with a compile-time step count
// (curve_chains.h). When r is smaller than x, each output row of factors is lerped from two
// cached, column-upsampled source rows inside the curve pass (RowUpsampler): the
// full-resolution r never exists. A channels-last x is split into channel runs a block at a
// time (forward_rows_channels_last), so it needs no planar copy either.
// Memory, per parallel task: two upsampled rows of r (RowUpsampler; one per channel for a
// channels-last x, whose block of runs takes C x kPixels values, 3 KB for float RGB) and the
// backward's three kBlock arrays (3 KB float).
#include "curve_iter_kernels.h"

#include <algorithm>
#include <vector>

#include "curve_chains.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kBlock = 256;   // elements per L1-resident block
constexpr int64_t kPixels = 256;  // pixels per block of a channels-last row

// ---- Curve passes over one block ----------------------------------------------------------

// y = curve^iterations(x) over a contiguous run.
template <typename T, typename F>
SGZ_ALWAYS_INLINE void forward_span_impl(const T* x, const F& r, T* y, int64_t n,
                                         int64_t iterations) {
  for (int64_t s = 0; s < n; s += kBlock) {
    curve_block(x + s, y + s, r.shifted(s), std::min(kBlock, n - s), iterations);
  }
}

// gx = g * dy/dx and gr = g * dy/dr over a contiguous run; either output may be null.
template <typename T, typename F>
SGZ_ALWAYS_INLINE void backward_span_impl(const T* x, const F& r, const T* g, T* gx, T* gr,
                                          int64_t n, int64_t iterations) {
  T v[kBlock], a[kBlock], b[kBlock];
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t m = std::min(kBlock, n - s);
    std::copy(x + s, x + s + m, v);
    std::fill(a, a + m, T(1));
    std::fill(b, b + m, T(0));
    for (int64_t left = iterations; left > 0; left -= kPass) {
      with_step_count(static_cast<int>(std::min<int64_t>(left, kPass)), [&](auto steps) {
        tangent_chains<decltype(steps)::value>(v, a, b, r.shifted(s), m);
      });
    }
    if (gx != nullptr) {
      for (int64_t e = 0; e < m; ++e) gx[s + e] = g[s + e] * a[e];
    }
    if (gr != nullptr) {
      for (int64_t e = 0; e < m; ++e) gr[s + e] = g[s + e] * b[e];
    }
  }
}

// Output rows [row_begin, row_end) of the N*C*H rows, r upsampled.
template <typename T>
void forward_rows(const T* x, T* y, RowUpsampler<T>& up, const Geometry& g, int64_t row_begin,
                  int64_t row_end, int64_t iterations) {
  Tap<T> ty;
  for (int64_t row = row_begin; row < row_end; ++row) {
    forward_span_impl(x + row * g.W, up.row(row / g.H, row % g.H, ty), y + row * g.W, g.W,
                      iterations);
  }
}

// runs[c * kPixels + i] = in[i * C + c] for i < m; CHANNELS is C, or 0 for any C.
template <int CHANNELS, typename T>
SGZ_ALWAYS_INLINE void split_channels(const T* __restrict in, T* __restrict runs, int64_t m,
                                      int64_t channels) {
  const int64_t C = CHANNELS > 0 ? CHANNELS : channels;
  for (int64_t i = 0; i < m; ++i) {
#pragma GCC unroll 4
    for (int64_t c = 0; c < C; ++c) runs[c * kPixels + i] = in[i * C + c];
  }
}

// Channels-last x: each block of kPixels pixels is split into its channels' runs in L1, and
// each run curved into its plane's row of y, so neither a planar copy of x nor a second pass
// over y is made.
template <typename T>
void forward_rows_channels_last(const T* x, T* y, const T* r, RowUpsampler<T>* ups,
                                const Geometry& g, int64_t C, int64_t row_begin, int64_t row_end,
                                int64_t iterations) {
  std::vector<T> runs(C * kPixels);
  std::vector<LerpedFactors<T>> lerped(C);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / g.H, Y = row % g.H;
    const T* in = x + row * g.W * C;
    if (ups != nullptr) {
      Tap<T> ty;
      for (int64_t c = 0; c < C; ++c) lerped[c] = ups[c].row(n * C + c, Y, ty);
    }
    for (int64_t X0 = 0; X0 < g.W; X0 += kPixels) {
      const int64_t m = std::min(kPixels, g.W - X0);
      // The next block's values (the next row's first at a row's end) are asked for now, to
      // arrive while this block's curve computes: the split alone would wait on memory. Not
      // past the task's last row, which may be x's.
      const int64_t ahead = std::min(kPixels * C, (row_end - row) * g.W * C - (X0 + m) * C);
      for (int64_t v = 0; v < ahead; v += 64 / sizeof(T)) __builtin_prefetch(in + (X0 + m) * C + v);
      if (C == 3) {  // RGB: the split with a constant stride, which vectorizes
        split_channels<3>(in + X0 * C, runs.data(), m, C);
      } else {
        split_channels<0>(in + X0 * C, runs.data(), m, C);
      }
      for (int64_t c = 0; c < C; ++c) {
        const int64_t offset = ((n * C + c) * g.H + Y) * g.W + X0;
        if (ups != nullptr) {
          curve_block(runs.data() + c * kPixels, y + offset, lerped[c].shifted(X0), m, iterations);
        } else {
          curve_block(runs.data() + c * kPixels, y + offset, Factors<T>{r + offset}, m, iterations);
        }
      }
    }
  }
}

// Backward over the output rows of one band (see curve_backward_upsampled): writes x's
// gradient and, when col_top is given, the band's column sums of g * dy/dr weighted for
// source rows k (col_top) and k + 1 (col_bot).
template <typename T>
void backward_band(const T* x, const T* g, T* gx, T* col_top, T* col_bot, T* gr_row,
                   RowUpsampler<T>& up, const Geometry& geo, int64_t plane, int64_t k,
                   int64_t y_begin, int64_t y_end, int64_t iterations) {
  const int64_t W = geo.W;
  const bool need_r = col_top != nullptr;
  if (need_r) {
    std::fill(col_top, col_top + W, T(0));
    std::fill(col_bot, col_bot + W, T(0));
  }
  for (int64_t Y = y_begin; Y < y_end; ++Y) {
    Tap<T> ty;
    const LerpedFactors<T> factors = up.row(plane, Y, ty);
    const int64_t off = (plane * geo.H + Y) * W;
    backward_span_impl(x + off, factors, g + off, gx != nullptr ? gx + off : nullptr,
                       need_r ? gr_row : nullptr, W, iterations);
    if (!need_r) continue;
    // Source row i1 is k + 1, or k itself at the last source row.
    T* second = ty.i1 == k ? col_top : col_bot;
    for (int64_t X = 0; X < W; ++X) col_top[X] += ty.w0 * gr_row[X];
    for (int64_t X = 0; X < W; ++X) second[X] += ty.w1 * gr_row[X];
  }
}

template <typename T>
void forward_span(const T* x, const T* r, T* y, int64_t n, int64_t iterations) {
  forward_span_impl(x, Factors<T>{r}, y, n, iterations);
}

template <typename T>
void backward_span(const T* x, const T* r, const T* g, T* gx, T* gr, int64_t n,
                   int64_t iterations) {
  backward_span_impl(x, Factors<T>{r}, g, gx, gr, n, iterations);
}

}  // namespace

template <typename T>
const CurveKernels<T>& curve_kernels() {
  static const CurveKernels<T> table{&forward_span<T>, &backward_span<T>, &forward_rows<T>,
                                     &forward_rows_channels_last<T>, &backward_band<T>};
  return table;
}
template const CurveKernels<float>& curve_kernels<float>();
template const CurveKernels<double>& curve_kernels<double>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
