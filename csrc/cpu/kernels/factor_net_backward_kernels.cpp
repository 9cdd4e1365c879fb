// Hot loop of the fused factor network's backward (cpu/factor_net_backward.cpp), compiled once
// per capability level: the weight gradients of all seven layers of SGZ over one tile, one row
// a step, the forward recomputed on the way, so that neither the 32-channel
// activations nor their gradients are ever stored in memory (the per-layer training path
// writes and rereads seven activations, seven output gradients and their sums).
//
// Row streaming (kBackActivationRing): at step t the input's row t + 7 is loaded, the forward
// computes row t + 7 - k of x_k, and layer k's backward runs on row t - 7 + k (e_conv7 first):
// it takes its output gradient, complete once every reader of x_k has run the rows on both
// sides, and adds its input gradient into its sources' gradient rings, three rows each.
// A layer's backward on row y:
//   1. g_z = dL/dz (ReLU's or tanh's derivative on the output), in chunks of kNetChunk pixels
//      with the recomputed depthwise result d: pw's gradient += g_z d^T, pb's += g_z;
//      g_d = pw^T g_z into a row (step 2 reads its neighbours across chunks).
//   2. In chunks of kGradientChunk pixels, per vector of channels: dw's gradient += g_d x the
//      source's three rows, db's += g_d, and the source's gradient rows y - 1 .. y + 1 += the
//      3x3 taps of g_d.
// Tiles: weight gradients are added for the tile's pixels only; the rows and columns around it
// that they depend on are recomputed (back_forward_halo: 11 of the input on each side; e_conv7's
// backward runs on 6).
// Layout as in the forward (channels last, local columns with zero padding); see
// factor_net_kernels.cpp.
//
// Memory, per thread (NetBackwardScratch): rings of 15 x 3 plane rows and 48 activation rows
// and 27 gradient rows of 32 channels over the tile's width + 24, padded to a cache line: 1.6
// MB for a 128-wide float tile, in a 2 MB L2; e_conv5 and 6's kept depthwise rows (5 and 3 of
// the tile's columns x 64 channels: 0.26 MB); a chunk's g_z and d (24 KB, in L1), a row of
// g_d (40 KB).
#include "factor_net_backward_kernels.h"

#include <algorithm>

#include "channels_last.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// acc[(o + i) * lda + c + v L] += sum_p a[p * ax + (o + i) * ac] * b[p * bx + c + v L] for
// p < n, i < OB, v < kOutVecs: the pointwise product's register block turned to an outer
// product (a broadcast, b in vectors), summed in registers over the chunk's pixels.
template <typename T, int OB>
SGZ_ALWAYS_INLINE void outer_block(const T* a, int64_t ax, int64_t ac, const T* b, int64_t bx,
                                   int64_t n, T* acc, int64_t lda, int64_t o, int64_t c) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V s[OB][kOutVecs];
  SGZ_UNROLL for (int i = 0; i < OB; ++i) {
    SGZ_UNROLL for (int v = 0; v < kOutVecs; ++v) s[i][v] = V(T(0));
  }
  for (int64_t p = 0; p < n; ++p) {
    V bv[kOutVecs];
    SGZ_UNROLL for (int v = 0; v < kOutVecs; ++v) bv[v] = V::loadu(b + p * bx + c + v * L);
    SGZ_UNROLL for (int i = 0; i < OB; ++i) {
      const V av(a[p * ax + (o + i) * ac]);
      SGZ_UNROLL for (int v = 0; v < kOutVecs; ++v) s[i][v] = fmadd(av, bv[v], s[i][v]);
    }
  }
  SGZ_UNROLL for (int i = 0; i < OB; ++i) {
    SGZ_UNROLL for (int v = 0; v < kOutVecs; ++v) {
      T* dst = acc + (o + i) * lda + c + v * L;
      (V::loadu(dst) + s[i][v]).store(dst);
    }
  }
}

// The last rows of a, fewer than kPixels: one block of exactly that many.
template <typename T, int OB>
SGZ_ALWAYS_INLINE void outer_rest(const T* a, int64_t ax, int64_t ac, const T* b, int64_t bx,
                                  int64_t n, T* acc, int64_t lda, int64_t o, int64_t c,
                                  int64_t left) {
  if constexpr (OB > 0) {
    if (left == OB) {
      outer_block<T, OB>(a, ax, ac, b, bx, n, acc, lda, o, c);
    } else {
      outer_rest<T, OB - 1>(a, ax, ac, b, bx, n, acc, lda, o, c, left);
    }
  }
}

// acc[o * lda + c] += sum_{p < n} a[p * ax + o * ac] * b[p * bx + c] for o < A and c < B (a
// multiple of kOutVecs vectors).
template <typename T>
SGZ_ALWAYS_INLINE void outer_product(const T* a, int64_t ax, int64_t ac, int64_t A, const T* b,
                                     int64_t bx, int64_t B, int64_t n, T* acc, int64_t lda) {
  constexpr int64_t block = kOutVecs * Vec<T>::size();
  for (int64_t c = 0; c < B; c += block) {
    int64_t o = 0;
    for (; o + kPixels <= A; o += kPixels) {
      outer_block<T, kPixels>(a, ax, ac, b, bx, n, acc, lda, o, c);
    }
    outer_rest<T, kPixels - 1>(a, ax, ac, b, bx, n, acc, lda, o, c, A - o);
  }
}

// sum_{p < n} a[p] * b[p] (the sum of a when `b` is null), in vectors, then across the lanes.
template <typename T>
SGZ_ALWAYS_INLINE T dot(const T* a, const T* b, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t L = V::size();
  V acc(T(0));
  int64_t p = 0;
  for (; p + L <= n; p += L) acc = fmadd(V::loadu(a + p), b ? V::loadu(b + p) : V(T(1)), acc);
  T sum = reduce_add(acc);
  for (; p < n; ++p) sum += a[p] * (b ? b[p] : T(1));
  return sum;
}

// dw's gradient and the sources' in one pass (AVX-512: its 9 sums, 9 weights and windows of
// g_d and three source rows fit the 32 registers), or in two (16 registers).
#if defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
constexpr bool kOnePassGradients = true;
#else
constexpr bool kOnePassGradients = false;
#endif

// Pixels per chunk of the depthwise gradients (pass 2): in float a chunk's g_d (64 channels)
// takes 8 KB, each source's three rows and three gradient rows 12 KB more, in a 48 KB L1.
constexpr int64_t kGradientChunk = 32;

// acc[c] += sum_{p < n} a[p * C + c] for c < C (a multiple of the vector size), in vectors.
template <typename T>
SGZ_ALWAYS_INLINE void column_sums(const T* a, int64_t C, int64_t n, T* acc) {
  using V = Vec<T>;
  for (int64_t c = 0; c < C; c += V::size()) {
    V sum(T(0));
    for (int64_t p = 0; p < n; ++p) sum = sum + V::loadu(a + p * C + c);
    (V::loadu(acc + c) + sum).store(acc + c);
  }
}

// One vector of channels of a layer's depthwise gradients at pixels [p0, p1) of a row: its
// source rows' gradients gin[r] (r = 0, 1, 2: rows y - 1, y, y + 1) += the 3x3 taps of g_d,
// with INPUTS, and with WEIGHTS dw's gradient (dwt_grad, 9 x ld) += g_d x the source rows
// `in`, db's (db_grad) += g_d. g_d's pixel p is at gd[(p + 1) * gx] (pixels -1 and W
// readable), the source rows' at in[r][(p + 1) * K + cc]. g_d and the rows slide through
// windows of three pixels, one new vector of each per pixel.
template <typename T, bool WEIGHTS, bool INPUTS>
SGZ_ALWAYS_INLINE void depthwise_gradients(const T* gd, int64_t gx, const T* const (&in)[3],
                                           T* const (&gin)[3], int64_t K, int64_t cc, const T* dwt,
                                           int64_t ld, int64_t p0, int64_t p1, T* dwt_grad,
                                           T* db_grad) {
  using V = Vec<T>;
  V w[9], acc[9], bias(T(0));
  for (int tap = 0; tap < 9; ++tap) {
    w[tap] = V::loadu(dwt + tap * ld);
    acc[tap] = V(T(0));
  }
  // Windows at pixel p: g_d at p - 1, p, p + 1; each source row at p - 1, p, p + 1.
  V left = V::loadu(gd + p0 * gx), centre = V::loadu(gd + (p0 + 1) * gx);
  V row[3][3];
  SGZ_UNROLL for (int r = 0; r < 3; ++r) {
    row[r][0] = V::loadu(in[r] + p0 * K + cc);
    row[r][1] = V::loadu(in[r] + (p0 + 1) * K + cc);
  }
  for (int64_t p = p0; p < p1; ++p) {
    const V right = V::loadu(gd + (p + 2) * gx);
    if constexpr (WEIGHTS) {
      bias = bias + centre;
      SGZ_UNROLL for (int r = 0; r < 3; ++r) {
        row[r][2] = V::loadu(in[r] + (p + 2) * K + cc);
        SGZ_UNROLL for (int i = 0; i < 3; ++i) {
          acc[3 * r + i] = fmadd(centre, row[r][i], acc[3 * r + i]);
        }
      }
    }
    if constexpr (INPUTS) {
      SGZ_UNROLL for (int r = 0; r < 3; ++r) {
        T* at = gin[r] + (p + 1) * K + cc;
        V v = fmadd(w[3 * r], right, V::loadu(at));
        v = fmadd(w[3 * r + 1], centre, v);
        fmadd(w[3 * r + 2], left, v).store(at);
      }
    }
    left = centre;
    centre = right;
    if constexpr (WEIGHTS) {
      SGZ_UNROLL for (int r = 0; r < 3; ++r) {
        row[r][0] = row[r][1];
        row[r][1] = row[r][2];
      }
    }
  }
  if constexpr (WEIGHTS) {
    for (int tap = 0; tap < 9; ++tap) {
      T* dst = dwt_grad + tap * ld;
      (V::loadu(dst) + acc[tap]).store(dst);
    }
    (V::loadu(db_grad) + bias).store(db_grad);
  }
}

template <typename T>
void tile(const T* x, const T* out, const T* grad, const NetLayer<T>* layers,
          const NetLayerGrads<T>* grads, const NetTile& t, NetBackwardScratch<T>& s) {
  using V = Vec<T>;
  constexpr int64_t L = V::size(), C = kNetChunk;
  const int64_t H = t.H, W = t.W, stride = s.stride, width = layers[0].cout;
  T* act[kNetLayers];      // x_k's ring (k = 0: the input's planes)
  T* grad_of[kNetLayers];  // x_k's gradient ring (k >= 1)
  int64_t channels[kNetLayers];
  act[0] = s.activations;
  channels[0] = 3;
  grad_of[1] = s.gradients;
  for (int k = 1; k < kNetLayers; ++k) {
    act[k] = act[k - 1] + kBackActivationRing[k - 1] * s.pitch(channels[k - 1]);
    channels[k] = width;
    if (k > 1) grad_of[k] = grad_of[k - 1] + back_gradient_ring(k - 1) * s.pitch(width);
  }
  s.clear();
  // Columns: the strip's own [x0, x1) and the halo its gradients depend on, in a local frame
  // whose column local(c) holds image column c (column 0 and the last are zero padding).
  const int64_t origin = t.x0 - back_forward_halo(0) - 1;
  const auto local = [&](int64_t c) { return c - origin; };
  const auto act_row = [&](int k, int64_t y) -> T* {
    if (y < 0 || y >= H) return s.zeros;
    return act[k] + y % kBackActivationRing[k] * s.pitch(channels[k]);
  };
  const auto grad_row = [&](int k, int64_t y) -> T* {
    return grad_of[k] + y % back_gradient_ring(k) * s.pitch(width);
  };
  T* kept[kNetLayers + 1] = {};  // e_conv k's kept depthwise rows
  for (int k = 1, at = 0; k <= kNetLayers; at += kept_depthwise_ring(k), ++k) {
    kept[k] = s.kept + at * s.kept_row;
  }
  const auto kept_row = [&](int k, int64_t y) -> T* {
    return kept[k] + y % kept_depthwise_ring(k) * s.kept_row;
  };
  // Rows and columns of x_k the forward recomputes, and those layer k's backward runs on:
  // the tile's and back_forward_halo(k), k - 1 more on each side, within the image.
  const auto forward_lo = [&](int k) { return std::max<int64_t>(0, t.y0 - back_forward_halo(k)); };
  const auto forward_hi = [&](int k) { return std::min(H, t.y1 + back_forward_halo(k)); };
  const auto backward_lo = [&](int k) { return std::max<int64_t>(0, t.y0 - (k - 1)); };
  const auto backward_hi = [&](int k) { return std::min(H, t.y1 + (k - 1)); };
  const auto forward_left = [&](int k) {
    return std::max<int64_t>(0, t.x0 - back_forward_halo(k));
  };
  const auto forward_right = [&](int k) { return std::min(W, t.x1 + back_forward_halo(k)); };
  const auto backward_left = [&](int k) { return std::max<int64_t>(0, t.x0 - (k - 1)); };
  const auto backward_right = [&](int k) { return std::min(W, t.x1 + (k - 1)); };

  const auto load_input = [&](int64_t y) {
    for (int64_t c = 0; c < 3; ++c) {
      const T* src = x + t.n * t.stride_n + c * t.stride_c + y * t.stride_h;
      const int64_t lo = forward_left(0);
      T* dst = act_row(0, y) + c * stride + local(lo);
      for (int64_t i = lo; i < forward_right(0); ++i) dst[i - lo] = src[i * t.stride_w];
    }
  };

  // Layer k's depthwise result at row y for the chunk at local column j: channels last
  // (n x cin), or for e_conv1 planar (3 x kNetChunk).
  const auto depthwise = [&](int k, int64_t y, int64_t j, int64_t n) {
    const NetLayer<T>& layer = layers[k - 1];
    if (k == 1) {
      for (int64_t c = 0; c < 3; ++c) {
        const int64_t at = c * stride + j;
        depthwise_span(act_row(0, y - 1) + at, act_row(0, y) + at, act_row(0, y + 1) + at,
                       layer.dw + 9 * c, layer.db[c], s.depthwise + c * C, n);
      }
      return;
    }
    int64_t c0 = 0;
    T* const one[1] = {s.depthwise};
    for (int src : kNetSources[k]) {
      if (src < 0) continue;
      const int64_t K = channels[src];
      const T* const three[3] = {act_row(src, y - 1) + j * K, act_row(src, y) + j * K,
                                 act_row(src, y + 1) + j * K};
      depthwise_channels_last<T, 1>(three, K, layer.dwt, layer.db, c0, one, layer.cin, n);
      c0 += K;
    }
  };

  const auto forward = [&](int k, int64_t y) {
    const NetLayer<T>& layer = layers[k - 1];
    for (int64_t first = forward_left(k); first < forward_right(k); first += C) {
      const int64_t n = std::min(C, forward_right(k) - first), j = local(first);
      depthwise(k, y, j, n);
      const int64_t a = std::max(first, t.x0), b = std::min(first + n, t.x1);
      if (keeps_depthwise(k) && y >= t.y0 && y < t.y1 && a < b) {
        std::copy_n(s.depthwise + (a - first) * layer.cin, (b - a) * layer.cin,
                    kept_row(k, y) + (a - t.x0) * layer.cin);
      }
      const int64_t dx = k == 1 ? 1 : layer.cin, dc = k == 1 ? C : 1;
      pointwise_channels_last(layer.pwt, layer.pb, s.depthwise, dx, dc, layer.cin,
                              act_row(k, y) + j * width, width, n);
    }
  };

  const auto backward = [&](int k, int64_t y) {
    const NetLayer<T>& layer = layers[k - 1];
    const NetLayerGrads<T>& g = grads[k - 1];
    const int64_t cin = layer.cin, cout = layer.cout;
    const bool own_row = y >= t.y0 && y < t.y1;  // the tile's row: its weight gradients count
    // The row's columns in three spans, the tile's own in the middle.
    const int64_t lo = backward_left(k), hi = backward_right(k);
    const int64_t spans[4] = {lo, std::max(lo, t.x0), std::min(hi, t.x1), hi};
    // 1. g_z, pw's and pb's gradients, g_d.
    for (int span = 0; span < 3; ++span) {
      const bool own = own_row && span == 1;
      for (int64_t first = spans[span]; first < spans[span + 1]; first += C) {
        const int64_t n = std::min(C, spans[span + 1] - first), j = local(first);
        T* gz = s.gz;
        if (k == kNetLayers) {  // planar, 3 x kNetChunk: dL/dx_r (1 - x_r^2)
          for (int64_t o = 0; o < cout; ++o) {
            const int64_t at = ((t.n * cout + o) * H + y) * W + first;
            for (int64_t p = 0; p < n; ++p) {
              gz[o * C + p] = grad[at + p] * activation_grad(out[at + p], Activation::kTanh);
            }
          }
        } else {  // channels last, n x cout: ReLU's
          const T* xo = act_row(k, y) + j * cout;
          const T* go = grad_row(k, y) + j * cout;
          for (int64_t i = 0; i < n * cout; ++i) gz[i] = xo[i] > T(0) ? go[i] : T(0);
        }
        const int64_t gzx = k == kNetLayers ? 1 : cout, gzc = k == kNetLayers ? C : 1;
        if (own) {
          const T* d = s.depthwise;
          if (keeps_depthwise(k)) {
            d = kept_row(k, y) + (first - t.x0) * cin;
          } else {
            depthwise(k, y, j, n);
          }
          if (k == 1) {  // the 3 input channels planar: pw's transpose, cin x cout
            outer_product(d, int64_t(1), C, cin, gz, cout, cout, n, g.pw, cout);
          } else {
            outer_product(gz, gzx, gzc, cout, d, cin, cin, n, g.pw, cin);
          }
          if (k == kNetLayers) {
            for (int64_t o = 0; o < cout; ++o) g.pb[o] += dot<T>(gz + o * C, nullptr, n);
          } else {
            column_sums(gz, cout, n, g.pb);
          }
        }
        if (k == 1) {
          pointwise_to_planes(layer.pwt, s.zeros, gz, cout, s.gd_planes + j, stride, cin, n);
        } else {
          pointwise_channels_last<T, false>(layer.pw, s.zeros, gz, gzx, gzc, cout,
                                            s.gd_row + j * cin, cin, n);
        }
      }
    }
    // 2. dw's and db's gradients, the sources' gradients.
    if (k == 1) {  // no gradient for the input; its columns are the tile's own
      if (!own_row) return;
      for (int64_t c = 0; c < 3; ++c) {
        const T* gd = s.gd_planes + c * stride + local(t.x0);
        g.db[c] += dot<T>(gd, nullptr, hi - lo);
        for (int64_t tap = 0; tap < 9; ++tap) {
          const T* in = act_row(0, y + tap / 3 - 1) + c * stride + local(t.x0) + tap % 3 - 1;
          g.dwt[tap * cin + c] += dot(gd, in, hi - lo);
        }
      }
      return;
    }
    // g_d's row, channels last at local columns. The columns on both sides of the layer's
    // are read as zero: the image's padding, or beyond the tile's halo, where the gradients
    // are not used.
    const T* gd = s.gd_row;
    std::fill_n(s.gd_row + (local(lo) - 1) * cin, cin, T(0));
    std::fill_n(s.gd_row + local(hi) * cin, cin, T(0));
    // In chunks of kGradientChunk pixels: each chunk's g_d, source rows and gradient rows
    // come into L1 once for all the channel vectors. (depthwise_gradients counts pixel p at
    // local column p + 1.)
    for (int span = 0; span < 3; ++span) {
      const bool own = own_row && span == 1;
      for (int64_t p0 = spans[span]; p0 < spans[span + 1]; p0 += kGradientChunk) {
        const int64_t a = local(p0) - 1,
                      b = local(std::min(spans[span + 1], p0 + kGradientChunk)) - 1;
        int64_t c0 = 0;
        for (int src : kNetSources[k]) {
          if (src < 0) continue;
          const int64_t K = channels[src];
          // Source row y + r - 1 gets the taps of row r; rows beyond the image go to the sink.
          T* gin[3];
          for (int r = 0; r < 3; ++r) {
            const int64_t row = y + r - 1;
            gin[r] = row < 0 || row >= H ? s.sink : grad_row(src, row);
          }
          const T* in[3] = {act_row(src, y - 1), act_row(src, y), act_row(src, y + 1)};
          for (int64_t c = c0; c < c0 + K; c += L) {
            const int64_t cc = c - c0;  // the channel in its source
            const T* gdc = gd + c;
            if (!own) {
              depthwise_gradients<T, false, true>(gdc, cin, in, gin, K, cc, layer.dwt + c, cin, a,
                                                  b, g.dwt + c, g.db + c);
            } else if constexpr (kOnePassGradients) {
              depthwise_gradients<T, true, true>(gdc, cin, in, gin, K, cc, layer.dwt + c, cin, a, b,
                                                 g.dwt + c, g.db + c);
            } else {
              depthwise_gradients<T, true, false>(gdc, cin, in, gin, K, cc, layer.dwt + c, cin, a,
                                                  b, g.dwt + c, g.db + c);
              depthwise_gradients<T, false, true>(gdc, cin, in, gin, K, cc, layer.dwt + c, cin, a,
                                                  b, g.dwt + c, g.db + c);
            }
          }
          c0 += K;
        }
      }
    }
  };

  for (int64_t step = forward_lo(0) - kNetLayers; step < backward_hi(1) + kNetLayers - 1; ++step) {
    if (step + kNetLayers >= forward_lo(0) && step + kNetLayers < forward_hi(0)) {
      load_input(step + kNetLayers);
    }
    for (int k = 1; k < kNetLayers; ++k) {
      const int64_t y = step + kNetLayers - k;
      if (y >= forward_lo(k) && y < forward_hi(k)) forward(k, y);
    }
    for (int k = 1; k < kNetLayers; ++k) {  // the gradient rows first added to at this step
      const int64_t y = step - (kNetLayers - 1) + last_reader(k);
      if (y >= 0 && y < H) std::fill_n(grad_row(k, y), stride * width, T(0));
    }
    for (int k = kNetLayers; k >= 1; --k) {
      const int64_t y = step - kNetLayers + k;
      if (y >= backward_lo(k) && y < backward_hi(k)) backward(k, y);
    }
  }
}

}  // namespace

template <typename T>
const FactorNetBackwardKernels<T>& factor_net_backward_kernels() {
  static const FactorNetBackwardKernels<T> table{&tile<T>};
  return table;
}
template const FactorNetBackwardKernels<float>& factor_net_backward_kernels<float>();
template const FactorNetBackwardKernels<double>& factor_net_backward_kernels<double>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
