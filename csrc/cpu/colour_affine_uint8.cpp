// CPU operator of sgz_fast::colour_affine_uint8: the colour guided filter's output on 8-bit
// frames (N, H, W, 3), out = a x + b per pixel with a's symmetric 3 x 3 matrix (N, 6, h, w) and
// b (N, 3, h, w) at low resolution, upsampled bilinearly (align_corners=True) as they are read.
// The full-resolution step of sgz_fast.denoise's fast filter.
//
// The row loop of affine_uint8.cpp (frame_rows.h), but the 9 maps' rows planar: each source
// row upsampled along columns into 9 rows of W (kernels' `columns`, by permutes), two cached at
// a time, then the frame's row one loop over its pixels (kernels' `colour_row`). Interleaved
// map rows (interleaved_rows.h) left that loop scalar, and their upsampling, compiled outside
// the level kernels, took twice the loop's time. Memory: the frame read and written once,
// plus 2 x 9 rows of W floats per thread and the column taps.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cstring>
#include <limits>
#include <vector>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/guided.h"
#include "frame_rows.h"
#include "kernels/affine_uint8_kernels.h"

namespace sgz {
namespace {

constexpr int64_t kMaps = kSymmetric3 + 3;  // a's 6 planes, then b's 3

// Source rows of a and b (per image) upsampled along columns to W, planar: map k's row at
// k * W. Two cached at a time; owned by one parallel task.
class PlanarMapRows {
 public:
  PlanarMapRows(const float* a, const float* b, const cpu::FrameGeometry& g,
                const cpu::AffineUint8Kernels<float>& kernels)
      : a_(a), b_(b), g_(g), kernels_(kernels), cached_(2 * kMaps * g.W) {
    const float scale_x = align_corners_scale<float>(g.w, g.W);
    for (int64_t X = 0; X < g.W; ++X) {
      const Tap<float> t = align_corners_tap(X, g.w, scale_x);
      i0_.push_back(static_cast<int32_t>(t.i0));
      i1_.push_back(static_cast<int32_t>(t.i1));
      w0_.push_back(t.w0);
      w1_.push_back(t.w1);
    }
  }

  const float* get(int64_t n, int64_t j) {
    const int64_t index = n * g_.h + j;
    const int slot = static_cast<int>(index & 1);
    float* out = cached_.data() + slot * kMaps * g_.W;
    if (cached_index_[slot] != index) {
      const int64_t plane = g_.h * g_.w;
      for (int64_t k = 0; k < kMaps; ++k) {
        const float* src = k < kSymmetric3 ? a_ + (n * kSymmetric3 + k) * plane
                                           : b_ + (n * 3 + k - kSymmetric3) * plane;
        src += j * g_.w;
        if (g_.upsample()) {
          kernels_.columns(src, g_.w, i0_.data(), i1_.data(), w0_.data(), w1_.data(), g_.W,
                           out + k * g_.W);
        } else {  // maps at the frame's size are used as they are (as the reference)
          std::memcpy(out + k * g_.W, src, g_.W * sizeof(float));
        }
      }
      cached_index_[slot] = index;
    }
    return out;
  }

 private:
  const float *a_, *b_;
  const cpu::FrameGeometry& g_;
  const cpu::AffineUint8Kernels<float>& kernels_;
  std::vector<int32_t> i0_, i1_;
  std::vector<float> w0_, w1_, cached_;
  int64_t cached_index_[2] = {-1, -1};
};

at::Tensor colour_affine_uint8_cpu(const at::Tensor& frames, const at::Tensor& a_in,
                                   const at::Tensor& b_in) {
  check_colour_affine_uint8_args(frames, a_in, b_in);
  TORCH_CHECK_VALUE(frames.size(2) <= std::numeric_limits<int32_t>::max(),
                    "colour_affine_uint8: rows of ", frames.size(2),
                    " pixels are too long for the CPU kernel's column taps (at most 2^31 - 1)");
  const at::Tensor a_maps = a_in.contiguous(), b_maps = b_in.contiguous();
  const auto& kernels = cpu::affine_uint8_kernels<float>();
  return cpu::map_frame_rows(
      frames, b_maps.size(2), b_maps.size(3), [&](const cpu::FrameGeometry& g) {
        return [&kernels, &g,
                maps = PlanarMapRows(a_maps.const_data_ptr<float>(), b_maps.const_data_ptr<float>(),
                                     g, kernels)](int64_t n, const Tap<float>& ty,
                                                  const uint8_t* in, uint8_t* out) mutable {
          const float* top = maps.get(n, ty.i0);
          // Without upsampling the bottom row is not read (as the reference: no interpolation).
          const float* bot = g.upsample() ? maps.get(n, ty.i1) : nullptr;
          const int64_t b_at = kSymmetric3 * g.W;
          kernels.colour_row(in, out, top, bot, top + b_at, bot ? bot + b_at : nullptr, ty.w0,
                             ty.w1, g.W);
        };
      });
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("colour_affine_uint8", &sgz::colour_affine_uint8_cpu);
}
