// CPU operator of sgz_fast::curve_iter_uint8: the curve applied to 8-bit frames as decoders
// give them (N, H, W, C) and written back as 8-bit, with no float copy of the frame. Each row
// of W * C interleaved values is one vectorizable loop (kernels/curve_uint8_kernels.cpp, one
// copy per CPU capability level) reading the factors from two cached source rows, upsampled
// along columns and interleaved once per source row here.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "../common/checks.h"
#include "frame_rows.h"
#include "kernels/curve_uint8_kernels.h"

namespace sgz {
namespace {

at::Tensor curve_iter_uint8_cpu(const at::Tensor& frames, const at::Tensor& r_in,
                                int64_t iterations) {
  check_curve_uint8_args(frames, r_in, iterations);
  const at::Tensor r = r_in.contiguous();
  const auto& kernels = cpu::curve_uint8_kernels<float>();
  return cpu::map_frame_rows(frames, r.size(2), r.size(3), [&](const cpu::FrameGeometry& g) {
    return [&kernels, &g, iterations, rows = cpu::InterleavedRows(r.const_data_ptr<float>(), g)](
               int64_t n, const Tap<float>& ty, const uint8_t* in, uint8_t* out) mutable {
      const float* top = rows.get(n, ty.i0);
      // As the reference: r at the frame's size is used as it is, a smaller one interpolated
      // with PyTorch's formula (a zero weight still multiplies its tap: 0 * inf is NaN there).
      const float* bot = g.upsample() ? rows.get(n, ty.i1) : nullptr;
      kernels.row(in, out, top, bot, ty.w0, ty.w1, g.row(), iterations);
    };
  });
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CPU, m) { m.impl("curve_iter_uint8", &sgz::curve_iter_uint8_cpu); }
