// Hot loop of the affine_uint8 CPU kernel, compiled once per capability level
// (capability.h): one row of W * C interleaved bytes as one vectorizable loop (byte to float,
// the coefficients lerped between two cached source rows, a x + b, float to byte).
#include "affine_uint8_kernels.h"

#include "../../common/affine.h"
#include "../../common/bilinear.h"
#include "../../common/pixels.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

template <bool Lerp>
SGZ_ALWAYS_INLINE void row_impl(const uint8_t* __restrict in, uint8_t* __restrict out,
                                const float* __restrict a_top, const float* __restrict a_bot,
                                const float* __restrict b_top, const float* __restrict b_bot,
                                float w0, float w1, int64_t m) {
  for (int64_t e = 0; e < m; ++e) {
    const float a = Lerp ? lerp(a_top[e], a_bot[e], w0, w1) : a_top[e];
    const float b = Lerp ? lerp(b_top[e], b_bot[e], w0, w1) : b_top[e];
    out[e] = byte_from_unit(affine(unit_from_byte(in[e]), a, b));
  }
}

void affine_row(const uint8_t* in, uint8_t* out, const float* a_top, const float* a_bot,
                const float* b_top, const float* b_bot, float w0, float w1, int64_t m) {
  if (a_bot == nullptr) {
    row_impl<false>(in, out, a_top, a_top, b_top, b_top, w0, w1, m);
  } else {
    row_impl<true>(in, out, a_top, a_bot, b_top, b_bot, w0, w1, m);
  }
}

}  // namespace

template <typename T>
const AffineUint8Kernels<T>& affine_uint8_kernels() {
  static const AffineUint8Kernels<T> table{&affine_row};
  return table;
}

template const AffineUint8Kernels<float>& affine_uint8_kernels<float>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
