// CUDA kernel of sgz_fast::factor_net (see cpu/factor_net.cpp): SGZ's seven dsc layers in one
// launch, for the network's low-resolution pass (scale 12: 160 x 90 at 1080p), where seven
// small launches and their host-side calls cost more than the arithmetic.
//
// One block per 8 x 16 tile of the factors (a persistent grid striding over the tiles when
// there are more than one wave's worth). Layer k is computed on the tile grown by 7 - k pixels
// on each side (e_conv1 on 20 x 28 pixels, e_conv7 on the tile), so each block needs no other
// block's results: about 2.5x the arithmetic of the tile alone, which the low-resolution pass
// can afford. Pixels of a window outside the image are stored as 0: the next layer's padding.
// Each thread computes one pixel of a layer at a time, all of its outputs (up to kMaxWidth) in
// registers, in the per-layer kernel's order (from the pointwise bias, input channels in order,
// each depthwise result bias + depthwise3x3): to rounding, the seven per-layer launches.
//
// Memory: a block's activations live in its own slice of a scratch buffer in device memory,
// 216 KB for float (54,016 values), reused from layer to layer:
//   R1 (margin 6, 32 x 20 x 28)  x1, then x3, then x6
//   R2 (margin 5, 32 x 18 x 26)  the input (3 x 22 x 30), then x2, then x4
//   R3 (margin 1, 32 x 10 x 18)  x1 where e_conv7 reads it
//   R4 (margin 2, 32 x 12 x 20)  x2 where e_conv6 reads it
//   R5 (margin 2)                x5
// A slice is written and read by its block only, ordered by __syncthreads: seven barriers a
// tile, each phase between two running one layer (and copying x1 or x2 to its small window)
// while the next layer's weights are staged into shared memory as acc_t (two buffers of 2,720
// values, and e_conv1's own: 22 KB for float, 45 KB for double), so the inner loop reads its
// weights as shared-memory broadcasts, converted once.
// ptxas (sm_90, -O3): 119 registers for float and the half types, 178 for double, no spills:
// two float blocks per SM. One wave on an H100 is then 264 blocks, 57 MB of scratch, about its
// 50 MB L2; a 1080p frame at scale 12 has 120 tiles (26 MB), a 3840x2160 one 460.
// Activations in shared memory instead would be faster to read but would cap the tile: 216 KB
// is more than sm_80, sm_86 and sm_89 give a block. Not yet measured on a GPU
// (benchmarks/NOTES.md, factor_net, CUDA).
//
// Included by csrc/factor_net.cu (instantiated with CudaDevice) and by the tests' host
// emulation.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "../common/checks.h"
#include "../common/dsconv.h"
#include "common.cuh"

namespace sgz::gpu {

constexpr int kNetTileH = 8, kNetTileW = 16;
constexpr int kMaxWidth = 32;  // SGZ's width; the outputs a thread keeps in registers

// A window: the tile grown by `margin` pixels on each side.
SGZ_HD constexpr int window_h(int margin) { return kNetTileH + 2 * margin; }
SGZ_HD constexpr int window_w(int margin) { return kNetTileW + 2 * margin; }
SGZ_HD constexpr int window_pixels(int margin) { return window_h(margin) * window_w(margin); }

// Where each region of a block's scratch slice starts, in values, for a network of `width`.
struct NetRegions {
  int64_t r1, r2, r3, r4, r5, size;
  SGZ_HD static NetRegions of(int64_t width) {
    NetRegions r{};
    r.r1 = 0;
    r.r2 = r.r1 + width * window_pixels(6);
    const int64_t x2 = width * window_pixels(5), x0 = 3 * window_pixels(7);
    const int64_t r2_size = x2 > x0 ? x2 : x0;
    r.r3 = r.r2 + r2_size;
    r.r4 = r.r3 + width * window_pixels(1);
    r.r5 = r.r4 + width * window_pixels(2);
    r.size = r.r5 + width * window_pixels(2);
    return r;
  }
};

// One layer's parameters as the op receives them: dw (cin x 9), db (cin), pw (cout x cin),
// pb (cout).
template <typename T>
struct NetLayerParams {
  const T *dw, *db, *pw, *pb;
  int cin, cout;
};

template <typename T>
struct NetParams {
  NetLayerParams<T> layer[7];
};

// A layer's weights staged in shared memory as acc_t: dw (cin x 9), db (cin), pwt (cin x
// cout: pw transposed, so one input channel's outputs are consecutive), pb (cout). At most
// 64 inputs and kMaxWidth outputs: 2,720 values (e_conv5..7).
constexpr int kMaxLayerWeights = 2 * kMaxWidth * 10 + 2 * kMaxWidth * kMaxWidth + kMaxWidth;
constexpr int kFirstLayerWeights = 3 * 10 + 3 * kMaxWidth + kMaxWidth;  // e_conv1: 3 inputs

template <typename acc_t>
struct StagedLayer {
  const acc_t* weights;  // dw, then db, pwt, pb
  int cin, cout;
  SGZ_HD const acc_t* dw() const { return weights; }
  SGZ_HD const acc_t* db() const { return weights + 9 * cin; }
  SGZ_HD const acc_t* pwt() const { return weights + 10 * cin; }
  SGZ_HD const acc_t* pb() const { return weights + 10 * cin + cin * cout; }
};

// Copies layer p's weights into s (the block's threads together); returns where they are.
template <typename T, typename acc_t>
__device__ __forceinline__ StagedLayer<acc_t> stage_weights(const NetLayerParams<T>& p, acc_t* s) {
  const int cin = p.cin, cout = p.cout;
  for (int e = threadIdx.x; e < 9 * cin; e += kThreads) s[e] = static_cast<acc_t>(p.dw[e]);
  for (int e = threadIdx.x; e < cin; e += kThreads) s[9 * cin + e] = static_cast<acc_t>(p.db[e]);
  for (int e = threadIdx.x; e < cin * cout; e += kThreads) {
    s[10 * cin + e] = static_cast<acc_t>(p.pw[(e % cout) * cin + e / cout]);
  }
  for (int e = threadIdx.x; e < cout; e += kThreads) {
    s[10 * cin + cin * cout + e] = static_cast<acc_t>(p.pb[e]);
  }
  return {s, cin, cout};
}

// A layer's input in scratch: `channels` planar windows of `margin`.
template <typename acc_t>
struct NetSource {
  const acc_t* data;
  int channels, margin;
};

struct NetPlace {  // the tile's first pixel in the image, and the image's size
  int64_t n;
  int y0, x0, H, W;
};

struct NetInputStrides {  // x's strides, in values: any layout is read in place
  int64_t n, c, h, w;
};

template <typename acc_t>
struct ScratchRow {  // a row of a window, for depthwise3x3
  const acc_t* p;
  SGZ_HD acc_t operator()(int64_t x) const { return p[x]; }
};

// The layer's outputs on the window of `margin`: planar windows at dst (zero outside the
// image), or, dst null, the factors into out (N x cout x H x W) for the pixels in the image.
template <typename T, typename acc_t>
__device__ __forceinline__ void net_layer(const NetSource<acc_t> (&src)[2],
                                          const StagedLayer<acc_t>& p, Activation act, int margin,
                                          acc_t* dst, T* out, const NetPlace& at) {
  const acc_t *dw = p.dw(), *db = p.db(), *pwt = p.pwt(), *pb = p.pb();
  const int wh = window_h(margin), ww = window_w(margin), pixels = wh * ww;
  for (int q = threadIdx.x; q < pixels; q += kThreads) {
    const int wy = q / ww, wx = q % ww;
    const int y = at.y0 - margin + wy, x = at.x0 - margin + wx;
    const bool inside = y >= 0 && y < at.H && x >= 0 && x < at.W;
    if (!inside) {
      if (dst != nullptr) {
        for (int o = 0; o < p.cout; ++o) dst[o * pixels + q] = acc_t(0);
      }
      continue;
    }
    acc_t acc[kMaxWidth];
#pragma unroll
    for (int o = 0; o < kMaxWidth; ++o) acc[o] = o < p.cout ? pb[o] : acc_t(0);
    int c = 0;  // channel of the concatenated input
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const NetSource<acc_t>& in = src[s];
      const int sw = window_w(in.margin), shift = in.margin - margin;
      const int sp = window_h(in.margin) * sw;
      for (int i = 0; i < in.channels; ++i, ++c) {
        const acc_t* row = in.data + i * sp + (wy + shift - 1) * sw;
        const acc_t d =
            db[c] + depthwise3x3(ScratchRow<acc_t>{row}, ScratchRow<acc_t>{row + sw},
                                 ScratchRow<acc_t>{row + 2 * sw}, wx + shift, dw + 9 * c);
        const acc_t* weights = pwt + c * p.cout;
#pragma unroll
        for (int o = 0; o < kMaxWidth; ++o) {
          if (o < p.cout) acc[o] += weights[o] * d;
        }
      }
    }
#pragma unroll
    for (int o = 0; o < kMaxWidth; ++o) {  // constant indices: acc stays in registers
      if (o >= p.cout) break;
      if (dst != nullptr) {
        dst[o * pixels + q] = activate(acc[o], act);
      } else {
        out[((at.n * p.cout + o) * at.H + y) * at.W + x] = static_cast<T>(activate(acc[o], act));
      }
    }
  }
}

// The centre (window of `to`) of `channels` windows of margin `from` > to.
template <typename acc_t>
__device__ __forceinline__ void copy_centre(const acc_t* src, int from, acc_t* dst, int to,
                                            int channels) {
  const int tw = window_w(to), tp = window_pixels(to), sw = window_w(from),
            sp = window_pixels(from);
  const int shift = from - to;
  for (int e = threadIdx.x; e < channels * tp; e += kThreads) {
    const int c = e / tp, q = e % tp;
    dst[e] = src[c * sp + (q / tw + shift) * sw + q % tw + shift];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    factor_net_kernel(const T* __restrict__ x, NetInputStrides sx, NetParams<T> params,
                      T* __restrict__ out, at::opmath_type<T>* __restrict__ scratch, int64_t N,
                      int H, int W, int tiles_x, int tiles_y) {
  using acc_t = at::opmath_type<T>;
  SGZ_SHARED(acc_t, first_s, [kFirstLayerWeights]);
  SGZ_SHARED(acc_t, weights_s, [2][kMaxLayerWeights]);
  const int width = params.layer[0].cout;
  const NetRegions r = NetRegions::of(width);
  acc_t* slice = scratch + blockIdx.x * r.size;
  acc_t *r1 = slice + r.r1, *r2 = slice + r.r2, *r3 = slice + r.r3, *r4 = slice + r.r4,
        *r5 = slice + r.r5;
  const int64_t per_image = static_cast<int64_t>(tiles_x) * tiles_y, tiles = N * per_image;
  const auto none = NetSource<acc_t>{nullptr, 0, 0};
  const auto& L = params.layer;
  const Activation relu = Activation::kRelu;
  // Each phase between two barriers runs one layer from one staged buffer and stages the next
  // layer's weights into the other (e_conv1's, used by every tile, have their own).
  const StagedLayer<acc_t> w1 = stage_weights(L[0], first_s);

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const NetPlace at{tile / per_image, static_cast<int>(tile % per_image / tiles_x) * kNetTileH,
                      static_cast<int>(tile % tiles_x) * kNetTileW, H, W};
    // The input's window of margin 7 into R2, zero outside the image. R2 is free: the previous
    // tile's last phase reads R3, R1 and weights_s[1], and the barrier below orders those reads
    // before anything else is written.
    const int iw = window_w(7), ip = window_pixels(7);
    const T* image = x + at.n * sx.n;
    for (int e = threadIdx.x; e < 3 * ip; e += kThreads) {
      const int c = e / ip, q = e % ip;
      const int y = at.y0 - 7 + q / iw, xx = at.x0 - 7 + q % iw;
      const bool inside = y >= 0 && y < H && xx >= 0 && xx < W;
      r2[e] = inside ? static_cast<acc_t>(image[c * sx.c + y * sx.h + xx * sx.w]) : acc_t(0);
    }
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r2, 3, 7}, none}, w1, relu, 6, r1, out, at);  // x1
    const StagedLayer<acc_t> w2 = stage_weights(L[1], weights_s[0]);
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r1, width, 6}, none}, w2, relu, 5, r2, out, at);
    copy_centre(r1, 6, r3, 1, width);  // x1 for e_conv7, before x3 overwrites R1
    const StagedLayer<acc_t> w3 = stage_weights(L[2], weights_s[1]);
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r2, width, 5}, none}, w3, relu, 4, r1, out, at);
    copy_centre(r2, 5, r4, 2, width);  // x2 for e_conv6, before x4 overwrites R2
    const StagedLayer<acc_t> w4 = stage_weights(L[3], weights_s[0]);
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r1, width, 4}, none}, w4, relu, 3, r2, out, at);
    const StagedLayer<acc_t> w5 = stage_weights(L[4], weights_s[1]);
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r1, width, 4}, NetSource<acc_t>{r2, width, 3}}, w5, relu,
                        2, r5, out, at);  // x5 from x3, x4
    const StagedLayer<acc_t> w6 = stage_weights(L[5], weights_s[0]);
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r4, width, 2}, NetSource<acc_t>{r5, width, 2}}, w6, relu,
                        1, r1, out, at);  // x6 from x2, x5
    const StagedLayer<acc_t> w7 = stage_weights(L[6], weights_s[1]);
    __syncthreads();
    net_layer<T, acc_t>({NetSource<acc_t>{r3, width, 1}, NetSource<acc_t>{r1, width, 1}}, w7,
                        Activation::kTanh, 0, nullptr, out, at);  // the factors from x1, x6
  }
}

template <class Device>
at::Tensor factor_net_forward(const at::Tensor& x_in, at::TensorList params_in) {
  const int64_t width = check_factor_net_args(x_in, params_in);
  const at::ScalarType st = x_in.scalar_type();
  TORCH_CHECK_TYPE(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16,
                   "factor_net on CUDA supports float32, float64, float16 and bfloat16; got ", st);
  TORCH_CHECK_VALUE(width <= kMaxWidth, "factor_net on CUDA supports networks up to ", kMaxWidth,
                    " channels wide (SGZ's is 32); got ", width);
  const typename Device::Guard guard(x_in.device());
  const at::Tensor& x = x_in;  // read in place, any strides
  std::vector<at::Tensor> params;
  for (const at::Tensor& p : params_in) params.push_back(p.contiguous());
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  at::Tensor out = Device::empty({N, 3, H, W}, x.options());
  if (out.numel() == 0) return out;
  // Windows reach 22 pixels past the image's last column: their coordinates stay in int.
  constexpr int64_t kMaxSide = std::numeric_limits<int>::max() - 64;
  TORCH_CHECK_VALUE(H <= kMaxSide && W <= kMaxSide, "factor_net on CUDA: H and W must be at most ",
                    kMaxSide, "; got ", H, " x ", W);
  const int tiles_x = static_cast<int>(ceil_div(W, kNetTileW));
  const int tiles_y = static_cast<int>(ceil_div(H, kNetTileH));
  const int64_t tiles = N * tiles_x * tiles_y;
  const NetInputStrides sx{x.stride(0), x.stride(1), x.stride(2), x.stride(3)};

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, st, "factor_net_cuda", [&] {
    using T = scalar_t;
    using acc_t = at::opmath_type<T>;
    NetParams<T> p{};
    for (int k = 0; k < 7; ++k) {
      const at::Tensor* layer = &params[4 * k];
      p.layer[k] = {layer[0].const_data_ptr<T>(),       layer[1].const_data_ptr<T>(),
                    layer[2].const_data_ptr<T>(),       layer[3].const_data_ptr<T>(),
                    static_cast<int>(layer[2].size(1)), static_cast<int>(layer[2].size(0))};
    }
    // One wave of blocks at most, each with its scratch slice.
    const int64_t wave = int64_t{Device::multiprocessors()} *
                         std::max(1, Device::blocks_per_sm(factor_net_kernel<T>));
    const int64_t blocks = std::min(tiles, wave);
    at::Tensor scratch = Device::empty({blocks * NetRegions::of(width).size},
                                       x.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    Device::launch(dim3(static_cast<unsigned>(blocks)), factor_net_kernel<T>, x.const_data_ptr<T>(),
                   sx, p, out.mutable_data_ptr<T>(), scratch.mutable_data_ptr<acc_t>(), N,
                   static_cast<int>(H), static_cast<int>(W), tiles_x, tiles_y);
  });
  return out;
}

}  // namespace sgz::gpu
