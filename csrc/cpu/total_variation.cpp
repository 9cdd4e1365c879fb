// CPU operators of sgz_fast::total_variation and its backward (common/loss.h): the sums of
// squared vertical and horizontal differences of r in one pass, and r's gradient in one pass
// that writes it. Memory bound and a small share of a training step, so compiled once, not
// per capability level.
//
// Forward: each row's two sums (lane_sum.h) are kept in double and added up afterwards in row
// order, so the result does not depend on the thread count. Scratch: 2 x N C H doubles.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "../common/checks.h"
#include "../common/loss.h"
#include "cpu_dtype.h"
#include "huge_pages.h"
#include "lane_sum.h"

namespace sgz {
namespace {

constexpr int64_t kGrainElems = 16384;  // elements per parallel task, at least

int64_t grain_rows(int64_t W) {
  return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(W, 1));
}

// sums[row] = (vertical, horizontal) sums of the rows of planes (N C) of H x W.
template <typename T>
void row_sums(const T* r, int64_t rows, int64_t H, int64_t W, double* sums) {
  at::parallel_for(0, rows, grain_rows(W), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const T* a = r + row * W;
      const auto square = [](T d) { return d * d; };
      sums[2 * row] = row % H < H - 1
                          ? lane_sum<T>(W, [&](int64_t w) { return square(a[W + w] - a[w]); })
                          : 0.0;
      sums[2 * row + 1] = lane_sum<T>(W - 1, [&](int64_t w) { return square(a[w + 1] - a[w]); });
    }
  });
}

at::Tensor total_variation_cpu(const at::Tensor& r_in) {
  check_total_variation_args(r_in);
  check_cpu_float_dtype("total_variation", r_in);
  const at::Tensor r = r_in.contiguous();
  const int64_t H = r.size(2), W = r.size(3), rows = r.numel() == 0 ? 0 : r.numel() / W;
  at::Tensor sums = at::empty({rows, 2}, r.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "total_variation_cpu", [&] {
    row_sums(r.const_data_ptr<scalar_t>(), rows, H, W, sums.mutable_data_ptr<double>());
  });
  return sums.sum(0).to(r.scalar_type());
}

// One row of the gradient; a neighbour outside the plane is the pixel itself.
template <typename T>
void grad_row(const T* a, const T* up, const T* down, T* out, int64_t W, T gv, T gh) {
  if (W == 1) {
    out[0] = total_variation_grad(a[0], up[0], down[0], a[0], a[0], gv, gh);
    return;
  }
  out[0] = total_variation_grad(a[0], up[0], down[0], a[0], a[1], gv, gh);
  for (int64_t w = 1; w < W - 1; ++w) {
    out[w] = total_variation_grad(a[w], up[w], down[w], a[w - 1], a[w + 1], gv, gh);
  }
  out[W - 1] = total_variation_grad(a[W - 1], up[W - 1], down[W - 1], a[W - 2], a[W - 1], gv, gh);
}

at::Tensor total_variation_backward_cpu(const at::Tensor& grad, const at::Tensor& r_in) {
  check_total_variation_backward_args(grad, r_in);
  check_cpu_float_dtype("total_variation_backward", r_in);
  const at::Tensor r = r_in.contiguous();
  at::Tensor out = with_huge_pages(at::empty_like(r, at::MemoryFormat::Contiguous));
  if (r.numel() == 0) return out;
  const int64_t H = r.size(2), W = r.size(3), rows = r.numel() / W;
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "total_variation_backward_cpu", [&] {
    using T = scalar_t;
    const at::Tensor g = grad.contiguous();
    const T gv = g.const_data_ptr<T>()[0], gh = g.const_data_ptr<T>()[1];
    const T* rp = r.const_data_ptr<T>();
    T* op = out.mutable_data_ptr<T>();
    at::parallel_for(0, rows, grain_rows(W), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const T* a = rp + row * W;
        const int64_t h = row % H;
        grad_row(a, h > 0 ? a - W : a, h < H - 1 ? a + W : a, op + row * W, W, gv, gh);
      }
    });
  });
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("total_variation", &sgz::total_variation_cpu);
  m.impl("total_variation_backward", &sgz::total_variation_backward_cpu);
}
