// The guided filters' ops on CUDA (sgz_fast.denoise): guided_inputs_uint8,
// guided_coefficients, colour_guided_coefficients, colour_affine_uint8 and
// colour_guided_filter_uint8. Their kernels, launch code and bodies are in the cuda/*.cuh
// headers named below, shared with the tests' host emulation. One translation unit for all:
// the headers include each other (the colour ops reuse the per-channel window sums, the
// filter launches the other three), and a kernel defined in two objects would not link.
#include <torch/library.h>

#include "cuda/colour_affine_uint8.cuh"
#include "cuda/colour_guided_coefficients.cuh"
#include "cuda/colour_guided_filter_uint8.cuh"
#include "cuda/device.cuh"
#include "cuda/guided_coefficients.cuh"
#include "cuda/guided_inputs_uint8.cuh"

TORCH_LIBRARY_IMPL(sgz_fast, CUDA, m) {
  using sgz::gpu::CudaDevice;
  m.impl("guided_inputs_uint8", &sgz::gpu::guided_inputs_uint8_forward<CudaDevice>);
  m.impl("guided_coefficients", &sgz::gpu::guided_coefficients_forward<CudaDevice>);
  m.impl("colour_guided_coefficients", &sgz::gpu::colour_guided_coefficients_forward<CudaDevice>);
  m.impl("colour_affine_uint8", &sgz::gpu::colour_affine_uint8_forward<CudaDevice>);
  m.impl("colour_guided_filter_uint8", &sgz::gpu::colour_guided_filter_uint8_forward<CudaDevice>);
}
