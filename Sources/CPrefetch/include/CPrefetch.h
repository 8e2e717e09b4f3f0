#ifndef MOBILE_OPTIMIZER_CPREFETCH_H
#define MOBILE_OPTIMIZER_CPREFETCH_H

// What the Swift kernels cannot spell: software prefetch (see Note [Depthwise output prefetch]
// in Kernels), and an eight-float clamp that stays two instructions inside a micro-kernel
// (CVectorClamp.h, Note [Store activations]).

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

#include "CVectorClamp.h"

#endif
