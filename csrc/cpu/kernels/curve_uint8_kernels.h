#pragma once
// The table of hot loops of the curve_iter_uint8 CPU kernel (cpu/curve_uint8.cpp) for one
// capability level; T is the factors' type (float).
#include <cstdint>

#include "../capability.h"

namespace sgz::cpu {

template <typename T>
struct CurveUint8Kernels {
  // m interleaved bytes of one row: out = curve^iterations(in / 255) as a byte, with the
  // factors lerp(top, bot, w0, w1) per element, or top itself when bot is null (r at the
  // frame's size: no interpolation, so a non-finite neighbour never enters through w1 = 0).
  void (*row)(const uint8_t* in, uint8_t* out, const T* top, const T* bot, T w0, T w1, int64_t m,
              int64_t iterations);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(CurveUint8Kernels, curve_uint8_kernels)
