#pragma once
// The table of hot loops of the affine_uint8 CPU kernel (cpu/affine_uint8.cpp) for one
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
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(AffineUint8Kernels, affine_uint8_kernels)
