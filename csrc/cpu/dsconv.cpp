// CPU kernels of sgz_fast::dsconv (3x3 depthwise conv, 1x1 pointwise conv, biases, activation)
// and its backward.
//
// Forward, per output row (one parallel task per row of N * H): the depthwise result of all
// Cin channels for the row goes to a Cin x W buffer that stays in cache, and the pointwise
// product reads it from there: the Cin x H x W depthwise intermediate is never stored. The
// inputs are read in place, channel by channel, whatever tensor of the list holds them.
//
// Backward: the depthwise result is recomputed per row, not saved (saving it would cost
// Cin x H x W values per image, e.g. 64 x 1080 x 1920 x 4 B = 530 MB for an SGZ concat layer
// at 1080p); the backward keeps the inputs and the output, which the model holds anyway.
// Pass 1 (per row): gradients of the pointwise weights and biases, and the gradient g_d of the
// depthwise result, stored once (N x Cin x H x W, the size of the input gradients it becomes).
// Pass 2 (per channel plane): input gradients (g_d through the flipped 3x3 kernel) and
// depthwise weight gradients. Weight gradients are reduced per thread, then in thread order.
#include "../common/dsconv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../common/checks.h"
#include "huge_pages.h"
#include "multiversion.h"

namespace sgz {
namespace {

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

// One output row of a depthwise 3x3 conv with zero padding: out[x] = bias + taps.
// up / down point to a zero row at the image's top and bottom.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_row(const T* up, const T* mid, const T* down, const T* w, T bias,
                                     T* out, int64_t W) {
  for (int64_t x = 1; x < W - 1; ++x) {
    out[x] = bias + depthwise3x3(RowPtr<T>{up}, RowPtr<T>{mid}, RowPtr<T>{down}, x, w);
  }
  const RowClamped<T> cu{up, W}, cm{mid, W}, cd{down, W};
  out[0] = bias + depthwise3x3(cu, cm, cd, 0, w);
  if (W > 1) out[W - 1] = bias + depthwise3x3(cu, cm, cd, W - 1, w);
}

// Where channel c of the concatenated input lives, per image.
template <typename T>
struct Channels {
  std::vector<const T*> base;  // channel c of image 0
  std::vector<int64_t> image_stride;
  int64_t H, W;

  const T* plane(int64_t n, int64_t c) const { return base[c] + n * image_stride[c]; }
  const T* row(int64_t n, int64_t c, int64_t y, const T* zeros) const {
    return y < 0 || y >= H ? zeros : plane(n, c) + y * W;
  }
};

template <typename T>
Channels<T> channels_of(const std::vector<at::Tensor>& inputs) {
  Channels<T> ch{{}, {}, inputs[0].size(2), inputs[0].size(3)};
  for (const at::Tensor& t : inputs) {
    for (int64_t c = 0; c < t.size(1); ++c) {
      ch.base.push_back(t.const_data_ptr<T>() + c * ch.H * ch.W);
      ch.image_stride.push_back(t.size(1) * ch.H * ch.W);
    }
  }
  return ch;
}

// The depthwise result of every channel for row y of image n: d is Cin x W.
template <typename T>
SGZ_ALWAYS_INLINE void depthwise_all(const Channels<T>& ch, int64_t n, int64_t y, const T* dw,
                                     const T* db, const T* zeros, T* d) {
  const int64_t cin = static_cast<int64_t>(ch.base.size());
  for (int64_t c = 0; c < cin; ++c) {
    depthwise_row(ch.row(n, c, y - 1, zeros), ch.row(n, c, y, zeros), ch.row(n, c, y + 1, zeros),
                  dw + 9 * c, db != nullptr ? db[c] : T(0), d + c * ch.W, ch.W);
  }
}

// ---- The pointwise product ------------------------------------------------------------------

// A full-width SIMD vector of T as a GCC vector type: one register per clone level (512-bit
// on AVX-512, two 256-bit on AVX2, four 128-bit on baseline x86-64).
template <typename T>
struct Simd {
  typedef T type __attribute__((vector_size(64)));
  static constexpr int64_t kLanes = 64 / sizeof(T);
  // By reference, not by value: a vector return's ABI differs between the clone levels.
  static SGZ_ALWAYS_INLINE void load(type& v, const T* p) { std::memcpy(&v, p, sizeof(v)); }
  static SGZ_ALWAYS_INLINE void store(T* p, const type& v) { std::memcpy(p, &v, sizeof(v)); }
};

constexpr int kRowsPerBlock = 4;     // output rows sharing each loaded input vector
constexpr int kVectorsPerBlock = 2;  // vectors per output row: 4 x 2 accumulator registers

// out[o][x] = bias[o] + sum_c w[o * wo + c * wc] * in[c][x] for o < M, c < K, x < X, with
// in[c] = in + c * in_stride and out[o] = out + o * out_stride. Register-blocked: each input
// vector loaded feeds kRowsPerBlock outputs, so the loop runs on FMAs rather than loads.
template <typename T, int ROWS>
SGZ_ALWAYS_INLINE void pointwise_block(const T* w, int64_t wo, int64_t wc, const T* bias,
                                       const T* in, int64_t in_stride, int64_t K, T* out,
                                       int64_t out_stride, int64_t o, int64_t X) {
  using S = Simd<T>;
  using V = typename S::type;
  constexpr int64_t L = S::kLanes;
  int64_t x = 0;
  for (; x + kVectorsPerBlock * L <= X; x += kVectorsPerBlock * L) {
    V acc[ROWS][kVectorsPerBlock];
    for (int i = 0; i < ROWS; ++i) {
      for (int j = 0; j < kVectorsPerBlock; ++j) acc[i][j] = V{} + (bias ? bias[o + i] : T(0));
    }
    for (int64_t c = 0; c < K; ++c) {
      V v[kVectorsPerBlock];
      for (int j = 0; j < kVectorsPerBlock; ++j) S::load(v[j], in + c * in_stride + x + j * L);
      for (int i = 0; i < ROWS; ++i) {
        const T wi = w[(o + i) * wo + c * wc];
        for (int j = 0; j < kVectorsPerBlock; ++j) acc[i][j] += wi * v[j];
      }
    }
    for (int i = 0; i < ROWS; ++i) {
      for (int j = 0; j < kVectorsPerBlock; ++j) {
        S::store(out + (o + i) * out_stride + x + j * L, acc[i][j]);
      }
    }
  }
  for (; x < X; ++x) {  // the row's tail, narrower than a block
    for (int i = 0; i < ROWS; ++i) {
      T sum = bias ? bias[o + i] : T(0);
      for (int64_t c = 0; c < K; ++c) sum += w[(o + i) * wo + c * wc] * in[c * in_stride + x];
      out[(o + i) * out_stride + x] = sum;
    }
  }
}

template <typename T>
SGZ_ALWAYS_INLINE void pointwise(const T* w, int64_t wo, int64_t wc, const T* bias, const T* in,
                                 int64_t in_stride, int64_t K, T* out, int64_t out_stride,
                                 int64_t M, int64_t X) {
  int64_t o = 0;
  for (; o + kRowsPerBlock <= M; o += kRowsPerBlock) {
    pointwise_block<T, kRowsPerBlock>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, X);
  }
  for (; o < M; ++o)
    pointwise_block<T, 1>(w, wo, wc, bias, in, in_stride, K, out, out_stride, o, X);
}

// acc[o][c] += sum_x a[o][x] * b[c][x] for o < M, c < K (rows of length X at a + o * X and
// b + c * X): the pointwise weight gradient. Blocked 4 x 4 so each pair of loaded vectors
// feeds several FMAs; lanes are summed at the end of the row.
template <typename T, int MO, int MC>
SGZ_ALWAYS_INLINE void outer_block(const T* a, const T* b, int64_t X, int64_t o, int64_t c,
                                   int64_t K, T* acc) {
  using S = Simd<T>;
  using V = typename S::type;
  constexpr int64_t L = S::kLanes;
  V sums[MO][MC];
  for (int i = 0; i < MO; ++i) {
    for (int j = 0; j < MC; ++j) sums[i][j] = V{};
  }
  int64_t x = 0;
  for (; x + L <= X; x += L) {
    V av[MO], bv[MC];
    for (int i = 0; i < MO; ++i) S::load(av[i], a + (o + i) * X + x);
    for (int j = 0; j < MC; ++j) S::load(bv[j], b + (c + j) * X + x);
    for (int i = 0; i < MO; ++i) {
      for (int j = 0; j < MC; ++j) sums[i][j] += av[i] * bv[j];
    }
  }
  for (int i = 0; i < MO; ++i) {
    for (int j = 0; j < MC; ++j) {
      T sum = 0;
      for (int64_t l = 0; l < L; ++l) sum += sums[i][j][l];
      for (int64_t t = x; t < X; ++t) sum += a[(o + i) * X + t] * b[(c + j) * X + t];
      acc[(o + i) * K + c + j] += sum;
    }
  }
}

template <typename T>
SGZ_ALWAYS_INLINE void outer_products(const T* a, const T* b, int64_t X, int64_t M, int64_t K,
                                      T* acc) {
  constexpr int B = 4;
  const int64_t m_full = M - M % B, k_full = K - K % B;
  for (int64_t o = 0; o < m_full; o += B) {
    for (int64_t c = 0; c < k_full; c += B) outer_block<T, B, B>(a, b, X, o, c, K, acc);
    for (int64_t c = k_full; c < K; ++c) outer_block<T, B, 1>(a, b, X, o, c, K, acc);
  }
  for (int64_t o = m_full; o < M; ++o) {
    for (int64_t c = 0; c < K; ++c) outer_block<T, 1, 1>(a, b, X, o, c, K, acc);
  }
}

// ---- Forward --------------------------------------------------------------------------------

struct Dims {
  int64_t N, cin, cout, H, W;
};

template <typename T>
SGZ_ALWAYS_INLINE void forward_rows_impl(const Channels<T>& ch, const T* dw, const T* db,
                                         const T* pw, const T* pb, T* out, const Dims& s,
                                         Activation act, int64_t begin, int64_t end) {
  std::vector<T> d(s.cin * s.W), zeros(s.W, T(0));
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.H, y = row % s.H;
    depthwise_all(ch, n, y, dw, db, zeros.data(), d.data());
    T* row_out = out + (n * s.cout * s.H + y) * s.W;
    pointwise(pw, s.cin, 1, pb, d.data(), s.W, s.cin, row_out, s.H * s.W, s.cout, s.W);
    if (act == Activation::kNone) continue;
    for (int64_t o = 0; o < s.cout; ++o) {
      T* __restrict z = row_out + o * s.H * s.W;
      for (int64_t x = 0; x < s.W; ++x) z[x] = activate(z[x], act);
    }
  }
}

// ---- Backward -------------------------------------------------------------------------------

// Per-thread sums of the weight gradients: pw (cout x cin), pb (cout), db (cin).
template <typename T>
struct WeightGrads {
  std::vector<T> pw, pb, db;
  explicit WeightGrads(const Dims& s)
      : pw(s.cout * s.cin, T(0)), pb(s.cout, T(0)), db(s.cin, T(0)) {}
};

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

// Pass 1 over rows [begin, end): weight gradients of the pointwise conv and the depthwise bias
// into `acc`, and g_d (N x Cin x H x W) for the rows.
template <typename T>
SGZ_ALWAYS_INLINE void backward_rows_impl(const Channels<T>& ch, const T* dw, const T* db,
                                          const T* pw, const T* grad, const T* out, T* gd,
                                          WeightGrads<T>& acc, const Dims& s, Activation act,
                                          int64_t begin, int64_t end) {
  std::vector<T> d(s.cin * s.W), gz(s.cout * s.W), zeros(s.W, T(0));
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.H, y = row % s.H;
    depthwise_all(ch, n, y, dw, db, zeros.data(), d.data());
    for (int64_t o = 0; o < s.cout; ++o) {
      const int64_t off = ((n * s.cout + o) * s.H + y) * s.W;
      T* __restrict gzo = gz.data() + o * s.W;
      for (int64_t x = 0; x < s.W; ++x) gzo[x] = grad[off + x] * activation_grad(out[off + x], act);
      acc.pb[o] += total(gzo, s.W);
    }
    outer_products(gz.data(), d.data(), s.W, s.cout, s.cin, acc.pw.data());
    // g_d[c] = sum_o pw[o][c] * g_z[o]: the pointwise product with pw transposed.
    T* gd_row = gd + (n * s.cin * s.H + y) * s.W;
    pointwise(pw, int64_t(1), s.cin, static_cast<const T*>(nullptr), gz.data(), s.W, s.cout, gd_row,
              s.H * s.W, s.cin, s.W);
    for (int64_t c = 0; c < s.cin; ++c) acc.db[c] += total(gd_row + c * s.H * s.W, s.W);
  }
}

// Pass 2 for channel planes [begin, end) of N x Cin: the input gradient (g_d through the
// flipped kernel) into gin, and the 9 depthwise weight-gradient sums of each plane into gdw.
template <typename T>
SGZ_ALWAYS_INLINE void backward_planes_impl(const Channels<T>& ch, const T* dw, const T* gd,
                                            const std::vector<T*>& gin, T* gdw, const Dims& s,
                                            int64_t begin, int64_t end) {
  std::vector<T> zeros(s.W, T(0));
  for (int64_t plane = begin; plane < end; ++plane) {
    const int64_t n = plane / s.cin, c = plane % s.cin;
    T flipped[9];
    for (int k = 0; k < 9; ++k) flipped[k] = dw[9 * c + 8 - k];
    const T* g = gd + plane * s.H * s.W;
    const T* in = ch.plane(n, c);
    T* gi = gin[c] + n * ch.image_stride[c];
    T sums[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t y = 0; y < s.H; ++y) {
      const T* gup = y > 0 ? g + (y - 1) * s.W : zeros.data();
      const T* gdown = y < s.H - 1 ? g + (y + 1) * s.W : zeros.data();
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

#define SGZ_DSCONV_ENTRY_POINTS(T)                                                                 \
  SGZ_MULTIVERSION void forward_rows(const Channels<T>& ch, const T* dw, const T* db, const T* pw, \
                                     const T* pb, T* out, const Dims& s, Activation act,           \
                                     int64_t begin, int64_t end) {                                 \
    forward_rows_impl(ch, dw, db, pw, pb, out, s, act, begin, end);                                \
  }                                                                                                \
  SGZ_MULTIVERSION void backward_rows(                                                             \
      const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* grad, const T* out,   \
      T* gd, WeightGrads<T>& acc, const Dims& s, Activation act, int64_t begin, int64_t end) {     \
    backward_rows_impl(ch, dw, db, pw, grad, out, gd, acc, s, act, begin, end);                    \
  }                                                                                                \
  SGZ_MULTIVERSION void backward_planes(const Channels<T>& ch, const T* dw, const T* gd,           \
                                        const std::vector<T*>& gin, T* gdw, const Dims& s,         \
                                        int64_t begin, int64_t end) {                              \
    backward_planes_impl(ch, dw, gd, gin, gdw, s, begin, end);                                     \
  }
SGZ_DSCONV_ENTRY_POINTS(float)
SGZ_DSCONV_ENTRY_POINTS(double)
#undef SGZ_DSCONV_ENTRY_POINTS

// ---- Operators ------------------------------------------------------------------------------

std::vector<at::Tensor> contiguous_all(at::TensorList tensors) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& t : tensors) out.push_back(t.contiguous());
  return out;
}

void check_cpu_dtype(const at::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              "dsconv on CPU supports float32 and float64; got ", t.scalar_type(),
              " (float16 and bfloat16 run on CUDA only)");
}

at::Tensor dsconv_cpu(at::TensorList inputs_in, const at::Tensor& dw_in,
                      const std::optional<at::Tensor>& db_in, const at::Tensor& pw_in,
                      const std::optional<at::Tensor>& pb_in, c10::string_view activation) {
  const int64_t cin = check_dsconv_args(inputs_in, dw_in, db_in, pw_in, pb_in);
  const Activation act = parse_activation(activation);
  check_cpu_dtype(inputs_in[0]);
  const std::vector<at::Tensor> inputs = contiguous_all(inputs_in);
  const at::Tensor dw = dw_in.contiguous(), pw = pw_in.contiguous();
  const at::Tensor db = db_in.has_value() ? db_in->contiguous() : at::Tensor();
  const at::Tensor pb = pb_in.has_value() ? pb_in->contiguous() : at::Tensor();
  const Dims s{inputs[0].size(0), cin, pw.size(0), inputs[0].size(2), inputs[0].size(3)};
  at::Tensor out = with_huge_pages(at::empty({s.N, s.cout, s.H, s.W}, inputs[0].options()));
  if (out.numel() == 0) return out;

  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dsconv_cpu", [&] {
    using T = scalar_t;
    const Channels<T> ch = channels_of<T>(inputs);
    const T* dbp = db.defined() ? db.const_data_ptr<T>() : nullptr;
    const T* pbp = pb.defined() ? pb.const_data_ptr<T>() : nullptr;
    at::parallel_for(0, s.N * s.H, 1, [&](int64_t begin, int64_t end) {
      forward_rows(ch, dw.const_data_ptr<T>(), dbp, pw.const_data_ptr<T>(), pbp,
                   out.mutable_data_ptr<T>(), s, act, begin, end);
    });
  });
  return out;
}

std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
dsconv_backward_cpu(const at::Tensor& grad_in, const at::Tensor& out_in, at::TensorList inputs_in,
                    const at::Tensor& dw_in, const std::optional<at::Tensor>& db_in,
                    const at::Tensor& pw_in, c10::string_view activation) {
  const int64_t cin = check_dsconv_backward_args(grad_in, out_in, inputs_in, dw_in, db_in, pw_in);
  const Activation act = parse_activation(activation);
  check_cpu_dtype(inputs_in[0]);
  const std::vector<at::Tensor> inputs = contiguous_all(inputs_in);
  const at::Tensor grad = grad_in.contiguous(), out = out_in.contiguous();
  const at::Tensor dw = dw_in.contiguous(), pw = pw_in.contiguous();
  const at::Tensor db = db_in.has_value() ? db_in->contiguous() : at::Tensor();
  const Dims s{inputs[0].size(0), cin, pw.size(0), inputs[0].size(2), inputs[0].size(3)};

  std::vector<at::Tensor> grad_inputs;
  for (const at::Tensor& t : inputs)
    grad_inputs.push_back(with_huge_pages(at::empty_like(t)));  // pass 2 fills
  at::Tensor grad_dw = at::zeros_like(dw), grad_pw = at::zeros_like(pw);
  at::Tensor grad_db = db.defined() ? at::zeros_like(db) : dw.new_empty({0});
  at::Tensor grad_pb = at::zeros({s.cout}, dw.options());
  if (s.N * s.H * s.W == 0) {
    for (at::Tensor& t : grad_inputs) t.zero_();
    return {grad_inputs, grad_dw, grad_db, grad_pw, grad_pb};
  }

  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dsconv_backward_cpu", [&] {
    using T = scalar_t;
    const Channels<T> ch = channels_of<T>(inputs);
    const T* dbp = db.defined() ? db.const_data_ptr<T>() : nullptr;
    at::Tensor gd = with_huge_pages(at::empty({s.N, s.cin, s.H, s.W}, out.options()));
    const int threads = at::get_num_threads();
    std::vector<WeightGrads<T>> per_thread(threads, WeightGrads<T>(s));
    at::parallel_for(0, s.N * s.H, 1, [&](int64_t begin, int64_t end) {
      backward_rows(ch, dw.const_data_ptr<T>(), dbp, pw.const_data_ptr<T>(),
                    grad.const_data_ptr<T>(), out.const_data_ptr<T>(), gd.mutable_data_ptr<T>(),
                    per_thread[at::get_thread_num()], s, act, begin, end);
    });
    T* gpw = grad_pw.mutable_data_ptr<T>();
    T* gpb = grad_pb.mutable_data_ptr<T>();
    for (const WeightGrads<T>& part : per_thread) {
      for (size_t i = 0; i < part.pw.size(); ++i) gpw[i] += part.pw[i];
      for (size_t i = 0; i < part.pb.size(); ++i) gpb[i] += part.pb[i];
      if (dbp == nullptr) continue;
      T* gdb = grad_db.mutable_data_ptr<T>();
      for (size_t i = 0; i < part.db.size(); ++i) gdb[i] += part.db[i];
    }

    std::vector<T*> gin;  // channel c of image 0 of the input gradients
    for (at::Tensor& t : grad_inputs) {
      for (int64_t c = 0; c < t.size(1); ++c)
        gin.push_back(t.mutable_data_ptr<T>() + c * s.H * s.W);
    }
    std::vector<T> gdw_planes(s.N * s.cin * 9);
    at::parallel_for(0, s.N * s.cin, 1, [&](int64_t begin, int64_t end) {
      backward_planes(ch, dw.const_data_ptr<T>(), gd.const_data_ptr<T>(), gin, gdw_planes.data(), s,
                      begin, end);
    });
    T* gdw = grad_dw.mutable_data_ptr<T>();
    for (int64_t n = 0; n < s.N; ++n) {
      for (int64_t i = 0; i < s.cin * 9; ++i) gdw[i] += gdw_planes[n * s.cin * 9 + i];
    }
  });
  return {grad_inputs, grad_dw, grad_db, grad_pw, grad_pb};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) {
  m.impl("dsconv", &sgz::dsconv_cpu);
  m.impl("dsconv_backward", &sgz::dsconv_backward_cpu);
}
