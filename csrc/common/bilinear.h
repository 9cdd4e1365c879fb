#pragma once
#include <cstdint>

#include "macros.h"

namespace sgz {

// Bilinear resampling with align_corners=True, the mode of nn.UpsamplingBilinear2d that the
// published SGZ uses to bring the enhancement factors back to full size. The scale and the
// source index are computed as PyTorch computes them (area_pixel_compute_scale and
// compute_source_index_and_lambda, in the accumulation type), so the taps agree exactly.

template <typename acc_t>
struct Tap {
  int64_t i0;  // first source index
  int64_t i1;  // second source index (== i0 at the last source sample, and for equal sizes)
  acc_t w0;    // weight of i0
  acc_t w1;    // weight of i1
};

template <typename acc_t>
SGZ_HD acc_t align_corners_scale(int64_t in_size, int64_t out_size) {
  return out_size > 1 ? static_cast<acc_t>(in_size - 1) / static_cast<acc_t>(out_size - 1)
                      : acc_t(0);
}

// Where the axis keeps its size, PyTorch reads each sample alone (i1 = i0, w1 = 0): a
// non-finite neighbour must not come in as 0 * inf = NaN.
template <typename acc_t>
SGZ_HD Tap<acc_t> align_corners_tap(int64_t out_index, int64_t in_size, acc_t scale,
                                    int64_t out_size) {
  if (in_size == out_size) return {out_index, out_index, acc_t(1), acc_t(0)};
  const acc_t src = scale * static_cast<acc_t>(out_index);
  int64_t i0 = static_cast<int64_t>(src);  // src >= 0, so truncation is floor
  if (i0 > in_size - 1) i0 = in_size - 1;
  acc_t w1 = src - static_cast<acc_t>(i0);
  w1 = w1 < acc_t(0) ? acc_t(0) : (w1 > acc_t(1) ? acc_t(1) : w1);
  const int64_t i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
  return {i0, i1, acc_t(1) - w1, w1};
}

template <typename acc_t>
SGZ_HD acc_t lerp(acc_t a, acc_t b, acc_t w0, acc_t w1) {
  return w0 * a + w1 * b;
}

// Interpolates one value from two source rows: row0 = source row ty.i0, row1 = row ty.i1.
// (The CPU kernels apply the same two lerps separably: rows first, then columns.)
template <typename acc_t, typename T>
SGZ_HD acc_t bilinear_sample(const T* row0, const T* row1, const Tap<acc_t>& ty,
                             const Tap<acc_t>& tx) {
  const acc_t top = lerp<acc_t>(row0[tx.i0], row0[tx.i1], tx.w0, tx.w1);
  const acc_t bot = lerp<acc_t>(row1[tx.i0], row1[tx.i1], tx.w0, tx.w1);
  return lerp(top, bot, ty.w0, ty.w1);
}

// The first output index whose tap.i0 is >= k (out_size if none). Taps are monotone in the
// output index, so the outputs that read source index k as their i0 form the contiguous band
// [first_output_reading(k), first_output_reading(k + 1)); the backward reduces over these bands.
template <typename acc_t>
SGZ_HD int64_t first_output_reading(int64_t k, int64_t in_size, int64_t out_size, acc_t scale) {
  int64_t lo = 0, hi = out_size;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (align_corners_tap(mid, in_size, scale, out_size).i0 >= k) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace sgz
