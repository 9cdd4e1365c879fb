// sgz_fast::loss_pools and total_variation, with their backwards, on CUDA. The kernels, their
// launch code and the ops' bodies are in cuda/loss.cuh, shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/device.cuh"
#include "cuda/loss.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("loss_pools", &sgz::gpu::loss_pools_forward<sgz::gpu::CudaDevice>);
  m.impl("loss_pools_backward", &sgz::gpu::loss_pools_backward<sgz::gpu::CudaDevice>);
  m.impl("total_variation", &sgz::gpu::total_variation_forward<sgz::gpu::CudaDevice>);
  m.impl("total_variation_backward", &sgz::gpu::total_variation_backward<sgz::gpu::CudaDevice>);
}
