#pragma once
// What the dsconv operators (cpu/dsconv.cpp) and their per-level hot loops
// (kernels/dsconv_kernels.cpp) share: where the input channels live, the sizes, the per-thread
// weight-gradient sums, and the table of hot loops of one capability level.
// Members used by the hot loops are always inlined: an out-of-line copy compiled for AVX-512
// could otherwise be the one the linker keeps for every level.
#include <cstdint>
#include <vector>

#include "../../common/dsconv.h"
#include "../../common/macros.h"
#include "../capability.h"

namespace sgz::cpu {

// Where channel c of the concatenated input lives, per image.
template <typename T>
struct Channels {
  std::vector<const T*> base;  // channel c of image 0
  std::vector<int64_t> image_stride;
  int64_t H, W;

  SGZ_ALWAYS_INLINE int64_t count() const { return static_cast<int64_t>(base.size()); }
  SGZ_ALWAYS_INLINE const T* plane(int64_t n, int64_t c) const {
    return base[c] + n * image_stride[c];
  }
  SGZ_ALWAYS_INLINE const T* row(int64_t n, int64_t c, int64_t y, const T* zeros) const {
    return y < 0 || y >= H ? zeros : plane(n, c) + y * W;
  }
};

struct Dims {
  int64_t N, cin, cout, H, W;
};

// Per-thread sums of the weight gradients: pw (cout x cin), pb (cout), db (cin).
template <typename T>
struct WeightGrads {
  std::vector<T> pw, pb, db;
  explicit WeightGrads(const Dims& s)
      : pw(s.cout * s.cin, T(0)), pb(s.cout, T(0)), db(s.cin, T(0)) {}
};

// Scratch rows of one parallel task, allocated by the operator: the hot loops allocate nothing.
// `rows` consecutive rows of an image at a time (the backward's band): Cin x rows x W
// depthwise values, Cout x rows x W output gradients, and a row of W zeros.
template <typename T>
struct RowScratch {
  int64_t rows;
  std::vector<T> d, gz, zeros;
  RowScratch(const Dims& s, int64_t rows)
      : rows(rows), d(s.cin * rows * s.W), gz(s.cout * rows * s.W), zeros(s.W, T(0)) {}
};

template <typename T>
struct DsconvKernels {
  // Output rows [begin, end) of the N * H rows.
  void (*forward_rows)(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* pb,
                       T* out, const Dims& s, Activation act, RowScratch<T>& scratch, int64_t begin,
                       int64_t end);
  // Backward pass 1 over rows [begin, end), in bands of up to scratch.rows rows of one image:
  // pointwise weight and bias gradients and the depthwise bias gradient into `acc`, and g_d
  // (N x Cin x H x W) for the rows.
  void (*backward_rows)(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* grad,
                        const T* out, T* gd, WeightGrads<T>& acc, const Dims& s, Activation act,
                        RowScratch<T>& scratch, int64_t begin, int64_t end);
  // Backward pass 2 over channel planes [begin, end) of N x Cin: input gradients into gin and
  // the 9 depthwise weight-gradient sums of each plane into gdw.
  void (*backward_planes)(const Channels<T>& ch, const T* dw, const T* gd, T* const* gin, T* gdw,
                          const Dims& s, const T* zeros, int64_t begin, int64_t end);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(DsconvKernels, dsconv_kernels)
