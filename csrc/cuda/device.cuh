#pragma once
// The real GPU as the Device of the op bodies in csrc/cuda/*.cuh (see common.cuh).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <utility>

#include "common.cuh"

namespace sgz::gpu {

struct CudaDevice {
  using Guard = c10::cuda::CUDAGuard;

  static at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
    return at::empty(sizes, options);
  }

  static int64_t max_grid_y() { return kMaxGridY; }

  static int64_t max_scratch_elements() { return kMaxScratchElements; }

  static int multiprocessors() {
    int device = 0, sms = 0;
    C10_CUDA_CHECK(cudaGetDevice(&device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }

  template <typename... P>
  static int blocks_per_sm(void (*kernel)(P...)) {
    int blocks = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads, 0));
    return blocks;
  }

  template <typename... P, typename... A>
  static void launch(dim3 grid, void (*kernel)(P...), A&&... args) {
    kernel<<<grid, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(std::forward<A>(args)...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace sgz::gpu
