// CPU operator of sgz_fast::guided_inputs_uint8: the guided filter's inputs for
// sgz_fast.denoise from 8-bit frames (N, H, W, C), the enhanced one and the dark one it came
// from: the guide, area means of s x s pixels in [0, 1] units (N, C, H / s, W / s), and eps
// (N, 1, H / s, W / s) from the brightening gain (common/guided.h, gain_regulariser). The
// rows and columns beyond a whole block are left out.
//
// One parallel task per run of low-resolution rows; per row, the s byte rows of both frames
// are summed per byte into two rows of scratch (kernels/guided_kernels.cpp), then s sums per
// pixel and channel. Each byte is read once; in place of the five OpenCV and torch passes
// over full and low-resolution images it replaces. Memory: the outputs, and per thread
// about 4 W C floats of scratch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../common/checks.h"
#include "kernels/guided_kernels.h"

namespace sgz {
namespace {

std::tuple<at::Tensor, at::Tensor> guided_inputs_uint8_cpu(const at::Tensor& enhanced_in,
                                                           const at::Tensor& dark_in, int64_t scale,
                                                           double noise, double max_gain,
                                                           at::ArrayRef<double> luma_in) {
  check_guided_inputs_uint8_args(enhanced_in, dark_in, scale, noise, max_gain, luma_in);
  const at::Tensor enhanced = enhanced_in.contiguous(), dark = dark_in.contiguous();
  const int64_t N = enhanced.size(0), H = enhanced.size(1), W = enhanced.size(2);
  const int64_t C = enhanced.size(3), s = scale, h = H / s, w = W / s;
  const at::TensorOptions options = enhanced.options().dtype(at::kFloat);
  at::Tensor guide = at::empty({N, C, h, w}, options), eps = at::empty({N, 1, h, w}, options);
  if (guide.numel() == 0) return {guide, eps};
  const std::vector<float> luma(luma_in.begin(), luma_in.end());
  const uint8_t* e = enhanced.const_data_ptr<uint8_t>();
  const uint8_t* d = dark.const_data_ptr<uint8_t>();
  float* g = guide.mutable_data_ptr<float>();
  float* ep = eps.mutable_data_ptr<float>();
  const auto& kernels = cpu::guided_kernels<float>();
  const int64_t grain = std::max<int64_t>(1, 65536 / (W * C * s));  // ~64 KB of bytes a task
  at::parallel_for(0, N * h, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch((3 * w * s + 2 * w) * C + w);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / h, y = row % h, first_byte = (n * H + y * s) * W * C;
      kernels.inputs_row(e + first_byte, d + first_byte, W, C, s, w, luma.data(),
                         static_cast<float>(noise), static_cast<float>(max_gain),
                         g + (n * C * h + y) * w, h * w, ep + row * w, scratch.data());
    }
  });
  return {guide, eps};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("guided_inputs_uint8", &sgz::guided_inputs_uint8_cpu);
}
