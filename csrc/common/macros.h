#pragma once
// SGZ_HD marks the math that both the CPU kernels and the CUDA kernels call, so one formula
// serves both devices and the CPU tests exercise the exact code the GPU runs.
#if defined(__CUDACC__)
#define SGZ_HD __host__ __device__ __forceinline__
#else
#define SGZ_HD inline
#endif
