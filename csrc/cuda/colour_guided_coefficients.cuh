// CUDA kernels of sgz_fast::colour_guided_coefficients (see cpu/colour_guided_coefficients.cpp):
// the colour guided filter's maps a (N, 6, h, w) and b (N, 3, h, w) (common/guided.h) of a
// guide (N, 3, h, w).
//
// As guided_coefficients.cuh: two launches, one thread per low-resolution pixel (grid-stride).
// The first sums the thread's window of the 3 channels and of their 6 products (each column
// top to bottom, the columns left to right: common/guided.h's order) and writes its A (6) and
// B (3) into a (N, 9, h, w) buffer; the second takes each of those 9 planes' window means. The
// maps are small (540 x 960 at 1080p), the window reads come from L1/L2; no shared-memory
// tiling. Memory: a, b and the buffer, 6 x the guide.
//
// Included by csrc/guided_filters.cu (instantiated with CudaDevice) and by the
// tests' host emulation.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <tuple>

#include "../common/checks.h"
#include "../common/guided.h"
#include "common.cuh"
#include "guided_coefficients.cuh"

namespace sgz::gpu {

// The window mean around (y, x) of the product of two h x w planes.
__device__ __forceinline__ float window_mean_product(const float* __restrict__ p,
                                                     const float* __restrict__ q, int64_t y,
                                                     int64_t x, const GuidedShape& s) {
  float total = 0.0f;
  for (int64_t j = -s.r; j <= s.r; ++j) {
    const int64_t col = reflect_index(x + j, s.w);
    float column = 0.0f;
    for (int64_t k = -s.r; k <= s.r; ++k) {
      const int64_t at = reflect_index(y + k, s.h) * s.w + col;
      column += p[at] * q[at];
    }
    total += column;
  }
  return total * s.inv_area;
}

constexpr int kColourPlanes = kSymmetric3 + 3;  // A's 6 entries, then B's 3

// s.pixels = N * h * w and s.C = 1 here: one thread per pixel of an image, not of a plane.
__global__ void __launch_bounds__(kThreads)
    colour_linear_kernel(const float* __restrict__ guide, const float* __restrict__ eps,
                         float* __restrict__ linear, GuidedShape s) {
  constexpr int kPairs[kSymmetric3][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}};
  const int64_t plane = s.h * s.w;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < s.pixels;
       i += int64_t{gridDim.x} * kThreads) {
    const PlanePixel px(i, s);  // its plane: the image n
    const float* image = guide + px.p * 3 * plane;
    float mean[3], products[kSymmetric3], A[kSymmetric3], B[3];
    for (int c = 0; c < 3; ++c) mean[c] = window_mean<false>(image + c * plane, px.y, px.x, s);
    for (int k = 0; k < kSymmetric3; ++k) {
      products[k] = window_mean_product(image + kPairs[k][0] * plane, image + kPairs[k][1] * plane,
                                        px.y, px.x, s);
    }
    colour_guided_linear(mean, products, eps[i], A, B);
    float* out = linear + px.p * kColourPlanes * plane + px.at;
    for (int k = 0; k < kSymmetric3; ++k) out[k * plane] = A[k];
    for (int c = 0; c < 3; ++c) out[(kSymmetric3 + c) * plane] = B[c];
  }
}

// s.pixels = N * 9 * h * w: each plane of the buffer into a's or b's.
__global__ void __launch_bounds__(kThreads)
    colour_means_kernel(const float* __restrict__ linear, float* __restrict__ a,
                        float* __restrict__ b, GuidedShape s) {
  const int64_t plane = s.h * s.w;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < s.pixels;
       i += int64_t{gridDim.x} * kThreads) {
    const PlanePixel px(i, s);
    const int64_t n = px.p / kColourPlanes, k = px.p - n * kColourPlanes;
    float* out =
        k < kSymmetric3 ? a + (n * kSymmetric3 + k) * plane : b + (n * 3 + k - kSymmetric3) * plane;
    out[px.at] = window_mean<false>(linear + px.p * plane, px.y, px.x, s);
  }
}

template <class Device>
std::tuple<at::Tensor, at::Tensor> colour_guided_coefficients_forward(const at::Tensor& guide_in,
                                                                      const at::Tensor& eps_in,
                                                                      int64_t radius) {
  check_colour_guided_coefficients_args(guide_in, eps_in, radius);
  const typename Device::Guard guard(guide_in.device());
  const at::Tensor guide = guide_in.contiguous(), eps = eps_in.contiguous();
  const int64_t N = guide.size(0), h = guide.size(2), w = guide.size(3);
  at::Tensor a = Device::empty({N, kSymmetric3, h, w}, guide.options());
  at::Tensor b = Device::empty({N, 3, h, w}, guide.options());
  if (guide.numel() == 0) return {a, b};
  const at::Tensor linear = Device::empty({N, kColourPlanes, h, w}, guide.options());
  const float inv_area = 1.0f / static_cast<float>((2 * radius + 1) * (2 * radius + 1));
  const GuidedShape per_pixel{N * h * w, 1, h, w, radius, inv_area};
  Device::launch(dim3(static_cast<unsigned>(grid_stride_blocks<Device>(per_pixel.pixels))),
                 colour_linear_kernel, guide.const_data_ptr<float>(), eps.const_data_ptr<float>(),
                 linear.mutable_data_ptr<float>(), per_pixel);
  const GuidedShape per_plane{linear.numel(), kColourPlanes, h, w, radius, inv_area};
  Device::launch(dim3(static_cast<unsigned>(grid_stride_blocks<Device>(per_plane.pixels))),
                 colour_means_kernel, static_cast<const float*>(linear.const_data_ptr<float>()),
                 a.mutable_data_ptr<float>(), b.mutable_data_ptr<float>(), per_plane);
  return {a, b};
}

}  // namespace sgz::gpu
