// CPU operator of sgz_fast::colour_guided_filter_uint8: sgz_fast.denoise's fast filter in one
// pass, the three ops guided_inputs_uint8, colour_guided_coefficients and colour_affine_uint8
// (their kernels, in their order: the result is theirs to the bit) without their
// intermediate maps. At 1080p those are 26 MB (the guide, eps, a and b) written and read back
// between the ops, which made each op ~30% slower in sequence than alone.
//
// Rows streamed per parallel task through frame_rows.h's row loop (at::parallel_for gives
// each thread one run of rows): each output row takes its two map rows (upsampled,
// row_cache.h), a map row the 2r + 1 rows of A and B its window reaches, and a row of A and B
// the 2r + 1 guide rows its window reaches (each with its row of eps), each kept in a small
// cache of computed rows; nothing is computed twice but the rows a task's first window
// reaches before its own. Memory: the output frame, and per thread (2r + 1) x 4 + (2r + 1) x 9
// low-resolution rows and 2 x 9 rows of W floats (about 300 KB at 1080p), plus scratch.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/guided.h"
#include "frame_rows.h"
#include "kernels/affine_uint8_kernels.h"
#include "kernels/guided_kernels.h"
#include "row_cache.h"

namespace sgz {
namespace {

constexpr int64_t kMaps = kSymmetric3 + 3;  // A's (a's) 6 planes, then B's (b's) 3

// What every task reads: the two frames (contiguous) and the filter's constants.
struct FilterInputs {
  const uint8_t *enhanced, *dark;
  int64_t H, W, s, r;
  std::vector<float> luma;
  float noise, max_gain;
  cpu::ColumnTaps taps;
  const cpu::GuidedKernels<float>& guided;
  const cpu::AffineUint8Kernels<float>& apply;
};

// One parallel task's row function for frame_rows.h: the output rows in turn, each from its
// two map rows, a map row from the 2r + 1 rows of A and B its window reaches, those from the
// guide rows theirs reach, each stage's rows kept in its own cache (keys n * h + y).
class FilterRows {
 public:
  FilterRows(const FilterInputs& in, const cpu::FrameGeometry& g)
      : in_(in),
        g_(g),
        scratch_(std::max((3 * g.w * in.s + 2 * g.w) * 3 + g.w, 10 * (g.w + 2 * in.r))),
        means_(kMaps * g.w),
        guide_window_(2 * in.r + 1),
        linear_window_(2 * in.r + 1),
        plane_window_(2 * in.r + 1),
        guide_rows_(2 * in.r + 1, 4 * g.w),
        linear_rows_(2 * in.r + 1, kMaps * g.w),
        map_rows_(2, kMaps * g.W) {}

  void operator()(int64_t n, const Tap<float>& ty, const uint8_t* in, uint8_t* out) {
    const float* top = map_row(n * g_.h + ty.i0);
    const float* bot = g_.upsample() ? map_row(n * g_.h + ty.i1) : nullptr;
    const int64_t b_at = kSymmetric3 * g_.W;
    in_.apply.colour_row(in, out, top, bot, top + b_at, bot ? bot + b_at : nullptr, ty.w0, ty.w1,
                         g_.W);
  }

 private:
  // The guide's 3 channel rows, then eps's.
  const float* guide_row(int64_t key) {
    return guide_rows_.get(key, [&](int64_t, float* row) {
      const int64_t first_byte = ((key / g_.h) * in_.H + (key % g_.h) * in_.s) * in_.W * 3;
      in_.guided.inputs_row(in_.enhanced + first_byte, in_.dark + first_byte, in_.W, 3, in_.s, g_.w,
                            in_.luma.data(), in_.noise, in_.max_gain, row, g_.w, row + 3 * g_.w,
                            scratch_.data());
    });
  }

  // A's 6 rows and B's 3.
  const float* linear_row(int64_t key) {
    return linear_rows_.get(key, [&](int64_t, float* row) {
      window(key, guide_window_, [&](int64_t k) { return guide_row(k); });
      in_.guided.colour_linear_row(guide_window_.data(), g_.w, guide_window_[in_.r] + 3 * g_.w,
                                   g_.w, in_.r, row, g_.w, scratch_.data());
    });
  }

  // a's 6 rows and b's 3, upsampled to W.
  const float* map_row(int64_t key) {
    return map_rows_.get(key, [&](int64_t, float* row) {
      window(key, linear_window_, [&](int64_t k) { return linear_row(k); });
      for (int64_t m = 0; m < kMaps; ++m) {
        for (int64_t k = 0; k <= 2 * in_.r; ++k) plane_window_[k] = linear_window_[k] + m * g_.w;
        float* mean = g_.upsample() ? means_.data() + m * g_.w : row + m * g_.W;
        in_.guided.mean_row(plane_window_.data(), g_.w, in_.r, mean, scratch_.data());
        if (g_.upsample()) in_.taps.upsample(in_.apply, mean, g_.w, row + m * g_.W);
      }
    });
  }

  // rows[0 .. 2r]: the rows of one stage that the window around row `key` reaches, mirrored
  // at the image's ends. Each stage has its own array: a map row's fill calls A and B's,
  // which may call the guide's.
  template <typename Get>
  void window(int64_t key, std::vector<const float*>& rows, const Get& get) {
    const int64_t n = key / g_.h, y = key % g_.h;
    for (int64_t k = -in_.r; k <= in_.r; ++k) {
      rows[k + in_.r] = get(n * g_.h + reflect_index(y + k, g_.h));
    }
  }

  const FilterInputs& in_;
  const cpu::FrameGeometry& g_;
  std::vector<float> scratch_, means_;
  std::vector<const float*> guide_window_, linear_window_, plane_window_;
  cpu::RowCache guide_rows_, linear_rows_, map_rows_;
};

at::Tensor colour_guided_filter_uint8_cpu(const at::Tensor& enhanced_in, const at::Tensor& dark_in,
                                          int64_t scale, double noise, double max_gain,
                                          at::ArrayRef<double> luma, int64_t radius) {
  check_colour_guided_filter_uint8_args(enhanced_in, dark_in, scale, noise, max_gain, luma, radius);
  TORCH_CHECK_VALUE(enhanced_in.size(2) <= std::numeric_limits<int32_t>::max(),
                    "colour_guided_filter_uint8: rows of ", enhanced_in.size(2),
                    " pixels are too long for the CPU kernel's column taps (at most 2^31 - 1)");
  const at::Tensor enhanced = enhanced_in.contiguous(), dark = dark_in.contiguous();
  const int64_t H = enhanced.size(1), W = enhanced.size(2);
  const FilterInputs inputs{enhanced.const_data_ptr<uint8_t>(),
                            dark.const_data_ptr<uint8_t>(),
                            H,
                            W,
                            scale,
                            radius,
                            std::vector<float>(luma.begin(), luma.end()),
                            static_cast<float>(noise),
                            static_cast<float>(max_gain),
                            cpu::ColumnTaps(W / scale, W),
                            cpu::guided_kernels<float>(),
                            cpu::affine_uint8_kernels<float>()};
  return cpu::map_frame_rows(enhanced, H / scale, W / scale,
                             [&](const cpu::FrameGeometry& g) { return FilterRows(inputs, g); });
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("colour_guided_filter_uint8", &sgz::colour_guided_filter_uint8_cpu);
}
