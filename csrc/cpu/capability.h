#pragma once
// The CPU capability levels the hot loops are compiled for, and the one that runs.
//
// Each file in cpu/kernels/ is compiled once per level with that level's flags (setup.py), its
// code in the namespace sgz::cpu::<LEVEL> (DEFAULT, AVX2, AVX512: the names ATen's own
// per-capability units use, so at::vec::Vectorized is the one of the same level). The level
// is picked once from the CPU, or from SGZ_FAST_CPU_CAPABILITY (default | avx2 | avx512), and
// can be changed at run time by tests and benchmarks (sgz_fast.set_cpu_capability).
// Off x86-64 only DEFAULT is built; there ATen's DEFAULT Vectorized is NEON on aarch64.
#include <string>
#include <vector>

namespace sgz::cpu {

enum class Capability : int { kDefault = 0, kAvx2 = 1, kAvx512 = 2 };

// The level the kernels run at. Throws (a c10::Error naming the variable) when
// SGZ_FAST_CPU_CAPABILITY is not a level name or asks for one this CPU or build lacks.
Capability capability();

// Makes `name` the running level (same rules as the variable); returns the previous level's name.
std::string set_capability(const std::string& name);

// Levels built into this binary that this CPU can run, lowest first.
std::vector<std::string> supported_capabilities();

const char* capability_name(Capability level);

}  // namespace sgz::cpu

// Declares getter `name` (returning `const Table<T>&`) in every built level's namespace, and
// defines sgz::cpu::name<T>() that returns the running level's table (off x86 the DEFAULT one,
// after capability() has checked SGZ_FAST_CPU_CAPABILITY).
#define SGZ_CPU_LEVEL_GETTER(level, Table, name) \
  namespace level {                              \
  template <typename T>                          \
  const Table<T>& name();                        \
  }
#if defined(SGZ_CPU_X86_LEVELS)
#define SGZ_CPU_KERNEL_TABLE(Table, name)    \
  namespace sgz::cpu {                       \
  SGZ_CPU_LEVEL_GETTER(DEFAULT, Table, name) \
  SGZ_CPU_LEVEL_GETTER(AVX2, Table, name)    \
  SGZ_CPU_LEVEL_GETTER(AVX512, Table, name)  \
  template <typename T>                      \
  const Table<T>& name() {                   \
    switch (capability()) {                  \
      case Capability::kAvx512:              \
        return AVX512::name<T>();            \
      case Capability::kAvx2:                \
        return AVX2::name<T>();              \
      default:                               \
        return DEFAULT::name<T>();           \
    }                                        \
  }                                          \
  }
#else
#define SGZ_CPU_KERNEL_TABLE(Table, name)    \
  namespace sgz::cpu {                       \
  SGZ_CPU_LEVEL_GETTER(DEFAULT, Table, name) \
  template <typename T>                      \
  const Table<T>& name() {                   \
    capability();                            \
    return DEFAULT::name<T>();               \
  }                                          \
  }
#endif
