// The CUDA kernel shared by the 8-bit frame ops (curve_uint8.cuh, affine_uint8.cuh): frames
// (N, H, W, C) uint8 in and out, each byte mapped by an op that reads per-channel maps at low
// resolution (N, C, h, w) float32, upsampled bilinearly (align_corners=True) in registers.
//
// Rows x vectors of bytes: block row blockIdx.y walks the frame's rows grid-stride; each thread
// takes 4 consecutive bytes of a row (one 4-byte load and store where rows are 4-byte aligned).
// The row's tap is computed once per row, the first byte's column and channel with one 32-bit
// division, the next three by counting. So the per-byte work is the column tap, the map reads
// (a few KB: L1/L2) and the op: no 64-bit division (the first curve kernel did five per byte,
// one byte per thread). Memory: the frame read and written once, nothing else. Predicted
// speed in benchmarks/NOTES.md (curve_iter_uint8 (CUDA)).
//
// Maps at the frame's size are read as they are, without interpolation (as the references),
// so a non-finite neighbour never enters through a zero weight.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

#include "../common/bilinear.h"
#include "../common/pixels.h"
#include "common.cuh"

namespace sgz::gpu {

struct FrameShape {
  int64_t rows, H;  // rows = N * H
  int W, C, h, w;
  int row_bytes;  // W * C
};

// Where a byte's value is read in a map plane: its taps, or its own pixel without upsampling.
struct MapPoint {
  Tap<float> ty, tx;  // set where upsampling (an aggregate initialiser here crashed nvcc 13.0's
                      // cicc for sm_75 and sm_80)
  int64_t Y = 0, X = 0;
  bool upsample = false;
  int w = 0;

  // The map's value here; plane points at the (n, c) plane of a (N, C, h, w) map.
  __device__ __forceinline__ float operator()(const float* __restrict__ plane) const {
    if (!upsample) return plane[Y * w + X];
    return bilinear_sample(plane + ty.i0 * w, plane + ty.i1 * w, ty, tx);
  }
};

// Op: __device__ uint8_t operator()(uint8_t byte, int64_t plane, const MapPoint& at) const,
// plane = n * C + c.
template <int VEC, bool UPSAMPLE, typename Op>
__global__ void __launch_bounds__(kThreads)
    frames_uint8_kernel(const uint8_t* __restrict__ in, uint8_t* __restrict__ out, FrameShape s,
                        float scale_y, float scale_x, Op op) {
  const int e0 = (blockIdx.x * kThreads + threadIdx.x) * VEC;
  if (e0 >= s.row_bytes) return;
  const int X0 = e0 / s.C, c0 = e0 - X0 * s.C;
  for (int64_t row = blockIdx.y; row < s.rows; row += gridDim.y) {
    const int64_t n = row / s.H, Y = row - n * s.H;
    MapPoint at;
    at.Y = Y;
    at.upsample = UPSAMPLE;
    at.w = s.w;
    if constexpr (UPSAMPLE) at.ty = align_corners_tap(Y, s.h, scale_y, s.H);
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
        at.X = X;
        if constexpr (UPSAMPLE) at.tx = align_corners_tap(X, s.w, scale_x, s.W);
        v.v[k] = op(v.v[k], n * s.C + c, at);
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

template <class Device, int VEC, bool UPSAMPLE, typename Op>
void launch_frames_uint8(const uint8_t* in, uint8_t* out, const FrameShape& s, const Op& op) {
  const dim3 grid(static_cast<unsigned>(ceil_div(s.row_bytes, kThreads * VEC)),
                  static_cast<unsigned>(std::min(s.rows, Device::max_grid_y())));
  Device::launch(grid, frames_uint8_kernel<VEC, UPSAMPLE, Op>, in, out, s,
                 align_corners_scale<float>(s.h, s.H), align_corners_scale<float>(s.w, s.W), op);
}

// Maps `frames` through `op` into a fresh tensor: the op bodies' shared host part.
template <class Device, typename Op>
at::Tensor map_frames_uint8(const at::Tensor& frames_in, int64_t h, int64_t w, const Op& op,
                            const char* name) {
  const at::Tensor frames = frames_in.contiguous();
  at::Tensor out = Device::empty(frames.sizes(), frames.options());
  if (out.numel() == 0) return out;
  TORCH_CHECK_VALUE(frames.size(2) * frames.size(3) <= std::numeric_limits<int32_t>::max() - 4,
                    name, ": a row of ", frames.size(2), " x ", frames.size(3),
                    " bytes is too long for the CUDA kernel (at most 2^31 - 5)");
  const FrameShape s{frames.size(0) * frames.size(1),
                     frames.size(1),
                     static_cast<int>(frames.size(2)),
                     static_cast<int>(frames.size(3)),
                     static_cast<int>(h),
                     static_cast<int>(w),
                     static_cast<int>(frames.size(2) * frames.size(3))};
  const bool upsample = s.h != s.H || s.w != s.W;
  const uint8_t* in = frames.const_data_ptr<uint8_t>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  // 4-byte accesses when every row starts 4-byte aligned (the storage itself is).
  const bool vec = s.row_bytes % 4 == 0 && reinterpret_cast<uintptr_t>(in) % 4 == 0;
  if (vec && upsample) {
    launch_frames_uint8<Device, 4, true>(in, dst, s, op);
  } else if (vec) {
    launch_frames_uint8<Device, 4, false>(in, dst, s, op);
  } else if (upsample) {
    launch_frames_uint8<Device, 1, true>(in, dst, s, op);
  } else {
    launch_frames_uint8<Device, 1, false>(in, dst, s, op);
  }
  return out;
}

}  // namespace sgz::gpu
