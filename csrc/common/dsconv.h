#pragma once
#include <cmath>
#include <cstdint>

#include "macros.h"

namespace sgz {

// The activations of the SGZ layers, applied after the pointwise bias.
enum class Activation : int { kNone = 0, kRelu = 1, kTanh = 2 };

template <typename acc_t>
SGZ_HD acc_t activate(acc_t z, Activation act) {
  if (act == Activation::kRelu) return z > acc_t(0) ? z : acc_t(0);
  if (act == Activation::kTanh) return tanh(z);
  return z;
}

// tanh(z) in float32 for |z| <= 7.90531 (the caller clamps z there: beyond it float32's tanh
// is within 3e-7 of +-1, and the clamp keeps the ratio from overshooting 1), as
// z P(z^2) / Q(z^2) with P of degree 6 and Q of degree 3: the minimax rational fit that
// Eigen's float tanh uses (coefficients from Eigen, MathFunctionsImpl.h), accurate to a few
// ulp. Plain + and * (a scalar or a CPU vector), so the vector loops of the fused network
// need no call into libm.
template <typename V>
SGZ_HD V tanh_rational(V z) {
  const V z2 = z * z;
  V p = z2 * V(-2.76076847742355e-16f) + V(2.00018790482477e-13f);
  p = z2 * p + V(-8.60467152213735e-11f);
  p = z2 * p + V(5.12229709037114e-08f);
  p = z2 * p + V(1.48572235717979e-05f);
  p = z2 * p + V(6.37261928875436e-04f);
  p = z2 * p + V(4.89352455891786e-03f);
  V q = z2 * V(1.19825839466702e-06f) + V(1.18534705686654e-04f);
  q = z2 * q + V(2.26843463243900e-03f);
  q = z2 * q + V(4.89352518554385e-03f);
  return z * p / q;
}

// d activation / d z, written in terms of the activation's output o (what the backward keeps).
template <typename acc_t>
SGZ_HD acc_t activation_grad(acc_t o, Activation act) {
  if (act == Activation::kRelu) return o > acc_t(0) ? acc_t(1) : acc_t(0);
  if (act == Activation::kTanh) return acc_t(1) - o * o;
  return acc_t(1);
}

// The 3x3 depthwise tap sum at column x: sum over i, j of w[3 i + j] * row_i(x + j - 1), rows
// 0, 1, 2 being y - 1, y, y + 1. `Row` reads one value of a row (zero outside the image), so
// one formula serves the CPU's interior and border loops and the CUDA tiles. Each row's three
// taps are summed apart and the rows added last: three short chains of multiply-adds instead
// of one of nine, which the CPU's vector loop would wait on.
template <typename acc_t, typename Row>
SGZ_HD acc_t depthwise3x3(const Row& up, const Row& mid, const Row& down, int64_t x,
                          const acc_t* w) {
  const acc_t top = w[0] * up(x - 1) + w[1] * up(x) + w[2] * up(x + 1);
  const acc_t centre = w[3] * mid(x - 1) + w[4] * mid(x) + w[5] * mid(x + 1);
  const acc_t bottom = w[6] * down(x - 1) + w[7] * down(x) + w[8] * down(x + 1);
  return top + centre + bottom;
}

// The same sum from `init` (the bias) in one chain of nine multiply-adds: 9 vector operations
// where depthwise3x3 and the bias take 12, for loops with independent outputs in flight to
// hide the chain's latency (the fused network's window: two rows of one or two pixels). The
// result differs from init + depthwise3x3 by rounding only.
template <typename acc_t, typename Row>
SGZ_HD acc_t depthwise3x3_chain(acc_t init, const Row& up, const Row& mid, const Row& down,
                                int64_t x, const acc_t* w) {
  acc_t s = w[0] * up(x - 1) + init;
  s = w[1] * up(x) + s;
  s = w[2] * up(x + 1) + s;
  s = w[3] * mid(x - 1) + s;
  s = w[4] * mid(x) + s;
  s = w[5] * mid(x + 1) + s;
  s = w[6] * down(x - 1) + s;
  s = w[7] * down(x) + s;
  return w[8] * down(x + 1) + s;
}

}  // namespace sgz
