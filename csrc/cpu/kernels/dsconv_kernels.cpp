// Hot loops of the dsconv CPU kernels, compiled once per capability level (capability.h): the
// forward rows and the backward passes of cpu/dsconv.cpp, on the shared row loops of
// row_loops.h (depthwise rows, register-blocked pointwise product).
//
// Forward, per output row: the depthwise result of all Cin channels for the row goes to a
// Cin x W buffer that stays in cache, and the pointwise product reads it from there.
// Backward, per band of rows: see backward_image_rows.
#include "dsconv_kernels.h"

#include <algorithm>

#include "level.h"
#include "row_loops.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// The depthwise result of every channel for row y of image n: channel c at d + c * stride.
// Each channel's row y + 2, which the next output row reads first, is prefetched: with 64
// channel planes the hardware prefetcher, which follows a few dozen streams, misses most of
// them (the 64-channel forward at 256x256, one thread: 20-25% faster; NOTES.md, dsconv).
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_all(const Channels<T>& ch, int64_t n, int64_t y, const T* dw,
                                     const T* db, const T* zeros, T* d, int64_t stride) {
  for (int64_t c = 0; c < ch.count(); ++c) {
    if (y + 2 < ch.H) {
      const char* next = reinterpret_cast<const char*>(ch.plane(n, c) + (y + 2) * ch.W);
      for (int64_t b = 0; b < ch.W * int64_t(sizeof(T)); b += 64) __builtin_prefetch(next + b);
    }
    depthwise_row(ch.row(n, c, y - 1, zeros), ch.row(n, c, y, zeros), ch.row(n, c, y + 1, zeros),
                  dw + 9 * c, db != nullptr ? db[c] : T(0), d + c * stride, ch.W);
  }
}

// acc[o][c] += sum_x a[o][x] * b[c][x] for MO rows of a from o and MC rows of b from c (rows
// of X values at a + o * stride and b + c * stride): the pointwise weight gradient. Whole
// vectors first, then the partial one, loaded with zeros beyond X, so the main loop has no
// branch; the lanes are summed once at the end.
template <typename T, int MO, int MC, bool PARTIAL>
SGZ_ALWAYS_INLINE void outer_step(const T* a, const T* b, int64_t stride, int64_t o, int64_t c,
                                  int64_t x, int64_t count, Vec<T> (&sums)[MO][MC]) {
  using V = Vec<T>;
  V av[MO], bv[MC];
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    const T* row = a + (o + i) * stride + x;
    av[i] = PARTIAL ? V::loadu(row, count) : V::loadu(row);
  }
  SGZ_UNROLL for (int j = 0; j < MC; ++j) {
    const T* row = b + (c + j) * stride + x;
    bv[j] = PARTIAL ? V::loadu(row, count) : V::loadu(row);
  }
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    SGZ_UNROLL for (int j = 0; j < MC; ++j) sums[i][j] = fmadd(av[i], bv[j], sums[i][j]);
  }
}

template <typename T, int MO, int MC>
SGZ_ALWAYS_INLINE void outer_block(const T* a, const T* b, int64_t stride, int64_t X, int64_t o,
                                   int64_t c, int64_t K, T* acc) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V sums[MO][MC];
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    SGZ_UNROLL for (int j = 0; j < MC; ++j) sums[i][j] = V(T(0));
  }
  int64_t x = 0;
  for (; x + L <= X; x += L) outer_step<T, MO, MC, false>(a, b, stride, o, c, x, L, sums);
  if (x < X) outer_step<T, MO, MC, true>(a, b, stride, o, c, x, X - x, sums);
  SGZ_UNROLL for (int i = 0; i < MO; ++i) {
    SGZ_UNROLL for (int j = 0; j < MC; ++j) acc[(o + i) * K + c + j] += reduce_add(sums[i][j]);
  }
}

// Rows [o, o + MO) of a against every row of b: blocks of kOuterB rows of b, then single rows.
template <typename T, int MO>
SGZ_ALWAYS_INLINE void outer_row_block(const T* a, const T* b, int64_t stride, int64_t X, int64_t o,
                                       int64_t K, T* acc) {
  const int64_t k_full = K - K % kOuterB;
  for (int64_t c = 0; c < k_full; c += kOuterB) {
    outer_block<T, MO, kOuterB>(a, b, stride, X, o, c, K, acc);
  }
  for (int64_t c = k_full; c < K; ++c) outer_block<T, MO, 1>(a, b, stride, X, o, c, K, acc);
}

// The last `left` < kOuterA rows of a as one block of exactly that many (e_conv7's 3 outputs:
// 3 x kOuterB sums, not 1 x 1 blocks, whose single chain of FMAs waits on each one's latency).
template <typename T, int MO>
SGZ_ALWAYS_INLINE void outer_row_rest(const T* a, const T* b, int64_t stride, int64_t X, int64_t o,
                                      int64_t left, int64_t K, T* acc) {
  if constexpr (MO > 0) {
    if (left == MO) {
      outer_row_block<T, MO>(a, b, stride, X, o, K, acc);
    } else {
      outer_row_rest<T, MO - 1>(a, b, stride, X, o, left, K, acc);
    }
  }
}

template <typename T>
SGZ_ALWAYS_INLINE void outer_products(const T* a, const T* b, int64_t stride, int64_t X, int64_t M,
                                      int64_t K, T* acc) {
  const int64_t m_full = M - M % kOuterA;
  for (int64_t o = 0; o < m_full; o += kOuterA)
    outer_row_block<T, kOuterA>(a, b, stride, X, o, K, acc);
  outer_row_rest<T, kOuterA - 1>(a, b, stride, X, m_full, M - m_full, K, acc);
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
    if (act == Activation::kTanh) tanh_rows(row_out, s.H * s.W, s.cout, s.W);
  }
}

// The depthwise weight gradient's sums over row y of one channel: dL/dw[i][j] += sum over x of
// g(x) in_i(x + j - 1), in_i the input's row y + i - 1 (nullptr: beyond the image, zero). The
// interior columns [1, W - 1) in vectors, into nine vector sums that stay in registers from
// row to row (one chain per tap, summed across lanes once per band), the two border columns,
// whose taps beyond the row are the zero padding, into `edge`.
template <typename T>
SGZ_ALWAYS_INLINE void weight_gradient_row(const T* g, const T* const (&in)[3], int64_t W,
                                           Vec<T> (&sums)[9], T* edge) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  for (int64_t x = 1; x < W - 1; x += L) {
    const int64_t count = std::min(L, W - 1 - x);
    const V gv = count == L ? V::loadu(g + x) : V::loadu(g + x, count);
    SGZ_UNROLL for (int i = 0; i < 3; ++i) {
      if (in[i] == nullptr) continue;
      SGZ_UNROLL for (int j = 0; j < 3; ++j) {
        const T* p = in[i] + x + j - 1;
        const V v = count == L ? V::loadu(p) : V::loadu(p, count);
        sums[3 * i + j] = fmadd(gv, v, sums[3 * i + j]);
      }
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (in[i] == nullptr) continue;
    edge[3 * i + 1] += g[0] * in[i][0];
    if (W == 1) continue;
    edge[3 * i + 2] += g[0] * in[i][1];
    edge[3 * i + 0] += g[W - 1] * in[i][W - 2];
    edge[3 * i + 1] += g[W - 1] * in[i][W - 1];
  }
}

#if defined(CPU_CAPABILITY_AVX512)
// weight_gradient_row at AVX-512 for rows of a vector or more: the taps' shifts on g instead
// of on the input, dL/dw[i][j] += sum over x of g(x - j + 1) in_i(x), so each input row is
// loaded once per vector from x (aligned where the row is) and g's neighbours are shifted in
// (RowStream, zeros beyond the row: the padding, no border columns): 4 loads and 2 shifts a
// vector where the unaligned loads at x - 1 .. x + 1 split two of every three across cache
// lines.
template <typename T>
SGZ_ALWAYS_INLINE void weight_gradient_row_shifted(const T* g, const T* const (&in)[3], int64_t W,
                                                   Vec<T> (&sums)[9]) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  RowStream<T> gs(g, W);
  for (int64_t x = 0; x < W; x += L) {
    const RowShifted<T> at = gs.at(x);
    const V taps[3] = {at.after, at.centre, at.before};  // g(x - j + 1), j = 0, 1, 2
    SGZ_UNROLL for (int i = 0; i < 3; ++i) {
      if (in[i] == nullptr) continue;
      const V v = x + L <= W ? V::loadu(in[i] + x) : V::loadu(in[i] + x, W - x);
      SGZ_UNROLL for (int j = 0; j < 3; ++j) sums[3 * i + j] = fmadd(taps[j], v, sums[3 * i + j]);
    }
    gs.advance(x);
  }
}
#endif

// Rows [y0, y1) of one channel: the input gradient (g_d through the flipped 3x3 kernel) into
// gi, and the depthwise weight gradient's sums over them added to dw_sums (9). g points to
// g_d's row y0, the rows after it in order, and the row before it where y0 > 0.
template <typename T>
SGZ_ALWAYS_INLINE void input_gradient_rows(const T* g, const T* in, const T (&flipped)[9], T* gi,
                                           T* dw_sums, int64_t y0, int64_t y1, const Dims& s,
                                           const T* zeros) {
  using V = Vec<T>;
  const int64_t W = s.W;
  V sums[9];
  for (V& v : sums) v = V(T(0));
  for (int64_t y = y0; y < y1; ++y, g += W) {
    depthwise_row(y > 0 ? g - W : zeros, g, y + 1 < s.H ? g + W : zeros, flipped, T(0), gi + y * W,
                  W);
    const T* rows[3];
    for (int i = 0; i < 3; ++i) {
      const int64_t yi = y + i - 1;
      rows[i] = yi >= 0 && yi < s.H ? in + yi * W : nullptr;
    }
#if defined(CPU_CAPABILITY_AVX512)
    if (W >= V::size()) {
      weight_gradient_row_shifted(g, rows, W, sums);
      continue;
    }
#endif
    weight_gradient_row(g, rows, W, sums, dw_sums);
  }
  for (int k = 0; k < 9; ++k) dw_sums[k] += reduce_add(sums[k]);
}

// The backward for rows [ys, ye) of image n, in bands of up to scratch.rows rows. Per band
// [a, b): the depthwise result recomputed, the output gradient through the activation (g_z),
// the pointwise weight and bias gradients and the depthwise bias gradient of the band's rows
// that are the task's, and g_d = pw^T g_z, written into a window of g_d rows; then, one row
// behind, the input gradients and depthwise weight gradients of the rows whose three g_d rows
// are in the window. The window keeps rows [lo, b), at most the band and the two rows before
// it: g_d never makes a round trip through memory. Above ys and below ye the task computes
// one row of g_d that the neighbouring task computes too (the rows it needs, not its own).
template <typename T>
void backward_image_rows(const Channels<T>& ch, const T* dw, const T* db, const T* pw,
                         const T* grad, const T* out, T* const* gin, WeightGrads<T>& acc,
                         const Dims& s, Activation act, RowScratch<T>& scratch, int64_t n,
                         int64_t ys, int64_t ye) {
  const int64_t W = s.W, window = (scratch.rows + 2) * W;  // values of one channel's window
  T* d = scratch.d.data();
  T* gz = scratch.gz.data();
  T* g = scratch.gd.data();
  const T* zeros = scratch.zeros.data();
  const int64_t stop = std::min(s.H, ye + 1);
  int64_t lo = std::max<int64_t>(0, ys - 1), next = ys;  // window's first row; pass 2's next row
  for (int64_t a = lo; a < stop;) {
    const int64_t b = std::min(a + scratch.rows, stop), X = (b - a) * W;
    for (int64_t y = a; y < b; ++y) depthwise_all(ch, n, y, dw, db, zeros, d + (y - a) * W, X);
    for (int64_t o = 0; o < s.cout; ++o) {
      const int64_t off = ((n * s.cout + o) * s.H + a) * W;
      T* __restrict gzo = gz + o * X;
      for (int64_t x = 0; x < X; ++x) gzo[x] = grad[off + x] * activation_grad(out[off + x], act);
    }
    // The weight gradients count the task's own rows: [first, first + count) of the band.
    const int64_t own = std::max(a, ys), first = (own - a) * W, count = (std::min(b, ye) - own) * W;
    if (count > 0) {
      for (int64_t o = 0; o < s.cout; ++o) acc.pb[o] += total(gz + o * X + first, count);
      outer_products(gz + first, d + first, X, count, s.cout, s.cin, acc.pw.data());
    }
    // g_d[c] = sum_o pw[o][c] * g_z[o]: the pointwise product with pw transposed.
    T* band = g + (a - lo) * W;
    pointwise(pw, int64_t(1), s.cin, static_cast<const T*>(nullptr), gz, X, s.cout, band, window,
              s.cin, X);
    if (count > 0) {
      for (int64_t c = 0; c < s.cin; ++c) acc.db[c] += total(band + c * window + first, count);
    }
    // Rows whose g_d below is known (or is the zero row beyond the image).
    const int64_t ready = std::min(ye, b < s.H ? b - 1 : b);
    for (int64_t c = 0; ready > next && c < s.cin; ++c) {
      T flipped[9];
      for (int k = 0; k < 9; ++k) flipped[k] = dw[9 * c + 8 - k];
      input_gradient_rows(g + c * window + (next - lo) * W, ch.plane(n, c), flipped,
                          gin[c] + n * ch.image_stride[c], acc.dw.data() + 9 * c, next, ready, s,
                          zeros);
    }
    next = std::max(next, ready);
    // Keep the rows pass 2 still reads, [next - 1, b), at the window's start.
    const int64_t keep = std::max(lo, next - 1);
    if (keep > lo) {
      for (int64_t c = 0; c < s.cin; ++c) {
        T* gc = g + c * window;
        std::copy(gc + (keep - lo) * W, gc + (b - lo) * W, gc);
      }
      lo = keep;
    }
    a = b;
  }
}

template <typename T>
void backward_rows(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* grad,
                   const T* out, T* const* gin, WeightGrads<T>& acc, const Dims& s, Activation act,
                   RowScratch<T>& scratch, int64_t begin, int64_t end) {
  for (int64_t row = begin; row < end;) {  // image by image
    const int64_t n = row / s.H, y = row % s.H, rows = std::min(end - row, s.H - y);
    backward_image_rows(ch, dw, db, pw, grad, out, gin, acc, s, act, scratch, n, y, y + rows);
    row += rows;
  }
}

}  // namespace

template <typename T>
const DsconvKernels<T>& dsconv_kernels() {
  static const DsconvKernels<T> table{&forward_rows<T>, &backward_rows<T>};
  return table;
}
template const DsconvKernels<float>& dsconv_kernels<float>();
template const DsconvKernels<double>& dsconv_kernels<double>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
