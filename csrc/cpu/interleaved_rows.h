#pragma once
// Low-resolution per-channel maps (N, C, h, w) read at the rows of 8-bit frames (N, H, W, C):
// each source row upsampled along columns (bilinear, align_corners=True) and interleaved like
// the frame, for the uint8 operators (curve_uint8.cpp, affine_uint8.cpp).
#include <cstdint>
#include <vector>

#include "../common/bilinear.h"

namespace sgz::cpu {

struct FrameGeometry {
  int64_t N, H, W, C, h, w;
  int64_t row() const { return W * C; }
  bool upsample() const { return h != H || w != W; }
};

// Source rows of r (per image) upsampled along columns to W and interleaved like the frame
// (element X * C + c), two cached at a time. The column taps are computed once, when the task
// starts (W of them), not per row. Owned by one parallel task.
class InterleavedRows {
 public:
  InterleavedRows(const float* r, const FrameGeometry& g) : r_(r), g_(g), cached_(2 * g.row()) {
    const float scale_x = align_corners_scale<float>(g.w, g.W);
    taps_.reserve(g.W);
    for (int64_t X = 0; X < g.W; ++X) taps_.push_back(align_corners_tap(X, g.w, scale_x, g.W));
  }

  const float* get(int64_t n, int64_t j) {
    const int64_t index = n * g_.h + j;
    const int slot = static_cast<int>(index & 1);
    float* out = cached_.data() + slot * g_.row();
    if (cached_index_[slot] != index) {
      const float* plane0 = r_ + (n * g_.C * g_.h + j) * g_.w;  // channel c at c * h * w
      if (g_.C == 3) {  // RGB frames: the channel loop unrolled, each tap read once
        fill<3>(plane0, out);
      } else {
        fill<0>(plane0, out);
      }
      cached_index_[slot] = index;
    }
    return out;
  }

 private:
  // The row at plane0 (channel c's at plane0 + c * h * w) into out; CHANNELS is C, or 0 for
  // any C.
  template <int CHANNELS>
  void fill(const float* plane0, float* __restrict out) const {
    const int64_t C = CHANNELS > 0 ? CHANNELS : g_.C, stride = g_.h * g_.w;
    for (int64_t X = 0; X < g_.W; ++X) {
      const Tap<float>& t = taps_[X];
      for (int64_t c = 0; c < C; ++c) {
        const float* src = plane0 + c * stride;
        out[X * C + c] = g_.upsample() ? lerp(src[t.i0], src[t.i1], t.w0, t.w1) : src[X];
      }
    }
  }

  const float* r_;
  const FrameGeometry& g_;
  std::vector<Tap<float>> taps_;
  std::vector<float> cached_;
  int64_t cached_index_[2] = {-1, -1};
};

}  // namespace sgz::cpu
