// CPU kernels of sgz_fast::curve_iter and its backward.
//
// The curve is applied in blocks of kBlock elements that stay in L1 while the iteration loop
// runs over them, so the inner loop is a plain element loop the compiler vectorizes (one
// clone per x86-64 level, multiversion.h). When r is smaller than x it is upsampled one
// output row at a time into a row buffer: the full-resolution r never exists.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/curve.h"
#include "multiversion.h"

namespace sgz {
namespace {

constexpr int64_t kBlock = 256;         // elements per L1-resident block
constexpr int64_t kGrainElems = 32768;  // elements per parallel task, at least

template <typename T>
inline void curve_run_impl(const T* x, const T* r, T* y, int64_t n, int64_t iterations) {
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t m = std::min(kBlock, n - s);
    T* out = y + s;
    const T* rr = r + s;
    std::copy(x + s, x + s + m, out);
    for (int64_t k = 0; k < iterations; ++k) {
      for (int64_t e = 0; e < m; ++e) out[e] = curve_step(out[e], rr[e]);
    }
  }
}

// gx = g * dy/dx and gr = g * dy/dr over a contiguous run; either output may be null.
template <typename T>
inline void curve_grad_run_impl(const T* x, const T* r, const T* g, T* gx, T* gr, int64_t n,
                                int64_t iterations) {
  T xs[kBlock], da[kBlock], db[kBlock];
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t m = std::min(kBlock, n - s);
    const T* rr = r + s;
    for (int64_t e = 0; e < m; ++e) {
      xs[e] = x[s + e];
      da[e] = T(1);
      db[e] = T(0);
    }
    for (int64_t k = 0; k < iterations; ++k) {
      for (int64_t e = 0; e < m; ++e) curve_tangent_step(xs[e], da[e], db[e], rr[e]);
    }
    if (gx != nullptr) {
      for (int64_t e = 0; e < m; ++e) gx[s + e] = g[s + e] * da[e];
    }
    if (gr != nullptr) {
      for (int64_t e = 0; e < m; ++e) gr[s + e] = g[s + e] * db[e];
    }
  }
}

SGZ_MULTIVERSION void curve_run(const float* x, const float* r, float* y, int64_t n, int64_t it) {
  curve_run_impl(x, r, y, n, it);
}
SGZ_MULTIVERSION void curve_run(const double* x, const double* r, double* y, int64_t n,
                                int64_t it) {
  curve_run_impl(x, r, y, n, it);
}
SGZ_MULTIVERSION void curve_grad_run(const float* x, const float* r, const float* g, float* gx,
                                     float* gr, int64_t n, int64_t it) {
  curve_grad_run_impl(x, r, g, gx, gr, n, it);
}
SGZ_MULTIVERSION void curve_grad_run(const double* x, const double* r, const double* g,
                                     double* gx, double* gr, int64_t n, int64_t it) {
  curve_grad_run_impl(x, r, g, gx, gr, n, it);
}

struct Geometry {
  int64_t planes, H, W, h, w;
  bool upsample() const { return h != H || w != W; }
};

Geometry geometry_of(const at::Tensor& x, const at::Tensor& r) {
  return {x.size(0) * x.size(1), x.size(2), x.size(3), r.size(2), r.size(3)};
}

// Upsamples row Y of plane `plane` of the low-resolution r into out[0..W).
template <typename T>
void upsample_row(const T* r, const Geometry& g, int64_t plane, const Tap<T>& ty,
                  const std::vector<Tap<T>>& col_taps, T* out) {
  const T* base = r + plane * g.h * g.w;
  const T* row0 = base + ty.i0 * g.w;
  const T* row1 = base + ty.i1 * g.w;
  for (int64_t X = 0; X < g.W; ++X) out[X] = bilinear_sample(row0, row1, ty, col_taps[X]);
}

template <typename T>
std::vector<Tap<T>> column_taps(const Geometry& g) {
  const T scale = align_corners_scale<T>(g.w, g.W);
  std::vector<Tap<T>> taps(g.W);
  for (int64_t X = 0; X < g.W; ++X) taps[X] = align_corners_tap(X, g.w, scale);
  return taps;
}

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
  at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
  if (y.numel() == 0) return y;
  const Geometry g = geometry_of(x, r);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "curve_iter_cpu", [&] {
    using T = scalar_t;
    const T* xp = x.const_data_ptr<T>();
    const T* rp = r.const_data_ptr<T>();
    T* yp = y.mutable_data_ptr<T>();
    if (!g.upsample()) {
      at::parallel_for(0, x.numel(), kGrainElems, [&](int64_t begin, int64_t end) {
        curve_run(xp + begin, rp + begin, yp + begin, end - begin, iterations);
      });
      return;
    }
    const auto col_taps = column_taps<T>(g);
    const T scale_y = align_corners_scale<T>(g.h, g.H);
    const int64_t grain_rows = std::max<int64_t>(1, kGrainElems / g.W);
    at::parallel_for(0, g.planes * g.H, grain_rows, [&](int64_t begin, int64_t end) {
      std::vector<T> r_row(g.W);
      for (int64_t row = begin; row < end; ++row) {
        const Tap<T> ty = align_corners_tap(row % g.H, g.h, scale_y);
        upsample_row(rp, g, row / g.H, ty, col_taps, r_row.data());
        curve_run(xp + row * g.W, r_row.data(), yp + row * g.W, g.W, iterations);
      }
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
  const auto col_taps = column_taps<T>(g);
  const T scale_y = align_corners_scale<T>(g.h, g.H);
  std::vector<T> partial(grp != nullptr ? g.planes * g.h * 2 * g.w : 0, T(0));

  at::parallel_for(0, g.planes * g.h, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> r_row(g.W), gr_row(g.W), col_top(g.W), col_bot(g.W);
    for (int64_t band = begin; band < end; ++band) {
      const int64_t plane = band / g.h, k = band % g.h;
      const int64_t y_begin = first_output_reading(k, g.h, g.H, scale_y);
      const int64_t y_end = first_output_reading(k + 1, g.h, g.H, scale_y);
      std::fill(col_top.begin(), col_top.end(), T(0));
      std::fill(col_bot.begin(), col_bot.end(), T(0));
      for (int64_t Y = y_begin; Y < y_end; ++Y) {
        const Tap<T> ty = align_corners_tap(Y, g.h, scale_y);
        const int64_t off = (plane * g.H + Y) * g.W;
        upsample_row(rp, g, plane, ty, col_taps, r_row.data());
        curve_grad_run(xp + off, r_row.data(), gp + off, gxp != nullptr ? gxp + off : nullptr,
                       grp != nullptr ? gr_row.data() : nullptr, g.W, iterations);
        if (grp == nullptr) continue;
        // Source row i1 is k + 1, or k itself at the last source row.
        T* second = ty.i1 == k ? col_top.data() : col_bot.data();
        for (int64_t X = 0; X < g.W; ++X) col_top[X] += ty.w0 * gr_row[X];
        for (int64_t X = 0; X < g.W; ++X) second[X] += ty.w1 * gr_row[X];
      }
      if (grp == nullptr) continue;
      T* top = partial.data() + band * 2 * g.w;
      T* bot = top + g.w;
      for (int64_t X = 0; X < g.W; ++X) {
        const Tap<T>& tx = col_taps[X];
        top[tx.i0] += tx.w0 * col_top[X];
        top[tx.i1] += tx.w1 * col_top[X];
        bot[tx.i0] += tx.w0 * col_bot[X];
        bot[tx.i1] += tx.w1 * col_bot[X];
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
  at::Tensor gx = need_x ? at::empty_like(x, at::MemoryFormat::Contiguous) : x.new_empty({0});
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
      curve_grad_run(xp + begin, rp + begin, gp + begin, gxp != nullptr ? gxp + begin : nullptr,
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
