// CUDA kernel of sgz_fast::colour_affine_uint8 (see cpu/colour_affine_uint8.cpp): the colour
// guided filter's output on 8-bit frames (N, H, W, 3), out = a x + b per pixel with a's
// symmetric 3 x 3 matrix (N, 6, h, w) and b (N, 3, h, w) upsampled bilinearly
// (align_corners=True) in registers.
//
// One thread per pixel: its 3 bytes read, the 9 maps sampled (frames_uint8.cuh's MapPoint),
// 3 bytes written. Rows as frames_uint8.cuh's kernel: block row blockIdx.y walks the frame's
// rows grid-stride, the row's tap computed once. The per-byte kernel of affine_uint8 does not
// fit: a byte's output needs its pixel's other two. Memory: the frame read and written once.
//
// Included by csrc/guided_filters.cu (instantiated with CudaDevice) and by the tests' host
// emulation.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "../common/affine.h"
#include "../common/checks.h"
#include "../common/guided.h"
#include "../common/pixels.h"
#include "frames_uint8.cuh"

namespace sgz::gpu {

template <bool UPSAMPLE>
__global__ void __launch_bounds__(kThreads)
    colour_affine_kernel(const uint8_t* __restrict__ in, uint8_t* __restrict__ out,
                         const float* __restrict__ a, const float* __restrict__ b, FrameShape s,
                         float scale_y, float scale_x) {
  const int X = blockIdx.x * kThreads + threadIdx.x;
  if (X >= s.W) return;
  const int64_t plane = int64_t{s.h} * s.w;
  for (int64_t row = blockIdx.y; row < s.rows; row += gridDim.y) {
    const int64_t n = row / s.H, Y = row - n * s.H;
    MapPoint at;
    at.Y = Y;
    at.X = X;
    at.upsample = UPSAMPLE;
    at.w = s.w;
    if constexpr (UPSAMPLE) {
      at.ty = align_corners_tap(Y, s.h, scale_y, s.H);
      at.tx = align_corners_tap(X, s.w, scale_x, s.W);
    }
    const int64_t offset = row * s.row_bytes + int64_t{X} * 3;
    float x[3], coefficients[kSymmetric3];
    for (int c = 0; c < 3; ++c) x[c] = unit_from_byte(in[offset + c]);
    for (int k = 0; k < kSymmetric3; ++k) {
      coefficients[k] = at(a + (n * kSymmetric3 + k) * plane);
    }
    for (int c = 0; c < 3; ++c) {
      out[offset + c] =
          byte_from_unit(colour_affine(c, x, coefficients, at(b + (n * 3 + c) * plane)));
    }
  }
}

template <class Device>
at::Tensor colour_affine_uint8_forward(const at::Tensor& frames_in, const at::Tensor& a_in,
                                       const at::Tensor& b_in) {
  check_colour_affine_uint8_args(frames_in, a_in, b_in);
  const typename Device::Guard guard(frames_in.device());
  const at::Tensor frames = frames_in.contiguous(), a = a_in.contiguous(), b = b_in.contiguous();
  at::Tensor out = Device::empty(frames.sizes(), frames.options());
  if (out.numel() == 0) return out;
  TORCH_CHECK_VALUE(frames.size(2) * 3 <= std::numeric_limits<int32_t>::max(),
                    "colour_affine_uint8: a row of ", frames.size(2),
                    " pixels is too long for the CUDA kernel (at most 2^31 / 3)");
  const FrameShape s{frames.size(0) * frames.size(1),     frames.size(1),
                     static_cast<int>(frames.size(2)),    3,
                     static_cast<int>(b.size(2)),         static_cast<int>(b.size(3)),
                     static_cast<int>(frames.size(2) * 3)};
  const dim3 grid(static_cast<unsigned>(ceil_div(s.W, kThreads)),
                  static_cast<unsigned>(std::min(s.rows, Device::max_grid_y())));
  const float scale_y = align_corners_scale<float>(s.h, s.H);
  const float scale_x = align_corners_scale<float>(s.w, s.W);
  const uint8_t* in = frames.const_data_ptr<uint8_t>();
  const float* a_maps = a.const_data_ptr<float>();
  const float* b_maps = b.const_data_ptr<float>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  if (s.h != s.H || s.w != s.W) {
    Device::launch(grid, colour_affine_kernel<true>, in, dst, a_maps, b_maps, s, scale_y, scale_x);
  } else {
    Device::launch(grid, colour_affine_kernel<false>, in, dst, a_maps, b_maps, s, scale_y, scale_x);
  }
  return out;
}

}  // namespace sgz::gpu
