// CPU operator of sgz_fast::affine_uint8: out = a x + b on 8-bit frames (N, H, W, C), with the
// per-channel coefficient maps a (scale) and b (offset) at low resolution (N, C, h, w),
// upsampled bilinearly (align_corners=True) as they are read; written back as 8-bit. The full-
// resolution step of sgz_fast.denoise's guided filter. Each row of W * C interleaved bytes is
// one vectorizable loop (kernels/affine_uint8_kernels.cpp, one copy per CPU level) reading
// both maps from two cached source rows each (cpu/interleaved_rows.h). Memory: the frame read
// and written once, plus 4 rows of W * C floats per thread.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "../common/checks.h"
#include "frame_rows.h"
#include "kernels/affine_uint8_kernels.h"

namespace sgz {
namespace {

at::Tensor affine_uint8_cpu(const at::Tensor& frames, const at::Tensor& scale_in,
                            const at::Tensor& offset_in) {
  check_affine_uint8_args(frames, scale_in, offset_in);
  const at::Tensor scale = scale_in.contiguous(), offset = offset_in.contiguous();
  const auto& kernels = cpu::affine_uint8_kernels<float>();
  return cpu::map_frame_rows(
      frames, scale.size(2), scale.size(3), [&](const cpu::FrameGeometry& g) {
        return [&kernels, &g, a = cpu::InterleavedRows(scale.const_data_ptr<float>(), g),
                b = cpu::InterleavedRows(offset.const_data_ptr<float>(), g)](
                   int64_t n, const Tap<float>& ty, const uint8_t* in, uint8_t* out) mutable {
          // Maps at the frame's size are used as they are (as the reference: no interpolation).
          const float* a_top = a.get(n, ty.i0);
          const float* b_top = b.get(n, ty.i0);
          const float* a_bot = g.upsample() ? a.get(n, ty.i1) : nullptr;
          const float* b_bot = g.upsample() ? b.get(n, ty.i1) : nullptr;
          kernels.row(in, out, a_top, a_bot, b_top, b_bot, ty.w0, ty.w1, g.row());
        };
      });
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) { m.impl("affine_uint8", &sgz::affine_uint8_cpu); }
