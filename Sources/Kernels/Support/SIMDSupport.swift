// SIMD helpers shared by the vectorized float32 kernels.
//
// Note [SIMD8 on x86_64]
// The fast kernels compute on `SIMD8<Float>`: one AVX register. Swift lowers its arithmetic
// to vector instructions only when the target has the features: build release with
// `-Xswiftc -target-cpu -Xswiftc haswell` (AVX2 + FMA). Without it the same code is correct
// but `addProduct` becomes a libm `fma` call per lane. arm64 needs no flag (two NEON registers
// per vector). Loads and stores go through `loadUnaligned` / `storeBytes`, which accept any
// float-aligned address, so no kernel depends on a caller's alignment; packed buffers are still
// 64-byte aligned so that their loads never split a cache line.

/// Eight floats starting at `pointer` (any float alignment).
@inline(__always)
func load8(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}

/// Eight floats starting at `pointer` (any float alignment).
@inline(__always)
func load8(_ pointer: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}

/// Writes eight floats starting at `pointer` (any float alignment).
@inline(__always)
func store8(_ value: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD8<Float>.self)
}

/// Copies `count` (at least 8) floats with vector moves, the last one ending at the last float
/// (overlapping the one before when `count` is not a multiple of 8).
@inline(__always)
func copyOverlapping(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
  var index = 0
  while index + 8 < count {
    store8(load8(source + index), target + index)
    index += 8
  }
  store8(load8(source + count - 8), target + count - 8)
}

/// A mask of the first `count` (≤ 8) lanes: all ones there, zero in the others.
@inline(__always)
func leadingLanes(_ count: Int) -> SIMD8<UInt32> {
  var mask = SIMD8<UInt32>()
  for lane in 0..<count { mask[lane] = .max }
  return mask
}

/// `value` with the lanes outside `mask` (`leadingLanes`) set to +0.
@inline(__always)
func keepingLanes(_ value: SIMD8<Float>, _ mask: SIMD8<UInt32>) -> SIMD8<Float> {
  unsafeBitCast(unsafeBitCast(value, to: SIMD8<UInt32>.self) & mask, to: SIMD8<Float>.self)
}

/// The first `count` (< 8) floats at `pointer`, the other lanes zero; never reads past them.
@inline(__always)
func loadPartial8(_ pointer: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
  var value = SIMD8<Float>()
  for lane in 0..<count { value[lane] = pointer[lane] }
  return value
}

/// Writes the first `count` (< 8) lanes of `value` to `pointer`; never writes past them.
@inline(__always)
func storePartial8(_ value: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>, count: Int) {
  for lane in 0..<count { pointer[lane] = value[lane] }
}

/// `OutputClamp` in vector form: the same `v < lower ? lower : v`, then `> upper ? upper : ·`,
/// so NaN passes through as in the scalar clamp.
///
/// Written lane by lane on purpose: LLVM turns this scalar form into `vmaxps` / `vminps`, while
/// the same clamp through `SIMD.replacing(with:where:)` becomes compare-and-blend, which
/// measured up to twice as slow inside an FMA loop on Zen 1.
struct VectorClamp {
  let lower: Float
  let upper: Float

  @inline(__always)
  init(_ clamp: OutputClamp) {
    lower = clamp.lower
    upper = clamp.upper
  }

  /// Clamps to `lower...upper` (either may be infinite).
  @inline(__always)
  init(lower: Float, upper: Float) {
    self.lower = lower
    self.upper = upper
  }

  @inline(__always)
  func callAsFunction(_ value: SIMD8<Float>) -> SIMD8<Float> {
    var result = SIMD8<Float>()
    for lane in 0..<8 { result[lane] = clampValue(value[lane], lower, upper) }
    return result
  }
}
