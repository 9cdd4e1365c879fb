#pragma once
#include <cstdint>

#include "macros.h"

namespace sgz {

// One step of the quadratic light-enhancement curve LE(x) = x + r * (x^2 - x)
// (Guo et al., "Zero-Reference Deep Curve Estimation", CVPR 2020), which SGZ applies
// recurrently with the same enhancement factor r (Zheng & Gupta, WACV 2022, Sec. 3.2).
template <typename T>
SGZ_HD T curve_step(T x, T r) {
  return x + r * (x * x - x);
}

template <typename T>
SGZ_HD T curve_apply(T x, T r, int64_t iterations) {
  for (int64_t k = 0; k < iterations; ++k) x = curve_step(x, r);
  return x;
}

// One curve step carrying the tangents a = dx/dx0 and b = dx/dr along (forward-mode
// differentiation). The recurrence is scalar, so forward mode costs what reverse mode costs
// and needs none of the intermediate x values stored: the backward recomputes in registers.
//   d x_{k+1} / d x_k = 1 + r (2 x_k - 1),   d x_{k+1} / d r (explicit) = x_k^2 - x_k
template <typename T>
SGZ_HD void curve_tangent_step(T& x, T& a, T& b, T r) {
  const T d = T(1) + r * (T(2) * x - T(1));
  b = b * d + (x * x - x);
  a = a * d;
  x = curve_step(x, r);
}

template <typename T>
struct CurveGrad {
  T dy_dx;
  T dy_dr;
};

template <typename T>
SGZ_HD CurveGrad<T> curve_grad(T x, T r, int64_t iterations) {
  T a = T(1), b = T(0);
  for (int64_t k = 0; k < iterations; ++k) curve_tangent_step(x, a, b, r);
  return {a, b};
}

}  // namespace sgz
