#pragma once
// SGZ_HD marks the math that both the CPU kernels and the CUDA kernels call, so one formula
// serves both devices and the CPU tests exercise the exact code the GPU runs. On the host it
// is always inlined, like SGZ_ALWAYS_INLINE: each CPU capability level (cpu/capability.h)
// compiles it into its own loops, and no out-of-line copy exists for the linker to share
// between levels.
#if defined(__GNUC__)
#define SGZ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SGZ_ALWAYS_INLINE inline
#endif
#if defined(__CUDACC__)
#define SGZ_HD __host__ __device__ __forceinline__
#else
#define SGZ_HD SGZ_ALWAYS_INLINE
#endif
