// Hot loop of the curve_iter_uint8 CPU kernel, compiled once per capability level
// (capability.h): one row of W * C interleaved bytes as one vectorizable loop (byte to float,
// the factors lerped between two cached source rows, the curve steps, float to byte).
#include "curve_uint8_kernels.h"

#include "../../common/bilinear.h"
#include "../../common/curve.h"
#include "../../common/pixels.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

constexpr int kSteps = 8;  // SGZ's count, unrolled; others run step by step

template <int Steps, bool Lerp>
SGZ_ALWAYS_INLINE void row_impl(const uint8_t* __restrict in, uint8_t* __restrict out,
                                const float* __restrict top, const float* __restrict bot, float w0,
                                float w1, int64_t m, int64_t iterations) {
  for (int64_t e = 0; e < m; ++e) {
    const float r = Lerp ? lerp(top[e], bot[e], w0, w1) : top[e];
    float v = unit_from_byte(in[e]);
    if constexpr (Steps > 0) {
#pragma GCC unroll 8
      for (int k = 0; k < Steps; ++k) v = curve_step(v, r);
    } else {
      v = curve_apply(v, r, iterations);
    }
    out[e] = byte_from_unit(v);
  }
}

void curve_row(const uint8_t* in, uint8_t* out, const float* top, const float* bot, float w0,
               float w1, int64_t m, int64_t iterations) {
  if (bot == nullptr) {
    if (iterations == kSteps) {
      row_impl<kSteps, false>(in, out, top, top, w0, w1, m, iterations);
    } else {
      row_impl<0, false>(in, out, top, top, w0, w1, m, iterations);
    }
  } else if (iterations == kSteps) {
    row_impl<kSteps, true>(in, out, top, bot, w0, w1, m, iterations);
  } else {
    row_impl<0, true>(in, out, top, bot, w0, w1, m, iterations);
  }
}

}  // namespace

template <typename T>
const CurveUint8Kernels<T>& curve_uint8_kernels() {
  static const CurveUint8Kernels<T> table{&curve_row};
  return table;
}
template const CurveUint8Kernels<float>& curve_uint8_kernels<float>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
