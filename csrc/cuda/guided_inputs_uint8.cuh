// CUDA kernel of sgz_fast::guided_inputs_uint8 (see cpu/guided_inputs_uint8.cpp): the guided
// filter's inputs for sgz_fast.denoise from 8-bit frames (N, H, W, C), enhanced and dark: the
// guide, s x s area means / 255 (N, C, H / s, W / s), and eps (N, 1, H / s, W / s) from the
// brightening gain (common/guided.h).
//
// One thread per low-resolution pixel (grid-stride): it reads its s x s block of both frames,
// C bytes at a time, and writes C guide values and one eps. Neighbouring threads read
// neighbouring blocks, so a warp's loads of a row are s * C * 32 consecutive bytes. Memory: the
// outputs only.
//
// Included by csrc/guided_filters.cu (instantiated with CudaDevice) and by the tests' host
// emulation.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <tuple>

#include "../common/checks.h"
#include "../common/guided.h"
#include "common.cuh"

namespace sgz::gpu {

constexpr int kMaxLumaChannels = 4;  // the frames' channels the kernel takes (RGB, RGBA)

struct GuidedInputsShape {
  int64_t pixels;  // N * h * w
  int64_t H, W, C, s, h, w;
  float noise, max_gain;
  float luma[kMaxLumaChannels];
};

__global__ void __launch_bounds__(kThreads)
    guided_inputs_kernel(const uint8_t* __restrict__ enhanced, const uint8_t* __restrict__ dark,
                         float* __restrict__ guide, float* __restrict__ eps, GuidedInputsShape s) {
  const float area = static_cast<float>(s.s * s.s);
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < s.pixels;
       i += int64_t{gridDim.x} * kThreads) {
    const int64_t n = i / (s.h * s.w), at = i - n * s.h * s.w, y = at / s.w, x = at - y * s.w;
    float luma_e = 0.0f, luma_d = 0.0f;
    for (int64_t c = 0; c < s.C; ++c) {
      // Rows first, then columns: whole numbers, exact in float in any order for s <= 256.
      float se = 0.0f, sd = 0.0f;
      for (int64_t k = 0; k < s.s; ++k) {
        const int64_t row = ((n * s.H + y * s.s + k) * s.W + x * s.s) * s.C + c;
        for (int64_t j = 0; j < s.s; ++j) {
          se += static_cast<float>(enhanced[row + j * s.C]);
          sd += static_cast<float>(dark[row + j * s.C]);
        }
      }
      const float mean_e = se / area, mean_d = sd / area;
      guide[(n * s.C + c) * s.h * s.w + at] = mean_e / 255.0f;
      luma_e += s.luma[c] * mean_e;
      luma_d += s.luma[c] * mean_d;
    }
    eps[i] = gain_regulariser(luma_e, luma_d, s.noise, s.max_gain);
  }
}

template <class Device>
std::tuple<at::Tensor, at::Tensor> guided_inputs_uint8_forward(const at::Tensor& enhanced_in,
                                                               const at::Tensor& dark_in,
                                                               int64_t scale, double noise,
                                                               double max_gain,
                                                               at::ArrayRef<double> luma) {
  check_guided_inputs_uint8_args(enhanced_in, dark_in, scale, noise, max_gain, luma);
  TORCH_CHECK_VALUE(enhanced_in.size(3) <= kMaxLumaChannels,
                    "guided_inputs_uint8: the CUDA kernel takes frames of up to ", kMaxLumaChannels,
                    " channels; got ", enhanced_in.size(3));
  const typename Device::Guard guard(enhanced_in.device());
  const at::Tensor enhanced = enhanced_in.contiguous(), dark = dark_in.contiguous();
  GuidedInputsShape s{0,
                      enhanced.size(1),
                      enhanced.size(2),
                      enhanced.size(3),
                      scale,
                      enhanced.size(1) / scale,
                      enhanced.size(2) / scale,
                      static_cast<float>(noise),
                      static_cast<float>(max_gain),
                      {}};
  s.pixels = enhanced.size(0) * s.h * s.w;
  for (int64_t c = 0; c < s.C; ++c) s.luma[c] = static_cast<float>(luma[c]);
  const at::TensorOptions options = enhanced.options().dtype(at::kFloat);
  at::Tensor guide = Device::empty({enhanced.size(0), s.C, s.h, s.w}, options);
  at::Tensor eps = Device::empty({enhanced.size(0), 1, s.h, s.w}, options);
  if (s.pixels == 0) return {guide, eps};
  Device::launch(dim3(static_cast<unsigned>(grid_stride_blocks<Device>(s.pixels))),
                 guided_inputs_kernel, enhanced.const_data_ptr<uint8_t>(),
                 dark.const_data_ptr<uint8_t>(), guide.mutable_data_ptr<float>(),
                 eps.mutable_data_ptr<float>(), s);
  return {guide, eps};
}

}  // namespace sgz::gpu
