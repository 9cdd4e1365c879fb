// Hot loops of the dsconv CPU kernels, compiled once per capability level (capability.h): the
// depthwise rows and the register-blocked pointwise products of cpu/dsconv.cpp.
//
// Forward, per output row: the depthwise result of all Cin channels for the row goes to a
// Cin x W buffer that stays in cache, and the pointwise product reads it from there.
// The pointwise product runs on the level's vector, Vec<T> (vec.h: AVX-512 16 floats, AVX2 8,
// NEON and baseline SSE2 4). Its register block, ROWS output channels x VECS vectors of
// pixels, is sized to the level's register file so the accumulators never leave registers:
// the block's accumulators plus the VECS loaded vectors and one broadcast weight must fit.
//   AVX-512, aarch64 (32 vector registers):  8 x 2 = 16 accumulators (+2 +1)
//   AVX2 (16 ymm):                           6 x 2 = 12 accumulators (+2 +1)
//   baseline x86-64 (16 xmm, no FMA: each multiply needs a temporary), others: 4 x 2 = 8
// (scripts/check_cpu_isa.py checks the built code of each level for spilled accumulators).
// Each loaded vector feeds ROWS FMAs, each broadcast VECS: the loop runs on the FMA units,
// not on loads. The weight gradient's outer products are blocked the same way.
#include "dsconv_kernels.h"

#include <algorithm>

#include "level.h"
#include "vec.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

#if defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
constexpr int kRows = 8, kVecs = 2;      // pointwise block
constexpr int kOuterA = 4, kOuterB = 4;  // outer-product block: 16 sums + 8 loaded
#elif defined(CPU_CAPABILITY_AVX2)
constexpr int kRows = 6, kVecs = 2;
constexpr int kOuterA = 3, kOuterB = 3;  // 9 sums + 6 loaded
#else
constexpr int kRows = 4, kVecs = 2;
constexpr int kOuterA = 2, kOuterB = 3;  // 6 sums + 5 loaded + temporaries
#endif
// The depthwise rows on explicit vectors holding the 9 weights: not on baseline x86-64, whose
// 16 registers cannot also hold SSE2's multiply temporaries; GCC's own vectorization of the
// scalar loop serves it.
#if defined(CPU_CAPABILITY_DEFAULT) && defined(__x86_64__)
constexpr bool kVectorDepthwise = false;
#else
constexpr bool kVectorDepthwise = true;
#endif

// Loops over a register block: unrolled whole, so each accumulator is its own register.
#define SGZ_UNROLL _Pragma("GCC unroll 16")

// Reads one row; `Row` of depthwise3x3 for interior columns, where x - 1 .. x + 1 exist.
template <typename T>
struct RowPtr {
  const T* p;
  SGZ_ALWAYS_INLINE T operator()(int64_t x) const { return p[x]; }
};

// The same for the two border columns: zero outside [0, W).
template <typename T>
struct RowClamped {
  const T* p;
  int64_t W;
  SGZ_ALWAYS_INLINE T operator()(int64_t x) const { return x >= 0 && x < W ? p[x] : T(0); }
};

// The same for L consecutive columns: a vector loaded from x.
template <typename T>
struct RowVec {
  const T* p;
  SGZ_ALWAYS_INLINE Vec<T> operator()(int64_t x) const { return Vec<T>::loadu(p + x); }
};

// One output row of a depthwise 3x3 conv with zero padding: out[x] = bias + taps.
// up / down point to a zero row at the image's top and bottom. The interior runs on whole
// vectors, the formula of depthwise3x3 taken lane by lane, its last vector overlapping the one
// before rather than leaving up to L - 1 columns to a scalar loop; the two border columns and
// rows narrower than a vector take the scalar loop.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_row(const T* up, const T* mid, const T* down, const T* w, T bias,
                                     T* __restrict out, int64_t W) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  int64_t x = 1;
  if (kVectorDepthwise && W - 2 >= L) {
    V wv[9];
    for (int k = 0; k < 9; ++k) wv[k] = V(w[k]);
    const V b(bias);
    const RowVec<T> vu{up}, vm{mid}, vd{down};
    for (; x + L <= W - 1; x += L) (b + depthwise3x3(vu, vm, vd, x, wv)).store(out + x);
    if (x < W - 1) (b + depthwise3x3(vu, vm, vd, W - 1 - L, wv)).store(out + W - 1 - L);
    x = W - 1;
  }
  for (; x < W - 1; ++x) {
    out[x] = bias + depthwise3x3(RowPtr<T>{up}, RowPtr<T>{mid}, RowPtr<T>{down}, x, w);
  }
  const RowClamped<T> cu{up, W}, cm{mid, W}, cd{down, W};
  out[0] = bias + depthwise3x3(cu, cm, cd, 0, w);
  if (W > 1) out[W - 1] = bias + depthwise3x3(cu, cm, cd, W - 1, w);
}

// The depthwise result of every channel for row y of image n: channel c at d + c * stride.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_all(const Channels<T>& ch, int64_t n, int64_t y, const T* dw,
                                     const T* db, const T* zeros, T* d, int64_t stride) {
  for (int64_t c = 0; c < ch.count(); ++c) {
    depthwise_row(ch.row(n, c, y - 1, zeros), ch.row(n, c, y, zeros), ch.row(n, c, y + 1, zeros),
                  dw + 9 * c, db != nullptr ? db[c] : T(0), d + c * stride, ch.W);
  }
}

// ---- The pointwise product ------------------------------------------------------------------

// out[o][x] = bias[o] + sum_c w[o * wo + c * wc] * in[c][x] for ROWS outputs from o, c < K,
// and VECS vectors of pixels from x (or, PARTIAL, the `count` pixels from x), with
// in[c] = in + c * in_stride and out[o] = out + o * out_stride; with RELU, max(0, that), in
// registers on the way out.
template <typename T, int ROWS, int VECS, bool PARTIAL, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_tile(const T* w, int64_t wo, int64_t wc, const T* bias,
                                      const T* in, int64_t in_stride, int64_t K, T* out,
                                      int64_t out_stride, int64_t o, int64_t x, int64_t count) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V acc[ROWS][VECS];
  SGZ_UNROLL for (int i = 0; i < ROWS; ++i) {
    SGZ_UNROLL for (int j = 0; j < VECS; ++j) acc[i][j] = V(bias ? bias[o + i] : T(0));
  }
  for (int64_t c = 0; c < K; ++c) {
    const T* src = in + c * in_stride + x;
    V v[VECS];
    SGZ_UNROLL for (int j = 0; j < VECS; ++j) {
      v[j] = PARTIAL ? V::loadu(src, count) : V::loadu(src + j * L);
    }
    SGZ_UNROLL for (int i = 0; i < ROWS; ++i) {
      const V wi(w[(o + i) * wo + c * wc]);
      SGZ_UNROLL for (int j = 0; j < VECS; ++j) acc[i][j] = fmadd(wi, v[j], acc[i][j]);
    }
  }
  // Every loop over the block fully unrolled and the stores from copies: an accumulator array
  // indexed by a variable or whose element's address escapes lives in memory, and GCC then
  // writes it back every iteration of the loop over c (seen on aarch64).
  SGZ_UNROLL for (int i = 0; i < ROWS; ++i) {
    T* dst = out + (o + i) * out_stride + x;
    SGZ_UNROLL for (int j = 0; j < VECS; ++j) {
      const V result = RELU ? relu(V(acc[i][j])) : acc[i][j];
      if constexpr (PARTIAL) {
        result.store(dst, count);
      } else {
        result.store(dst + j * L);
      }
    }
  }
}

// The same for all X pixels: blocks of kVecs vectors, then single vectors, then one partial.
template <typename T, int ROWS, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_block(const T* w, int64_t wo, int64_t wc, const T* bias,
                                       const T* in, int64_t in_stride, int64_t K, T* out,
                                       int64_t out_stride, int64_t o, int64_t X) {
  constexpr int64_t L = Vec<T>::size();
  int64_t x = 0;
  for (; x + kVecs * L <= X; x += kVecs * L) {
    pointwise_tile<T, ROWS, kVecs, false, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride,
                                                o, x, L);
  }
  for (; x + L <= X; x += L) {
    pointwise_tile<T, ROWS, 1, false, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o,
                                            x, L);
  }
  if (x < X) {
    pointwise_tile<T, ROWS, 1, true, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, x,
                                           X - x);
  }
}

// Output channels [o, o + left) with left < ROWS, one block of exactly that many rows.
template <typename T, int ROWS, bool RELU>
SGZ_ALWAYS_INLINE void pointwise_rest(const T* w, int64_t wo, int64_t wc, const T* bias,
                                      const T* in, int64_t in_stride, int64_t K, T* out,
                                      int64_t out_stride, int64_t o, int64_t left, int64_t X) {
  if constexpr (ROWS > 0) {
    if (left == ROWS) {
      pointwise_block<T, ROWS, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, X);
    } else {
      pointwise_rest<T, ROWS - 1, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, left,
                                        X);
    }
  }
}

// M output rows of the pointwise product, ReLU applied when RELU.
template <typename T, bool RELU = false>
SGZ_ALWAYS_INLINE void pointwise(const T* w, int64_t wo, int64_t wc, const T* bias, const T* in,
                                 int64_t in_stride, int64_t K, T* out, int64_t out_stride,
                                 int64_t M, int64_t X) {
  int64_t o = 0;
  for (; o + kRows <= M; o += kRows) {
    pointwise_block<T, kRows, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, X);
  }
  pointwise_rest<T, kRows - 1, RELU>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, M - o,
                                     X);
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
