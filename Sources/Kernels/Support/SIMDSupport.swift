import CPrefetch
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

/// Calls `body` with the starts 0, `width`, 2·`width`, … of windows of `width` covering
/// `0..<count` (`count` ≥ `width`), the last one moved back to end at `count` (overlapping the
/// one before when `count` is not a multiple of `width`): a loop of whole vectors, or whole
/// steps of a kernel, that recomputes a few elements instead of running a remainder.
@inline(__always)
func forEachWindow(_ count: Int, width: Int, _ body: (Int) -> Void) {
  var start = 0
  while true {
    let window = min(start, count - width)
    body(window)
    if window == count - width { return }
    start += width
  }
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
struct VectorClamp: StoreBounds {
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

  @inline(__always)
  func scalar(_ value: Float) -> Float { clampValue(value, lower, upper) }

  /// No bounds: stores the sums as they are (a deep product's partial sums).
  static var identity: VectorClamp {
    @inline(__always) get { VectorClamp(lower: -.infinity, upper: .infinity) }
  }
}

/// What a kernel applies to each output as it stores it: an `OutputClamp`'s bounds
/// (`VectorClamp`) or its activation (`StoreHardswish`). The kernels are generic over it, so each
/// kind runs its own specialized copy with nothing to test per vector (Note [Store activations]).
protocol StoreBounds {
  /// The output vector to store for the sums `value`.
  func callAsFunction(_ value: SIMD8<Float>) -> SIMD8<Float>
  /// The same for one float (scalar tails), the same operations in the same order.
  func scalar(_ value: Float) -> Float
}

/// `clamp(x + 3, 0, 6)` of a vector, as `clampValue` computes each lane (NaN stays NaN), by one
/// max and one min (`mo_clamp8`): written lane by lane, or by compares and blends, inside a
/// micro-kernel LLVM built it from per-lane inserts and shuffles.
@inline(__always)
func shiftedRelu6(_ x: SIMD8<Float>) -> SIMD8<Float> {
  mo_clamp8(x + 3, 0, 6)
}

/// Hardswish at the store, with no clamp (`OutputClamp.hardswish`): `VectorHardswish`'s
/// operations in the same order.
struct StoreHardswish: StoreBounds {
  @inline(__always)
  func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x * shiftedRelu6(x) * SIMD8(repeating: 1 / 6) }

  @inline(__always)
  func scalar(_ value: Float) -> Float { StoreActivation.hardswish(value) }
}

extension OutputClamp {
  /// One vector as the kernels store it, the kind chosen per call: for stores outside the inner
  /// loops (the loops themselves take a `StoreBounds` type).
  @inline(__always)
  func vector(_ value: SIMD8<Float>) -> SIMD8<Float> {
    activation == .hardswish ? StoreHardswish()(value) : VectorClamp(self)(value)
  }
}

/// The 8×8 transpose of `rows`: result i holds float i of every row, row j in lane j.
///
/// Three rounds of two-input shuffles that LLVM lowers to `vunpcklps`/`vunpckhps`,
/// `vunpcklpd`/`vunpckhpd` and 128-bit lane moves. The middle round works on the vectors as
/// four doubles on purpose: with every round picking floats, LLVM folds the rounds into one
/// lane-by-lane construction of each result (broadcasts and blends, four times the
/// instructions).
@inline(__always)
func transpose8x8(_ rows: Vectors8) -> Vectors8 {
  @inline(__always)
  func low(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD4<Double> {
    unsafeBitCast(SIMD8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]), to: SIMD4<Double>.self)
  }
  @inline(__always)
  func high(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD4<Double> {
    unsafeBitCast(SIMD8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]), to: SIMD4<Double>.self)
  }
  @inline(__always)
  func evens(_ a: SIMD4<Double>, _ b: SIMD4<Double>) -> SIMD8<Float> {
    unsafeBitCast(SIMD4(a[0], b[0], a[2], b[2]), to: SIMD8<Float>.self)
  }
  @inline(__always)
  func odds(_ a: SIMD4<Double>, _ b: SIMD4<Double>) -> SIMD8<Float> {
    unsafeBitCast(SIMD4(a[1], b[1], a[3], b[3]), to: SIMD8<Float>.self)
  }
  @inline(__always)
  func lowHalves(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
  }
  @inline(__always)
  func highHalves(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8(a[4], a[5], a[6], a[7], b[4], b[5], b[6], b[7])
  }
  // Pairs of rows interleaved, then pairs of pairs: b0 holds float 0 of rows 0–3, then float 4
  // of rows 0–3; b4 the same of rows 4–7.
  let (a0, a1) = (low(rows.0, rows.1), high(rows.0, rows.1))
  let (a2, a3) = (low(rows.2, rows.3), high(rows.2, rows.3))
  let (a4, a5) = (low(rows.4, rows.5), high(rows.4, rows.5))
  let (a6, a7) = (low(rows.6, rows.7), high(rows.6, rows.7))
  let (b0, b1, b2, b3) = (evens(a0, a2), odds(a0, a2), evens(a1, a3), odds(a1, a3))
  let (b4, b5, b6, b7) = (evens(a4, a6), odds(a4, a6), evens(a5, a7), odds(a5, a7))
  return (
    lowHalves(b0, b4), lowHalves(b1, b5), lowHalves(b2, b6), lowHalves(b3, b7),
    highHalves(b0, b4), highHalves(b1, b5), highHalves(b2, b6), highHalves(b3, b7)
  )
}

/// The eight vectors at `pointer`, `pointer + stride`, …, `pointer + 7·stride` (the rows of an
/// 8×8 block to transpose).
@inline(__always)
func load8Rows(_ pointer: UnsafePointer<Float>, stride: Int) -> Vectors8 {
  (
    load8(pointer), load8(pointer + stride), load8(pointer + 2 * stride), load8(pointer + 3 * stride),
    load8(pointer + 4 * stride), load8(pointer + 5 * stride), load8(pointer + 6 * stride), load8(pointer + 7 * stride)
  )
}

/// Stores `rows` at `pointer`, `pointer + stride`, …, `pointer + 7·stride`.
@inline(__always)
func store8Rows(_ rows: Vectors8, _ pointer: UnsafeMutablePointer<Float>, stride: Int) {
  store8(rows.0, pointer)
  store8(rows.1, pointer + stride)
  store8(rows.2, pointer + 2 * stride)
  store8(rows.3, pointer + 3 * stride)
  store8(rows.4, pointer + 4 * stride)
  store8(rows.5, pointer + 5 * stride)
  store8(rows.6, pointer + 6 * stride)
  store8(rows.7, pointer + 7 * stride)
}

/// Eight vectors of eight floats.
typealias Vectors8 = (
  SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>
)

/// `a` and `b` interleaved: (a0, b0, a1, b1, a2, b2, a3, b3) and (a4, b4, …, a7, b7).
///
/// Two rounds, as in `transpose8x8`: `vunpcklps` / `vunpckhps` within 128-bit lanes, then the
/// lanes regrouped as doubles (one `vperm2f128` each); picked as floats in one round, LLVM
/// builds each result lane by lane.
@inline(__always)
func interleave(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
  let low = unsafeBitCast(SIMD8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]), to: SIMD4<Double>.self)
  let high = unsafeBitCast(SIMD8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]), to: SIMD4<Double>.self)
  return (
    unsafeBitCast(SIMD4(low[0], low[1], high[0], high[1]), to: SIMD8<Float>.self),
    unsafeBitCast(SIMD4(low[2], low[3], high[2], high[3]), to: SIMD8<Float>.self)
  )
}
