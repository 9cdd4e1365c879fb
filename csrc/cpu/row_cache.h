#pragma once
// Computed rows kept for the row loops of the colour guided filter's CPU ops
// (colour_affine_uint8.cpp, colour_guided_filter_uint8.cpp): a few rows by key, and the column
// taps that upsample a low-resolution row to the frame's width.
#include <cstdint>
#include <vector>

#include "../common/bilinear.h"
#include "kernels/affine_uint8_kernels.h"

namespace sgz::cpu {

// `slots` rows of `row_size` floats, each under a key (an image's row index); on a miss the
// least recently used row is refilled by fill(key, row). A caller that needs k rows at once
// takes them from a cache of at least k slots, so none of them is replaced while it reads.
// Owned by one parallel task.
class RowCache {
 public:
  RowCache(int64_t slots, int64_t row_size)
      : rows_(slots * row_size), keys_(slots, -1), used_(slots, 0), row_size_(row_size) {}

  template <typename Fill>
  const float* get(int64_t key, const Fill& fill) {
    int64_t slot = 0;
    for (int64_t i = 0; i < static_cast<int64_t>(keys_.size()); ++i) {
      if (keys_[i] == key) {
        used_[i] = ++clock_;
        return rows_.data() + i * row_size_;
      }
      if (used_[i] < used_[slot]) slot = i;
    }
    keys_[slot] = key;
    used_[slot] = ++clock_;
    float* row = rows_.data() + slot * row_size_;
    fill(key, row);
    return row;
  }

 private:
  std::vector<float> rows_;
  std::vector<int64_t> keys_;
  std::vector<uint64_t> used_;
  int64_t row_size_;
  uint64_t clock_ = 0;
};

// The bilinear taps (align_corners=True) from w source columns to W, as the arrays the level
// kernels' `columns` reads (AffineUint8Kernels).
struct ColumnTaps {
  std::vector<int32_t> i0, i1;
  std::vector<float> w0, w1;

  ColumnTaps(int64_t w, int64_t W) {
    const float scale_x = align_corners_scale<float>(w, W);
    for (int64_t X = 0; X < W; ++X) {
      const Tap<float> t = align_corners_tap(X, w, scale_x, W);
      i0.push_back(static_cast<int32_t>(t.i0));
      i1.push_back(static_cast<int32_t>(t.i1));
      w0.push_back(t.w0);
      w1.push_back(t.w1);
    }
  }

  // One source row of w values upsampled to W at out.
  void upsample(const AffineUint8Kernels<float>& kernels, const float* src, int64_t w,
                float* out) const {
    kernels.columns(src, w, i0.data(), i1.data(), w0.data(), w1.data(),
                    static_cast<int64_t>(i0.size()), out);
  }
};

}  // namespace sgz::cpu
