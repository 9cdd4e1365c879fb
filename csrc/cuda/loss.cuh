// CUDA kernels of sgz_fast::loss_pools and total_variation and their backwards (the CPU's are
// cpu/loss_pools.cpp and cpu/total_variation.cpp; the formulas common/loss.h).
//
// A small share of a training step and memory bound, so written plainly. The reductions give
// each thread one cell (its p x p x C or e x e x C values) or one row (a plane's row sum, the
// two squared-difference sums of a row of r), summed in double; ATen then adds up the rows'
// partial sums. Nothing is added with atomics, so the results do not depend on the schedule.
// The backwards are elementwise, a thread an element in grid-stride loops, in float for the
// half types. Scratch: the row sums, N C H doubles (two each for total_variation).
//
// Included by csrc/loss.cu (instantiated with CudaDevice) and by the tests' host emulation.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <cstdint>
#include <tuple>

#include "../common/checks.h"
#include "../common/loss.h"
#include "common.cuh"

namespace sgz::gpu {

struct PoolShape {
  int64_t N, C, H, W;
};

#define SGZ_GRID_STRIDE(i, count)                                             \
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < (count); \
       i += int64_t{gridDim.x} * kThreads)

// One thread a cell of side `cell`: the sum over it of the channel sum of y, less x's where x
// is given, times scale.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    cell_means_kernel(const T* __restrict__ y, const T* __restrict__ x, T* __restrict__ out,
                      PoolShape s, int64_t cell, double scale) {
  const int64_t rows = s.H / cell, cols = s.W / cell;
  SGZ_GRID_STRIDE(i, s.N * rows * cols) {
    const int64_t n = i / (rows * cols), cy = i / cols % rows, cx = i % cols;
    double sum = 0;
    for (int64_t c = 0; c < s.C; ++c) {
      const int64_t first = ((n * s.C + c) * s.H + cy * cell) * s.W + cx * cell;
      for (int64_t dy = 0; dy < cell; ++dy) {
        for (int64_t dx = 0; dx < cell; ++dx) {
          const int64_t e = first + dy * s.W + dx;
          sum += static_cast<double>(y[e]) - (x != nullptr ? static_cast<double>(x[e]) : 0.0);
        }
      }
    }
    out[i] = static_cast<T>(sum * scale);
  }
}

// One thread a row of W: its sum.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    row_sums_kernel(const T* __restrict__ y, double* __restrict__ sums, int64_t rows, int64_t W) {
  SGZ_GRID_STRIDE(row, rows) {
    double sum = 0;
    for (int64_t w = 0; w < W; ++w) sum += static_cast<double>(y[row * W + w]);
    sums[row] = sum;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    pools_grad_kernel(const T* __restrict__ gs, const T* __restrict__ ge, const T* __restrict__ gm,
                      T* __restrict__ out, PoolShape s, int64_t p, int64_t e, PoolScales scales) {
  using acc_t = at::opmath_type<T>;
  const int64_t Hp = s.H / p, Wp = s.W / p, He = s.H / e, We = s.W / e;
  SGZ_GRID_STRIDE(i, s.N * s.C * s.H * s.W) {
    const int64_t w = i % s.W, h = i / s.W % s.H, plane = i / (s.H * s.W), n = plane / s.C;
    acc_t g = 0;
    if (h / p < Hp && w / p < Wp) {
      g += static_cast<acc_t>(gs[(n * Hp + h / p) * Wp + w / p]) * acc_t(scales.spatial);
    }
    if (h / e < He && w / e < We) {
      g += static_cast<acc_t>(ge[(n * He + h / e) * We + w / e]) * acc_t(scales.exposure);
    }
    out[i] = static_cast<T>(g + static_cast<acc_t>(gm[plane]) * acc_t(scales.mean));
  }
}

// One thread a row of r: (vertical, horizontal) sums of squared differences.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    variation_row_sums_kernel(const T* __restrict__ r, double* __restrict__ sums, int64_t rows,
                              int64_t H, int64_t W) {
  SGZ_GRID_STRIDE(row, rows) {
    const T* a = r + row * W;
    double vertical = 0, horizontal = 0;
    for (int64_t w = 0; w < W; ++w) {
      if (row % H < H - 1) {
        const double d = static_cast<double>(a[W + w]) - static_cast<double>(a[w]);
        vertical += d * d;
      }
      if (w + 1 < W) {
        const double d = static_cast<double>(a[w + 1]) - static_cast<double>(a[w]);
        horizontal += d * d;
      }
    }
    sums[2 * row] = vertical;
    sums[2 * row + 1] = horizontal;
  }
}

// grad holds the two sums' gradients, read on the device (no copy to the host, no sync).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    variation_grad_kernel(const T* __restrict__ r, const T* __restrict__ grad, T* __restrict__ out,
                          int64_t H, int64_t W, int64_t count) {
  using acc_t = at::opmath_type<T>;
  const acc_t gv = static_cast<acc_t>(grad[0]), gh = static_cast<acc_t>(grad[1]);
  SGZ_GRID_STRIDE(i, count) {
    const int64_t w = i % W, h = i / W % H;
    const auto at = [&](int64_t e) { return static_cast<acc_t>(r[e]); };
    const acc_t v = at(i);
    out[i] = static_cast<T>(total_variation_grad(v, h > 0 ? at(i - W) : v,
                                                 h < H - 1 ? at(i + W) : v, w > 0 ? at(i - 1) : v,
                                                 w < W - 1 ? at(i + 1) : v, gv, gh));
  }
}

#undef SGZ_GRID_STRIDE

template <class Device>
dim3 grid_for(int64_t count) {
  return dim3(static_cast<unsigned>(grid_stride_blocks<Device>(count)));
}

// ---- Op bodies ------------------------------------------------------------------------------

template <class Device>
std::tuple<at::Tensor, at::Tensor, at::Tensor> loss_pools_forward(const at::Tensor& enhanced,
                                                                  const at::Tensor& image,
                                                                  int64_t p, int64_t e) {
  check_loss_pools_args(enhanced, image, p, e);
  const typename Device::Guard guard(enhanced.device());
  const at::Tensor y = enhanced.contiguous(), x = image.contiguous();
  const PoolShape s{y.size(0), y.size(1), y.size(2), y.size(3)};
  const PoolScales scales = pool_scales(s.C, s.H, s.W, p, e);
  at::Tensor spatial = Device::empty({s.N, 1, s.H / p, s.W / p}, y.options());
  at::Tensor exposure = Device::empty({s.N, 1, s.H / e, s.W / e}, y.options());
  at::Tensor sums = Device::empty({s.N, s.C, s.H}, y.options().dtype(at::kDouble));
  if (s.N > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, y.scalar_type(), "loss_pools_cuda", [&] {
          const scalar_t* yp = y.const_data_ptr<scalar_t>();
          Device::launch(grid_for<Device>(spatial.numel()), cell_means_kernel<scalar_t>, yp,
                         x.const_data_ptr<scalar_t>(), spatial.mutable_data_ptr<scalar_t>(), s, p,
                         scales.spatial);
          Device::launch(grid_for<Device>(exposure.numel()), cell_means_kernel<scalar_t>, yp,
                         static_cast<const scalar_t*>(nullptr),
                         exposure.mutable_data_ptr<scalar_t>(), s, e, scales.exposure);
          Device::launch(grid_for<Device>(sums.numel()), row_sums_kernel<scalar_t>, yp,
                         sums.mutable_data_ptr<double>(), sums.numel(), s.W);
        });
  }
  return {spatial, exposure, (sums.sum(2) * scales.mean).to(y.scalar_type())};
}

template <class Device>
at::Tensor loss_pools_backward(const at::Tensor& grad_spatial, const at::Tensor& grad_exposure,
                               const at::Tensor& grad_means, at::IntArrayRef size, int64_t p,
                               int64_t e) {
  check_loss_pools_backward_args(grad_spatial, grad_exposure, grad_means, size, p, e);
  const typename Device::Guard guard(grad_spatial.device());
  const at::Tensor gs = grad_spatial.contiguous(), ge = grad_exposure.contiguous();
  const at::Tensor gm = grad_means.contiguous();
  at::Tensor out = Device::empty(size, gs.options());
  if (out.numel() == 0) return out;
  const PoolShape s{size[0], size[1], size[2], size[3]};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, gs.scalar_type(), "loss_pools_backward_cuda", [&] {
        Device::launch(grid_for<Device>(out.numel()), pools_grad_kernel<scalar_t>,
                       gs.const_data_ptr<scalar_t>(), ge.const_data_ptr<scalar_t>(),
                       gm.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), s, p, e,
                       pool_scales(s.C, s.H, s.W, p, e));
      });
  return out;
}

template <class Device>
at::Tensor total_variation_forward(const at::Tensor& r_in) {
  check_total_variation_args(r_in);
  const typename Device::Guard guard(r_in.device());
  const at::Tensor r = r_in.contiguous();
  const int64_t H = r.size(2), W = r.size(3), rows = r.numel() == 0 ? 0 : r.numel() / W;
  at::Tensor sums = Device::empty({rows, 2}, r.options().dtype(at::kDouble));
  if (rows > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, r.scalar_type(), "total_variation_cuda", [&] {
          Device::launch(grid_for<Device>(rows), variation_row_sums_kernel<scalar_t>,
                         r.const_data_ptr<scalar_t>(), sums.mutable_data_ptr<double>(), rows, H, W);
        });
  }
  return sums.sum(0).to(r.scalar_type());
}

template <class Device>
at::Tensor total_variation_backward(const at::Tensor& grad_in, const at::Tensor& r_in) {
  check_total_variation_backward_args(grad_in, r_in);
  const typename Device::Guard guard(r_in.device());
  const at::Tensor r = r_in.contiguous(), grad = grad_in.contiguous();
  at::Tensor out = Device::empty(r.sizes(), r.options());
  if (r.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, r.scalar_type(), "total_variation_backward_cuda", [&] {
        Device::launch(grid_for<Device>(r.numel()), variation_grad_kernel<scalar_t>,
                       r.const_data_ptr<scalar_t>(), grad.const_data_ptr<scalar_t>(),
                       out.mutable_data_ptr<scalar_t>(), r.size(2), r.size(3), r.numel());
      });
  return out;
}

}  // namespace sgz::gpu
