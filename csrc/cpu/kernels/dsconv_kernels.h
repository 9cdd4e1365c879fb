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

// Per-thread sums of the weight gradients: pw (cout x cin), pb (cout), dw (cin x 9), db (cin).
template <typename T>
struct WeightGrads {
  std::vector<T> pw, pb, dw, db;
  explicit WeightGrads(const Dims& s)
      : pw(s.cout * s.cin, T(0)), pb(s.cout, T(0)), dw(s.cin * 9, T(0)), db(s.cin, T(0)) {}
};

// Scratch rows of one parallel task, allocated by the operator: the hot loops allocate nothing.
// `rows` consecutive rows of an image at a time (the backward's band): Cin x rows x W
// depthwise values, Cout x rows x W output gradients, a row of W zeros, and for the backward
// a window of Cin x (rows + 2) x W values of g_d (the band and the two rows before it).
template <typename T>
struct RowScratch {
  int64_t rows;
  std::vector<T> d, gz, zeros, gd;
  RowScratch(const Dims& s, int64_t rows, bool backward = false)
      : rows(rows),
        d(s.cin * rows * s.W),
        gz(s.cout * rows * s.W),
        zeros(s.W, T(0)),
        gd(backward ? s.cin * (rows + 2) * s.W : 0) {}
};

template <typename T>
struct DsconvKernels {
  // Output rows [begin, end) of the N * H rows.
  void (*forward_rows)(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* pb,
                       T* out, const Dims& s, Activation act, RowScratch<T>& scratch, int64_t begin,
                       int64_t end);
  // The backward for rows [begin, end) of the N * H rows, in bands of up to scratch.rows rows
  // of one image: the input gradients of those rows into gin (channel c of image 0 at gin[c])
  // and the weight gradients' sums over them into `acc`.
  void (*backward_rows)(const Channels<T>& ch, const T* dw, const T* db, const T* pw, const T* grad,
                        const T* out, T* const* gin, WeightGrads<T>& acc, const Dims& s,
                        Activation act, RowScratch<T>& scratch, int64_t begin, int64_t end);
};

}  // namespace sgz::cpu

SGZ_CPU_KERNEL_TABLE(DsconvKernels, dsconv_kernels)
