// CUDA kernel of sgz_fast::curve_iter_uint8 (see cpu/curve_uint8.cpp): 8-bit frames
// (N, H, W, C) in and out, the factors read from the low-resolution r (N, C, h, w), bilinearly
// upsampled in registers when it is smaller than the frame.
//
// Rows x vectors of bytes: block row blockIdx.y walks the frame's rows grid-stride; each thread
// takes 4 consecutive bytes of a row (one 4-byte load and store where rows are 4-byte aligned).
// The row's tap is computed once per row, the column and channel of the first byte with one
// 32-bit division, the next three by counting. So the per-byte work is the column tap, the
// bilinear sample (r is a few KB and stays in L1/L2) and the curve: no 64-bit division (the
// first version did five per byte, one byte per thread). Memory: the frame read and written
// once, nothing else. Predicted speed in benchmarks/NOTES.md.
//
// With r at the frame's size the factors are r's values as they are, without interpolation (as
// in the reference), so a non-finite neighbour never enters through a zero weight.
//
// Included by csrc/curve_uint8.cu (instantiated with CudaDevice) and by the tests' host
// emulation.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/curve.h"
#include "../common/pixels.h"
#include "common.cuh"

namespace sgz::gpu {

// ---- Kernel ---------------------------------------------------------------------------------

struct FrameShape {
  int64_t rows, H;  // rows = N * H
  int W, C, h, w;
  int row_bytes;  // W * C
};

template <int VEC, bool UPSAMPLE>
__global__ void __launch_bounds__(kThreads)
    curve_uint8_kernel(const uint8_t* __restrict__ in, const float* __restrict__ r,
                       uint8_t* __restrict__ out, FrameShape s, float scale_y, float scale_x,
                       int64_t iterations) {
  const int e0 = (blockIdx.x * kThreads + threadIdx.x) * VEC;
  if (e0 >= s.row_bytes) return;
  const int X0 = e0 / s.C, c0 = e0 - X0 * s.C;
  for (int64_t row = blockIdx.y; row < s.rows; row += gridDim.y) {
    const int64_t n = row / s.H, Y = row - n * s.H;
    const Tap<float> ty = UPSAMPLE ? align_corners_tap(Y, s.h, scale_y) : Tap<float>{Y, Y, 1, 0};
    const int64_t offset = row * s.row_bytes + e0;
    Pack<uint8_t, VEC> v;
    if constexpr (VEC > 1) {
      v = *reinterpret_cast<const Pack<uint8_t, VEC>*>(in + offset);
    } else {
      v.v[0] = in[offset];
    }
    int X = X0, c = c0;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      if (e0 + k < s.row_bytes) {
        const float* plane = r + (n * s.C + c) * s.h * s.w;
        float factor;
        if constexpr (UPSAMPLE) {
          const Tap<float> tx = align_corners_tap(X, s.w, scale_x);
          factor = bilinear_sample(plane + ty.i0 * s.w, plane + ty.i1 * s.w, ty, tx);
        } else {
          factor = plane[Y * s.w + X];
        }
        v.v[k] = byte_from_unit(curve_apply(unit_from_byte(v.v[k]), factor, iterations));
      }
      if (++c == s.C) {
        c = 0;
        ++X;
      }
    }
    if constexpr (VEC > 1) {
      *reinterpret_cast<Pack<uint8_t, VEC>*>(out + offset) = v;
    } else {
      out[offset] = v.v[0];
    }
  }
}

// ---- Host: the op's body on a Device (common.cuh) -------------------------------------------

template <class Device, int VEC, bool UPSAMPLE>
void launch_curve_uint8(const uint8_t* in, const float* r, uint8_t* out, const FrameShape& s,
                        int64_t iterations) {
  const dim3 grid(static_cast<unsigned>(ceil_div(s.row_bytes, kThreads * VEC)),
                  static_cast<unsigned>(std::min(s.rows, Device::max_grid_y())));
  Device::launch(grid, curve_uint8_kernel<VEC, UPSAMPLE>, in, r, out, s,
                 align_corners_scale<float>(s.h, s.H), align_corners_scale<float>(s.w, s.W),
                 iterations);
}

template <class Device>
at::Tensor curve_iter_uint8_forward(const at::Tensor& frames_in, const at::Tensor& r_in,
                                    int64_t iterations) {
  check_curve_uint8_args(frames_in, r_in, iterations);
  const typename Device::Guard guard(frames_in.device());
  const at::Tensor frames = frames_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor out = Device::empty(frames.sizes(), frames.options());
  if (out.numel() == 0) return out;
  TORCH_CHECK_VALUE(frames.size(2) * frames.size(3) <= std::numeric_limits<int32_t>::max() - 4,
                    "curve_iter_uint8: a row of ", frames.size(2), " x ", frames.size(3),
                    " bytes is too long for the CUDA kernel (at most 2^31 - 5)");
  const FrameShape s{frames.size(0) * frames.size(1),
                     frames.size(1),
                     static_cast<int>(frames.size(2)),
                     static_cast<int>(frames.size(3)),
                     static_cast<int>(r.size(2)),
                     static_cast<int>(r.size(3)),
                     static_cast<int>(frames.size(2) * frames.size(3))};
  const bool upsample = s.h != s.H || s.w != s.W;
  const uint8_t* in = frames.const_data_ptr<uint8_t>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  const float* rp = r.const_data_ptr<float>();
  // 4-byte accesses when every row starts 4-byte aligned (the storage itself is).
  const bool vec = s.row_bytes % 4 == 0 && reinterpret_cast<uintptr_t>(in) % 4 == 0;
  if (vec && upsample) {
    launch_curve_uint8<Device, 4, true>(in, rp, dst, s, iterations);
  } else if (vec) {
    launch_curve_uint8<Device, 4, false>(in, rp, dst, s, iterations);
  } else if (upsample) {
    launch_curve_uint8<Device, 1, true>(in, rp, dst, s, iterations);
  } else {
    launch_curve_uint8<Device, 1, false>(in, rp, dst, s, iterations);
  }
  return out;
}

}  // namespace sgz::gpu
