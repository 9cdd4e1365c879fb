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

}  // namespace sgz
