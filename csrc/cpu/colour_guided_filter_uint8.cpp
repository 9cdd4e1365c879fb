// CPU operator of sgz_fast::colour_guided_filter_uint8: sgz_fast.denoise's fast filter in one
// pass, the three ops guided_inputs_uint8, colour_guided_coefficients and colour_affine_uint8
// (their kernels, in their order: the result is theirs to the bit) without their
// intermediate maps. At 1080p those are 26 MB (the guide, eps, a and b) written and read back
// between the ops, which made each op ~30% slower in sequence than alone.
//
// Rows streamed per parallel task (a run of output rows, one per thread): each output row
// takes its two map rows (upsampled, row_cache.h), a map row the 2r + 1 rows of A and B its
// window reaches, and a row of A and B the 2r + 1 guide rows its window reaches (each with
// its row of eps), each kept in a small cache of computed rows; nothing is computed twice but
// the rows a task's first window reaches before its own. Memory: the output frame, and per
// thread (2r + 1) x 4 + (2r + 1) x 9 low-resolution rows and 2 x 9 rows of W floats (about
// 300 KB at 1080p), plus scratch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/guided.h"
#include "huge_pages.h"
#include "kernels/affine_uint8_kernels.h"
#include "kernels/guided_kernels.h"
#include "row_cache.h"

namespace sgz {
namespace {

constexpr int64_t kMaps = kSymmetric3 + 3;  // A's (a's) 6 planes, then B's (b's) 3

at::Tensor colour_guided_filter_uint8_cpu(const at::Tensor& enhanced_in, const at::Tensor& dark_in,
                                          int64_t scale, double noise, double max_gain,
                                          at::ArrayRef<double> luma_in, int64_t radius) {
  check_colour_guided_filter_uint8_args(enhanced_in, dark_in, scale, noise, max_gain, luma_in,
                                        radius);
  TORCH_CHECK_VALUE(enhanced_in.size(2) <= std::numeric_limits<int32_t>::max(),
                    "colour_guided_filter_uint8: rows of ", enhanced_in.size(2),
                    " pixels are too long for the CPU kernel's column taps (at most 2^31 - 1)");
  const at::Tensor enhanced = enhanced_in.contiguous(), dark = dark_in.contiguous();
  at::Tensor out = with_huge_pages(at::empty_like(enhanced, at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const int64_t N = enhanced.size(0), H = enhanced.size(1), W = enhanced.size(2);
  const int64_t s = scale, h = H / s, w = W / s, r = radius, row_bytes = W * 3;
  const bool upsample = h != H || w != W;
  const float scale_y = align_corners_scale<float>(h, H);
  const cpu::ColumnTaps taps(w, W);
  const std::vector<float> luma(luma_in.begin(), luma_in.end());
  const uint8_t* e = enhanced.const_data_ptr<uint8_t>();
  const uint8_t* d = dark.const_data_ptr<uint8_t>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  const auto& guided = cpu::guided_kernels<float>();
  const auto& apply = cpu::affine_uint8_kernels<float>();
  // One run of rows per thread: each run's first windows reach rows before it.
  const int64_t grain =
      std::max<int64_t>(32, (N * H + at::get_num_threads() - 1) / at::get_num_threads());
  at::parallel_for(0, N * H, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(std::max((3 * w * s + 2 * w) * 3 + w, 10 * (w + 2 * r)));
    std::vector<float> means(kMaps * w);
    // The window rows of each stage (a map row's fill calls A and B's, which may call the
    // guide's): one array each.
    std::vector<const float*> guide_window(2 * r + 1), linear_window(2 * r + 1),
        plane_window(2 * r + 1);
    // Guide rows: the 3 channels' rows, then eps's (key n * h + y).
    cpu::RowCache guide_rows(2 * r + 1, 4 * w);
    const auto fill_guide = [&](int64_t key, float* row) {
      const int64_t first_byte = ((key / h) * H + (key % h) * s) * row_bytes;
      guided.inputs_row(e + first_byte, d + first_byte, W, 3, s, w, luma.data(),
                        static_cast<float>(noise), static_cast<float>(max_gain), row, w,
                        row + 3 * w, scratch.data());
    };
    // Rows of A and B: 9 rows of w.
    cpu::RowCache linear_rows(2 * r + 1, kMaps * w);
    const auto fill_linear = [&](int64_t key, float* row) {
      const int64_t n = key / h, y = key % h;
      for (int64_t k = -r; k <= r; ++k) {
        guide_window[k + r] = guide_rows.get(n * h + reflect_index(y + k, h), fill_guide);
      }
      guided.colour_linear_row(guide_window.data(), w, guide_window[r] + 3 * w, w, r, row, w,
                               scratch.data());
    };
    // Map rows: a's and b's 9 rows, upsampled to W.
    cpu::RowCache map_rows(2, kMaps * W);
    const auto fill_map = [&](int64_t key, float* row) {
      const int64_t n = key / h, y = key % h;
      for (int64_t k = -r; k <= r; ++k) {
        linear_window[k + r] = linear_rows.get(n * h + reflect_index(y + k, h), fill_linear);
      }
      for (int64_t m = 0; m < kMaps; ++m) {
        for (int64_t k = 0; k <= 2 * r; ++k) plane_window[k] = linear_window[k] + m * w;
        float* mean = upsample ? means.data() + m * w : row + m * W;
        guided.mean_row(plane_window.data(), w, r, mean, scratch.data());
        if (upsample) taps.upsample(apply, mean, w, row + m * W);
      }
    };
    for (int64_t index = begin; index < end; ++index) {
      const int64_t n = index / H;
      const Tap<float> ty = align_corners_tap(index % H, h, scale_y);
      const float* top = map_rows.get(n * h + ty.i0, fill_map);
      const float* bot = upsample ? map_rows.get(n * h + ty.i1, fill_map) : nullptr;
      const int64_t b_at = kSymmetric3 * W;
      apply.colour_row(e + index * row_bytes, dst + index * row_bytes, top, bot, top + b_at,
                       bot ? bot + b_at : nullptr, ty.w0, ty.w1, W);
    }
  });
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("colour_guided_filter_uint8", &sgz::colour_guided_filter_uint8_cpu);
}
