// CPU operator of sgz_fast::colour_guided_coefficients: the colour guided filter's maps a
// (N, 6, h, w), a symmetric 3 x 3 matrix per pixel, and b (N, 3, h, w) (common/guided.h) of a
// guide (N, 3, h, w) with a per-pixel eps (N, 1, h, w), windows of (2r + 1)^2 pixels mirrored
// at the borders. The low-resolution step of sgz_fast.denoise's fast filter, which
// colour_affine_uint8 then applies at full size.
//
// As guided_coefficients.cpp, per band of rows of one image (bands split between threads):
// A and B (9 planes) of the band's rows and of the r rows beyond each end into a buffer of
// about 600 KB (L2), then their window means into a and b. Per row, the window means of the 3
// channels and of their 6 products are taken per column, then across the columns
// (kernels/guided_kernels.cpp). Memory: a and b, and per thread the band buffer and
// 10 (w + 2r) floats of scratch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../common/checks.h"
#include "../common/guided.h"
#include "kernels/guided_kernels.h"
#include "window_rows.h"

namespace sgz {
namespace {

constexpr int64_t kPlanes = kSymmetric3 + 3;  // A's 6 entries, B's 3

std::tuple<at::Tensor, at::Tensor> colour_guided_coefficients_cpu(const at::Tensor& guide_in,
                                                                  const at::Tensor& eps_in,
                                                                  int64_t radius) {
  check_colour_guided_coefficients_args(guide_in, eps_in, radius);
  const at::Tensor guide = guide_in.contiguous(), eps = eps_in.contiguous();
  const int64_t N = guide.size(0), h = guide.size(2), w = guide.size(3);
  at::Tensor a = at::empty({N, kSymmetric3, h, w}, guide.options());
  at::Tensor b = at::empty({N, 3, h, w}, guide.options());
  if (guide.numel() == 0) return {a, b};
  const int64_t plane = h * w, r = radius;
  // Bands of rows whose 9 planes of A and B (the band's rows and r beyond each end) take about
  // 600 KB: L2.
  const int64_t band = std::max<int64_t>(1, 16384 / w - 2 * r);
  const int64_t bands_per_image = (h + band - 1) / band;
  const float* in = guide.const_data_ptr<float>();
  const float* e = eps.const_data_ptr<float>();
  float* a_out = a.mutable_data_ptr<float>();
  float* b_out = b.mutable_data_ptr<float>();
  const auto& kernels = cpu::guided_kernels<float>();
  at::parallel_for(0, N * bands_per_image, 1, [&](int64_t begin, int64_t end) {
    const int64_t capacity = std::min(h, band + 2 * r) * w;
    std::vector<float> linear(kPlanes * capacity), scratch(10 * (w + 2 * r));
    std::vector<const float*> window(2 * r + 1);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / bands_per_image;
      const int64_t y0 = task % bands_per_image * band, y1 = std::min(h, y0 + band);
      const int64_t first = std::max<int64_t>(0, y0 - r), last = std::min(h, y1 + r);
      for (int64_t y = first; y < last; ++y) {
        cpu::window_rows(in + n * 3 * plane, 0, y, h, w, r, window.data());
        kernels.colour_linear_row(window.data(), plane, e + n * plane + y * w, w, r,
                                  linear.data() + (y - first) * w, capacity, scratch.data());
      }
      for (int64_t y = y0; y < y1; ++y) {
        for (int64_t k = 0; k < kPlanes; ++k) {
          float* out = k < kSymmetric3 ? a_out + (n * kSymmetric3 + k) * plane
                                       : b_out + (n * 3 + k - kSymmetric3) * plane;
          cpu::window_rows(linear.data() + k * capacity, first, y, h, w, r, window.data());
          kernels.mean_row(window.data(), w, r, out + y * w, scratch.data());
        }
      }
    }
  });
  return {a, b};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("colour_guided_coefficients", &sgz::colour_guided_coefficients_cpu);
}
