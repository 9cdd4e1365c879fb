#pragma once
// The curve's steps over a run of values, as interleaved chains of vectors.
//
// One value's steps are a chain of dependent FMAs (two a step: x*x - x, then x + r*that), 16
// for SGZ's 8 steps, about 70 cycles long. Written as one loop over the values, the compiler
// runs one vector's chain after another and leaves the overlap of vectors to the out-of-order
// core, whose floating-point scheduler holds too few of them to keep both FMA pipes busy.
// Here kChains vectors take each step together: every step issues kChains independent FMAs,
// enough to cover the FMA latency of both pipes. That takes 2 * kChains registers and a few:
// AVX-512 has 32; AVX2's 16 spill a few, and still 8 chains beat 4 and 6 (NOTES.md, curve_iter).
// Every element, the last partial vector's too, takes the same vector arithmetic, so the float
// and the 8-bit kernels agree bit for bit.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../../common/curve.h"
#include "level.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {

constexpr int kChains = 8;  // vectors stepped together
constexpr int kPass = 8;    // most steps with a compile-time count (SGZ uses 8: one pass)

// f(std::integral_constant<int, steps>{}) for steps in 1..kPass: the count as a constant, so
// the steps unroll.
template <int N = kPass, typename Fn>
SGZ_ALWAYS_INLINE void with_step_count(int steps, Fn&& f) {
  if constexpr (N > 0) {
    if (steps == N) {
      f(std::integral_constant<int, N>{});
    } else {
      with_step_count<N - 1>(steps, f);
    }
  }
}

// run(e, count, chains) over m elements: `chains` (a compile-time K) vectors from element e a
// call, count values each; the rest one vector a call, the last one partial (count < its size).
template <int K, typename T, typename Run>
SGZ_ALWAYS_INLINE void in_runs(int64_t m, const Run& run) {
  constexpr int64_t kSize = Vec<T>::size();
  int64_t e = 0;
  for (; e + K * kSize <= m; e += K * kSize) run(e, kSize, std::integral_constant<int, K>{});
  for (; e < m; e += kSize) {
    run(e, std::min<int64_t>(kSize, m - e), std::integral_constant<int, 1>{});
  }
}

// out[e] = curve^Steps(in[e]) for e < m with the factors r (kernels/curve_factors.h); in and out
// may be the same.
template <int Steps, typename T, typename F>
SGZ_ALWAYS_INLINE void curve_chains(const T* in, T* out, const F& r, int64_t m) {
  using V = Vec<T>;
  in_runs<kChains, T>(m, [&](int64_t e, int64_t count, auto chains) {
    constexpr int K = decltype(chains)::value;
    V x[K], f[K];
#pragma GCC unroll 16
    for (int c = 0; c < K; ++c) {
      x[c] = V::loadu(in + e + c * V::size(), count);
      f[c] = r.template vec<V>(e + c * V::size(), count);
    }
#pragma GCC unroll 16
    for (int k = 0; k < Steps; ++k) {
#pragma GCC unroll 16
      for (int c = 0; c < K; ++c) x[c] = curve_step(x[c], f[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < K; ++c) x[c].store(out + e + c * V::size(), count);
  });
}

// The backward's steps (curve_tangent_step: x and its tangents a = dx/dx0, b = dx/dr) the same
// way, in place over m elements: a chain holds x, a, b and r, so 4 chains take 16 registers.
template <int Steps, typename T, typename F>
SGZ_ALWAYS_INLINE void tangent_chains(T* v, T* a, T* b, const F& r, int64_t m) {
  using V = Vec<T>;
  constexpr int kTangentChains = 4;
  in_runs<kTangentChains, T>(m, [&](int64_t e, int64_t count, auto chains) {
    constexpr int K = decltype(chains)::value;
    V x[K], da[K], db[K], f[K];
#pragma GCC unroll 16
    for (int c = 0; c < K; ++c) {
      const int64_t at = e + c * V::size();
      x[c] = V::loadu(v + at, count);
      da[c] = V::loadu(a + at, count);
      db[c] = V::loadu(b + at, count);
      f[c] = r.template vec<V>(at, count);
    }
#pragma GCC unroll 16
    for (int k = 0; k < Steps; ++k) {
#pragma GCC unroll 16
      for (int c = 0; c < K; ++c) curve_tangent_step(x[c], da[c], db[c], f[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < K; ++c) {
      const int64_t at = e + c * V::size();
      x[c].store(v + at, count);
      da[c].store(a + at, count);
      db[c].store(b + at, count);
    }
  });
}

// out = curve^iterations(in) over m elements, in passes of up to kPass steps; passes after the
// first re-read out, so m should be a block that stays in L1.
template <typename T, typename F>
SGZ_ALWAYS_INLINE void curve_block(const T* in, T* out, const F& r, int64_t m,
                                   int64_t iterations) {
  if (iterations == 0) {
    std::copy(in, in + m, out);
    return;
  }
  for (int64_t left = iterations; left > 0; left -= kPass) {
    with_step_count(static_cast<int>(std::min<int64_t>(left, kPass)),
                    [&](auto steps) { curve_chains<decltype(steps)::value>(in, out, r, m); });
    in = out;
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
