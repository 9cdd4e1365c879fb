// CPU operators of sgz_fast::loss_pools and its backward: the reductions of enhanced and image
// that the zero-reference losses need (common/loss.h), in one pass over both, and the gradient
// of enhanced in one pass that writes it. Memory bound and a small share of a training step,
// so compiled once, not per capability level.
//
// Forward: work goes in bands of lcm(p, e) rows of one image. Every cell of either size lies in
// one band, so each band (a parallel task) owns the cells it adds to; the plane sums are kept
// per row (lane_sum.h) and added up afterwards in row order. A cell's row is summed in T and
// added into double; the results come out the same whatever the thread count. The backward
// spreads a row of cells' gradients once for all channels, with no division a pixel. Scratch: the
// cells and row sums in double, (N H / p W / p + N H / e W / e + N C H) x 8 bytes, and two rows a
// thread.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <numeric>
#include <tuple>
#include <vector>

#include "../common/checks.h"
#include "../common/loss.h"
#include "cpu_dtype.h"
#include "huge_pages.h"
#include "lane_sum.h"

namespace sgz {
namespace {

constexpr int64_t kGrainElems = 16384;  // elements written per parallel task, at least

struct PoolGeometry {
  int64_t N, C, H, W, p, e;
  int64_t Hp() const { return H / p; }
  int64_t Wp() const { return W / p; }
  int64_t He() const { return H / e; }
  int64_t We() const { return W / e; }
};

PoolGeometry geometry_of(at::IntArrayRef size, int64_t p, int64_t e) {
  return {size[0], size[1], size[2], size[3], p, e};
}

// Adds row[0 .. cells * size) in groups of `size` to cells[0 .. cells).
template <typename T>
void add_cells(const T* row, int64_t cells, int64_t size, double* out) {
  for (int64_t j = 0; j < cells; ++j) {
    T s = 0;
    for (int64_t k = 0; k < size; ++k) s += row[j * size + k];
    out[j] += s;
  }
}

// The sums behind the three maps: cells (N, Hp, Wp) of the channel sum of y - x, cells
// (N, He, We) of the channel sum of y, and row sums (N, C, H) of y.
template <typename T>
void pool_sums(const T* y, const T* x, const PoolGeometry& g, double* spatial, double* exposure,
               double* row_sums) {
  const int64_t band = std::lcm(g.p, g.e);
  const int64_t bands = (g.H + band - 1) / band;
  const int64_t plane = g.H * g.W;
  at::parallel_for(0, g.N * bands, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> sum_y(g.W), diff(g.W);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / bands, h0 = task % bands * band;
      for (int64_t h = h0; h < std::min(g.H, h0 + band); ++h) {
        std::fill(sum_y.begin(), sum_y.end(), T(0));
        std::fill(diff.begin(), diff.end(), T(0));
        for (int64_t c = 0; c < g.C; ++c) {
          const T* yr = y + (n * g.C + c) * plane + h * g.W;
          const T* xr = x + (n * g.C + c) * plane + h * g.W;
          for (int64_t w = 0; w < g.W; ++w) {
            sum_y[w] += yr[w];
            diff[w] += yr[w] - xr[w];
          }
          row_sums[(n * g.C + c) * g.H + h] = lane_sum<T>(g.W, [&](int64_t w) { return yr[w]; });
        }
        if (h / g.p < g.Hp()) {
          add_cells(diff.data(), g.Wp(), g.p, spatial + (n * g.Hp() + h / g.p) * g.Wp());
        }
        if (h / g.e < g.He()) {
          add_cells(sum_y.data(), g.We(), g.e, exposure + (n * g.He() + h / g.e) * g.We());
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> loss_pools_cpu(const at::Tensor& enhanced_in,
                                                              const at::Tensor& image_in,
                                                              int64_t patch_size,
                                                              int64_t exposure_patch_size) {
  check_loss_pools_args(enhanced_in, image_in, patch_size, exposure_patch_size);
  check_cpu_float_dtype("loss_pools", enhanced_in);
  const at::Tensor y = enhanced_in.contiguous();
  const at::Tensor x = image_in.contiguous();
  const PoolGeometry g = geometry_of(y.sizes(), patch_size, exposure_patch_size);
  const auto f64 = y.options().dtype(at::kDouble);
  at::Tensor spatial = at::zeros({g.N, 1, g.Hp(), g.Wp()}, f64);
  at::Tensor exposure = at::zeros({g.N, 1, g.He(), g.We()}, f64);
  at::Tensor row_sums = at::empty({g.N, g.C, g.H}, f64);
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "loss_pools_cpu", [&] {
    pool_sums(y.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), g,
              spatial.mutable_data_ptr<double>(), exposure.mutable_data_ptr<double>(),
              row_sums.mutable_data_ptr<double>());
  });
  const PoolScales s = pool_scales(g.C, g.H, g.W, g.p, g.e);
  const auto dtype = y.scalar_type();
  return {(spatial * s.spatial).to(dtype), (exposure * s.exposure).to(dtype),
          (row_sums.sum(2) * s.mean).to(dtype)};
}

// row[j * size + k] += cells[j] * scale for j < count, k < size: a row of cells' gradients
// spread over their pixels.
template <typename T>
void spread_cells(const T* cells, int64_t count, int64_t size, T scale, T* row) {
  for (int64_t j = 0; j < count; ++j) {
    const T v = cells[j] * scale;
    for (int64_t k = 0; k < size; ++k) row[j * size + k] += v;
  }
}

// The gradient of enhanced: per pixel its spatial cell's gradient, its exposure cell's and its
// plane's, each times its scale; one row of the first two is made once for all channels.
template <typename T>
void pools_grad(const T* gs, const T* ge, const T* gm, T* out, const PoolGeometry& g) {
  const PoolScales s = pool_scales(g.C, g.H, g.W, g.p, g.e);
  const int64_t plane = g.H * g.W;
  const int64_t grain = std::max<int64_t>(1, kGrainElems / (g.C * g.W));
  at::parallel_for(0, g.N * g.H, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> cells(g.W);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.H, h = row % g.H;
      std::fill(cells.begin(), cells.end(), T(0));
      if (h / g.p < g.Hp()) {
        spread_cells(gs + (n * g.Hp() + h / g.p) * g.Wp(), g.Wp(), g.p, T(s.spatial), cells.data());
      }
      if (h / g.e < g.He()) {
        spread_cells(ge + (n * g.He() + h / g.e) * g.We(), g.We(), g.e, T(s.exposure),
                     cells.data());
      }
      for (int64_t c = 0; c < g.C; ++c) {
        const T m = gm[n * g.C + c] * T(s.mean);
        T* o = out + (n * g.C + c) * plane + h * g.W;
        for (int64_t w = 0; w < g.W; ++w) o[w] = cells[w] + m;
      }
    }
  });
}

at::Tensor loss_pools_backward_cpu(const at::Tensor& grad_spatial, const at::Tensor& grad_exposure,
                                   const at::Tensor& grad_means, at::IntArrayRef size,
                                   int64_t patch_size, int64_t exposure_patch_size) {
  check_loss_pools_backward_args(grad_spatial, grad_exposure, grad_means, size, patch_size,
                                 exposure_patch_size);
  check_cpu_float_dtype("loss_pools_backward", grad_spatial);
  const at::Tensor gs = grad_spatial.contiguous();
  const at::Tensor ge = grad_exposure.contiguous();
  const at::Tensor gm = grad_means.contiguous();
  at::Tensor out = with_huge_pages(at::empty(size, gs.options()));
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(gs.scalar_type(), "loss_pools_backward_cpu", [&] {
    pools_grad(gs.const_data_ptr<scalar_t>(), ge.const_data_ptr<scalar_t>(),
               gm.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
               geometry_of(size, patch_size, exposure_patch_size));
  });
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("loss_pools", &sgz::loss_pools_cpu);
  m.impl("loss_pools_backward", &sgz::loss_pools_backward_cpu);
}
