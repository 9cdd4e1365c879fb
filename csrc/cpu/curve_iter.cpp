// CPU kernels of sgz_fast::curve_iter and its backward.
//
// Work goes in blocks of kBlock elements that stay in L1. Curve steps run in passes of up to
// kPass steps with a compile-time count, so the steps unroll, the values stay in vector
// registers and the element loop vectorizes (one clone per x86-64 level, multiversion.h).
// When r is smaller than x, each source row is upsampled along columns once and cached, and
// each output row of factors is lerped from two cached rows inside the curve pass: the
// full-resolution r never exists.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/curve.h"
#include "huge_pages.h"
#include "multiversion.h"

namespace sgz {
namespace {

constexpr int64_t kBlock = 256;         // elements per L1-resident block
constexpr int kPass = 8;                // curve steps per pass (SGZ uses 8: one pass)
constexpr int64_t kGrainElems = 32768;  // elements per parallel task, at least

// ---- Where the enhancement factors come from ----------------------------------------------

// r at x's size.
template <typename T>
struct Factors {
  const T* r;
  SGZ_ALWAYS_INLINE T operator[](int64_t e) const { return r[e]; }
  SGZ_ALWAYS_INLINE Factors shifted(int64_t s) const { return {r + s}; }
};

// One row of an upsampled r: the lerp of two column-upsampled source rows, computed where it
// is used so the row is never stored.
template <typename T>
struct LerpedFactors {
  const T* top;
  const T* bot;
  T w0, w1;
  SGZ_ALWAYS_INLINE T operator[](int64_t e) const { return lerp(top[e], bot[e], w0, w1); }
  SGZ_ALWAYS_INLINE LerpedFactors shifted(int64_t s) const { return {top + s, bot + s, w0, w1}; }
};

// ---- Curve passes over one block ----------------------------------------------------------

// `in` is x for the first pass and y itself for later ones (iterations > kPass).
template <typename T, int N, typename F>
SGZ_ALWAYS_INLINE void curve_pass(const T* in, T* y, const F& r, int64_t m) {
  for (int64_t e = 0; e < m; ++e) {
    T v = in[e];
    const T rv = r[e];
#pragma GCC unroll 8
    for (int k = 0; k < N; ++k) v = curve_step(v, rv);
    y[e] = v;
  }
}

template <typename T, int N, typename F>
SGZ_ALWAYS_INLINE void tangent_pass(T* v, T* a, T* b, const F& r, int64_t m) {
  for (int64_t e = 0; e < m; ++e) {
    T ve = v[e], ae = a[e], be = b[e];
    const T rv = r[e];
#pragma GCC unroll 8
    for (int k = 0; k < N; ++k) curve_tangent_step(ve, ae, be, rv);
    v[e] = ve;
    a[e] = ae;
    b[e] = be;
  }
}

// Runs `steps` (1..kPass) steps of curve_pass or tangent_pass with that count known at
// compile time.
template <typename T, int N = kPass, typename... Args>
SGZ_ALWAYS_INLINE void curve_steps(int steps, Args... args) {
  if constexpr (N > 0) {
    if (steps == N) {
      curve_pass<T, N>(args...);
    } else {
      curve_steps<T, N - 1>(steps, args...);
    }
  }
}

template <typename T, int N = kPass, typename... Args>
SGZ_ALWAYS_INLINE void tangent_steps(int steps, Args... args) {
  if constexpr (N > 0) {
    if (steps == N) {
      tangent_pass<T, N>(args...);
    } else {
      tangent_steps<T, N - 1>(steps, args...);
    }
  }
}

// y = curve^iterations(x) over a contiguous run.
template <typename T, typename F>
SGZ_ALWAYS_INLINE void forward_span_impl(const T* x, const F& r, T* y, int64_t n,
                                         int64_t iterations) {
  if (iterations == 0) {
    std::copy(x, x + n, y);
    return;
  }
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t m = std::min(kBlock, n - s);
    const T* in = x + s;
    for (int64_t left = iterations; left > 0; left -= kPass) {
      curve_steps<T>(static_cast<int>(std::min<int64_t>(left, kPass)), in, y + s, r.shifted(s), m);
      in = y + s;
    }
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
      tangent_steps<T>(static_cast<int>(std::min<int64_t>(left, kPass)), v, a, b, r.shifted(s), m);
    }
    if (gx != nullptr) {
      for (int64_t e = 0; e < m; ++e) gx[s + e] = g[s + e] * a[e];
    }
    if (gr != nullptr) {
      for (int64_t e = 0; e < m; ++e) gr[s + e] = g[s + e] * b[e];
    }
  }
}

// ---- Upsampling r, one output row at a time -----------------------------------------------

struct Geometry {
  int64_t planes, H, W, h, w;
  bool upsample() const { return h != H || w != W; }
};

Geometry geometry_of(const at::Tensor& x, const at::Tensor& r) {
  return {x.size(0) * x.size(1), x.size(2), x.size(3), r.size(2), r.size(3)};
}

// Column taps grouped by source column: the output columns [start[j], start[j + 1]) all read
// source columns j and j + 1 (j alone at the last), so upsampling a row needs no gathers.
template <typename T>
struct ColumnTaps {
  std::vector<int64_t> start;
  std::vector<T> w0, w1;

  explicit ColumnTaps(const Geometry& g) : start(g.w + 1), w0(g.W), w1(g.W) {
    const T scale = align_corners_scale<T>(g.w, g.W);
    for (int64_t j = 0; j <= g.w; ++j) start[j] = first_output_reading(j, g.w, g.W, scale);
    for (int64_t X = 0; X < g.W; ++X) {
      const Tap<T> t = align_corners_tap(X, g.w, scale);
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
    ty = align_corners_tap(Y, g_.h, scale_y_);
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
        const T a = src[j], b = src[j + (j < g_.w - 1 ? 1 : 0)];
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

// Output rows [row_begin, row_end) of the N*C*H rows, r upsampled.
template <typename T>
SGZ_ALWAYS_INLINE void forward_rows_impl(const T* x, T* y, RowUpsampler<T>& up, const Geometry& g,
                                         int64_t row_begin, int64_t row_end, int64_t iterations) {
  Tap<T> ty;
  for (int64_t row = row_begin; row < row_end; ++row) {
    forward_span_impl(x + row * g.W, up.row(row / g.H, row % g.H, ty), y + row * g.W, g.W,
                      iterations);
  }
}

// Backward over the output rows of one band (see curve_backward_upsampled): writes x's
// gradient and, when col_top is given, the band's column sums of g * dy/dr weighted for
// source rows k (col_top) and k + 1 (col_bot).
template <typename T>
SGZ_ALWAYS_INLINE void backward_band_impl(const T* x, const T* g, T* gx, T* col_top, T* col_bot,
                                          T* gr_row, RowUpsampler<T>& up, const Geometry& geo,
                                          int64_t plane, int64_t k, int64_t y_begin, int64_t y_end,
                                          int64_t iterations) {
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

// ---- Multiversioned entry points (float and double) ---------------------------------------

#define SGZ_CPU_ENTRY_POINTS(T)                                                                    \
  SGZ_MULTIVERSION void forward_span(const T* x, const T* r, T* y, int64_t n, int64_t it) {        \
    forward_span_impl(x, Factors<T>{r}, y, n, it);                                                 \
  }                                                                                                \
  SGZ_MULTIVERSION void backward_span(const T* x, const T* r, const T* g, T* gx, T* gr, int64_t n, \
                                      int64_t it) {                                                \
    backward_span_impl(x, Factors<T>{r}, g, gx, gr, n, it);                                        \
  }                                                                                                \
  SGZ_MULTIVERSION void forward_rows(const T* x, T* y, RowUpsampler<T>& up, const Geometry& g,     \
                                     int64_t begin, int64_t end, int64_t it) {                     \
    forward_rows_impl(x, y, up, g, begin, end, it);                                                \
  }                                                                                                \
  SGZ_MULTIVERSION void backward_band(                                                             \
      const T* x, const T* g, T* gx, T* col_top, T* col_bot, T* gr_row, RowUpsampler<T>& up,       \
      const Geometry& geo, int64_t plane, int64_t k, int64_t y_begin, int64_t y_end, int64_t it) { \
    backward_band_impl(x, g, gx, col_top, col_bot, gr_row, up, geo, plane, k, y_begin, y_end, it); \
  }
SGZ_CPU_ENTRY_POINTS(float)
SGZ_CPU_ENTRY_POINTS(double)
#undef SGZ_CPU_ENTRY_POINTS

// ---- Operators ----------------------------------------------------------------------------

void check_cpu_dtype(const at::Tensor& x) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "curve_iter on CPU supports float32 and float64; got ", x.scalar_type(),
              " (float16 and bfloat16 run on CUDA only: convert with .float() on the CPU)");
}

at::Tensor curve_iter_cpu(const at::Tensor& x_in, const at::Tensor& r_in, int64_t iterations) {
  check_curve_args(x_in, r_in, iterations);
  check_cpu_dtype(x_in);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor y = with_huge_pages(at::empty_like(x, at::MemoryFormat::Contiguous));
  if (y.numel() == 0) return y;
  const Geometry g = geometry_of(x, r);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "curve_iter_cpu", [&] {
    using T = scalar_t;
    const T* xp = x.const_data_ptr<T>();
    const T* rp = r.const_data_ptr<T>();
    T* yp = y.mutable_data_ptr<T>();
    if (!g.upsample()) {
      at::parallel_for(0, x.numel(), kGrainElems, [&](int64_t begin, int64_t end) {
        forward_span(xp + begin, rp + begin, yp + begin, end - begin, iterations);
      });
      return;
    }
    const ColumnTaps<T> cols(g);
    at::parallel_for(0, g.planes * g.H, std::max<int64_t>(1, kGrainElems / g.W),
                     [&](int64_t begin, int64_t end) {
                       RowUpsampler<T> up(rp, g, cols);
                       forward_rows(xp, yp, up, g, begin, end, iterations);
                     });
  });
  return y;
}

// Backward with r upsampled: the gradient of r is the adjoint of the upsampling applied to
// grad * dy/dr, reduced without atomics. Output rows are grouped into bands, band k holding the
// rows whose first source row is k; a band adds only to source rows k and k + 1, so each band
// (one parallel task) writes its own two partial rows of `partial` (planes, h, 2, w) and a
// second pass sums partial[k][0] + partial[k-1][1]. Columns reduce the same way inside a task.
template <typename T>
void curve_backward_upsampled(const T* xp, const T* rp, const T* gp, T* gxp, T* grp,
                              const Geometry& g, int64_t iterations) {
  const ColumnTaps<T> cols(g);
  const T scale_y = align_corners_scale<T>(g.h, g.H);
  std::vector<T> partial(grp != nullptr ? g.planes * g.h * 2 * g.w : 0, T(0));

  at::parallel_for(0, g.planes * g.h, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> gr_row(g.W), col_top(g.W), col_bot(g.W);
    RowUpsampler<T> up(rp, g, cols);
    for (int64_t band = begin; band < end; ++band) {
      const int64_t plane = band / g.h, k = band % g.h;
      const int64_t y_begin = first_output_reading(k, g.h, g.H, scale_y);
      const int64_t y_end = first_output_reading(k + 1, g.h, g.H, scale_y);
      backward_band(xp, gp, gxp, grp != nullptr ? col_top.data() : nullptr, col_bot.data(),
                    gr_row.data(), up, g, plane, k, y_begin, y_end, iterations);
      if (grp == nullptr) continue;
      T* top = partial.data() + band * 2 * g.w;
      T* bot = top + g.w;
      for (int64_t j = 0; j < g.w; ++j) {
        const int64_t j1 = j + (j < g.w - 1 ? 1 : 0);
        for (int64_t X = cols.start[j]; X < cols.start[j + 1]; ++X) {
          top[j] += cols.w0[X] * col_top[X];
          top[j1] += cols.w1[X] * col_top[X];
          bot[j] += cols.w0[X] * col_bot[X];
          bot[j1] += cols.w1[X] * col_bot[X];
        }
      }
    }
  });
  if (grp == nullptr) return;
  at::parallel_for(0, g.planes * g.h, 64, [&](int64_t begin, int64_t end) {
    for (int64_t band = begin; band < end; ++band) {
      const T* top = partial.data() + band * 2 * g.w;
      const T* above = band % g.h > 0 ? top - g.w : nullptr;  // the previous band's bottom row
      T* out = grp + band * g.w;
      for (int64_t j = 0; j < g.w; ++j) out[j] = top[j] + (above != nullptr ? above[j] : T(0));
    }
  });
}

std::tuple<at::Tensor, at::Tensor> curve_iter_backward_cpu(const at::Tensor& grad_in,
                                                           const at::Tensor& x_in,
                                                           const at::Tensor& r_in,
                                                           int64_t iterations, bool need_x,
                                                           bool need_r) {
  check_curve_backward_args(grad_in, x_in, r_in, iterations);
  check_cpu_dtype(x_in);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor gx =
      need_x ? with_huge_pages(at::empty_like(x, at::MemoryFormat::Contiguous)) : x.new_empty({0});
  at::Tensor gr = need_r ? at::empty_like(r, at::MemoryFormat::Contiguous) : r.new_empty({0});
  if (x.numel() == 0 || (!need_x && !need_r)) {
    if (need_r) gr.zero_();
    return {gx, gr};
  }
  const Geometry g = geometry_of(x, r);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "curve_iter_backward_cpu", [&] {
    using T = scalar_t;
    const T* xp = x.const_data_ptr<T>();
    const T* rp = r.const_data_ptr<T>();
    const T* gp = grad.const_data_ptr<T>();
    T* gxp = need_x ? gx.mutable_data_ptr<T>() : nullptr;
    T* grp = need_r ? gr.mutable_data_ptr<T>() : nullptr;
    if (g.upsample()) {
      curve_backward_upsampled(xp, rp, gp, gxp, grp, g, iterations);
      return;
    }
    at::parallel_for(0, x.numel(), kGrainElems, [&](int64_t begin, int64_t end) {
      backward_span(xp + begin, rp + begin, gp + begin, gxp != nullptr ? gxp + begin : nullptr,
                    grp != nullptr ? grp + begin : nullptr, end - begin, iterations);
    });
  });
  return {gx, gr};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("curve_iter", &sgz::curve_iter_cpu);
  m.impl("curve_iter_backward", &sgz::curve_iter_backward_cpu);
}
