// sgz_fast::curve_iter and its backward on CUDA. The kernels, their launch code and the ops'
// bodies are in cuda/curve_iter.cuh (design notes there), shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/curve_iter.cuh"
#include "cuda/device.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("curve_iter", &sgz::gpu::curve_iter_forward<sgz::gpu::CudaDevice>);
  m.impl("curve_iter_backward", &sgz::gpu::curve_iter_backward<sgz::gpu::CudaDevice>);
}
