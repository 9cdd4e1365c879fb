// sgz_fast::colour_guided_coefficients on CUDA. The kernels, their launch code and the op's body
// are in cuda/colour_guided_coefficients.cuh, shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/colour_guided_coefficients.cuh"
#include "cuda/device.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("colour_guided_coefficients",
         &sgz::gpu::colour_guided_coefficients_forward<sgz::gpu::CudaDevice>);
}
