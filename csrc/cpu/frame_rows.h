#pragma once
// The row loop the 8-bit frame operators share (curve_uint8.cpp, affine_uint8.cpp), as their
// CUDA twins share frames_uint8.cuh: a fresh output frame, and each of its N * H rows of
// W * C interleaved bytes handed, with its image and vertical bilinear tap into the
// low-resolution maps (align_corners=True), to a per-row function; rows split between threads
// in runs of about 32 KB. Each parallel task makes its own row function (its cached map rows).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

#include "../common/bilinear.h"
#include "huge_pages.h"
#include "interleaved_rows.h"

namespace sgz::cpu {

// out = row_fn(n, ty, in_row, out_row) over every row of `frames_in` (N, H, W, C) uint8, the
// maps being h x w; make_row_fn(g) is called once per task and returns that task's row_fn.
template <typename MakeRowFn>
at::Tensor map_frame_rows(const at::Tensor& frames_in, int64_t h, int64_t w,
                          const MakeRowFn& make_row_fn) {
  const at::Tensor frames = frames_in.contiguous();
  at::Tensor out = with_huge_pages(at::empty_like(frames, at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const FrameGeometry g{frames.size(0), frames.size(1), frames.size(2), frames.size(3), h, w};
  const uint8_t* in = frames.const_data_ptr<uint8_t>();
  uint8_t* dst = out.mutable_data_ptr<uint8_t>();
  const float scale_y = align_corners_scale<float>(g.h, g.H);
  const int64_t grain_rows = std::max<int64_t>(1, 32768 / g.row());
  at::parallel_for(0, g.N * g.H, grain_rows, [&](int64_t begin, int64_t end) {
    auto row_fn = make_row_fn(g);
    for (int64_t index = begin; index < end; ++index) {
      const Tap<float> ty = align_corners_tap(index % g.H, g.h, scale_y, g.H);
      row_fn(index / g.H, ty, in + index * g.row(), dst + index * g.row());
    }
  });
  return out;
}

}  // namespace sgz::cpu
