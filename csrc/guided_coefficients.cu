// sgz_fast::guided_coefficients on CUDA. The kernels, their launch code and the op's body are
// in cuda/guided_coefficients.cuh, shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/device.cuh"
#include "cuda/guided_coefficients.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("guided_coefficients", &sgz::gpu::guided_coefficients_forward<sgz::gpu::CudaDevice>);
}
