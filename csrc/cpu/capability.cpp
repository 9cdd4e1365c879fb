// Picks the CPU capability level the kernels run at (capability.h).
#include "capability.h"

#include <c10/util/Exception.h>
#include <torch/library.h>

#include <atomic>
#include <cstdlib>

namespace sgz::cpu {
namespace {

constexpr const char* kVariable = "SGZ_FAST_CPU_CAPABILITY";

// Whether this CPU (and its OS, which must save the wider registers) runs a level's code: the
// flags each level is compiled with (setup.py), as ATen asks for its own levels.
bool cpu_runs(Capability level) {
#if defined(SGZ_CPU_X86_LEVELS)
  switch (level) {
    case Capability::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case Capability::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return level == Capability::kDefault;
#endif
}

std::string supported_list() {
  std::string list;
  for (const std::string& name : supported_capabilities())
    list += (list.empty() ? "" : ", ") + name;
  return list;
}

Capability parse(const std::string& name, const char* where) {
  for (Capability level : {Capability::kDefault, Capability::kAvx2, Capability::kAvx512}) {
    if (name != capability_name(level)) continue;
    TORCH_CHECK_VALUE(cpu_runs(level), where, "=", name, " asks for the ", name,
                      " kernels, which this CPU or build cannot run; it runs: ", supported_list(),
                      ". Pick one of those or leave it unset (the best level is chosen).");
    return level;
  }
  TORCH_CHECK_VALUE(false, where, " must be one of default, avx2, avx512; got '", name,
                    "' (this CPU and build run: ", supported_list(), ")");
}

Capability best() {
  for (Capability level : {Capability::kAvx512, Capability::kAvx2}) {
    if (cpu_runs(level)) return level;
  }
  return Capability::kDefault;
}

// -1 until the first use; then the running level.
std::atomic<int> running{-1};

}  // namespace

const char* capability_name(Capability level) {
  switch (level) {
    case Capability::kAvx512:
      return "avx512";
    case Capability::kAvx2:
      return "avx2";
    default:
      return "default";
  }
}

std::vector<std::string> supported_capabilities() {
  std::vector<std::string> names;
  for (Capability level : {Capability::kDefault, Capability::kAvx2, Capability::kAvx512}) {
    if (cpu_runs(level)) names.push_back(capability_name(level));
  }
  return names;
}

Capability capability() {
  int level = running.load(std::memory_order_relaxed);
  if (level < 0) {
    const char* requested = std::getenv(kVariable);
    const Capability chosen =
        requested != nullptr && *requested != '\0' ? parse(requested, kVariable) : best();
    level = static_cast<int>(chosen);
    running.store(level, std::memory_order_relaxed);
  }
  return static_cast<Capability>(level);
}

std::string set_capability(const std::string& name) {
  const Capability level = parse(name, "set_cpu_capability: level");
  // The level that ran, or would have: SGZ_FAST_CPU_CAPABILITY's when nothing ran yet.
  const char* previous = capability_name(capability());
  running.store(static_cast<int>(level), std::memory_order_relaxed);
  return previous;
}

}  // namespace sgz::cpu

// Not kernels: the level's name and the setter, for build_info(), tests and benchmarks.
TORCH_LIBRARY_FRAGMENT(sgz_fast, m) {
  m.def("_cpu_capability() -> str",
        [] { return std::string(sgz::cpu::capability_name(sgz::cpu::capability())); });
  m.def("_set_cpu_capability(str level) -> str", &sgz::cpu::set_capability);
  m.def("_cpu_capabilities() -> str[]", &sgz::cpu::supported_capabilities);
}
