// sgz_fast::factor_net on CUDA. The kernel, its launch and the op's body are in
// cuda/factor_net.cuh (design notes there), shared with the tests' host emulation.
#include <torch/library.h>

#include "cuda/device.cuh"
#include "cuda/factor_net.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  m.impl("factor_net", &sgz::gpu::factor_net_forward<sgz::gpu::CudaDevice>);
}
