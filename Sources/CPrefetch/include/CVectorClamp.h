#ifndef MOBILE_OPTIMIZER_CVECTORCLAMP_H
#define MOBILE_OPTIMIZER_CVECTORCLAMP_H

// The clamp of eight floats as single max and min instructions, for the kernels' store
// activations (Note [Store activations] in Kernels): inside a micro-kernel LLVM builds the
// same clamp written lane by lane in Swift from per-lane inserts and shuffles.

#if defined(__AVX__)
#include <immintrin.h>
#endif

typedef float mo_float8 __attribute__((ext_vector_type(8)));

/// `x < lower ? lower : x`, then `> upper ? upper : ·`, per lane: NaN passes through, as in
/// the kernels' scalar `clampValue` (`maxps(lower, x)` returns x when either is NaN).
static inline __attribute__((always_inline)) mo_float8 mo_clamp8(mo_float8 x, float lower, float upper) {
#if defined(__AVX__)
  __m256 v = _mm256_max_ps(_mm256_set1_ps(lower), (__m256)x);
  return (mo_float8)_mm256_min_ps(_mm256_set1_ps(upper), v);
#else
  mo_float8 result;
  for (int lane = 0; lane < 8; lane++) {
    float raised = x[lane] < lower ? lower : x[lane];
    result[lane] = raised > upper ? upper : raised;
  }
  return result;
#endif
}

#endif
