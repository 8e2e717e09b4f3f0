import TensorCore

/// The `approximate` argument of `gelu`.
public enum GELUApproximation: Sendable, Hashable {
  /// `x · ½ · (1 + erf(x / √2))`.
  case none
  /// `½ · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`.
  case tanh
}

/// A unary elementwise op and its parameters, with PyTorch's formula.
///
/// NaN passes through every clamp-like op (`relu`, `hardtanh`, `clamp`, ...), as in PyTorch.
/// Integer and bool inputs support only the ops listed in `supports(_:)`; PyTorch promotes an
/// integer tensor to float before `sigmoid`, `exp` and the like, and so must the caller.
public enum UnaryOperation: Sendable, Hashable {
  /// `max(x, 0)`.
  case relu
  /// `min(max(x, 0), 6)`.
  case relu6
  /// `min(max(x, min), max)`.
  case hardtanh(min: Double, max: Double)
  /// `x · min(max(x + 3, 0), 6) / 6`.
  case hardswish
  /// `min(max(x + 3, 0), 6) / 6`.
  case hardsigmoid
  /// `1 / (1 + e^−x)`.
  case sigmoid
  /// `x / (1 + e^−x)` (swish).
  case silu
  /// Gaussian error linear unit.
  case gelu(GELUApproximation)
  /// `x > 0 ? x : x · negativeSlope`.
  case leakyRelu(negativeSlope: Double)
  /// `x > 0 ? x : alpha · (e^x − 1)`.
  case elu(alpha: Double)
  /// `x · beta > threshold ? x : log(1 + e^(x · beta)) / beta`.
  case softplus(beta: Double, threshold: Double)
  /// `min(max(x, min), max)` with either bound optional (`clamp`, `clamp_min`, `clamp_max`);
  /// `min > max` gives `max` everywhere.
  case clamp(min: Scalar?, max: Scalar?)
  /// Hyperbolic tangent.
  case tanh
  /// `e^x`.
  case exp
  /// `e^x − 1`.
  case expm1
  /// Natural logarithm.
  case log
  /// `log(1 + x)`.
  case log1p
  /// Base-2 logarithm.
  case log2
  /// Base-10 logarithm.
  case log10
  /// `√x`.
  case sqrt
  /// `1 / √x`.
  case rsqrt
  /// `1 / x`.
  case reciprocal
  /// `|x|` (integers wrap: `abs(Int8.min) == Int8.min`).
  case abs
  /// `−x` (integers wrap).
  case neg
  /// `x · x`.
  case square
  /// −1, 0 or 1; 0 for NaN, as PyTorch's CPU kernel computes `(0 < x) − (x < 0)`.
  case sign
  /// Round toward −∞ (identity on integers).
  case floor
  /// Round toward +∞ (identity on integers).
  case ceil
  /// Round half to even (`torch.round`, identity on integers).
  case round
  /// Round toward zero (identity on integers).
  case trunc
  /// Error function.
  case erf
  /// Sine.
  case sin
  /// Cosine.
  case cos

  /// True when `ElementwiseKernels.unary` has a kernel for the op on `dtype`.
  public func supports(_ dtype: DType) -> Bool {
    switch dtype {
    case .float32, .float64:
      return true
    case .int64, .int32, .int16, .int8, .uint8:
      switch self {
      case .relu, .relu6, .hardtanh, .clamp, .abs, .neg, .square, .sign, .floor, .ceil, .round, .trunc: return true
      default: return false
      }
    default:
      return false
    }
  }
}

extension ElementwiseKernels {
  /// `output[i] = op(input[i])` over `shape`; input and output have the same dtype.
  ///
  /// - Precondition: `op.supports(dtype)`.
  public static func unary(
    _ op: UnaryOperation, dtype: DType,
    input: UnsafeRawPointer, inputStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int], shape: [Int]
  ) {
    precondition(op.supports(dtype), "unary \(op) has no kernel for \(dtype)")
    let loop = StridedLoop(shape: shape, strides: [inputStrides, outputStrides])
    switch dtype {
    case .float32: unaryReal(op, loop, input.typed(Float.self), output.typed(Float.self))
    case .float64: unaryReal(op, loop, input.typed(Double.self), output.typed(Double.self))
    case .int64: unaryInteger(op, loop, input.typed(Int64.self), output.typed(Int64.self))
    case .int32: unaryInteger(op, loop, input.typed(Int32.self), output.typed(Int32.self))
    case .int16: unaryInteger(op, loop, input.typed(Int16.self), output.typed(Int16.self))
    case .int8: unaryInteger(op, loop, input.typed(Int8.self), output.typed(Int8.self))
    case .uint8: unaryInteger(op, loop, input.typed(UInt8.self), output.typed(UInt8.self))
    default: preconditionFailure("unreachable: supports(\(dtype)) was checked")
    }
  }

  /// `output[i] = (input[i] == 0)` as bool, for any arithmetic dtype (`logical_not`).
  public static func logicalNot(
    dtype: DType, input: UnsafeRawPointer, inputStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int], shape: [Int]
  ) {
    let loop = StridedLoop(shape: shape, strides: [inputStrides, outputStrides])
    let target = output.typed(UInt8.self)
    switch dtype {
    case .float32: mapRows(loop, input.typed(Float.self), target) { $0 == 0 ? 1 : 0 }
    case .float64: mapRows(loop, input.typed(Double.self), target) { $0 == 0 ? 1 : 0 }
    case .int64: mapRows(loop, input.typed(Int64.self), target) { $0 == 0 ? 1 : 0 }
    case .int32: mapRows(loop, input.typed(Int32.self), target) { $0 == 0 ? 1 : 0 }
    case .int16: mapRows(loop, input.typed(Int16.self), target) { $0 == 0 ? 1 : 0 }
    case .int8: mapRows(loop, input.typed(Int8.self), target) { $0 == 0 ? 1 : 0 }
    case .uint8, .bool: mapRows(loop, input.typed(UInt8.self), target) { $0 == 0 ? 1 : 0 }
    default: preconditionFailure("logical_not has no kernel for \(dtype)")
    }
  }

  private static func unaryReal<T: RealElement>(
    _ op: UnaryOperation, _ loop: StridedLoop, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>
  ) {
    switch op {
    case .relu: mapRows(loop, x, y) { $0 < 0 ? 0 : $0 }
    case .relu6: mapRows(loop, x, y) { clampValue($0, 0, 6) }
    case .hardtanh(let lower, let upper):
      let (lower, upper) = (T(lower), T(upper))
      mapRows(loop, x, y) { clampValue($0, lower, upper) }
    case .hardswish: mapRows(loop, x, y) { $0 * clampValue($0 + 3, 0, 6) / 6 }
    case .hardsigmoid: mapRows(loop, x, y) { clampValue($0 + 3, 0, 6) / 6 }
    case .sigmoid: mapRows(loop, x, y) { 1 / (1 + T.exp(-$0)) }
    case .silu: mapRows(loop, x, y) { $0 / (1 + T.exp(-$0)) }
    case .gelu(.none):
      let inverseRoot2 = T(0.5.squareRoot())
      mapRows(loop, x, y) { $0 * 0.5 * (1 + T.erf($0 * inverseRoot2)) }
    case .gelu(.tanh):
      let root2OverPi = T((2 / Double.pi).squareRoot())
      mapRows(loop, x, y) { value in
        let inner = root2OverPi * (value + 0.044715 * value * value * value)
        return 0.5 * value * (1 + T.tanh(inner))
      }
    case .leakyRelu(let slope):
      let slope = T(slope)
      mapRows(loop, x, y) { $0 > 0 ? $0 : $0 * slope }
    case .elu(let alpha):
      let alpha = T(alpha)
      mapRows(loop, x, y) { $0 > 0 ? $0 : alpha * T.expm1($0) }
    case .softplus(let beta, let threshold):
      let (beta, threshold) = (T(beta), T(threshold))
      mapRows(loop, x, y) { $0 * beta > threshold ? $0 : T.log1p(T.exp($0 * beta)) / beta }
    case .clamp(let lower, let upper):
      let lower = lower.map { T(scalar: $0) } ?? -.infinity
      let upper = upper.map { T(scalar: $0) } ?? .infinity
      mapRows(loop, x, y) { clampValue($0, lower, upper) }
    case .tanh: mapRows(loop, x, y) { T.tanh($0) }
    case .exp: mapRows(loop, x, y) { T.exp($0) }
    case .expm1: mapRows(loop, x, y) { T.expm1($0) }
    case .log: mapRows(loop, x, y) { T.log($0) }
    case .log1p: mapRows(loop, x, y) { T.log1p($0) }
    case .log2: mapRows(loop, x, y) { T.log2($0) }
    case .log10: mapRows(loop, x, y) { T.log10($0) }
    case .sqrt: mapRows(loop, x, y) { $0.squareRoot() }
    case .rsqrt: mapRows(loop, x, y) { 1 / $0.squareRoot() }
    case .reciprocal: mapRows(loop, x, y) { 1 / $0 }
    case .abs: mapRows(loop, x, y) { Swift.abs($0) }
    case .neg: mapRows(loop, x, y) { -$0 }
    case .square: mapRows(loop, x, y) { $0 * $0 }
    case .sign: mapRows(loop, x, y) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
    case .floor: mapRows(loop, x, y) { $0.rounded(.down) }
    case .ceil: mapRows(loop, x, y) { $0.rounded(.up) }
    case .round: mapRows(loop, x, y) { $0.rounded(.toNearestOrEven) }
    case .trunc: mapRows(loop, x, y) { $0.rounded(.towardZero) }
    case .erf: mapRows(loop, x, y) { T.erf($0) }
    case .sin: mapRows(loop, x, y) { T.sin($0) }
    case .cos: mapRows(loop, x, y) { T.cos($0) }
    }
  }

  private static func unaryInteger<T: IntegerElement>(
    _ op: UnaryOperation, _ loop: StridedLoop, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>
  ) {
    switch op {
    case .relu: mapRows(loop, x, y) { $0 < 0 ? 0 : $0 }
    case .relu6: mapRows(loop, x, y) { clampValue($0, 0, 6) }
    case .hardtanh(let lower, let upper):
      let (lower, upper) = (T(scalar: .double(lower)), T(scalar: .double(upper)))
      mapRows(loop, x, y) { clampValue($0, lower, upper) }
    case .clamp(let lower, let upper):
      let lower = lower.map { T(scalar: $0) } ?? .min
      let upper = upper.map { T(scalar: $0) } ?? .max
      mapRows(loop, x, y) { clampValue($0, lower, upper) }
    case .abs: mapRows(loop, x, y) { $0 < 0 ? 0 &- $0 : $0 }
    case .neg: mapRows(loop, x, y) { 0 &- $0 }
    case .square: mapRows(loop, x, y) { $0 &* $0 }
    case .sign: mapRows(loop, x, y) { $0 > 0 ? 1 : ($0 < 0 ? 0 &- 1 : 0) }
    case .floor, .ceil, .round, .trunc: mapRows(loop, x, y) { $0 }
    default: preconditionFailure("unreachable: supports() was checked")
    }
  }
}

/// `min(max(x, lower), upper)` that lets NaN through and gives `upper` when `lower > upper`.
@inline(__always)
func clampValue<T: Comparable>(_ value: T, _ lower: T, _ upper: T) -> T {
  let raised = value < lower ? lower : value
  return raised > upper ? upper : raised
}
