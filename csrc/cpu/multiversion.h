#pragma once
// Hot CPU loops are compiled once per x86-64 level (AVX-512, AVX2+FMA, baseline) and picked at
// load time, so a source build runs full-width vectors on any x86-64 machine without
// -march=native. Elsewhere the plain build is used.
// The loop bodies they call are SGZ_ALWAYS_INLINE, so each clone compiles them for its level.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SGZ_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SGZ_MULTIVERSION
#endif
#if defined(__GNUC__)
#define SGZ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SGZ_ALWAYS_INLINE inline
#endif
