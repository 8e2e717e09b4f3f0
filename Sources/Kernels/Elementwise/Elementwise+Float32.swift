/// Vectorized elementwise kernels on contiguous float32 buffers, over an element range so that
/// callers split work across threads.
///
/// Each computes what `ElementwiseKernels.unary` / `.binary` compute for the same op on
/// float32: the same per-element expression on eight lanes at a time (AVX2, see Note [SIMD8 on
/// x86_64]), so results are identical, except `hardswish` and `hardsigmoid` (which multiply by
/// 1/6 where PyTorch divides by 6: within an ulp) and `sigmoid` and `silu`,
/// which use a polynomial e^x on `SIMD8` (Note [Vector exponential]: relative error below 2e-7,
/// about 2 ulp; results below the smallest normal float flush to zero) instead of a libm call
/// per element. Ops without a vector form run the reference loop on the range. NaN propagates
/// as in the reference.
///
/// Buffer contract: element i of every operand is at `pointer[i]`; only indices in `elements`
/// are read or written. The output may be the same buffer as an input (in-place), but must not
/// otherwise overlap one.
extension ElementwiseKernels {
  /// True when `unaryFloat32` has a vector loop for `op` (otherwise it runs the reference loop).
  public static func vectorizes(_ op: UnaryOperation) -> Bool {
    switch op {
    case .relu, .relu6, .hardtanh, .clamp, .hardswish, .hardsigmoid, .sigmoid, .silu, .neg, .abs, .square: true
    default: false
    }
  }

  /// True when `binaryFloat32` has a vector loop for `op` (otherwise it runs the reference loop).
  public static func vectorizes(_ op: BinaryOperation) -> Bool {
    switch op {
    case .add, .sub, .mul, .div, .addRelu, .maximum, .minimum: true
    default: false
    }
  }

  /// `output[i] = op(input[i])` for i in `elements`.
  ///
  /// - Precondition: `op.supports(.float32)`.
  public static func unaryFloat32(
    _ op: UnaryOperation, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, elements: Range<Int>
  ) {
    precondition(elements.lowerBound >= 0, "negative element index")
    let (x, y, range) = (input, output, elements)
    // Explicit vector loops: LLVM's own vectorization of a per-element loop is abandoned when
    // the output is the input (in-place ops, `relu_` and `hardswish_` in most models), which
    // left those loops scalar. Clamps go through `VectorClamp` (vmaxps / vminps).
    // Each op is a struct the generic loop is specialized for: with closures, LLVM left the
    // bodies of the larger ones as out-of-line calls per vector.
    switch op {
    case .relu: mapVectors(x, y, range, VectorClamp(lower: 0, upper: .infinity))
    case .relu6: mapVectors(x, y, range, VectorClamp(lower: 0, upper: 6))
    case .hardtanh(let lower, let upper): mapVectors(x, y, range, VectorClamp(lower: Float(lower), upper: Float(upper)))
    case .clamp(let lower, let upper):
      mapVectors(
        x, y, range,
        VectorClamp(
          lower: lower.map { Float(scalar: $0) } ?? -.infinity, upper: upper.map { Float(scalar: $0) } ?? .infinity))
    case .hardswish: mapVectors(x, y, range, VectorHardswish())
    case .hardsigmoid: mapVectors(x, y, range, VectorHardsigmoid())
    case .sigmoid: mapVectors(x, y, range, VectorSigmoid())
    case .silu: mapVectors(x, y, range, VectorSiLU())
    case .neg: mapVectors(x, y, range, VectorNegation())
    case .abs: mapVectors(x, y, range, VectorAbsolute())
    case .square: mapVectors(x, y, range, VectorSquare())
    default:
      unary(
        op, dtype: .float32, input: input + elements.lowerBound, inputStrides: [1],
        output: output + elements.lowerBound, outputStrides: [1], shape: [elements.count])
    }
  }

  /// `output[i] = op(a[i], b[i])` for i in `elements`.
  ///
  /// - Precondition: `op.supports(.float32)`.
  public static func binaryFloat32(
    _ op: BinaryOperation, a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    elements: Range<Int>
  ) {
    precondition(elements.lowerBound >= 0, "negative element index")
    if vectorizes(op) {
      applyBinary(op, a, VectorOperand(b), output, elements)
    } else {
      try! binary(
        op, dtype: .float32, a: a + elements.lowerBound, aStrides: [1], b: b + elements.lowerBound, bStrides: [1],
        output: output + elements.lowerBound, outputStrides: [1], shape: [elements.count])
    }
  }

  /// Channel broadcast: `output[p·planeSize + i] = op(input[p·planeSize + i], scalars[p])` for
  /// each plane p in `planes` and i < planeSize (an SE block's `x * s` with s `[N, C, 1, 1]`:
  /// planes are the N·C channels of an NCHW tensor, `scalars` is s contiguous).
  ///
  /// - Precondition: `op.supports(.float32)`.
  public static func channelBroadcastFloat32(
    _ op: BinaryOperation, input: UnsafePointer<Float>, scalars: UnsafePointer<Float>, planeSize: Int,
    output: UnsafeMutablePointer<Float>, planes: Range<Int>
  ) {
    precondition(planes.lowerBound >= 0 && planeSize >= 0, "negative plane index or size")
    for plane in planes {
      let elements = plane * planeSize..<(plane + 1) * planeSize
      if vectorizes(op) {
        applyBinary(op, input, ScalarOperand(scalars[plane]), output, elements)
      } else {
        try! binary(
          op, dtype: .float32, a: input + elements.lowerBound, aStrides: [1], b: scalars + plane, bStrides: [0],
          output: output + elements.lowerBound, outputStrides: [1], shape: [planeSize])
      }
    }
  }

  /// `channelBroadcastFloat32` of `.mul` on channel-blocked activations (Note [Channel-blocked
  /// activations]): `output[(b·planeSize + i)·8 + lane] = input[(b·planeSize + i)·8 + lane] ·
  /// scalars[8·b + lane]` for each block b in `blocks` and pixel i < planeSize; the same products
  /// as on the NCHW planes. In place when `output` is `input`.
  public static func blockedChannelScaleFloat32(
    input: UnsafePointer<Float>, scalars: UnsafePointer<Float>, planeSize: Int, output: UnsafeMutablePointer<Float>,
    blocks: Range<Int>
  ) {
    precondition(blocks.lowerBound >= 0 && planeSize >= 0, "negative block index or plane size")
    for block in blocks {
      // A block's plane is whole vectors of its eight channels, so one vector of their factors
      // repeats along it.
      let plane = block * planeSize * 8..<(block + 1) * planeSize * 8
      applyBinary(.mul, input, ScalarOperand(lanes: load8(scalars + block * 8)), output, plane)
    }
  }

  /// The binary ops as explicit vector loops (in place too; see `unaryFloat32`), for a
  /// contiguous or broadcast second operand.
  @inline(__always)
  private static func applyBinary<B: BinaryOperand>(
    _ op: BinaryOperation, _ a: UnsafePointer<Float>, _ b: B, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>
  ) {
    switch op {
    case .add(let alpha):
      let alpha = Float(scalar: alpha)
      if alpha == 1 {
        mapVectors(a, b, y, range) { $0 + $1 }
      } else {
        let scale = SIMD8(repeating: alpha)
        mapVectors(a, b, y, range) { $0 + scale * $1 }
      }
    case .sub(let alpha):
      let alpha = Float(scalar: alpha)
      if alpha == 1 {
        mapVectors(a, b, y, range) { $0 - $1 }
      } else {
        let scale = SIMD8(repeating: alpha)
        mapVectors(a, b, y, range) { $0 - scale * $1 }
      }
    case .mul:
      mapVectors(a, b, y, range) { $0 * $1 }
    case .div:
      mapVectors(a, b, y, range) { $0 / $1 }
    case .addRelu(let alpha):
      let alpha = Float(scalar: alpha)
      let bounds = VectorClamp(lower: 0, upper: .infinity)
      if alpha == 1 {
        mapVectors(a, b, y, range) { bounds($0 + $1) }
      } else {
        let scale = SIMD8(repeating: alpha)
        mapVectors(a, b, y, range) { bounds($0 + scale * $1) }
      }
    case .maximum:
      mapVectors(a, b, y, range) { left, right in
        var result = SIMD8<Float>()
        for lane in 0..<8 { result[lane] = left[lane].isNaN || left[lane] > right[lane] ? left[lane] : right[lane] }
        return result
      }
    case .minimum:
      mapVectors(a, b, y, range) { left, right in
        var result = SIMD8<Float>()
        for lane in 0..<8 { result[lane] = left[lane].isNaN || left[lane] < right[lane] ? left[lane] : right[lane] }
        return result
      }
    default:
      preconditionFailure("\(op.name) has no vector loop")
    }
  }
}

// MARK: - Loops

/// The second operand of a binary loop.
protocol BinaryOperand {
  /// Elements index..<index + 8.
  func vector(_ index: Int) -> SIMD8<Float>
  /// Elements index..<index + count (count < 8), the other lanes zero; never reads past them.
  func partialVector(_ index: Int, count: Int) -> SIMD8<Float>
}

/// A contiguous operand.
struct VectorOperand: BinaryOperand {
  let base: UnsafePointer<Float>
  init(_ base: UnsafePointer<Float>) { self.base = base }
  @inline(__always) func vector(_ index: Int) -> SIMD8<Float> { load8(base + index) }
  @inline(__always) func partialVector(_ index: Int, count: Int) -> SIMD8<Float> {
    loadPartial8(base + index, count: count)
  }
}

/// One value broadcast to every element (or one per lane of every vector: `init(lanes:)`).
struct ScalarOperand: BinaryOperand {
  let value: SIMD8<Float>
  init(_ value: Float) { self.value = SIMD8(repeating: value) }
  /// The same eight lanes at every vector: one value per lane, for ranges of whole vectors from
  /// a multiple of eight (a channel-blocked plane's eight channels).
  init(lanes: SIMD8<Float>) { value = lanes }
  @inline(__always) func vector(_ index: Int) -> SIMD8<Float> { value }
  @inline(__always) func partialVector(_ index: Int, count: Int) -> SIMD8<Float> { value }
}

/// `y[i] = body(a[i…], b[i…])` over `range`, two vectors per step, then single vectors, then a
/// partial vector that neither reads nor writes past the range. Each vector is read before it
/// is written, so `y` may be `a` (in place).
@inline(__always)
func mapVectors<B: BinaryOperand>(
  _ a: UnsafePointer<Float>, _ b: B, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>,
  _ body: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>
) {
  var index = range.lowerBound
  let end = range.upperBound
  while index + 16 <= end {
    let (a0, a1) = (load8(a + index), load8(a + index + 8))
    let (b0, b1) = (b.vector(index), b.vector(index + 8))
    store8(body(a0, b0), y + index)
    store8(body(a1, b1), y + index + 8)
    index += 16
  }
  while index + 8 <= end {
    store8(body(load8(a + index), b.vector(index)), y + index)
    index += 8
  }
  if index < end {
    let count = end - index
    storePartial8(body(loadPartial8(a + index, count: count), b.partialVector(index, count: count)), y + index, count: count)
  }
}

/// A function applied to eight floats at a time.
protocol VectorFunction {
  func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float>
}

extension VectorClamp: VectorFunction {}

/// `x · clamp(x + 3, 0, 6) · (1/6)`: × (1/6) instead of PyTorch's ÷ 6, within an ulp, because a
/// vector division costs as much as the rest of the loop on cores with slow dividers.
struct VectorHardswish: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
    x * VectorClamp(lower: 0, upper: 6)(x + 3) * SIMD8(repeating: 1 / 6)
  }
}

/// `clamp(x + 3, 0, 6) · (1/6)` (see `VectorHardswish`).
struct VectorHardsigmoid: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
    VectorClamp(lower: 0, upper: 6)(x + 3) * SIMD8(repeating: 1 / 6)
  }
}

struct VectorSigmoid: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { sigmoid8(x) }
}

struct VectorSiLU: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x * sigmoid8(x) }
}

struct VectorNegation: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { -x }
}

struct VectorAbsolute: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
  }
}

struct VectorSquare: VectorFunction {
  @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x * x }
}

/// `y[i] = body(x[i…])` over `range`, four vectors per step, then single vectors, then a
/// partial vector that neither reads nor writes past the range.
func mapVectors<Body: VectorFunction>(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>, _ body: Body
) {
  var index = range.lowerBound
  let end = range.upperBound
  while index + 32 <= end {
    let (v0, v1, v2, v3) = (load8(x + index), load8(x + index + 8), load8(x + index + 16), load8(x + index + 24))
    store8(body(v0), y + index)
    store8(body(v1), y + index + 8)
    store8(body(v2), y + index + 16)
    store8(body(v3), y + index + 24)
    index += 32
  }
  while index + 8 <= end {
    store8(body(load8(x + index)), y + index)
    index += 8
  }
  if index < end {
    storePartial8(body(loadPartial8(x + index, count: end - index)), y + index, count: end - index)
  }
}

// MARK: - Exponential

// Note [Vector exponential]
// e^x = 2^n · e^r with n = round(x / ln 2) and r = x − n·ln 2 ∈ [−ln 2 / 2, ln 2 / 2], ln 2 split
// in two parts (Cody–Waite) so r is exact to float precision. e^r is Cephes' degree-7 expf
// polynomial (relative error ≈ 1e-7). n is rounded by adding 1.5·2^23, which leaves n in the
// low mantissa bits; shifting those bits into the exponent field builds 2^n without a
// float-to-int conversion (which would trap on NaN). The input is clamped to [−87.3, 0]: the
// kernels here only need e^x for x ≤ 0, where 2^n stays a normal float; below −87.3 the
// result is flushed to 0 by the caller.

/// e^x for x ≤ 0; see Note [Vector exponential]. Lanes below −87.33 give e^−87.33.
@inline(__always)
func expNonPositive8(_ x: SIMD8<Float>) -> SIMD8<Float> {
  let x = x.replacing(with: -87.33654, where: x .< -87.33654)
  let magic: Float = 12_582_912  // 1.5 · 2^23
  let shifted = SIMD8(repeating: magic).addingProduct(x, SIMD8(repeating: 1.442_695_04))
  let n = shifted - magic
  var r = x.addingProduct(n, SIMD8(repeating: -0.693_359_375))
  r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
  var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
  p = SIMD8(repeating: 1.398_199_95e-3).addingProduct(p, r)
  p = SIMD8(repeating: 8.333_451_9e-3).addingProduct(p, r)
  p = SIMD8(repeating: 4.166_579_59e-2).addingProduct(p, r)
  p = SIMD8(repeating: 1.666_666_55e-1).addingProduct(p, r)
  p = SIMD8(repeating: 5.000_000_12e-1).addingProduct(p, r)
  let value = (r + 1).addingProduct(p, r * r)
  let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &<< 23) &+ (127 << 23)
  return value * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

/// 1 / (1 + e^−x): with z = e^−|x| ≤ 1, 1 / (1 + z) for x ≥ 0 and z / (1 + z) below, so
/// neither branch overflows; z is 0 where e^−|x| is below the smallest normal float.
@inline(__always)
func sigmoid8(_ x: SIMD8<Float>) -> SIMD8<Float> {
  let magnitude = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
  let z = expNonPositive8(-magnitude).replacing(with: 0, where: magnitude .> 87.33654)
  let positive = 1 / (1 + z)
  return positive.replacing(with: z * positive, where: x .< 0)
}
