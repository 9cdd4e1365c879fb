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

// out[e] = byte_from_unit(v[e]) for e < n. GCC's AVX2 and AVX-512 forms of the scalar loop
// compute the clamps as compares and masks (at AVX2 on the packed bytes: a third of the
// kernel's time). Written out: max and min clamp as byte_from_unit does (NaN to 0: max returns
// its second operand), the multiply-add fused as GCC fuses the scalar form, then saturating
// narrowing to bytes.
SGZ_ALWAYS_INLINE void bytes_from_units(const float* __restrict v, uint8_t* __restrict out,
                                        int64_t n) {
  int64_t e = 0;
#if defined(CPU_CAPABILITY_AVX512)
  const __mmask16 all(0xFFFF);  // the masked forms, as in vec.h
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  const __m512 scale = _mm512_set1_ps(255.0f), half = _mm512_set1_ps(0.5f);
  for (; e + 16 <= n; e += 16) {
    const __m512 low = _mm512_maskz_max_ps(all, _mm512_loadu_ps(v + e), zero);
    const __m512 clamped = _mm512_maskz_min_ps(all, low, one);
    const __m512i ints = _mm512_maskz_cvttps_epi32(all, _mm512_fmadd_ps(clamped, scale, half));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + e), _mm512_maskz_cvtusepi32_epi8(all, ints));
  }
#elif defined(CPU_CAPABILITY_AVX2)
  // 32 values a time; the packs work within 128-bit lanes, a permute puts the bytes in order.
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 scale = _mm256_set1_ps(255.0f), half = _mm256_set1_ps(0.5f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const auto to_int = [&](const float* p) {
    const __m256 clamped = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(p), zero), one);
    return _mm256_cvttps_epi32(_mm256_fmadd_ps(clamped, scale, half));
  };
  for (; e + 32 <= n; e += 32) {
    const __m256i low = _mm256_packus_epi32(to_int(v + e), to_int(v + e + 8));
    const __m256i high = _mm256_packus_epi32(to_int(v + e + 16), to_int(v + e + 24));
    const __m256i bytes = _mm256_packus_epi16(low, high);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + e),
                        _mm256_permutevar8x32_epi32(bytes, order));
  }
#endif
  for (; e < n; ++e) out[e] = byte_from_unit(v[e]);
}

template <typename F>
SGZ_ALWAYS_INLINE void row_impl(const uint8_t* __restrict in, uint8_t* __restrict out, const F& r,
                                int64_t m, int64_t iterations) {
  float v[kBlock];
  for (int64_t s = 0; s < m; s += kBlock) {
    const int64_t n = std::min(kBlock, m - s);
    for (int64_t e = 0; e < n; ++e) v[e] = unit_from_byte(in[s + e]);
    curve_block(v, v, r.shifted(s), n, iterations);
    bytes_from_units(v, out + s, n);
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
