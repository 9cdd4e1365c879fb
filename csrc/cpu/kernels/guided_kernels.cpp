// Hot loops of the guided_coefficients CPU kernel, compiled once per capability level
// (capability.h): a row's window means in two vectorizable passes, the 2r + 1 rows summed
// for every column (with the r columns beyond each end mirrored), then 2r + 1 shifted
// column sums added: the order common/guided.h gives for both devices.
#include "guided_kernels.h"

#include "../../common/guided.h"
#include "level.h"

namespace sgz::cpu {
namespace CPU_CAPABILITY {
namespace {

// sums[r + x] = the sum over rows y - r .. y + r (mirrored at the plane's ends) of column x,
// of the values or, SQUARE, of their squares; sums[0 .. r) and sums[r + w ..) the columns
// beyond the ends, mirrored. `rows` holds the plane's rows from `first` on.
template <bool SQUARE>
SGZ_ALWAYS_INLINE void column_sums(const float* rows, int64_t first, int64_t y, int64_t h,
                                   int64_t w, int64_t r, float* __restrict sums) {
  float* __restrict s = sums + r;
  for (int64_t x = 0; x < w; ++x) s[x] = 0.0f;
  for (int64_t k = -r; k <= r; ++k) {
    const float* __restrict row = rows + (reflect_index(y + k, h) - first) * w;
    for (int64_t x = 0; x < w; ++x) s[x] += SQUARE ? row[x] * row[x] : row[x];
  }
  for (int64_t j = 1; j <= r; ++j) {
    s[-j] = s[reflect_index(-j, w)];
    s[w - 1 + j] = s[reflect_index(w - 1 + j, w)];
  }
}

// out[x] = (sums[x] + ... + sums[x + 2r]) / (2r + 1)^2.
SGZ_ALWAYS_INLINE void window_means(const float* __restrict sums, int64_t w, int64_t r,
                                    float* __restrict out) {
  for (int64_t x = 0; x < w; ++x) out[x] = 0.0f;
  for (int64_t j = 0; j <= 2 * r; ++j) {
    for (int64_t x = 0; x < w; ++x) out[x] += sums[x + j];
  }
  const float inv_area = 1.0f / static_cast<float>((2 * r + 1) * (2 * r + 1));
  for (int64_t x = 0; x < w; ++x) out[x] *= inv_area;
}

void linear_row(const float* plane, const float* eps, int64_t y, int64_t h, int64_t w, int64_t r,
                float* A, float* B, float* scratch) {
  float* sums = scratch;
  float* mean = scratch + (w + 2 * r);
  float* mean_sq = mean + (w + 2 * r);
  column_sums<false>(plane, 0, y, h, w, r, sums);
  window_means(sums, w, r, mean);
  column_sums<true>(plane, 0, y, h, w, r, sums);
  window_means(sums, w, r, mean_sq);
  for (int64_t x = 0; x < w; ++x) self_guided_linear(mean[x], mean_sq[x], eps[x], A[x], B[x]);
}

void mean_row(const float* rows, int64_t first, int64_t y, int64_t h, int64_t w, int64_t r,
              float* out, float* scratch) {
  column_sums<false>(rows, first, y, h, w, r, scratch);
  window_means(scratch, w, r, out);
}

}  // namespace

template <typename T>
const GuidedKernels<T>& guided_kernels() {
  static const GuidedKernels<T> table{&linear_row, &mean_row};
  return table;
}

template const GuidedKernels<float>& guided_kernels<float>();

}  // namespace CPU_CAPABILITY
}  // namespace sgz::cpu
