// CPU operator of sgz_fast::colour_affine_uint8: the colour guided filter's output on 8-bit
// frames (N, H, W, 3), out = a x + b per pixel with a's symmetric 3 x 3 matrix (N, 6, h, w) and
// b (N, 3, h, w) at low resolution, upsampled bilinearly (align_corners=True) as they are read.
//
// The row loop of affine_uint8.cpp (frame_rows.h), but the 9 maps' rows planar: each source
// row upsampled along columns into 9 rows of W (kernels' `columns`, by permutes), two kept at
// a time (row_cache.h), then the frame's row one loop over its pixels (kernels'
// `colour_row`). Interleaved map rows (interleaved_rows.h) left that loop scalar, and their
// upsampling, compiled outside the level kernels, took twice the loop's time. Memory: the frame
// read and written once, plus 2 x 9 rows of W floats per thread and the column taps.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cstring>
#include <limits>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/guided.h"
#include "frame_rows.h"
#include "kernels/affine_uint8_kernels.h"
#include "row_cache.h"

namespace sgz {
namespace {

constexpr int64_t kMaps = kSymmetric3 + 3;  // a's 6 planes, then b's 3

at::Tensor colour_affine_uint8_cpu(const at::Tensor& frames, const at::Tensor& a_in,
                                   const at::Tensor& b_in) {
  check_colour_affine_uint8_args(frames, a_in, b_in);
  TORCH_CHECK_VALUE(frames.size(2) <= std::numeric_limits<int32_t>::max(),
                    "colour_affine_uint8: rows of ", frames.size(2),
                    " pixels are too long for the CPU kernel's column taps (at most 2^31 - 1)");
  const at::Tensor a_maps = a_in.contiguous(), b_maps = b_in.contiguous();
  const int64_t h = b_maps.size(2), w = b_maps.size(3);
  const cpu::ColumnTaps taps(w, frames.size(2));
  const float* a = a_maps.const_data_ptr<float>();
  const float* b = b_maps.const_data_ptr<float>();
  const auto& kernels = cpu::affine_uint8_kernels<float>();
  return cpu::map_frame_rows(frames, h, w, [&](const cpu::FrameGeometry& g) {
    // Map row j of image n: the 9 planes' rows, upsampled (or as they are at the frame's size:
    // no interpolation, as the reference).
    const auto fill = [&, g](int64_t key, float* row) {
      const int64_t n = key / h, j = key % h;
      for (int64_t k = 0; k < kMaps; ++k) {
        const float* src = (k < kSymmetric3 ? a + (n * kSymmetric3 + k) * h * w
                                            : b + (n * 3 + k - kSymmetric3) * h * w) +
                           j * w;
        if (g.upsample()) {
          taps.upsample(kernels, src, w, row + k * g.W);
        } else {
          std::memcpy(row + k * g.W, src, w * sizeof(float));
        }
      }
    };
    return [&kernels, g, fill, maps = cpu::RowCache(2, kMaps * g.W)](
               int64_t n, const Tap<float>& ty, const uint8_t* in, uint8_t* out) mutable {
      const float* top = maps.get(n * g.h + ty.i0, fill);
      // Without upsampling the bottom row is not read (as the reference: no interpolation).
      const float* bot = g.upsample() ? maps.get(n * g.h + ty.i1, fill) : nullptr;
      const int64_t b_at = kSymmetric3 * g.W;
      kernels.colour_row(in, out, top, bot, top + b_at, bot ? bot + b_at : nullptr, ty.w0, ty.w1,
                         g.W);
    };
  });
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("colour_affine_uint8", &sgz::colour_affine_uint8_cpu);
}
