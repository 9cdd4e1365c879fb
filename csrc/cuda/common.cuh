#pragma once
// What the CUDA kernels of every op share. Kernels and their launch code are written once, in
// the csrc/cuda/*.cuh headers, as templates on a Device: the .cu files instantiate them with
// CudaDevice (device.cuh), the tests' host emulation (tests/cuda_emulation) with a device that
// runs each block's threads as fibers on the CPU. So the emulation runs the same kernel source
// and the same grid arithmetic that nvcc compiles.
//
// A Device provides:
//   Guard                          device guard constructed from an at::Device
//   empty(sizes, options)          a fresh (contiguous) tensor the kernels fill
//   max_grid_y()                   gridDim.y limit (65535 on every CUDA card)
//   max_scratch_elements()         the most elements a launch's scratch buffer may take
//   multiprocessors()              SM count
//   blocks_per_sm(kernel)          resident blocks of kThreads threads per SM for `kernel`
//   launch(grid, kernel, args...)  kernel<<<grid, kThreads, 0, current stream>>>(args...),
//                                  checked
// Shared arrays are declared with SGZ_SHARED, which the emulation fills with NaN at the start
// of each block, so a read of an element no thread wrote shows in the result.
#include <algorithm>
#include <cstdint>

#include "../common/macros.h"

#if defined(__CUDACC__)
#define SGZ_SHARED(type, name, dims) __shared__ type name dims
#endif

namespace sgz::gpu {

constexpr int kThreads = 256;         // threads per block, in every kernel
constexpr int64_t kMaxGridY = 65535;  // the hardware's gridDim.y limit
// Scratch buffers (the curve backward's column sums) are bounded at 64 MB of float: beyond
// that the kernel's input and output traffic dwarfs the extra launches of smaller chunks.
constexpr int64_t kMaxScratchElements = int64_t{1} << 24;

template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

SGZ_HD constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop with one element per thread: enough for all `count`, at most
// 8 per SM (a few waves), each thread then striding over the rest.
template <class Device>
int64_t grid_stride_blocks(int64_t count) {
  return std::min(ceil_div(count, kThreads), int64_t{Device::multiprocessors()} * 8);
}

}  // namespace sgz::gpu
