// CPU operator of sgz_fast::guided_coefficients: the self-guided filter's coefficient maps a
// and b (common/guided.h) of a guide (N, C, h, w) with a per-pixel eps (N, 1, h, w), windows
// of (2r + 1)^2 pixels mirrored at the borders. The low-resolution step of sgz_fast.denoise's
// fast filter, which affine_uint8 then applies at full size.
//
// Per band of rows of one plane (bands split between threads): A and B (common/guided.h) of
// the band's rows and of the r rows beyond each end into a buffer of about 256 KB, then their
// window means into a and b. Per row, the 2r + 1 rows are summed per column into a row of
// scratch (kernels/guided_kernels.cpp). A and B never leave L2 (a plane-sized buffer of them
// was 12 MB at 540 x 960 x 3, written and read back); the price is 2r rows of A and B
// computed twice per band, 6% at radius 1 and 960 columns. Memory: a and b, and per thread
// the band buffer and 3 (w + 2r) floats of scratch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../common/checks.h"
#include "kernels/guided_kernels.h"
#include "window_rows.h"

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
  const int64_t plane = h * w, r = radius;
  // Bands of rows of one plane, their A and B rows (the band's and r beyond each end) in a
  // buffer of about 256 KB: L2.
  const int64_t band = std::max<int64_t>(1, 32768 / w - 2 * r);
  const int64_t bands_per_plane = (h + band - 1) / band;
  const float* in = guide.const_data_ptr<float>();
  const float* e = eps.const_data_ptr<float>();
  float* a_out = a.mutable_data_ptr<float>();
  float* b_out = b.mutable_data_ptr<float>();
  const auto& kernels = cpu::guided_kernels<float>();
  at::parallel_for(0, N * C * bands_per_plane, 1, [&](int64_t begin, int64_t end) {
    const int64_t capacity = std::min(h, band + 2 * r) * w;
    std::vector<float> A(capacity), B(capacity), scratch(3 * (w + 2 * r));
    std::vector<const float*> window(2 * r + 1);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t p = task / bands_per_plane, n = p / C;
      const int64_t y0 = task % bands_per_plane * band, y1 = std::min(h, y0 + band);
      const int64_t first = std::max<int64_t>(0, y0 - r), last = std::min(h, y1 + r);
      for (int64_t y = first; y < last; ++y) {
        const int64_t at = (y - first) * w;
        cpu::window_rows(in + p * plane, 0, y, h, w, r, window.data());
        kernels.linear_row(window.data(), e + n * plane + y * w, w, r, A.data() + at, B.data() + at,
                           scratch.data());
      }
      for (int64_t y = y0; y < y1; ++y) {
        const int64_t at = p * plane + y * w;
        cpu::window_rows(A.data(), first, y, h, w, r, window.data());
        kernels.mean_row(window.data(), w, r, a_out + at, scratch.data());
        cpu::window_rows(B.data(), first, y, h, w, r, window.data());
        kernels.mean_row(window.data(), w, r, b_out + at, scratch.data());
      }
    }
  });
  return {a, b};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("guided_coefficients", &sgz::guided_coefficients_cpu);
}
