// Hot loop of the curve_iter_uint8 CPU kernel, compiled once per capability level
// (capability.h): one row of W * C interleaved bytes in L1-sized blocks, each converted to float,
// run through the float kernel's interleaved curve chains (curve_chains.h) in place and
// converted back to bytes. The float and the 8-bit kernels thus share every rounding.
#include "curve_uint8_kernels.h"

#include <algorithm>

#include "../../common/pixels.h"
#include "curve_chains.h"
#include "curve_factors.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kBlock = 256;  // values per L1-resident block

template <typename F>
SGZ_ALWAYS_INLINE void row_impl(const uint8_t* __restrict in, uint8_t* __restrict out, const F& r,
                                int64_t m, int64_t iterations) {
  float v[kBlock];
  for (int64_t s = 0; s < m; s += kBlock) {
    const int64_t n = std::min(kBlock, m - s);
    for (int64_t e = 0; e < n; ++e) v[e] = unit_from_byte(in[s + e]);
    curve_block(v, v, r.shifted(s), n, iterations);
    for (int64_t e = 0; e < n; ++e) out[s + e] = byte_from_unit(v[e]);
  }
}

void curve_row(const uint8_t* in, uint8_t* out, const float* top, const float* bot, float w0,
               float w1, int64_t m, int64_t iterations) {
  if (bot == nullptr) {
    row_impl(in, out, Factors<float>{top}, m, iterations);
  } else {
    row_impl(in, out, LerpedFactors<float>{top, bot, w0, w1}, m, iterations);
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
