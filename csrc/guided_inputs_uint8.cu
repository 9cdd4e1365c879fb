// sgz_fast::guided_inputs_uint8 on CUDA. The kernel, its launch code and the op's body are in
// cuda/guided_inputs_uint8.cuh, shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/device.cuh"
#include "cuda/guided_inputs_uint8.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("guided_inputs_uint8", &sgz::gpu::guided_inputs_uint8_forward<sgz::gpu::CudaDevice>);
}
