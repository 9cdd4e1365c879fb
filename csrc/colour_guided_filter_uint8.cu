// sgz_fast::colour_guided_filter_uint8 on CUDA. The op's body is in
// cuda/colour_guided_filter_uint8.cuh, shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/colour_guided_filter_uint8.cuh"
#include "cuda/device.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("colour_guided_filter_uint8",
         &sgz::gpu::colour_guided_filter_uint8_forward<sgz::gpu::CudaDevice>);
}
