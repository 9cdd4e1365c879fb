// Hot loops of the dsconv CPU kernels, compiled once per capability level (capability.h): the
// forward rows and the backward passes of cpu/dsconv.cpp, on the shared row loops of
// row_loops.h (depthwise rows, register-blocked pointwise product).
//
// Forward, per output row: the depthwise result of all Cin channels for the row goes to a
// Cin x W buffer that stays in cache, and the pointwise product reads it from there.
#include "dsconv_kernels.h"

#include <algorithm>

#include "level.h"
#include "row_loops.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// The depthwise result of every channel for row y of image n: channel c at d + c * stride.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_all(const Channels<T>& ch, int64_t n, int64_t y, const T* dw,
                                     const T* db, const T* zeros, T* d, int64_t stride) {
  for (int64_t c = 0; c < ch.count(); ++c) {
    depthwise_row(ch.row(n, c, y - 1, zeros), ch.row(n, c, y, zeros), ch.row(n, c, y + 1, zeros),
                  dw + 9 * c, db != nullptr ? db[c] : T(0), d + c * stride, ch.W);
  }
}

// acc[o][c] += sum_x a[o][x] * b[c][x] for MO rows of a from o and MC rows of b from c (rows
// of length X at a + o * X and b + c * X): the pointwise weight gradient. Whole vectors first,
// then the partial one, loaded with zeros beyond X, so the main loop has no branch; the lanes
// are summed once at the end, from copies (taking a sum's address would keep every sum in
// memory through the loop).
template <typename T, int MO, int MC, bool PARTIAL>
SGZ_ALWAYS_INLINE void outer_step(const T* a, const T* b, int64_t X, int64_t o, int64_t c,
                                  int64_t x, int64_t count, Vec<T> (&sums)[MO][MC]) {
  using V = Vec<T>;
  V av[MO], bv[MC];
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    av[i] = PARTIAL ? V::loadu(a + (o + i) * X + x, count) : V::loadu(a + (o + i) * X + x);
  }
  SGZ_UNROLL for (int j = 0; j < MC; ++j) {
    bv[j] = PARTIAL ? V::loadu(b + (c + j) * X + x, count) : V::loadu(b + (c + j) * X + x);
  }
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    SGZ_UNROLL for (int j = 0; j < MC; ++j) sums[i][j] = fmadd(av[i], bv[j], sums[i][j]);
  }
}

template <typename T, int MO, int MC>
SGZ_ALWAYS_INLINE void outer_block(const T* a, const T* b, int64_t X, int64_t o, int64_t c,
                                   int64_t K, T* acc) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V sums[MO][MC];
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    SGZ_UNROLL for (int j = 0; j < MC; ++j) sums[i][j] = V(T(0));
  }
  int64_t x = 0;
  for (; x + L <= X; x += L) outer_step<T, MO, MC, false>(a, b, X, o, c, x, L, sums);
  if (x < X) outer_step<T, MO, MC, true>(a, b, X, o, c, x, X - x, sums);
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    SGZ_UNROLL for (int j = 0; j < MC; ++j) {
      const V sum = sums[i][j];
      T lanes[L];
      sum.store(lanes);
      T total = 0;
      for (int64_t l = 0; l < L; ++l) total += lanes[l];
      acc[(o + i) * K + c + j] += total;
    }
  }
}

template <typename T>
SGZ_ALWAYS_INLINE void outer_products(const T* a, const T* b, int64_t X, int64_t M, int64_t K,
                                      T* acc) {
  const int64_t m_full = M - M % kOuterA, k_full = K - K % kOuterB;
  for (int64_t o = 0; o < m_full; o += kOuterA) {
    for (int64_t c = 0; c < k_full; c += kOuterB) {
      outer_block<T, kOuterA, kOuterB>(a, b, X, o, c, K, acc);
    }
    for (int64_t c = k_full; c < K; ++c) outer_block<T, kOuterA, 1>(a, b, X, o, c, K, acc);
  }
  for (int64_t o = m_full; o < M; ++o) {
    for (int64_t c = 0; c < K; ++c) outer_block<T, 1, 1>(a, b, X, o, c, K, acc);
  }
}

template <typename T>
SGZ_ALWAYS_INLINE T dot(const T* a, const T* b, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

template <typename T>
SGZ_ALWAYS_INLINE T total(const T* a, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i];
  return sum;
}

// ---- The table's entries ----------------------------------------------------------------------

template <typename T>
void forward_rows(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* pb, T* out,
                  const Dims& s, Activation act, RowScratch<T>& scratch, int64_t begin,
                  int64_t end) {
  T* d = scratch.d.data();
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.H, y = row % s.H;
    depthwise_all(ch, n, y, dw, db, scratch.zeros.data(), d, s.W);
    T* row_out = out + (n * s.cout * s.H + y) * s.W;
    if (act == Activation::kRelu) {  // in registers (SGZ's six ReLU layers)
      pointwise<T, true>(pw, s.cin, int64_t(1), pb, d, s.W, s.cin, row_out, s.H * s.W, s.cout, s.W);
      continue;
    }
    pointwise(pw, s.cin, int64_t(1), pb, d, s.W, s.cin, row_out, s.H * s.W, s.cout, s.W);
    if (act == Activation::kNone) continue;
    for (int64_t o = 0; o < s.cout; ++o) {
      T* __restrict z = row_out + o * s.H * s.W;
      for (int64_t x = 0; x < s.W; ++x) z[x] = activate(z[x], act);
    }
  }
}

// Rows of a band are consecutive rows of one image, so each channel's band is one contiguous
// run of rows * W values in every tensor and buffer: the gradient sums run over the band at
// once, and the lanes of the weight gradient's sums are added up once per band, not per row.
template <typename T>
void backward_rows(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* grad,
                   const T* out, T* gd, WeightGrads<T>& acc, const Dims& s, Activation act,
                   RowScratch<T>& scratch, int64_t begin, int64_t end) {
  T* d = scratch.d.data();
  T* gz = scratch.gz.data();
  for (int64_t first = begin; first < end;) {
    const int64_t n = first / s.H, y0 = first % s.H;
    const int64_t rows = std::min({scratch.rows, end - first, s.H - y0});
    const int64_t X = rows * s.W;  // the band's values per channel
    for (int64_t r = 0; r < rows; ++r) {
      depthwise_all(ch, n, y0 + r, dw, db, scratch.zeros.data(), d + r * s.W, X);
    }
    for (int64_t o = 0; o < s.cout; ++o) {
      const int64_t off = ((n * s.cout + o) * s.H + y0) * s.W;
      T* __restrict gzo = gz + o * X;
      for (int64_t x = 0; x < X; ++x) gzo[x] = grad[off + x] * activation_grad(out[off + x], act);
      acc.pb[o] += total(gzo, X);
    }
    outer_products(gz, d, X, s.cout, s.cin, acc.pw.data());
    // g_d[c] = sum_o pw[o][c] * g_z[o]: the pointwise product with pw transposed.
    T* gd_band = gd + (n * s.cin * s.H + y0) * s.W;
    pointwise(pw, int64_t(1), s.cin, static_cast<const T*>(nullptr), gz, X, s.cout, gd_band,
              s.H * s.W, s.cin, X);
    for (int64_t c = 0; c < s.cin; ++c) acc.db[c] += total(gd_band + c * s.H * s.W, X);
    first += rows;
  }
}

template <typename T>
void backward_planes(const Channels<T>& ch, const T* dw, const T* gd, T* const* gin, T* gdw,
                     const Dims& s, const T* zeros, int64_t begin, int64_t end) {
  for (int64_t plane = begin; plane < end; ++plane) {
    const int64_t n = plane / s.cin, c = plane % s.cin;
    T flipped[9];
    for (int k = 0; k < 9; ++k) flipped[k] = dw[9 * c + 8 - k];
    const T* g = gd + plane * s.H * s.W;
    const T* in = ch.plane(n, c);
    T* gi = gin[c] + n * ch.image_stride[c];
    T sums[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t y = 0; y < s.H; ++y) {
      const T* gup = y > 0 ? g + (y - 1) * s.W : zeros;
      const T* gdown = y < s.H - 1 ? g + (y + 1) * s.W : zeros;
      depthwise_row(gup, g + y * s.W, gdown, flipped, T(0), gi + y * s.W, s.W);
      // dL/dw[i][j] = sum over pixels of g_d(y, x) * in(y + i - 1, x + j - 1)
      const T* grow = g + y * s.W;
      for (int i = 0; i < 3; ++i) {
        const int64_t yi = y + i - 1;
        if (yi < 0 || yi >= s.H) continue;
        const T* irow = in + yi * s.W;
        sums[3 * i + 0] += dot(grow + 1, irow, s.W - 1);
        sums[3 * i + 1] += dot(grow, irow, s.W);
        sums[3 * i + 2] += dot(grow, irow + 1, s.W - 1);
      }
    }
    std::copy(sums, sums + 9, gdw + 9 * plane);
  }
}

}  // namespace

template <typename T>
const DsconvKernels<T>& dsconv_kernels() {
  static const DsconvKernels<T> table{&forward_rows<T>, &backward_rows<T>, &backward_planes<T>};
  return table;
}
template const DsconvKernels<float>& dsconv_kernels<float>();
template const DsconvKernels<double>& dsconv_kernels<double>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
