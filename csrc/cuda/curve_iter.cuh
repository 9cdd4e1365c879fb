// CUDA kernels of sgz_fast::curve_iter and its backward.
//
// Forward: one pass, memory bound (x and r read once, y written once). Threads walk the rows
// of x, VEC consecutive elements each with 16-byte accesses when rows are aligned; a smaller r
// is sampled bilinearly in registers from the low-resolution tensor (a few KB, cache resident),
// so the full-resolution r is never written. Arithmetic is in float32 for half types.
//
// Backward: recomputes the curve per element with forward-mode tangents (common/curve.h)
// instead of storing the intermediates. When r was upsampled, its gradient is reduced without
// atomics, deterministically, in two parallel kernels: column sums per band of output rows that
//
// Included by csrc/curve_iter.cu (instantiated with CudaDevice) and by the tests' host emulation.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <tuple>

#include "../common/bilinear.h"
#include "../common/checks.h"
#include "../common/curve.h"
#include "common.cuh"

namespace sgz::gpu {

// ---- Kernels --------------------------------------------------------------------------------

template <typename T, int VEC>
__device__ __forceinline__ Pack<T, VEC> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, VEC>*>(p);
}

// A whole-pack store. Assigning the Pack, or a union with uint4, compiles to scalar stores
// (seen in the PTX); an explicit uint4 store through __stwb gives one st.global.v4.
template <typename T, int VEC>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, VEC>& pack) {
  if constexpr (sizeof(Pack<T, VEC>) == sizeof(uint4)) {
    __stwb(reinterpret_cast<uint4*>(p), *reinterpret_cast<const uint4*>(&pack));
  } else {
    *reinterpret_cast<Pack<T, VEC>*>(p) = pack;
  }
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Geometry and the enhancement factor of one element of the row layout.
struct Geometry {
  int64_t rows, H, W, h, w;  // rows = N * C * H, or 1 for the flat layout (r at x's size)
};

template <typename T, int VEC, bool UPSAMPLE>
__device__ __forceinline__ void factors_of(const T* __restrict__ r, const Geometry& g, int64_t row,
                                           int64_t X0, at::opmath_type<T> (&out)[VEC]) {
  using acc_t = at::opmath_type<T>;
  if constexpr (UPSAMPLE) {
    const int64_t plane = row / g.H;
    const Tap<acc_t> ty =
        align_corners_tap(row - plane * g.H, g.h, align_corners_scale<acc_t>(g.h, g.H), g.H);
    const acc_t scale_x = align_corners_scale<acc_t>(g.w, g.W);
    const T* row0 = r + (plane * g.h + ty.i0) * g.w;
    const T* row1 = r + (plane * g.h + ty.i1) * g.w;
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      out[v] = bilinear_sample(row0, row1, ty, align_corners_tap(X0 + v, g.w, scale_x, g.W));
    }
  } else {
    const Pack<T, VEC> rv = load_pack<T, VEC>(r + row * g.W + X0);
#pragma unroll
    for (int v = 0; v < VEC; ++v) out[v] = static_cast<acc_t>(rv.v[v]);
  }
}

template <typename T, int VEC, bool UPSAMPLE>
__global__ void __launch_bounds__(kThreads)
    curve_forward_kernel(const T* __restrict__ x, const T* __restrict__ r, T* __restrict__ y,
                         Geometry g, int64_t iterations) {
  using acc_t = at::opmath_type<T>;
  const int64_t X0 = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) * VEC;
  if (X0 >= g.W) return;
  for (int64_t row = blockIdx.y; row < g.rows; row += gridDim.y) {
    const int64_t off = row * g.W + X0;
    acc_t rv[VEC];
    factors_of<T, VEC, UPSAMPLE>(r, g, row, X0, rv);
    const Pack<T, VEC> xv = load_pack<T, VEC>(x + off);
    Pack<T, VEC> yv;
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      yv.v[v] = static_cast<T>(curve_apply(static_cast<acc_t>(xv.v[v]), rv[v], iterations));
    }
    store_pack<T, VEC>(y + off, yv);
  }
}

// Backward when r has x's size: both gradients are elementwise.
template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads)
    curve_backward_kernel(const T* __restrict__ grad, const T* __restrict__ x,
                          const T* __restrict__ r, T* __restrict__ gx, T* __restrict__ gr,
                          Geometry g, int64_t iterations) {
  using acc_t = at::opmath_type<T>;
  const int64_t X0 = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) * VEC;
  if (X0 >= g.W) return;
  for (int64_t row = blockIdx.y; row < g.rows; row += gridDim.y) {
    const int64_t off = row * g.W + X0;
    const Pack<T, VEC> xv = load_pack<T, VEC>(x + off);
    const Pack<T, VEC> rv = load_pack<T, VEC>(r + off);
    const Pack<T, VEC> gv = load_pack<T, VEC>(grad + off);
    Pack<T, VEC> gxv, grv;
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      const CurveGrad<acc_t> d =
          curve_grad(static_cast<acc_t>(xv.v[v]), static_cast<acc_t>(rv.v[v]), iterations);
      const acc_t gval = static_cast<acc_t>(gv.v[v]);
      gxv.v[v] = static_cast<T>(gval * d.dy_dx);
      grv.v[v] = static_cast<T>(gval * d.dy_dr);
    }
    if (gx != nullptr) store_pack<T, VEC>(gx + off, gxv);
    if (gr != nullptr) store_pack<T, VEC>(gr + off, grv);
  }
}

// Backward when r was upsampled, first kernel. Block (band, chunk), band = (plane, k), covers
// the output rows whose first source row is k and kThreads columns; each thread walks its
// column down the band, writes x's gradient and, when `col` is given, the column's sums of
// g * dy/dr weighted for source rows k and k + 1: col[band][0][X] and col[band][1][X].
template <typename T>
__global__ void __launch_bounds__(kThreads)
    curve_backward_band_kernel(const T* __restrict__ grad, const T* __restrict__ x,
                               const T* __restrict__ r, T* __restrict__ gx,
                               at::opmath_type<T>* __restrict__ col, Geometry g,
                               int64_t iterations) {
  using acc_t = at::opmath_type<T>;
  const int64_t X = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  if (X >= g.W) return;
  const int64_t band = blockIdx.x;
  const int64_t plane = band / g.h, k = band - plane * g.h;
  const acc_t scale_y = align_corners_scale<acc_t>(g.h, g.H);
  const Tap<acc_t> tx = align_corners_tap(X, g.w, align_corners_scale<acc_t>(g.w, g.W), g.W);
  const int64_t y_begin = first_output_reading(k, g.h, g.H, scale_y);
  const int64_t y_end = first_output_reading(k + 1, g.h, g.H, scale_y);
  const T* r_plane = r + plane * g.h * g.w;
  acc_t top = 0, bot = 0;
  for (int64_t Y = y_begin; Y < y_end; ++Y) {
    const Tap<acc_t> ty = align_corners_tap(Y, g.h, scale_y, g.H);
    const acc_t rv = bilinear_sample(r_plane + ty.i0 * g.w, r_plane + ty.i1 * g.w, ty, tx);
    const int64_t off = (plane * g.H + Y) * g.W + X;
    const CurveGrad<acc_t> d = curve_grad(static_cast<acc_t>(x[off]), rv, iterations);
    const acc_t gval = static_cast<acc_t>(grad[off]);
    if (gx != nullptr) gx[off] = static_cast<T>(gval * d.dy_dx);
    const acc_t gr = gval * d.dy_dr;
    top += ty.w0 * gr;
    if (ty.i1 == k) {  // last source row: both taps read row k
      top += ty.w1 * gr;
    } else {
      bot += ty.w1 * gr;
    }
  }
  if (col != nullptr) {
    col[(band * 2) * g.W + X] = top;
    col[(band * 2 + 1) * g.W + X] = bot;
  }
}

// Second kernel: one thread per element (plane, k, j) of r's gradient gathers the columns X
// that read source column j, from band k's first slot and band k-1's second:
// gr[plane, k, j] = sum_X w_j(X) * (col[band][0][X] + col[band - 1][1][X]).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    gather_columns_kernel(const at::opmath_type<T>* __restrict__ col, T* __restrict__ gr,
                          Geometry g, int64_t total) {
  using acc_t = at::opmath_type<T>;
  const acc_t scale_x = align_corners_scale<acc_t>(g.w, g.W);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t band = i / g.w, j = i - band * g.w;
    const acc_t* here = col + band * 2 * g.W;
    const acc_t* above = band % g.h > 0 ? col + (band * 2 - 1) * g.W : nullptr;
    // Columns whose first source column is j - 1 or j: [first(j - 1), first(j + 1)).
    const int64_t x_begin = first_output_reading(j - 1, g.w, g.W, scale_x);
    const int64_t x_end = first_output_reading(j + 1, g.w, g.W, scale_x);
    acc_t sum = 0;
    for (int64_t X = x_begin; X < x_end; ++X) {
      const Tap<acc_t> t = align_corners_tap(X, g.w, scale_x, g.W);
      const acc_t weight = (t.i0 == j ? t.w0 : acc_t(0)) + (t.i1 == j ? t.w1 : acc_t(0));
      sum += weight * (here[X] + (above != nullptr ? above[X] : acc_t(0)));
    }
    gr[i] = static_cast<T>(sum);
  }
}

// ---- Host: the ops' bodies on a Device (common.cuh) -----------------------------------------

// CUDA's types: float8 and the complex types have no kernels here.
inline void check_curve_cuda_dtype(const at::Tensor& x) {
  const at::ScalarType st = x.scalar_type();
  TORCH_CHECK_TYPE(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16,
                   "curve_iter on CUDA supports float32, float64, float16 and bfloat16; got ", st);
}

// The row layout of the kernels; without upsampling the elementwise kernels see one flat row,
// so small images still fill whole blocks and 16-byte accesses need only numel % VEC == 0.
inline Geometry geometry_of(const at::Tensor& x, const at::Tensor& r, bool upsample) {
  if (!upsample) return {1, 1, x.numel(), 1, x.numel()};
  return {x.size(0) * x.size(1) * x.size(2), x.size(2), x.size(3), r.size(2), r.size(3)};
}

// Rows are walked grid-stride by gridDim.y blocks (at most max_grid_y of them).
inline dim3 row_grid(const Geometry& g, int vec, int64_t max_grid_y) {
  return dim3(static_cast<unsigned>(ceil_div(g.W, static_cast<int64_t>(kThreads) * vec)),
              static_cast<unsigned>(std::min(g.rows, max_grid_y)));
}

template <class Device, typename T, bool UPSAMPLE>
void launch_curve_forward(const T* x, const T* r, T* y, const Geometry& g, int64_t iterations) {
  constexpr int V = 16 / sizeof(T);
  const bool vec_ok = g.W % V == 0 && aligned16(x) && aligned16(y) && (UPSAMPLE || aligned16(r));
  if (vec_ok) {
    Device::launch(row_grid(g, V, Device::max_grid_y()), curve_forward_kernel<T, V, UPSAMPLE>, x, r,
                   y, g, iterations);
  } else {
    Device::launch(row_grid(g, 1, Device::max_grid_y()), curve_forward_kernel<T, 1, UPSAMPLE>, x, r,
                   y, g, iterations);
  }
}

template <class Device>
at::Tensor curve_iter_forward(const at::Tensor& x_in, const at::Tensor& r_in, int64_t iterations) {
  check_curve_args(x_in, r_in, iterations);
  check_curve_cuda_dtype(x_in);
  const typename Device::Guard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor y = Device::empty(x.sizes(), x.options());
  if (y.numel() == 0) return y;
  const bool upsample = r.size(2) != x.size(2) || r.size(3) != x.size(3);
  const Geometry g = geometry_of(x, r, upsample);

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "curve_iter_cuda", [&] {
        const scalar_t* xp = x.const_data_ptr<scalar_t>();
        const scalar_t* rp = r.const_data_ptr<scalar_t>();
        scalar_t* yp = y.mutable_data_ptr<scalar_t>();
        if (upsample) {
          launch_curve_forward<Device, scalar_t, true>(xp, rp, yp, g, iterations);
        } else {
          launch_curve_forward<Device, scalar_t, false>(xp, rp, yp, g, iterations);
        }
      });
  return y;
}

// Backward without upsampling: elementwise, 16-byte accesses where every pointer allows.
template <class Device, typename T>
void launch_curve_backward(const T* grad, const T* x, const T* r, T* gx, T* gr, const Geometry& g,
                           int64_t iterations) {
  constexpr int V = 16 / sizeof(T);
  const bool vec_ok = g.W % V == 0 && aligned16(grad) && aligned16(x) && aligned16(r) &&
                      (gx == nullptr || aligned16(gx)) && (gr == nullptr || aligned16(gr));
  if (vec_ok) {
    Device::launch(row_grid(g, V, Device::max_grid_y()), curve_backward_kernel<T, V>, grad, x, r,
                   gx, gr, g, iterations);
  } else {
    Device::launch(row_grid(g, 1, Device::max_grid_y()), curve_backward_kernel<T, 1>, grad, x, r,
                   gx, gr, g, iterations);
  }
}

// Backward with upsampling, in chunks of planes so that the column sums (2 x W per band of
// output rows, h bands per plane) stay within Device::max_scratch_elements() (at least one
// plane's): with h == H and w < W they would otherwise take twice x's size.
template <class Device, typename T>
void launch_curve_backward_upsampled(const T* grad, const T* x, const T* r, T* gx, T* gr,
                                     const Geometry& g, int64_t planes, int64_t iterations,
                                     const at::TensorOptions& options) {
  using acc_t = at::opmath_type<T>;
  const int64_t x_plane = g.H * g.W, r_plane = g.h * g.w, col_plane = g.h * 2 * g.W;
  const int64_t chunk = std::clamp<int64_t>(Device::max_scratch_elements() / col_plane, 1, planes);
  TORCH_CHECK_VALUE(chunk * g.h <= std::numeric_limits<int32_t>::max(),
                    "curve_iter_backward: r's height ", g.h, " exceeds the CUDA grid limit");
  TORCH_CHECK_VALUE(ceil_div(g.W, kThreads) <= Device::max_grid_y(), "curve_iter_backward: width ",
                    g.W, " exceeds the CUDA grid limit");
  at::Tensor col;  // (chunk * h, 2, W) column sums, float accumulation
  if (gr != nullptr) {
    col = Device::empty({chunk * col_plane}, options.dtype(c10::CppTypeToScalarType<acc_t>::value));
  }
  acc_t* cp = gr != nullptr ? col.mutable_data_ptr<acc_t>() : nullptr;
  for (int64_t p0 = 0; p0 < planes; p0 += chunk) {
    const int64_t count = std::min(chunk, planes - p0);
    Geometry part = g;
    part.rows = count * g.H;
    const dim3 band_grid(static_cast<unsigned>(count * g.h),
                         static_cast<unsigned>(ceil_div(g.W, kThreads)));
    Device::launch(band_grid, curve_backward_band_kernel<T>, grad + p0 * x_plane, x + p0 * x_plane,
                   r + p0 * r_plane, gx != nullptr ? gx + p0 * x_plane : gx, cp, part, iterations);
    if (gr == nullptr) continue;
    const int64_t total = count * r_plane;
    const int64_t blocks = std::min<int64_t>(ceil_div(total, kThreads), 65536);
    Device::launch(dim3(static_cast<unsigned>(blocks)), gather_columns_kernel<T>,
                   static_cast<const acc_t*>(cp), gr + p0 * r_plane, part, total);
  }
}

template <class Device>
std::tuple<at::Tensor, at::Tensor> curve_iter_backward(const at::Tensor& grad_in,
                                                       const at::Tensor& x_in,
                                                       const at::Tensor& r_in, int64_t iterations,
                                                       bool need_x, bool need_r) {
  check_curve_backward_args(grad_in, x_in, r_in, iterations);
  check_curve_cuda_dtype(x_in);
  const typename Device::Guard guard(x_in.device());
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor gx = need_x ? Device::empty(x.sizes(), x.options()) : x.new_empty({0});
  at::Tensor gr = need_r ? Device::empty(r.sizes(), r.options()) : r.new_empty({0});
  if (x.numel() == 0 || (!need_x && !need_r)) {
    if (need_r) gr.zero_();
    return {gx, gr};
  }
  const bool upsample = r.size(2) != x.size(2) || r.size(3) != x.size(3);
  const Geometry g = geometry_of(x, r, upsample);

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "curve_iter_backward_cuda", [&] {
        using T = scalar_t;
        const T* gp = grad.const_data_ptr<T>();
        const T* xp = x.const_data_ptr<T>();
        const T* rp = r.const_data_ptr<T>();
        T* gxp = need_x ? gx.mutable_data_ptr<T>() : nullptr;
        T* grp = need_r ? gr.mutable_data_ptr<T>() : nullptr;
        if (upsample) {
          launch_curve_backward_upsampled<Device, T>(gp, xp, rp, gxp, grp, g, x.size(0) * x.size(1),
                                                     iterations, x.options());
        } else {
          launch_curve_backward<Device, T>(gp, xp, rp, gxp, grp, g, iterations);
        }
      });
  return {gx, gr};
}

}  // namespace sgz::gpu
