// sgz_fast::colour_affine_uint8 on CUDA. The kernel, its launch code and the op's body are in
// cuda/colour_affine_uint8.cuh, shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/colour_affine_uint8.cuh"
#include "cuda/device.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("colour_affine_uint8", &sgz::gpu::colour_affine_uint8_forward<sgz::gpu::CudaDevice>);
}
