// sgz_fast::dsconv and its backward on CUDA. The kernels, their launch code and the ops' bodies
// are in cuda/dsconv.cuh (design notes there), shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/device.cuh"
#include "cuda/dsconv.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("dsconv", &sgz::gpu::dsconv_forward<sgz::gpu::CudaDevice>);
  m.impl("dsconv_backward", &sgz::gpu::dsconv_backward<sgz::gpu::CudaDevice>);
}
