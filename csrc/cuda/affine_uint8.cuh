// CUDA kernel of sgz_fast::affine_uint8 (see cpu/affine_uint8.cpp): out = a x + b on 8-bit
// frames (N, H, W, C), the maps a (scale) and b (offset), (N, C, h, w), read through
// frames_uint8.cuh's kernel (design and memory there).
//
// Included by csrc/affine_uint8.cu (instantiated with CudaDevice) and by the tests' host
// emulation.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "../common/affine.h"
#include "../common/checks.h"
#include "../common/pixels.h"
#include "frames_uint8.cuh"

namespace sgz::gpu {

struct AffineByte {
  const float* scale;
  const float* offset;
  int64_t plane_size;

  __device__ __forceinline__ uint8_t operator()(uint8_t byte, int64_t plane,
                                                const MapPoint& at) const {
    const int64_t first = plane * plane_size;
    return byte_from_unit(affine(unit_from_byte(byte), at(scale + first), at(offset + first)));
  }
};

template <class Device>
at::Tensor affine_uint8_forward(const at::Tensor& frames, const at::Tensor& scale_in,
                                const at::Tensor& offset_in) {
  check_affine_uint8_args(frames, scale_in, offset_in);
  const typename Device::Guard guard(frames.device());
  const at::Tensor scale = scale_in.contiguous(), offset = offset_in.contiguous();
  const AffineByte op{scale.const_data_ptr<float>(), offset.const_data_ptr<float>(),
                      scale.size(2) * scale.size(3)};
  return map_frames_uint8<Device>(frames, scale.size(2), scale.size(3), op, "affine_uint8");
}

}  // namespace sgz::gpu
