// CUDA kernels of sgz_fast::dsconv (3x3 depthwise conv, 1x1 pointwise conv, biases,
// activation) and its backward.
//
// Forward: one block per 8 x 32 pixel tile of one image (and one chunk of up to 32 output
// channels when Cout is larger). Per chunk of input channels it loads the tile's 10 x 34
// neighbourhood into shared memory (zero outside the image: the conv's padding), computes the
// depthwise result of the tile there (a 3 x 3 window sliding down each column in registers),
// and each thread adds its 8 outputs x 4 pixels (4 x 1 when Cout <= 4) of the pointwise product
// in registers: the depthwise intermediate never reaches device memory. The inputs are read in
// place from each tensor of the list.
//
// Backward: as on the CPU, the depthwise result is recomputed, not saved (saving it would cost
// Cin x H x W values per image, 530 MB in float32 for a 64-channel layer at 1080p). One fused
// kernel per 8 x 16 tile: g_z = grad * act'(output) over the tile's 10 x 18 neighbourhood stays
// in shared memory, g_d = pw^T g_z is formed on the neighbourhood too, so the input gradient
// (g_d through the flipped 3x3 kernel) needs no g_d in device memory. Weight gradients are
// deterministic, without atomics: a persistent grid (one wave) in which each block adds its
// tiles' pixel sums (reduced across each warp in a fixed shuffle order) to its own row of a
// partial buffer; a second kernel adds the rows in block order. The grid size, and so the
// rounding, depends on the GPU model, not on the run.
//
// Included by csrc/dsconv.cu (instantiated with CudaDevice) and by the tests' host emulation.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "../common/checks.h"
#include "../common/dsconv.h"
#include "common.cuh"

namespace sgz::gpu {

// ---- Kernels --------------------------------------------------------------------------------

constexpr int kMaxInputs = 8;  // tensors in the list passed by value; more are concatenated

struct Shape {
  int64_t N;
  int cin, cout, H, W;
};

// The tensors of the input list (or of its gradients): channel c of the concatenation.
template <typename P>
struct Planes {
  P* data[kMaxInputs];  // each tensor's first element
  int end[kMaxInputs];  // one past each tensor's last channel; INT_MAX past the list

  // The H x W plane of channel c of image n. Constant indices only: a run-time index into the
  // kernel parameter would copy it to local memory.
  __device__ __forceinline__ P* plane(int64_t n, int c, int64_t HW) const {
    P* base = data[0];
    int begin = 0, size = end[0];
#pragma unroll
    for (int i = 1; i < kMaxInputs; ++i) {
      if (c >= end[i - 1]) {
        base = data[i];
        begin = end[i - 1];
        size = end[i] - end[i - 1];
      }
    }
    return base + (n * size + (c - begin)) * HW;
  }
};

template <int TH, int TW>
struct Tile {
  static constexpr int kH = TH, kW = TW, kPixels = TH * TW;
  static constexpr int kHaloW = TW + 2, kHaloPixels = (TH + 2) * (TW + 2);
  // Pixel p of the tile, as an index into the neighbourhood.
  static __device__ __forceinline__ int halo_index(int p) {
    return (p / TW + 1) * kHaloW + p % TW + 1;
  }
};
using ForwardTile = Tile<8, 32>;
using BackwardTile = Tile<8, 16>;

struct TileGrid {
  int tiles_x, tiles_y;
  template <typename Tl>
  static TileGrid of(const Shape& s) {
    return {(s.W + Tl::kW - 1) / Tl::kW, (s.H + Tl::kH - 1) / Tl::kH};
  }
  SGZ_HD int64_t per_image() const { return static_cast<int64_t>(tiles_x) * tiles_y; }
};

template <typename acc_t>
struct WindowRow {  // a row of a thread's register window, for depthwise3x3
  const acc_t* v;
  SGZ_HD acc_t operator()(int64_t x) const { return v[x]; }
};

// The depthwise result of column `col` of a tile (kH pixels) from the neighbourhood `halo` of
// one channel: store(r, bias + taps) for rows r. A 3 x 3 window slides down the column in
// registers, so each neighbour and tap is read from shared memory once (about 5 loads per
// result instead of 18).
template <typename Tl, typename acc_t, typename Store>
__device__ __forceinline__ void depthwise_column(const acc_t* halo, int col, const acc_t* taps,
                                                 acc_t bias, const Store& store) {
  acc_t w[9], win[3][3];
#pragma unroll
  for (int k = 0; k < 9; ++k) w[k] = taps[k];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 3; ++j) win[i + 1][j] = halo[i * Tl::kHaloW + col + j];
  }
#pragma unroll
  for (int r = 0; r < Tl::kH; ++r) {
#pragma unroll
    for (int j = 0; j < 3; ++j) {
      win[0][j] = win[1][j];
      win[1][j] = win[2][j];
      win[2][j] = halo[(r + 2) * Tl::kHaloW + col + j];
    }
    store(r, bias + depthwise3x3(WindowRow<acc_t>{win[0]}, WindowRow<acc_t>{win[1]},
                                 WindowRow<acc_t>{win[2]}, 1, w));
  }
}

// Where this thread's elements of a tile's neighbourhood, h = threadIdx.x + k * kThreads, lie
// in an image plane: computed once per tile, so a channel's load is one read per element.
template <typename Tl>
struct HaloSlots {
  static constexpr int kSlots = (Tl::kHaloPixels + kThreads - 1) / kThreads;
  int64_t offset[kSlots];  // y * W + x; -1 outside the image or past the neighbourhood

  __device__ __forceinline__ HaloSlots(int y0, int x0, const Shape& s) {
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      const int h = threadIdx.x + k * kThreads;
      const int y = y0 + h / Tl::kHaloW - 1, x = x0 + h % Tl::kHaloW - 1;
      const bool inside = h < Tl::kHaloPixels && y >= 0 && y < s.H && x >= 0 && x < s.W;
      offset[k] = inside ? static_cast<int64_t>(y) * s.W + x : -1;
    }
  }
  // dst[h] = value(offset) for this thread's elements, zero outside the image.
  template <typename acc_t, typename Value>
  __device__ __forceinline__ void load(acc_t* dst, const Value& value) const {
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      const int h = threadIdx.x + k * kThreads;
      if (h < Tl::kHaloPixels) dst[h] = offset[k] >= 0 ? value(offset[k]) : acc_t(0);
    }
  }
};

// Loads the neighbourhoods of the tile for input channels [c0, c0 + count) of image n into
// s[i * kHaloPixels + h].
template <typename Tl, typename T, typename acc_t>
__device__ __forceinline__ void load_halo(acc_t* s, const HaloSlots<Tl>& slots,
                                          const Planes<const T>& in, int64_t n, int c0, int count,
                                          int64_t HW) {
  for (int i = 0; i < count; ++i) {
    const T* plane = in.plane(n, c0 + i, HW);
    slots.load(s + i * Tl::kHaloPixels,
               [&](int64_t off) { return static_cast<acc_t>(plane[off]); });
  }
}

// Channels per chunk: the forward's shared memory stays near 40 KB for float and double.
template <typename acc_t>
constexpr int forward_chunk() {
  return 64 / static_cast<int>(sizeof(acc_t));
}

// Each thread computes OPT output channels x PPT consecutive pixels of a row of the tile.
template <int OPT, int PPT>
struct ForwardLayout {
  static constexpr int kGroups = ForwardTile::kPixels / PPT;  // pixel groups
  static constexpr int kOutputs = kThreads / kGroups * OPT;   // output channels per block
  static_assert(ForwardTile::kW % PPT == 0 && kThreads % kGroups == 0, "layout");
  SGZ_HD static int out_chunks(const Shape& s) { return (s.cout + kOutputs - 1) / kOutputs; }
};

// Blocks per SM the register allocation must allow: the forward is limited to 80 registers for
// 3 blocks (768 threads) per SM, as memory latency needs the threads; the backward to 128. Not
// for float64 (tests, gradcheck), whose accumulators would spill. Both kernels take about 40 KB
// of static shared memory, so the SM's shared memory decides too: sm_80 and sm_90 (164 and
// 228 KB) hold 3 such blocks, sm_75 (64 KB) one, where a register cap would only cost
// registers. sm_86 and sm_89 (100 KB: 2 blocks) run the sm_80 code, cap included: see
// benchmarks/NOTES.md (CUDA: launch bounds per architecture) for why they get no code of
// their own.
template <typename T>
constexpr int blocks_per_sm(int wanted) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  return 1;
#else
  return sizeof(at::opmath_type<T>) == 8 ? 1 : wanted;
#endif
}

template <typename T, int OPT, int PPT>
__global__ void __launch_bounds__(kThreads, blocks_per_sm<T>(3))
    dsconv_forward_kernel(Planes<const T> in, const T* __restrict__ dw, const T* __restrict__ db,
                          const T* __restrict__ pw, const T* __restrict__ pb, T* __restrict__ out,
                          Shape s, Activation act, TileGrid g) {
  using acc_t = at::opmath_type<T>;
  using Tl = ForwardTile;
  using L = ForwardLayout<OPT, PPT>;
  constexpr int KC = forward_chunk<acc_t>();
  SGZ_SHARED(acc_t, x_s, [KC * Tl::kHaloPixels]);
  SGZ_SHARED(__align__(64) acc_t, d_s, [KC][Tl::kPixels]);
  SGZ_SHARED(__align__(64) acc_t, w_s, [KC][L::kOutputs]);
  SGZ_SHARED(acc_t, dw_s, [KC][9]);
  SGZ_SHARED(acc_t, db_s, [KC]);

  int64_t b = blockIdx.x;
  const int tx = static_cast<int>(b % g.tiles_x);
  b /= g.tiles_x;
  const int ty = static_cast<int>(b % g.tiles_y);
  b /= g.tiles_y;
  const int out_chunks = L::out_chunks(s);
  const int o_block = static_cast<int>(b % out_chunks) * L::kOutputs;
  const int64_t n = b / out_chunks;
  const int y0 = ty * Tl::kH, x0 = tx * Tl::kW;
  const int64_t HW = static_cast<int64_t>(s.H) * s.W;
  const HaloSlots<Tl> slots(y0, x0, s);

  const int group = threadIdx.x % L::kGroups;
  const int o_local = threadIdx.x / L::kGroups * OPT;  // first output of this thread in w_s
  const int o_first = o_block + o_local;
  const int p0 = group * PPT;

  acc_t acc[OPT][PPT];
#pragma unroll
  for (int i = 0; i < OPT; ++i) {
    const acc_t bias =
        pb != nullptr && o_first + i < s.cout ? static_cast<acc_t>(pb[o_first + i]) : acc_t(0);
#pragma unroll
    for (int j = 0; j < PPT; ++j) acc[i][j] = bias;
  }

  for (int c0 = 0; c0 < s.cin; c0 += KC) {
    const int kc = min(KC, s.cin - c0);
    __syncthreads();  // the previous chunk's readers are done
    load_halo<Tl, T>(x_s, slots, in, n, c0, kc, HW);
    for (int e = threadIdx.x; e < kc * 9; e += kThreads) {
      dw_s[e / 9][e % 9] = static_cast<acc_t>(dw[c0 * 9 + e]);
    }
    for (int e = threadIdx.x; e < kc; e += kThreads) {
      db_s[e] = db != nullptr ? static_cast<acc_t>(db[c0 + e]) : acc_t(0);
    }
    for (int e = threadIdx.x; e < kc * L::kOutputs; e += kThreads) {
      const int c = e / L::kOutputs, o = o_block + e % L::kOutputs;
      w_s[c][e % L::kOutputs] =
          o < s.cout ? static_cast<acc_t>(pw[static_cast<int64_t>(o) * s.cin + c0 + c]) : acc_t(0);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < kc * Tl::kW; e += kThreads) {
      const int c = e / Tl::kW, col = e % Tl::kW;
      depthwise_column<Tl>(x_s + c * Tl::kHaloPixels, col, dw_s[c], db_s[c],
                           [&](int r, acc_t v) { d_s[c][r * Tl::kW + col] = v; });
    }
    __syncthreads();
    if (o_first < s.cout) {
      for (int c = 0; c < kc; ++c) {
        const Pack<acc_t, PPT> d = *reinterpret_cast<const Pack<acc_t, PPT>*>(&d_s[c][p0]);
        const Pack<acc_t, OPT> w = *reinterpret_cast<const Pack<acc_t, OPT>*>(&w_s[c][o_local]);
#pragma unroll
        for (int i = 0; i < OPT; ++i) {
#pragma unroll
          for (int j = 0; j < PPT; ++j) acc[i][j] += w.v[i] * d.v[j];
        }
      }
    }
  }

  const int y = y0 + p0 / Tl::kW, x = x0 + p0 % Tl::kW;
  if (y >= s.H) return;
  // Rows of the output start 16-byte aligned for float (8 for half) when W % 4 == 0.
  const bool whole = s.W % PPT == 0 && x + PPT <= s.W;
#pragma unroll
  for (int i = 0; i < OPT; ++i) {
    const int o = o_first + i;
    if (o >= s.cout) break;
    T* row = out + ((n * s.cout + o) * s.H + y) * s.W + x;
    Pack<T, PPT> v;
#pragma unroll
    for (int j = 0; j < PPT; ++j) v.v[j] = static_cast<T>(activate(acc[i][j], act));
    if (whole) {
      *reinterpret_cast<Pack<T, PPT>*>(row) = v;
    } else {
      for (int j = 0; j < PPT && x + j < s.W; ++j) row[j] = v.v[j];
    }
  }
}

// Backward chunks: input channels per pass and output channels kept in shared memory (all of
// them, loaded once per tile, when Cout <= kOutputs), about 40 KB for float and double.
template <typename acc_t>
struct BackwardChunks {
  static constexpr int kInputs = 32 / static_cast<int>(sizeof(acc_t));
  static constexpr int kOutputs = 128 / static_cast<int>(sizeof(acc_t));
};

// The layout of a block's row of weight-gradient sums: pw (Cout x Cin), pb (Cout), dw (Cin x 9),
// db (Cin).
struct PartialLayout {
  int64_t pw, pb, dw, db, size;
  SGZ_HD static PartialLayout of(const Shape& s) {
    const int64_t pw_size = static_cast<int64_t>(s.cout) * s.cin;
    return {0, pw_size, pw_size + s.cout, pw_size + s.cout + 9 * s.cin,
            pw_size + s.cout + 10 * s.cin};
  }
};

// One step of a transpose-reduce across a warp: lanes with bit M set keep the upper half of
// v[0, 2M) (the entries with that bit set), the others the lower half, each adding its
// partner's copy of the half it keeps. (A template, so that every index is a constant.)
template <int M, typename acc_t>
__device__ __forceinline__ void transpose_reduce_step(acc_t (&v)[32], int lane) {
  const bool upper = (lane & M) != 0;
#pragma unroll
  for (int k = 0; k < M; ++k) {
    const acc_t send = upper ? v[k] : v[k + M];
    const acc_t keep = upper ? v[k + M] : v[k];
    v[k] = keep + __shfl_xor_sync(0xffffffffu, send, M);
  }
}

// For q < count: acc[index(q)] += sum over the tile's pixels p of term(q, p). Warp w takes the
// batches of 32 consecutive q starting at 32 w, 32 w + kThreads, ...: each lane sums its pixels
// for the 32 q of the batch, then a transpose-reduce (31 shuffles) leaves the total of
// q = batch + l in lane l, which makes one coalesced update. Each sum is always made by the
// same lanes in the same order: deterministic.
template <int kPixels, typename acc_t, typename Term, typename Index>
__device__ __forceinline__ void add_pixel_sums(int count, const Term& term, const Index& index,
                                               acc_t* acc) {
  static_assert(kPixels % 32 == 0, "whole warps of pixels");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int batch = warp * 32; batch < count; batch += kThreads) {
    acc_t v[32];
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      v[j] = 0;
      if (batch + j < count) {
#pragma unroll
        for (int i = 0; i < kPixels / 32; ++i) v[j] += term(batch + j, lane + 32 * i);
      }
    }
    transpose_reduce_step<16>(v, lane);
    transpose_reduce_step<8>(v, lane);
    transpose_reduce_step<4>(v, lane);
    transpose_reduce_step<2>(v, lane);
    transpose_reduce_step<1>(v, lane);
    if (batch + lane < count) acc[index(batch + lane)] += v[0];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads, blocks_per_sm<T>(2))
    dsconv_backward_kernel(const T* __restrict__ grad, const T* __restrict__ out,
                           Planes<const T> in, Planes<T> grad_in, const T* __restrict__ dw,
                           const T* __restrict__ db, const T* __restrict__ pw,
                           at::opmath_type<T>* __restrict__ partial, Shape s, Activation act,
                           TileGrid g) {
  using acc_t = at::opmath_type<T>;
  using Tl = BackwardTile;
  constexpr int KC = BackwardChunks<acc_t>::kInputs;
  constexpr int OC = BackwardChunks<acc_t>::kOutputs;
  constexpr int HP = Tl::kHaloPixels;
  SGZ_SHARED(acc_t, gz_s, [OC][HP]);                 // g_z, output channels [o0, o0 + oc)
  SGZ_SHARED(acc_t, x_s, [KC * HP]);                 // inputs, channels [c0, c0 + kc)
  SGZ_SHARED(acc_t, d_s, [KC][Tl::kPixels]);         // depthwise result (recomputed)
  SGZ_SHARED(acc_t, gd_s, [KC][HP]);                 // g_d, summed over the output chunks
  SGZ_SHARED(__align__(64) acc_t, pwt_s, [OC][KC]);  // pw[o0 + o][c0 + c]
  SGZ_SHARED(acc_t, dw_s, [KC][9]);
  SGZ_SHARED(acc_t, flipped_s, [KC][9]);
  SGZ_SHARED(acc_t, db_s, [KC]);

  const PartialLayout part = PartialLayout::of(s);
  acc_t* sums = partial + blockIdx.x * part.size;
  const int64_t HW = static_cast<int64_t>(s.H) * s.W;
  const int64_t tiles = s.N * g.per_image();

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int tx = static_cast<int>(tile % g.tiles_x);
    const int ty = static_cast<int>(tile / g.tiles_x % g.tiles_y);
    const int64_t n = tile / g.per_image();
    const int y0 = ty * Tl::kH, x0 = tx * Tl::kW;
    const HaloSlots<Tl> slots(y0, x0, s);
    // Pixels of the tile outside the image have g_z = 0, so they add nothing to the sums.
    const auto interior = [](int p) { return Tl::halo_index(p); };

    // c0 == 0 runs once even when Cin == 0: g_z and the pw bias gradient come from it.
    for (int c0 = 0; c0 == 0 || c0 < s.cin; c0 += KC) {
      const int kc = max(0, min(KC, s.cin - c0));
      __syncthreads();  // the previous chunk's readers are done
      load_halo<Tl, T>(x_s, slots, in, n, c0, kc, HW);
      for (int e = threadIdx.x; e < kc * 9; e += kThreads) {
        const acc_t w = static_cast<acc_t>(dw[c0 * 9 + e]);
        dw_s[e / 9][e % 9] = w;
        flipped_s[e / 9][8 - e % 9] = w;
      }
      for (int e = threadIdx.x; e < kc; e += kThreads) {
        db_s[e] = db != nullptr ? static_cast<acc_t>(db[c0 + e]) : acc_t(0);
      }
      __syncthreads();
      for (int e = threadIdx.x; e < kc * Tl::kW; e += kThreads) {
        const int c = e / Tl::kW, col = e % Tl::kW;
        depthwise_column<Tl>(x_s + c * HP, col, dw_s[c], db_s[c],
                             [&](int r, acc_t v) { d_s[c][r * Tl::kW + col] = v; });
      }

      for (int o0 = 0; o0 < s.cout; o0 += OC) {
        const int oc = min(OC, s.cout - o0);
        __syncthreads();  // d_s is written; the previous readers of gz_s and pwt_s are done
        if (c0 == 0 || s.cout > OC) {
          for (int o = 0; o < oc; ++o) {
            const int64_t plane = (n * s.cout + o0 + o) * HW;
            slots.load(gz_s[o], [&](int64_t off) {
              return static_cast<acc_t>(grad[plane + off]) *
                     activation_grad(static_cast<acc_t>(out[plane + off]), act);
            });
          }
        }
        for (int e = threadIdx.x; e < oc * KC; e += kThreads) {
          const int o = e / KC, c = e % KC;
          pwt_s[o][c] = c < kc
                            ? static_cast<acc_t>(pw[static_cast<int64_t>(o0 + o) * s.cin + c0 + c])
                            : acc_t(0);
        }
        __syncthreads();
        // g_d[c] += sum_o pw[o][c] g_z[o] on the whole neighbourhood, KC channels per thread.
        for (int h = threadIdx.x; h < HP; h += kThreads) {
          acc_t a[KC];
#pragma unroll
          for (int c = 0; c < KC; ++c) a[c] = o0 == 0 ? acc_t(0) : gd_s[c][h];
          for (int o = 0; o < oc; ++o) {
            const acc_t gz = gz_s[o][h];
            const Pack<acc_t, KC> w = *reinterpret_cast<const Pack<acc_t, KC>*>(pwt_s[o]);
#pragma unroll
            for (int c = 0; c < KC; ++c) a[c] += w.v[c] * gz;
          }
#pragma unroll
          for (int c = 0; c < KC; ++c) gd_s[c][h] = a[c];
        }
        add_pixel_sums<Tl::kPixels>(
            oc * kc, [&](int q, int p) { return gz_s[q / kc][interior(p)] * d_s[q % kc][p]; },
            [&](int q) {
              return part.pw + static_cast<int64_t>(o0 + q / kc) * s.cin + c0 + q % kc;
            },
            sums);
        if (c0 == 0) {
          add_pixel_sums<Tl::kPixels>(
              oc, [&](int q, int p) { return gz_s[q][interior(p)]; },
              [&](int q) { return part.pb + o0 + q; }, sums);
        }
      }
      __syncthreads();  // gd_s is complete
      add_pixel_sums<Tl::kPixels>(
          kc, [&](int q, int p) { return gd_s[q][interior(p)]; },
          [&](int q) { return part.db + c0 + q; }, sums);
      // d loss / d dw[c][i][j] = sum_p g_d(p) * in(p + (i - 1, j - 1))
      add_pixel_sums<Tl::kPixels>(
          kc * 9,
          [&](int q, int p) {
            const int c = q / 9, k = q % 9;
            const int h = interior(p) + (k / 3 - 1) * Tl::kHaloW + k % 3 - 1;
            return gd_s[c][interior(p)] * x_s[c * HP + h];
          },
          [&](int q) { return part.dw + c0 * 9 + q; }, sums);
      for (int e = threadIdx.x; e < kc * Tl::kW; e += kThreads) {
        const int c = e / Tl::kW, col = e % Tl::kW;
        if (x0 + col >= s.W) continue;
        T* plane = grad_in.plane(n, c0 + c, HW) + x0 + col;
        depthwise_column<Tl>(gd_s[c], col, flipped_s[c], acc_t(0), [&](int r, acc_t v) {
          if (y0 + r < s.H) plane[static_cast<int64_t>(y0 + r) * s.W] = static_cast<T>(v);
        });
      }
    }
  }
}

// Sums the blocks' rows of the partial buffer in block order into the weight gradients.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    reduce_partials_kernel(const at::opmath_type<T>* __restrict__ partial, int blocks, Shape s,
                           T* __restrict__ grad_pw, T* __restrict__ grad_pb,
                           T* __restrict__ grad_dw, T* __restrict__ grad_db) {
  using acc_t = at::opmath_type<T>;
  const PartialLayout part = PartialLayout::of(s);
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; q < part.size;
       q += static_cast<int64_t>(gridDim.x) * kThreads) {
    acc_t sum = 0;
    for (int b = 0; b < blocks; ++b) sum += partial[b * part.size + q];
    const T v = static_cast<T>(sum);
    if (q < part.pb) {
      grad_pw[q] = v;
    } else if (q < part.dw) {
      grad_pb[q - part.pb] = v;
    } else if (q < part.db) {
      grad_dw[q - part.dw] = v;
    } else if (grad_db != nullptr) {
      grad_db[q - part.db] = v;
    }
  }
}

// ---- Host: the ops' bodies on a Device (common.cuh) -----------------------------------------

inline void check_cuda_dtype(const at::Tensor& t) {
  const at::ScalarType st = t.scalar_type();
  TORCH_CHECK_TYPE(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16,
                   "dsconv on CUDA supports float32, float64, float16 and bfloat16; got ", st);
}

// The input list as the kernels read it: contiguous tensors (copies of non-contiguous ones, as
// on the CPU), at most kMaxInputs of them (a longer list is concatenated: rare, and correct).
inline std::vector<at::Tensor> prepare_inputs(at::TensorList inputs) {
  if (inputs.size() > static_cast<size_t>(kMaxInputs)) return {at::cat(inputs, 1).contiguous()};
  std::vector<at::Tensor> out;
  for (const at::Tensor& t : inputs) out.push_back(t.contiguous());
  return out;
}

template <typename P>
Planes<P> planes_of(const std::vector<at::Tensor>& tensors) {
  Planes<P> planes{};
  std::fill(planes.end, planes.end + kMaxInputs, std::numeric_limits<int>::max());
  int end = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    planes.data[i] = static_cast<P*>(tensors[i].data_ptr());
    end += static_cast<int>(tensors[i].size(1));
    planes.end[i] = end;
  }
  return planes;
}

inline Shape shape_of(const at::Tensor& first, int64_t cin, int64_t cout) {
  const int64_t limit = std::numeric_limits<int>::max();
  TORCH_CHECK_VALUE(cin < limit && cout < limit && first.size(2) < limit && first.size(3) < limit,
                    "dsconv: channel counts and image sizes must be below 2^31; got ",
                    first.sizes(), " with Cout ", cout);
  return {first.size(0), static_cast<int>(cin), static_cast<int>(cout),
          static_cast<int>(first.size(2)), static_cast<int>(first.size(3))};
}

inline unsigned grid_size(int64_t blocks, const char* what) {
  TORCH_CHECK_VALUE(blocks <= std::numeric_limits<int32_t>::max(), what, ": ", blocks,
                    " blocks exceed the CUDA grid limit");
  return static_cast<unsigned>(blocks);
}

template <class Device, typename T, int OPT, int PPT>
void launch_dsconv_forward(const Planes<const T>& in, const T* dw, const T* db, const T* pw,
                           const T* pb, T* out, const Shape& s, Activation act) {
  const TileGrid g = TileGrid::of<ForwardTile>(s);
  const int64_t blocks = s.N * ForwardLayout<OPT, PPT>::out_chunks(s) * g.per_image();
  Device::launch(dim3(grid_size(blocks, "dsconv")), dsconv_forward_kernel<T, OPT, PPT>, in, dw, db,
                 pw, pb, out, s, act, g);
}

template <class Device>
at::Tensor dsconv_forward(at::TensorList inputs_in, const at::Tensor& dw_in,
                          const std::optional<at::Tensor>& db_in, const at::Tensor& pw_in,
                          const std::optional<at::Tensor>& pb_in, c10::string_view activation) {
  const int64_t cin = check_dsconv_args(inputs_in, dw_in, db_in, pw_in, pb_in);
  const Activation act = parse_activation(activation);
  check_cuda_dtype(inputs_in[0]);
  const typename Device::Guard guard(inputs_in[0].device());
  const std::vector<at::Tensor> inputs = prepare_inputs(inputs_in);
  const at::Tensor dw = dw_in.contiguous(), pw = pw_in.contiguous();
  const at::Tensor db = db_in.has_value() ? db_in->contiguous() : at::Tensor();
  const at::Tensor pb = pb_in.has_value() ? pb_in->contiguous() : at::Tensor();
  const Shape s = shape_of(inputs[0], cin, pw.size(0));
  at::Tensor out = Device::empty({s.N, s.cout, s.H, s.W}, inputs[0].options());
  if (out.numel() == 0) return out;

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(), "dsconv_cuda", [&] {
    using T = scalar_t;
    const Planes<const T> in = planes_of<const T>(inputs);
    const T* dbp = db.defined() ? db.const_data_ptr<T>() : nullptr;
    const T* pbp = pb.defined() ? pb.const_data_ptr<T>() : nullptr;
    T* outp = out.mutable_data_ptr<T>();
    // Few outputs (SGZ's last layer, 3): one pixel x 4 outputs per thread, not 4 x 8.
    if (s.cout <= 4) {
      launch_dsconv_forward<Device, T, 4, 1>(in, dw.const_data_ptr<T>(), dbp,
                                             pw.const_data_ptr<T>(), pbp, outp, s, act);
    } else {
      launch_dsconv_forward<Device, T, 8, 4>(in, dw.const_data_ptr<T>(), dbp,
                                             pw.const_data_ptr<T>(), pbp, outp, s, act);
    }
  });
  return out;
}

// Blocks of the backward's persistent grid: one wave (sms x per_sm), no more than there are
// tiles, and fewer when the partial rows would pass 64 M values.
inline int backward_blocks(int64_t tiles, int64_t partial_row, int sms, int per_sm) {
  const int64_t max_rows = std::max<int64_t>(1, (int64_t{1} << 26) / partial_row);
  return static_cast<int>(
      std::min<int64_t>({tiles, static_cast<int64_t>(sms) * std::max(per_sm, 1), max_rows}));
}

// The fused backward kernel, then the block-order sum of its partial rows into the weight
// gradients (grad_db may be null: no depthwise bias).
template <class Device, typename T>
void launch_dsconv_backward(const T* grad, const T* out, const Planes<const T>& in,
                            const Planes<T>& grad_in, const T* dw, const T* db, const T* pw,
                            T* grad_dw, T* grad_db, T* grad_pw, T* grad_pb, const Shape& s,
                            Activation act, const at::TensorOptions& options) {
  using acc_t = at::opmath_type<T>;
  const TileGrid g = TileGrid::of<BackwardTile>(s);
  const PartialLayout part = PartialLayout::of(s);
  const int blocks = backward_blocks(s.N * g.per_image(), part.size, Device::multiprocessors(),
                                     Device::blocks_per_sm(dsconv_backward_kernel<T>));
  at::Tensor partial =
      at::zeros({blocks, part.size}, options.dtype(c10::CppTypeToScalarType<acc_t>::value));
  acc_t* partial_p = partial.mutable_data_ptr<acc_t>();
  Device::launch(dim3(blocks), dsconv_backward_kernel<T>, grad, out, in, grad_in, dw, db, pw,
                 partial_p, s, act, g);
  const int64_t reduce_blocks = std::min<int64_t>(ceil_div(part.size, kThreads), 1024);
  Device::launch(dim3(static_cast<unsigned>(reduce_blocks)), reduce_partials_kernel<T>,
                 static_cast<const acc_t*>(partial_p), blocks, s, grad_pw, grad_pb, grad_dw,
                 grad_db);
}

template <class Device>
std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor, at::Tensor, at::Tensor> dsconv_backward(
    const at::Tensor& grad_in, const at::Tensor& out_in, at::TensorList inputs_in,
    const at::Tensor& dw_in, const std::optional<at::Tensor>& db_in, const at::Tensor& pw_in,
    c10::string_view activation) {
  const int64_t cin = check_dsconv_backward_args(grad_in, out_in, inputs_in, dw_in, db_in, pw_in);
  const Activation act = parse_activation(activation);
  check_cuda_dtype(inputs_in[0]);
  const typename Device::Guard guard(inputs_in[0].device());
  const std::vector<at::Tensor> inputs = prepare_inputs(inputs_in);
  const at::Tensor grad = grad_in.contiguous(), out = out_in.contiguous();
  const at::Tensor dw = dw_in.contiguous(), pw = pw_in.contiguous();
  const at::Tensor db = db_in.has_value() ? db_in->contiguous() : at::Tensor();
  const Shape s = shape_of(inputs[0], cin, pw.size(0));
  const auto empty_like = [](const at::Tensor& t) { return Device::empty(t.sizes(), t.options()); };

  std::vector<at::Tensor> grad_inputs;  // the kernel writes every element
  for (const at::Tensor& t : inputs) grad_inputs.push_back(empty_like(t));
  at::Tensor grad_dw = empty_like(dw), grad_pw = empty_like(pw);
  at::Tensor grad_db = db.defined() ? empty_like(db) : dw.new_empty({0});
  at::Tensor grad_pb = Device::empty({s.cout}, dw.options());
  auto result =
      [&]() -> std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor, at::Tensor, at::Tensor> {
    if (grad_inputs.size() == inputs_in.size()) {
      return {grad_inputs, grad_dw, grad_db, grad_pw, grad_pb};
    }
    std::vector<at::Tensor> split;  // undo prepare_inputs' concatenation
    int64_t c = 0;
    for (const at::Tensor& t : inputs_in) {
      split.push_back(grad_inputs[0].narrow(1, c, t.size(1)).contiguous());
      c += t.size(1);
    }
    return {split, grad_dw, grad_db, grad_pw, grad_pb};
  };
  if (s.N * s.H * s.W == 0 || s.cout == 0) {
    for (at::Tensor& t : grad_inputs) t.zero_();
    for (at::Tensor* t : {&grad_dw, &grad_db, &grad_pw, &grad_pb}) t->zero_();
    return result();
  }

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, out.scalar_type(), "dsconv_backward_cuda", [&] {
        using T = scalar_t;
        launch_dsconv_backward<Device, T>(
            grad.const_data_ptr<T>(), out.const_data_ptr<T>(), planes_of<const T>(inputs),
            planes_of<T>(grad_inputs), dw.const_data_ptr<T>(),
            db.defined() ? db.const_data_ptr<T>() : nullptr, pw.const_data_ptr<T>(),
            grad_dw.mutable_data_ptr<T>(), db.defined() ? grad_db.mutable_data_ptr<T>() : nullptr,
            grad_pw.mutable_data_ptr<T>(), grad_pb.mutable_data_ptr<T>(), s, act, dw.options());
      });
  return result();
}

}  // namespace sgz::gpu
