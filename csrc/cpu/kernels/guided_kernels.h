#pragma once
// The table of hot loops of the guided filters' CPU kernels (cpu/guided_coefficients.cpp,
// cpu/colour_guided_coefficients.cpp, cpu/guided_inputs_uint8.cpp and
// cpu/colour_guided_filter_uint8.cpp) for one capability level; T is float.
#include <cstdint>

#include "../capability.h"

namespace sgz::cpu {

template <typename T>
struct GuidedKernels {
  // The window rows: `rows` holds the 2r + 1 rows (top to bottom, mirrored at the plane's
  // ends: cpu/window_rows.h) that a row's windows reach.
  //
  // A row of the A and B maps (common/guided.h) of one plane of the guide, with the row of eps
  // that goes with it; scratch holds 3 * (w + 2r) values.
  void (*linear_row)(const T* const* rows, const T* eps, int64_t w, int64_t r, T* A, T* B,
                     T* scratch);
  // A row of the colour filter's A and B (common/guided.h, colour_guided_linear) of one image's
  // 3 channels (channel c's rows at rows[k] + c * channel_stride), with its row of eps: 9 rows,
  // the 6 of A then the 3 of B, entry k's at out + k * out_stride; scratch holds 10 (w + 2r).
  void (*colour_linear_row)(const T* const* rows, int64_t channel_stride, const T* eps, int64_t w,
                            int64_t r, T* out, int64_t out_stride, T* scratch);
  // A row of the window means of one plane; scratch holds w + 2r values.
  void (*mean_row)(const T* const* rows, int64_t w, int64_t r, T* out, T* scratch);
  // Row y of guided_inputs_uint8 from its `s` rows of W * C bytes at enhanced and dark (rows
  // W * C apart): w guide values per channel, channel c's at guide + c * plane, and w values of
  // eps; luma holds C weights; scratch holds (3 w s + 2 w) C + w values.
  void (*inputs_row)(const uint8_t* enhanced, const uint8_t* dark, int64_t W, int64_t C, int64_t s,
                     int64_t w, const T* luma, T noise, T max_gain, T* guide, int64_t plane, T* eps,
                     T* scratch);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(GuidedKernels, guided_kernels)
