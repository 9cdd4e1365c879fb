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
// share a first source row (the CPU file's band scheme), then a gather per element of r.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "common/bilinear.h"
#include "common/checks.h"
#include "common/curve.h"

namespace sgz {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;

template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

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

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

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
        align_corners_tap(row - plane * g.H, g.h, align_corners_scale<acc_t>(g.h, g.H));
    const acc_t scale_x = align_corners_scale<acc_t>(g.w, g.W);
    const T* row0 = r + (plane * g.h + ty.i0) * g.w;
    const T* row1 = r + (plane * g.h + ty.i1) * g.w;
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      out[v] = bilinear_sample(row0, row1, ty, align_corners_tap(X0 + v, g.w, scale_x));
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
  const Tap<acc_t> tx = align_corners_tap(X, g.w, align_corners_scale<acc_t>(g.w, g.W));
  const int64_t y_begin = first_output_reading(k, g.h, g.H, scale_y);
  const int64_t y_end = first_output_reading(k + 1, g.h, g.H, scale_y);
  const T* r_plane = r + plane * g.h * g.w;
  acc_t top = 0, bot = 0;
  for (int64_t Y = y_begin; Y < y_end; ++Y) {
    const Tap<acc_t> ty = align_corners_tap(Y, g.h, scale_y);
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
      const Tap<acc_t> t = align_corners_tap(X, g.w, scale_x);
      const acc_t weight = (t.i0 == j ? t.w0 : acc_t(0)) + (t.i1 == j ? t.w1 : acc_t(0));
      sum += weight * (here[X] + (above != nullptr ? above[X] : acc_t(0)));
    }
    gr[i] = static_cast<T>(sum);
  }
}

// The row layout of the kernels; without upsampling the elementwise kernels see one flat row,
// so small images still fill whole blocks and 16-byte accesses need only numel % VEC == 0.
Geometry geometry_of(const at::Tensor& x, const at::Tensor& r, bool upsample) {
  if (!upsample) return {1, 1, x.numel(), 1, x.numel()};
  return {x.size(0) * x.size(1) * x.size(2), x.size(2), x.size(3), r.size(2), r.size(3)};
}

dim3 row_grid(const Geometry& g, int vec) {
  const int64_t per_block = static_cast<int64_t>(kThreads) * vec;
  return dim3(static_cast<unsigned>((g.W + per_block - 1) / per_block),
              static_cast<unsigned>(std::min(g.rows, kMaxGridY)));
}

template <typename T, bool UPSAMPLE>
void launch_forward(const T* x, const T* r, T* y, const Geometry& g, int64_t iterations,
                    cudaStream_t stream) {
  constexpr int V = 16 / sizeof(T);
  const bool vec_ok = g.W % V == 0 && aligned16(x) && aligned16(y) && (UPSAMPLE || aligned16(r));
  if (vec_ok) {
    curve_forward_kernel<T, V, UPSAMPLE>
        <<<row_grid(g, V), kThreads, 0, stream>>>(x, r, y, g, iterations);
  } else {
    curve_forward_kernel<T, 1, UPSAMPLE>
        <<<row_grid(g, 1), kThreads, 0, stream>>>(x, r, y, g, iterations);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor curve_iter_cuda(const at::Tensor& x_in, const at::Tensor& r_in, int64_t iterations) {
  check_curve_args(x_in, r_in, iterations);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
  if (y.numel() == 0) return y;
  const bool upsample = r.size(2) != x.size(2) || r.size(3) != x.size(3);
  const Geometry g = geometry_of(x, r, upsample);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "curve_iter_cuda", [&] {
        const scalar_t* xp = x.const_data_ptr<scalar_t>();
        const scalar_t* rp = r.const_data_ptr<scalar_t>();
        scalar_t* yp = y.mutable_data_ptr<scalar_t>();
        if (upsample) {
          launch_forward<scalar_t, true>(xp, rp, yp, g, iterations, stream);
        } else {
          launch_forward<scalar_t, false>(xp, rp, yp, g, iterations, stream);
        }
      });
  return y;
}

std::tuple<at::Tensor, at::Tensor> curve_iter_backward_cuda(const at::Tensor& grad_in,
                                                            const at::Tensor& x_in,
                                                            const at::Tensor& r_in,
                                                            int64_t iterations, bool need_x,
                                                            bool need_r) {
  check_curve_backward_args(grad_in, x_in, r_in, iterations);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const at::Tensor r = r_in.contiguous();
  at::Tensor gx = need_x ? at::empty_like(x, at::MemoryFormat::Contiguous) : x.new_empty({0});
  at::Tensor gr = need_r ? at::empty_like(r, at::MemoryFormat::Contiguous) : r.new_empty({0});
  if (x.numel() == 0 || (!need_x && !need_r)) {
    if (need_r) gr.zero_();
    return {gx, gr};
  }
  const bool upsample = r.size(2) != x.size(2) || r.size(3) != x.size(3);
  const Geometry g = geometry_of(x, r, upsample);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "curve_iter_backward_cuda", [&] {
        using T = scalar_t;
        using acc_t = at::opmath_type<T>;
        const T* gp = grad.const_data_ptr<T>();
        const T* xp = x.const_data_ptr<T>();
        const T* rp = r.const_data_ptr<T>();
        T* gxp = need_x ? gx.mutable_data_ptr<T>() : nullptr;
        T* grp = need_r ? gr.mutable_data_ptr<T>() : nullptr;
        if (!upsample) {
          constexpr int V = 16 / sizeof(T);
          const bool vec_ok = g.W % V == 0 && aligned16(gp) && aligned16(xp) && aligned16(rp) &&
                              (gxp == nullptr || aligned16(gxp)) &&
                              (grp == nullptr || aligned16(grp));
          if (vec_ok) {
            curve_backward_kernel<T, V>
                <<<row_grid(g, V), kThreads, 0, stream>>>(gp, xp, rp, gxp, grp, g, iterations);
          } else {
            curve_backward_kernel<T, 1>
                <<<row_grid(g, 1), kThreads, 0, stream>>>(gp, xp, rp, gxp, grp, g, iterations);
          }
          C10_CUDA_KERNEL_LAUNCH_CHECK();
          return;
        }
        const int64_t planes = x.size(0) * x.size(1);
        TORCH_CHECK(planes * g.h <= std::numeric_limits<int32_t>::max(),
                    "curve_iter_backward: N * C * h = ", planes * g.h,
                    " exceeds the CUDA grid limit");
        at::Tensor col;  // (planes * h, 2, W) column sums, float accumulation
        if (need_r)
          col = at::empty({planes * g.h * 2 * g.W},
                          x.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
        acc_t* cp = need_r ? col.mutable_data_ptr<acc_t>() : nullptr;
        TORCH_CHECK((g.W + kThreads - 1) / kThreads <= kMaxGridY, "curve_iter_backward: width ",
                    g.W, " exceeds the CUDA grid limit");
        const dim3 band_grid(static_cast<unsigned>(planes * g.h),
                             static_cast<unsigned>((g.W + kThreads - 1) / kThreads));
        curve_backward_band_kernel<T>
            <<<band_grid, kThreads, 0, stream>>>(gp, xp, rp, gxp, cp, g, iterations);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        if (!need_r) return;
        const int64_t total = planes * g.h * g.w;
        const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65536);
        gather_columns_kernel<T>
            <<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(cp, grp, g, total);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {gx, gr};
}

}  // namespace
}  // namespace sgz

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("curve_iter", &sgz::curve_iter_cuda);
  m.impl("curve_iter_backward", &sgz::curve_iter_backward_cuda);
}
