// CUDA kernels of sgz_fast::guided_coefficients (see cpu/guided_coefficients.cpp): the
// self-guided filter's coefficient maps a and b (common/guided.h) of a guide (N, C, h, w).
//
// Two launches, one thread per pixel (grid-stride): A and B of every pixel into a (2, N, C, h,
// w) buffer, then their window means into a and b. A thread sums its (2r + 1)^2 window in the
// order of common/guided.h (each column top to bottom, the columns left to right); the window
// rows are read by neighbouring threads too, from L1/L2. The maps are small (the guide is the
// photo at low resolution: 3 x 540 x 960 floats at 1080p, 6 MB), so the launches are short;
// no shared-memory tiling. Memory: a, b, A and B, 4 x the guide.
//
// Included by csrc/guided_filters.cu (instantiated with CudaDevice) and by the tests'
// host emulation.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <tuple>

#include "../common/checks.h"
#include "../common/guided.h"
#include "common.cuh"

namespace sgz::gpu {

struct GuidedShape {
  int64_t pixels;  // N * C * h * w
  int64_t C, h, w, r;
  float inv_area;  // 1 / (2r + 1)^2
};

// The window mean around (y, x) of an h x w plane, of its values or (SQUARE) their squares.
template <bool SQUARE>
__device__ __forceinline__ float window_mean(const float* __restrict__ plane, int64_t y, int64_t x,
                                             const GuidedShape& s) {
  float total = 0.0f;
  for (int64_t j = -s.r; j <= s.r; ++j) {
    const int64_t col = reflect_index(x + j, s.w);
    float column = 0.0f;
    for (int64_t k = -s.r; k <= s.r; ++k) {
      const float v = plane[reflect_index(y + k, s.h) * s.w + col];
      column += SQUARE ? v * v : v;
    }
    total += column;
  }
  return total * s.inv_area;
}

// Pixel i of the (N * C) planes of h x w: its plane p, its index `at` in the plane, its row
// and column.
struct PlanePixel {
  int64_t p, at, y, x;
  __device__ __forceinline__ PlanePixel(int64_t i, const GuidedShape& s)
      : p(i / (s.h * s.w)), at(i - p * s.h * s.w), y(at / s.w), x(at - y * s.w) {}
};

__global__ void __launch_bounds__(kThreads)
    guided_linear_kernel(const float* __restrict__ guide, const float* __restrict__ eps,
                         float* __restrict__ A, float* __restrict__ B, GuidedShape s) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < s.pixels;
       i += int64_t{gridDim.x} * kThreads) {
    const PlanePixel px(i, s);
    const float* plane = guide + px.p * s.h * s.w;
    const float mean = window_mean<false>(plane, px.y, px.x, s);
    const float mean_sq = window_mean<true>(plane, px.y, px.x, s);
    self_guided_linear(mean, mean_sq, eps[(px.p / s.C) * s.h * s.w + px.at], A[i], B[i]);
  }
}

__global__ void __launch_bounds__(kThreads)
    guided_means_kernel(const float* __restrict__ A, const float* __restrict__ B,
                        float* __restrict__ a, float* __restrict__ b, GuidedShape s) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < s.pixels;
       i += int64_t{gridDim.x} * kThreads) {
    const PlanePixel px(i, s);
    a[i] = window_mean<false>(A + px.p * s.h * s.w, px.y, px.x, s);
    b[i] = window_mean<false>(B + px.p * s.h * s.w, px.y, px.x, s);
  }
}

template <class Device>
std::tuple<at::Tensor, at::Tensor> guided_coefficients_forward(const at::Tensor& guide_in,
                                                               const at::Tensor& eps_in,
                                                               int64_t radius) {
  check_guided_coefficients_args(guide_in, eps_in, radius);
  const typename Device::Guard guard(guide_in.device());
  const at::Tensor guide = guide_in.contiguous(), eps = eps_in.contiguous();
  at::Tensor a = Device::empty(guide.sizes(), guide.options());
  at::Tensor b = Device::empty(guide.sizes(), guide.options());
  if (guide.numel() == 0) return {a, b};
  const at::Tensor linear = Device::empty({2, guide.numel()}, guide.options());
  const GuidedShape s{
      guide.numel(), guide.size(1), guide.size(2),
      guide.size(3), radius,        1.0f / static_cast<float>((2 * radius + 1) * (2 * radius + 1))};
  const dim3 grid(static_cast<unsigned>(grid_stride_blocks<Device>(s.pixels)));
  float* A = linear.mutable_data_ptr<float>();
  float* B = A + s.pixels;
  Device::launch(grid, guided_linear_kernel, guide.const_data_ptr<float>(),
                 eps.const_data_ptr<float>(), A, B, s);
  Device::launch(grid, guided_means_kernel, static_cast<const float*>(A),
                 static_cast<const float*>(B), a.mutable_data_ptr<float>(),
                 b.mutable_data_ptr<float>(), s);
  return {a, b};
}

}  // namespace sgz::gpu
