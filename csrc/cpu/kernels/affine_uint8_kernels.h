#pragma once
// The table of hot loops of the affine_uint8 and colour_affine_uint8 CPU kernels
// (cpu/affine_uint8.cpp, cpu/colour_affine_uint8.cpp) for one
// capability level; T is the maps' type (float).
#include <cstdint>

#include "../capability.h"

namespace sgz::cpu {

template <typename T>
struct AffineUint8Kernels {
  // m interleaved bytes of one row: out = byte(a * in / 255 + b), with a = lerp(a_top, a_bot,
  // w0, w1) and b likewise per element, or a_top and b_top themselves when the bottoms are null
  // (maps at the frame's size: no interpolation).
  void (*row)(const uint8_t* in, uint8_t* out, const T* a_top, const T* a_bot, const T* b_top,
              const T* b_bot, T w0, T w1, int64_t m);
  // W pixels of one row of 3-channel bytes: out = byte(a x / 255 + b) (common/affine.h,
  // colour_affine), the maps' rows planar (a's 6 rows of W, b's 3), lerped as above.
  void (*colour_row)(const uint8_t* in, uint8_t* out, const T* a_top, const T* a_bot,
                     const T* b_top, const T* b_bot, T w0, T w1, int64_t W);
  // One source row of w values upsampled along columns to W >= w: out[X] = lerp(src[i0[X]],
  // src[i1[X]], w0[X], w1[X]) (common/bilinear.h's taps, as arrays).
  void (*columns)(const T* src, int64_t w, const int32_t* i0, const int32_t* i1, const T* w0,
                  const T* w1, int64_t W, T* out);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(AffineUint8Kernels, affine_uint8_kernels)
