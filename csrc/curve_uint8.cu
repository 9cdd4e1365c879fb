// sgz_fast::curve_iter_uint8 on CUDA. The kernel, its launch code and the op's body are in
// cuda/curve_uint8.cuh (design notes there), shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/curve_uint8.cuh"
#include "cuda/device.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("curve_iter_uint8", &sgz::gpu::curve_iter_uint8_forward<sgz::gpu::CudaDevice>);
}
