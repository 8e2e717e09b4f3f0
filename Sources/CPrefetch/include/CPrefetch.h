#ifndef MOBILE_OPTIMIZER_CPREFETCH_H
#define MOBILE_OPTIMIZER_CPREFETCH_H

// Software prefetch for the Swift kernels, which have no prefetch instruction of their own
// (see Note [Depthwise output prefetch] in Kernels).

/// Asks the CPU to bring the cache line holding `address` into cache before it is written
/// (`prefetcht0` for the release build's haswell target, `prefetchw` where the target has it,
/// `prfm pstl1keep` on arm64). Only a hint: it never faults.
static inline __attribute__((always_inline)) void mo_prefetch_write(const void *address) {
  __builtin_prefetch(address, 1, 3);
}

#endif
