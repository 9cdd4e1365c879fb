#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace sgz {

// Argument checks shared by the CPU and CUDA kernels of curve_iter (and its backward). The
// Python mirror, sgz_fast/_checks.py, serves the reference and the fake kernels.
inline void check_curve_args(const at::Tensor& x, const at::Tensor& r, int64_t iterations) {
  TORCH_CHECK(x.dim() == 4, "curve_iter: x must be a 4-D tensor (N, C, H, W); got ", x.dim(),
              "-D with shape ", x.sizes());
  TORCH_CHECK(r.dim() == 4, "curve_iter: r must be a 4-D tensor (N, C, h, w); got ", r.dim(),
              "-D with shape ", r.sizes());
  TORCH_CHECK(r.size(0) == x.size(0) && r.size(1) == x.size(1),
              "curve_iter: r must have x's batch and channel sizes: expected (", x.size(0), ", ",
              x.size(1), ", h, w), got ", r.sizes());
  TORCH_CHECK(r.size(2) <= x.size(2) && r.size(3) <= x.size(3), "curve_iter: r (", r.size(2), "x",
              r.size(3), ") must not be larger than x (", x.size(2), "x", x.size(3),
              "): r is upsampled to x's size");
  TORCH_CHECK(x.numel() == 0 || (r.size(2) > 0 && r.size(3) > 0),
              "curve_iter: r must have at least one pixel per plane; got shape ", r.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "curve_iter: x must be a floating-point tensor; got ", x.scalar_type());
  TORCH_CHECK(r.scalar_type() == x.scalar_type(), "curve_iter: r must have x's dtype (",
              x.scalar_type(), "); got ", r.scalar_type());
  TORCH_CHECK(r.device() == x.device(), "curve_iter: x and r must be on the same device; x is on ",
              x.device(), ", r is on ", r.device());
  TORCH_CHECK(iterations >= 0, "curve_iter: iterations must be >= 0; got ", iterations);
}

inline void check_curve_backward_args(const at::Tensor& grad, const at::Tensor& x,
                                      const at::Tensor& r, int64_t iterations) {
  check_curve_args(x, r, iterations);
  TORCH_CHECK(grad.sizes() == x.sizes(), "curve_iter_backward: grad must have x's shape ",
              x.sizes(), "; got ", grad.sizes());
  TORCH_CHECK(grad.scalar_type() == x.scalar_type() && grad.device() == x.device(),
              "curve_iter_backward: grad must have x's dtype and device (", x.scalar_type(), " on ",
              x.device(), "); got ", grad.scalar_type(), " on ", grad.device());
}

}  // namespace sgz
