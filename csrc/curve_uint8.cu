// CUDA kernel of sgz_fast::curve_iter_uint8 (see cpu/curve_uint8.cpp): 8-bit frames
// (N, H, W, C) in and out, the factors sampled bilinearly from the low-resolution r in
// registers. One thread per byte: the frame is read and written once, coalesced; r is a few
// KB and stays in cache.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>

#include "common/bilinear.h"
#include "common/checks.h"
#include "common/curve.h"
#include "common/pixels.h"

namespace sgz {
namespace {

constexpr int kThreads = 256;

__global__ void curve_uint8_kernel(const uint8_t* __restrict__ in, const float* __restrict__ r,
                                   uint8_t* __restrict__ out, int64_t total, int64_t H, int64_t W,
                                   int64_t C, int64_t h, int64_t w, float scale_y, float scale_x,
                                   int64_t iterations) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += stride) {
    const int64_t c = e % C;
    const int64_t pixel = e / C;
    const int64_t X = pixel % W;
    const int64_t Y = (pixel / W) % H;
    const int64_t n = pixel / (W * H);
    const Tap<float> ty = align_corners_tap(Y, h, scale_y);
    const Tap<float> tx = align_corners_tap(X, w, scale_x);
    const float* plane = r + (n * C + c) * h * w;
    const float factor = bilinear_sample(plane + ty.i0 * w, plane + ty.i1 * w, ty, tx);
    out[e] = byte_from_unit(curve_apply(unit_from_byte(in[e]), factor, iterations));
  }
}

at::Tensor curve_iter_uint8_cuda(const at::Tensor& frames_in, const at::Tensor& r_in,
                                 int64_t iterations) {
  check_curve_uint8_args(frames_in, r_in, iterations);
  const c10::cuda::CUDAGuard guard(frames_in.device());
  const at::Tensor frames = frames_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor out = at::empty_like(frames, at::MemoryFormat::Contiguous);
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int64_t H = frames.size(1), W = frames.size(2), C = frames.size(3);
  const int64_t h = r.size(2), w = r.size(3);
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535 * 8);
  curve_uint8_kernel<<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      frames.const_data_ptr<uint8_t>(), r.const_data_ptr<float>(), out.mutable_data_ptr<uint8_t>(),
      total, H, W, C, h, w, align_corners_scale<float>(h, H), align_corners_scale<float>(w, W),
      iterations);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) { m.impl("curve_iter_uint8", &sgz::curve_iter_uint8_cuda); }
