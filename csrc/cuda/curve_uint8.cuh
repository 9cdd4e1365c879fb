// CUDA kernel of sgz_fast::curve_iter_uint8 (see cpu/curve_uint8.cpp): the curve on 8-bit
// frames (N, H, W, C), the factors r (N, C, h, w) read through frames_uint8.cuh's kernel
// (design and memory there).
//
// Included by csrc/curve_uint8.cu (instantiated with CudaDevice) and by the tests' host
// emulation.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "../common/checks.h"
#include "../common/curve.h"
#include "../common/pixels.h"
#include "frames_uint8.cuh"

namespace sgz::gpu {

struct CurveByte {
  const float* r;
  int64_t plane_size, iterations;

  __device__ __forceinline__ uint8_t operator()(uint8_t byte, int64_t plane,
                                                const MapPoint& at) const {
    return byte_from_unit(
        curve_apply(unit_from_byte(byte), at(r + plane * plane_size), iterations));
  }
};

template <class Device>
at::Tensor curve_iter_uint8_forward(const at::Tensor& frames, const at::Tensor& r_in,
                                    int64_t iterations) {
  check_curve_uint8_args(frames, r_in, iterations);
  const typename Device::Guard guard(frames.device());
  const at::Tensor r = r_in.contiguous();
  const CurveByte op{r.const_data_ptr<float>(), r.size(2) * r.size(3), iterations};
  return map_frames_uint8<Device>(frames, r.size(2), r.size(3), op, "curve_iter_uint8");
}

}  // namespace sgz::gpu
