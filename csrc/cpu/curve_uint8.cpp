// CPU operator of sgz_fast::curve_iter_uint8: the curve applied to 8-bit frames as decoders
// give them (N, H, W, C) and written back as 8-bit, with no float copy of the frame. Each row
// of W * C interleaved values is one vectorizable loop (kernels/curve_uint8_kernels.cpp, one
// copy per CPU capability level) reading the factors from two cached source rows, upsampled
// along columns and interleaved once per source row here.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "huge_pages.h"
#include "interleaved_rows.h"
#include "kernels/curve_uint8_kernels.h"

namespace sgz {
namespace {

at::Tensor curve_iter_uint8_cpu(const at::Tensor& frames_in, const at::Tensor& r_in,
                                int64_t iterations) {
  check_curve_uint8_args(frames_in, r_in, iterations);
  const at::Tensor frames = frames_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor out = with_huge_pages(at::empty_like(frames, at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const cpu::FrameGeometry g{frames.size(0), frames.size(1), frames.size(2),
                             frames.size(3), r.size(2),      r.size(3)};
  const uint8_t* in = frames.const_data_ptr<uint8_t>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  const float scale_y = align_corners_scale<float>(g.h, g.H);
  const int64_t grain_rows = std::max<int64_t>(1, 32768 / g.row());
  const auto& kernels = cpu::curve_uint8_kernels<float>();
  at::parallel_for(0, g.N * g.H, grain_rows, [&](int64_t begin, int64_t end) {
    cpu::InterleavedRows rows(r.const_data_ptr<float>(), g);
    for (int64_t index = begin; index < end; ++index) {
      const int64_t n = index / g.H;
      const Tap<float> ty = align_corners_tap(index % g.H, g.h, scale_y);
      const float* top = rows.get(n, ty.i0);
      // As the reference: r at the frame's size is used as it is, a smaller one interpolated
      // with PyTorch's formula (a zero weight still multiplies its tap: 0 * inf is NaN there).
      const float* bot = g.upsample() ? rows.get(n, ty.i1) : nullptr;
      kernels.row(in + index * g.row(), dst + index * g.row(), top, bot, ty.w0, ty.w1, g.row(),
                  iterations);
    }
  });
  return out;
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) { m.impl("curve_iter_uint8", &sgz::curve_iter_uint8_cpu); }
