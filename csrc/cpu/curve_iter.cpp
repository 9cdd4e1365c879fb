// CPU operators of sgz_fast::curve_iter and its backward: checks, allocation, the split into
// parallel tasks and the reduction of r's gradient. The hot loops (curve passes, r upsampled
// one row at a time) are in kernels/curve_iter_kernels.cpp, one copy per CPU capability level.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "../common/checks.h"
#include "huge_pages.h"
#include "kernels/curve_iter_kernels.h"

namespace sgz {
namespace {

using cpu::ColumnTaps;
using cpu::Geometry;
using cpu::RowUpsampler;

constexpr int64_t kGrainElems = 32768;  // elements per parallel task, at least

Geometry geometry_of(const at::Tensor& x, const at::Tensor& r) {
  return {x.size(0) * x.size(1), x.size(2), x.size(3), r.size(2), r.size(3)};
}

// ---- Operators ----------------------------------------------------------------------------

void check_cpu_dtype(const at::Tensor& x) {
  TORCH_CHECK_TYPE(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
                   "curve_iter on CPU supports float32 and float64; got ", x.scalar_type(),
                   " (float16 and bfloat16 run on CUDA only: convert with .float() on the CPU)");
}

at::Tensor curve_iter_cpu(const at::Tensor& x_in, const at::Tensor& r_in, int64_t iterations) {
  check_curve_args(x_in, r_in, iterations);
  check_cpu_dtype(x_in);
  // A channels-last x (an image permuted from an (H, W, C) array) is read as it is: a planar
  // copy would cost more than the curve.
  const bool channels_last =
      x_in.is_contiguous(at::MemoryFormat::ChannelsLast) && !x_in.is_contiguous();
  const at::Tensor x = channels_last ? x_in : x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor y = with_huge_pages(at::empty_like(x, at::MemoryFormat::Contiguous));
  if (y.numel() == 0) return y;
  const Geometry g = geometry_of(x, r);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "curve_iter_cpu", [&] {
    using T = scalar_t;
    const T* xp = x.const_data_ptr<T>();
    const T* rp = r.const_data_ptr<T>();
    T* yp = y.mutable_data_ptr<T>();
    const auto& kernels = cpu::curve_kernels<T>();
    if (channels_last) {
      const int64_t C = x.size(1);
      std::optional<ColumnTaps<T>> cols;
      if (g.upsample()) cols.emplace(g);
      at::parallel_for(0, x.size(0) * g.H, std::max<int64_t>(1, kGrainElems / (g.W * C)),
                       [&](int64_t begin, int64_t end) {
                         std::vector<RowUpsampler<T>> ups;  // one per channel: rows in order
                         if (cols) {
                           ups.reserve(C);
                           for (int64_t c = 0; c < C; ++c) ups.emplace_back(rp, g, *cols);
                         }
                         kernels.forward_rows_channels_last(xp, yp, rp, cols ? ups.data() : nullptr,
                                                            g, C, begin, end, iterations);
                       });
      return;
    }
    if (!g.upsample()) {
      at::parallel_for(0, x.numel(), kGrainElems, [&](int64_t begin, int64_t end) {
        kernels.forward_span(xp + begin, rp + begin, yp + begin, end - begin, iterations);
      });
      return;
    }
    const ColumnTaps<T> cols(g);
    at::parallel_for(0, g.planes * g.H, std::max<int64_t>(1, kGrainElems / g.W),
                     [&](int64_t begin, int64_t end) {
                       RowUpsampler<T> up(rp, g, cols);
                       kernels.forward_rows(xp, yp, up, g, begin, end, iterations);
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
  const auto& kernels = cpu::curve_kernels<T>();

  at::parallel_for(0, g.planes * g.h, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> gr_row(g.W), col_top(g.W), col_bot(g.W);
    RowUpsampler<T> up(rp, g, cols);
    for (int64_t band = begin; band < end; ++band) {
      const int64_t plane = band / g.h, k = band % g.h;
      const int64_t y_begin = first_output_reading(k, g.h, g.H, scale_y);
      const int64_t y_end = first_output_reading(k + 1, g.h, g.H, scale_y);
      kernels.backward_band(xp, gp, gxp, grp != nullptr ? col_top.data() : nullptr, col_bot.data(),
                            gr_row.data(), up, g, plane, k, y_begin, y_end, iterations);
      if (grp == nullptr) continue;
      T* top = partial.data() + band * 2 * g.w;
      T* bot = top + g.w;
      for (int64_t j = 0; j < g.w; ++j) {
        const int64_t j1 = cols.second[j];
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
    const auto& kernels = cpu::curve_kernels<T>();
    at::parallel_for(0, x.numel(), kGrainElems, [&](int64_t begin, int64_t end) {
      kernels.backward_span(xp + begin, rp + begin, gp + begin,
                            gxp != nullptr ? gxp + begin : nullptr,
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
