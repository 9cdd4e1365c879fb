// CUDA body of sgz_fast::colour_guided_filter_uint8 (see cpu/colour_guided_filter_uint8.cpp):
// sgz_fast.denoise's fast filter, the kernels of guided_inputs_uint8.cuh,
// colour_guided_coefficients.cuh and colour_affine_uint8.cuh launched in turn. The maps they
// pass on (the guide, eps, a and b: 26 MB at 1080p) cost ~10 us each way at a GPU's
// bandwidth, where on the CPU they made each op ~30% slower in sequence; a fused kernel would
// save little here. Memory: the output frame and those maps.
//
// Included by csrc/guided_filters.cu (instantiated with CudaDevice) and by the
// tests' host emulation.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "../common/checks.h"
#include "colour_affine_uint8.cuh"
#include "colour_guided_coefficients.cuh"
#include "guided_inputs_uint8.cuh"

namespace sgz::gpu {

template <class Device>
at::Tensor colour_guided_filter_uint8_forward(const at::Tensor& enhanced, const at::Tensor& dark,
                                              int64_t scale, double noise, double max_gain,
                                              at::ArrayRef<double> luma, int64_t radius) {
  check_colour_guided_filter_uint8_args(enhanced, dark, scale, noise, max_gain, luma, radius);
  const auto [guide, eps] =
      guided_inputs_uint8_forward<Device>(enhanced, dark, scale, noise, max_gain, luma);
  const auto [a, b] = colour_guided_coefficients_forward<Device>(guide, eps, radius);
  return colour_affine_uint8_forward<Device>(enhanced, a, b);
}

}  // namespace sgz::gpu
