#pragma once
// What the curve_iter operators (cpu/curve_iter.cpp) and their per-level hot loops
// (kernels/curve_iter_kernels.cpp) share: the sizes, r's column taps, the row upsampler, and the
// table of hot loops of one capability level. Members used by the hot loops are always inlined
// (see dsconv_kernels.h).
#include <cstdint>
#include <numeric>
#include <vector>

#include "../../common/bilinear.h"
#include "../../common/macros.h"
#include "../capability.h"
#include "curve_factors.h"

namespace sgz::cpu {

struct Geometry {
  int64_t planes, H, W, h, w;
  SGZ_ALWAYS_INLINE bool upsample() const { return h != H || w != W; }
};

// Column taps grouped by source column: the output columns [start[j], start[j + 1]) all read
// source columns j and second[j] (their taps' i0 and i1), so upsampling a row needs no gathers.
template <typename T>
struct ColumnTaps {
  std::vector<int64_t> start, second;
  std::vector<T> w0, w1;

  explicit ColumnTaps(const Geometry& g) : start(g.w + 1), second(g.w), w0(g.W), w1(g.W) {
    const T scale = align_corners_scale<T>(g.w, g.W);
    for (int64_t j = 0; j <= g.w; ++j) start[j] = first_output_reading(j, g.w, g.W, scale);
    std::iota(second.begin(), second.end(), int64_t(0));  // a column no output reads first
    for (int64_t X = 0; X < g.W; ++X) {
      const Tap<T> t = align_corners_tap(X, g.w, scale, g.W);
      second[t.i0] = t.i1;
      w0[X] = t.w0;
      w1[X] = t.w1;
    }
  }
};

// Upsamples r one output row at a time, sweeping rows in order. Source rows are upsampled
// along columns once and kept in a two-slot cache, by parity of their index; an output row is
// then the lerp of two cached rows (LerpedFactors), the order of lerps of bilinear_sample.
// Owned by one parallel task.
template <typename T>
class RowUpsampler {
 public:
  RowUpsampler(const T* r, const Geometry& g, const ColumnTaps<T>& cols)
      : r_(r), g_(g), cols_(cols), scale_y_(align_corners_scale<T>(g.h, g.H)), cached_(2 * g.W) {}

  // The factors of output row Y of `plane`, and that row's tap.
  SGZ_ALWAYS_INLINE LerpedFactors<T> row(int64_t plane, int64_t Y, Tap<T>& ty) {
    ty = align_corners_tap(Y, g_.h, scale_y_, g_.H);
    return {source_row(plane * g_.h + ty.i0), source_row(plane * g_.h + ty.i1), ty.w0, ty.w1};
  }

 private:
  SGZ_ALWAYS_INLINE const T* source_row(int64_t index) {
    const int slot = static_cast<int>(index & 1);
    T* __restrict out = cached_.data() + slot * g_.W;
    if (cached_index_[slot] != index) {
      const T* src = r_ + index * g_.w;
      const T* __restrict w0 = cols_.w0.data();
      const T* __restrict w1 = cols_.w1.data();
      for (int64_t j = 0; j < g_.w; ++j) {
        const T a = src[j], b = src[cols_.second[j]];
        for (int64_t X = cols_.start[j]; X < cols_.start[j + 1]; ++X) {
          out[X] = lerp(a, b, w0[X], w1[X]);
        }
      }
      cached_index_[slot] = index;
    }
    return out;
  }

  const T* r_;
  const Geometry& g_;
  const ColumnTaps<T>& cols_;
  T scale_y_;
  std::vector<T> cached_;
  int64_t cached_index_[2] = {-1, -1};
};

template <typename T>
struct CurveKernels {
  // y = curve^iterations(x) over n contiguous elements, r at x's size.
  void (*forward_span)(const T* x, const T* r, T* y, int64_t n, int64_t iterations);
  // gx = g * dy/dx and gr = g * dy/dr over n contiguous elements; either may be null.
  void (*backward_span)(const T* x, const T* r, const T* g, T* gx, T* gr, int64_t n,
                        int64_t iterations);
  // Output rows [begin, end) of the planes * H rows, r upsampled by `up`.
  void (*forward_rows)(const T* x, T* y, RowUpsampler<T>& up, const Geometry& g, int64_t begin,
                       int64_t end, int64_t iterations);
  // Image rows [begin, end) of the N * H rows of a channels-last x (row n * H + Y holds W * C
  // interleaved values) into the contiguous y; channel c's factors from ups[c], or from r at
  // x's size when ups is null.
  void (*forward_rows_channels_last)(const T* x, T* y, const T* r, RowUpsampler<T>* ups,
                                     const Geometry& g, int64_t channels, int64_t begin,
                                     int64_t end, int64_t iterations);
  // Backward over the output rows [y_begin, y_end) of one band (cpu/curve_iter.cpp): writes x's
  // gradient and, when col_top is given, the band's column sums of g * dy/dr weighted for
  // source rows k (col_top) and k + 1 (col_bot). gr_row is a scratch row of W.
  void (*backward_band)(const T* x, const T* g, T* gx, T* col_top, T* col_bot, T* gr_row,
                        RowUpsampler<T>& up, const Geometry& geo, int64_t plane, int64_t k,
                        int64_t y_begin, int64_t y_end, int64_t iterations);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(CurveKernels, curve_kernels)
