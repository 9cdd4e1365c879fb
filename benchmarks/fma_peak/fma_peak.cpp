// The level's peak float32 FMA rate: independent chains of vector FMAs on registers only, no
// memory traffic. Compiled by bench_fma_peak.py once per level (the vector width follows the
// flags: 64 bytes with AVX-512, 32 with AVX2, 16 on baseline SSE2, which has no FMA and runs
// a multiply and an add). Prints GFLOP/s for the OpenMP thread count it runs with.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#if defined(__AVX512F__)
constexpr int kBytes = 64;
#elif defined(__AVX2__)
constexpr int kBytes = 32;
#else
constexpr int kBytes = 16;
#endif
// 12 chains (of 16 registers, the fewest any level has) cover a 4-cycle FMA latency on 2
// ports with room to spare. Named variables, not an array, so they live in registers.
constexpr int kChains = 12;
typedef float Vec __attribute__((vector_size(kBytes)));
constexpr int kLanes = kBytes / sizeof(float);
#define SGZ_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

int main(int argc, char** argv) {
  // About 0.25 s at 4 GHz: runs of 25 ms on a 2-vCPU VM swung by 25% on two threads.
  const long iterations = argc > 1 ? std::atol(argv[1]) : 2000000000L / kChains;
  double seconds = 0;
  float sink = 0;
#pragma omp parallel reduction(+ : sink) reduction(max : seconds)
  {
    Vec a = Vec{} + 0.999999f, b = Vec{} + 1e-7f * (1 + omp_get_thread_num());
#define SGZ_INIT(i) Vec acc##i = Vec{} + float(i);
    SGZ_CHAINS(SGZ_INIT)
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < iterations; ++n) {
#define SGZ_STEP(i) acc##i = acc##i * a + b;
      SGZ_CHAINS(SGZ_STEP)
      asm volatile("" : "+x"(a), "+x"(b));  // a and b unknown each time: no folding
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#define SGZ_SUM(i) for (int l = 0; l < kLanes; ++l) sink += acc##i[l];
    SGZ_CHAINS(SGZ_SUM)
  }
  const double flops = 2.0 * kLanes * kChains * iterations * omp_get_max_threads();
  std::printf("%.1f %g\n", flops / seconds / 1e9, sink);
  return 0;
}
