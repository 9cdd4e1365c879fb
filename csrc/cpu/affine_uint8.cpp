// CPU operator of sgz_fast::affine_uint8: out = a x + b on 8-bit frames (N, H, W, C), with the
// per-channel coefficient maps a (scale) and b (offset) at low resolution (N, C, h, w),
// upsampled bilinearly (align_corners=True) as they are read; written back as 8-bit. The full-
// resolution step of sgz_fast.denoise's guided filter. Each row of W * C interleaved bytes is
// one vectorizable loop (kernels/affine_uint8_kernels.cpp, one copy per CPU level) reading
// both maps from two cached source rows each (cpu/interleaved_rows.h). Memory: the frame read
// and written once, plus 4 rows of W * C floats per thread.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "huge_pages.h"
#include "interleaved_rows.h"
#include "kernels/affine_uint8_kernels.h"

namespace sgz {
namespace {

at::Tensor affine_uint8_cpu(const at::Tensor& frames_in, const at::Tensor& scale_in,
                            const at::Tensor& offset_in) {
  check_affine_uint8_args(frames_in, scale_in, offset_in);
  const at::Tensor frames = frames_in.contiguous();
  const at::Tensor scale = scale_in.contiguous(), offset = offset_in.contiguous();
  at::Tensor out = with_huge_pages(at::empty_like(frames, at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const cpu::FrameGeometry g{frames.size(0), frames.size(1), frames.size(2),
                             frames.size(3), scale.size(2),  scale.size(3)};
  const uint8_t* in = frames.const_data_ptr<uint8_t>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  const float scale_y = align_corners_scale<float>(g.h, g.H);
  const int64_t grain_rows = std::max<int64_t>(1, 32768 / g.row());
  const auto& kernels = cpu::affine_uint8_kernels<float>();
  at::parallel_for(0, g.N * g.H, grain_rows, [&](int64_t begin, int64_t end) {
    cpu::InterleavedRows a_rows(scale.const_data_ptr<float>(), g);
    cpu::InterleavedRows b_rows(offset.const_data_ptr<float>(), g);
    for (int64_t index = begin; index < end; ++index) {
      const int64_t n = index / g.H;
      const Tap<float> ty = align_corners_tap(index % g.H, g.h, scale_y);
      const float* a_top = a_rows.get(n, ty.i0);
      const float* b_top = b_rows.get(n, ty.i0);
      // Maps at the frame's size are used as they are (as the reference: no interpolation).
      const float* a_bot = g.upsample() ? a_rows.get(n, ty.i1) : nullptr;
      const float* b_bot = g.upsample() ? b_rows.get(n, ty.i1) : nullptr;
      kernels.row(in + index * g.row(), dst + index * g.row(), a_top, a_bot, b_top, b_bot, ty.w0,
                  ty.w1, g.row());
    }
  });
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) { m.impl("affine_uint8", &sgz::affine_uint8_cpu); }
