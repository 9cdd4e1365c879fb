// CPU operator of sgz_fast::guided_coefficients: the self-guided filter's coefficient maps a
// and b (common/guided.h) of a guide (N, C, h, w) with a per-pixel eps (N, 1, h, w), windows
// of (2r + 1)^2 pixels mirrored at the borders. The low-resolution step of sgz_fast.denoise's
// fast filter, which affine_uint8 then applies at full size.
//
// Two passes over rows of every plane, each a parallel loop: A and B of every pixel into a
// (2, N, C, h, w) buffer, then their window means into a and b. Per row, the 2r + 1 rows are
// summed per column into a row of scratch (kernels/guided_kernels.cpp): the planes are read
// 2r + 1 times from cache, no plane-sized temporaries but A and B. Memory: a and b, A and B
// (4 x the guide), and 3 (w + 2r) floats of scratch per thread.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "../common/checks.h"
#include "kernels/guided_kernels.h"

namespace sgz {
namespace {

std::tuple<at::Tensor, at::Tensor> guided_coefficients_cpu(const at::Tensor& guide_in,
                                                           const at::Tensor& eps_in,
                                                           int64_t radius) {
  check_guided_coefficients_args(guide_in, eps_in, radius);
  const at::Tensor guide = guide_in.contiguous(), eps = eps_in.contiguous();
  const int64_t N = guide.size(0), C = guide.size(1), h = guide.size(2), w = guide.size(3);
  at::Tensor a = at::empty_like(guide, at::MemoryFormat::Contiguous);
  at::Tensor b = at::empty_like(guide, at::MemoryFormat::Contiguous);
  if (guide.numel() == 0) return {a, b};
  at::Tensor linear = at::empty({2, N, C, h, w}, guide.options());
  const int64_t plane = h * w, rows = N * C * h, r = radius;
  const float* in = guide.const_data_ptr<float>();
  const float* e = eps.const_data_ptr<float>();
  float* A = linear.mutable_data_ptr<float>();
  float* B = A + N * C * plane;
  const auto& kernels = cpu::guided_kernels<float>();
  const int64_t grain = std::max<int64_t>(1, 16384 / w);  // rows of about 16k values a task
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(3 * (w + 2 * r));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t p = row / h, y = row % h, n = p / C, at = p * plane + y * w;
      kernels.linear_row(in + p * plane, e + n * plane + y * w, y, h, w, r, A + at, B + at,
                         scratch.data());
    }
  });
  float* a_out = a.mutable_data_ptr<float>();
  float* b_out = b.mutable_data_ptr<float>();
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(w + 2 * r);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t p = row / h, y = row % h, at = p * plane + y * w;
      kernels.mean_row(A + p * plane, y, h, w, r, a_out + at, scratch.data());
      kernels.mean_row(B + p * plane, y, h, w, r, b_out + at, scratch.data());
    }
  });
  return {a, b};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("guided_coefficients", &sgz::guided_coefficients_cpu);
}
