#ifndef MOBILE_OPTIMIZER_CPREFETCH_H
#define MOBILE_OPTIMIZER_CPREFETCH_H

// What the Swift kernels cannot spell: software prefetch (see Note [Depthwise output prefetch]
// in Kernels), an eight-float clamp that stays two instructions inside a micro-kernel
// (CVectorClamp.h, Note [Store activations]), and the spin-wait hint the runtime's worker pool
// waits on (Note [Worker pool] in TorchRuntime).

/// Asks the CPU to bring the cache line holding `address` into cache before it is written
/// (`prefetcht0` for the release build's haswell target, `prefetchw` where the target has it,
/// `prfm pstl1keep` on arm64). Only a hint: it never faults.
static inline __attribute__((always_inline)) void mo_prefetch_write(const void *address) {
  __builtin_prefetch(address, 1, 3);
}

/// Asks the CPU to bring the cache line holding `address` into cache before it is read
/// (`prefetcht0`; `prfm pldl1keep` on arm64). Only a hint: it never faults.
static inline __attribute__((always_inline)) void mo_prefetch_read(const void *address) {
  __builtin_prefetch(address, 0, 3);
}

/// Tells the CPU this thread is spinning on a memory location (`pause` on x86-64, `yield` on
/// arm64): the core saves power and a sibling hardware thread gets its resources.
static inline __attribute__((always_inline)) void mo_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#include "CVectorClamp.h"

#endif
