#pragma once
// The rows a guided filter's windows reach, for the row kernels of kernels/guided_kernels.h.
#include <cstdint>

#include "../common/guided.h"

namespace sgz::cpu {

// out[0 .. 2r]: the rows y - r .. y + r of an h-row plane, mirrored at its ends as
// common/guided.h mirrors them, in a buffer holding the plane's rows from `first` on, w apart.
inline void window_rows(const float* rows, int64_t first, int64_t y, int64_t h, int64_t w,
                        int64_t r, const float** out) {
  for (int64_t k = -r; k <= r; ++k) out[k + r] = rows + (reflect_index(y + k, h) - first) * w;
}

}  // namespace sgz::cpu
