import TensorCore

/// A binary elementwise op whose result has the operands' dtype, with PyTorch's semantics.
///
/// Integers wrap on overflow. Integer division and remainder by zero is an error
/// (`KernelError.integerDivisionByZero`, PyTorch's "ZeroDivisionError"); float division by zero
/// follows IEEE. On bool, `add` is or, `mul` is and, `maximum` is or and `minimum` is and, as
/// PyTorch computes them; see `supports(_:)` for the full table.
public enum BinaryOperation: Sendable, Hashable {
  /// `a + alpha · b`.
  case add(alpha: Scalar = .int(1))
  /// `a − alpha · b`.
  case sub(alpha: Scalar = .int(1))
  /// `a · b`.
  case mul
  /// True division `a / b` (floating types only: the caller promotes integers first).
  case div
  /// `trunc(a / b)` (`div(rounding_mode='trunc')`).
  case divTrunc
  /// `floor(a / b)` (`div(rounding_mode='floor')`, `floor_divide`); floats follow Python's
  /// `//`, so `-0.0 // 3 == -0.0` and `5 // -0.0 == -inf`.
  case divFloor
  /// Python-style modulo (`remainder`): the result has the sign of `b`.
  case remainder
  /// C-style modulo (`fmod`): the result has the sign of `a`.
  case fmod
  /// `a ** b`; for integers a negative exponent gives 0 unless `a` is 1 or −1.
  case pow
  /// The larger operand; NaN if either is NaN.
  case maximum
  /// The smaller operand; NaN if either is NaN.
  case minimum
  /// `max(a + alpha · b, 0)` (`_add_relu`, produced by the add-relu fusion pass).
  case addRelu(alpha: Scalar = .int(1))
  /// Bitwise and (logical and on bool).
  case bitwiseAnd
  /// Bitwise or (logical or on bool).
  case bitwiseOr
  /// Bitwise xor (logical xor on bool).
  case bitwiseXor

  /// True when `ElementwiseKernels.binary` has a kernel for the op on `dtype`.
  public func supports(_ dtype: DType) -> Bool {
    switch dtype {
    case .float32, .float64:
      switch self {
      case .bitwiseAnd, .bitwiseOr, .bitwiseXor: return false
      default: return true
      }
    case .int64, .int32, .int16, .int8, .uint8:
      if case .div = self { return false }
      return true
    case .bool:
      switch self {
      case .add, .mul, .maximum, .minimum, .bitwiseAnd, .bitwiseOr, .bitwiseXor: return true
      default: return false
      }
    default:
      return false
    }
  }

  /// True for the ops that fail on an integer divisor of zero.
  var dividesIntegers: Bool {
    switch self {
    case .divTrunc, .divFloor, .remainder, .fmod: true
    default: false
    }
  }

  /// The name PyTorch gives the op, for error messages.
  var name: String {
    switch self {
    case .add: "add"
    case .sub: "sub"
    case .mul: "mul"
    case .div: "div"
    case .divTrunc: "div(rounding_mode='trunc')"
    case .divFloor: "div(rounding_mode='floor')"
    case .remainder: "remainder"
    case .fmod: "fmod"
    case .pow: "pow"
    case .maximum: "maximum"
    case .minimum: "minimum"
    case .addRelu: "_add_relu"
    case .bitwiseAnd: "bitwise_and"
    case .bitwiseOr: "bitwise_or"
    case .bitwiseXor: "bitwise_xor"
    }
  }
}

/// A comparison writing bool (`eq`, `ne`, `lt`, `le`, `gt`, `ge`); NaN compares unequal to
/// everything, itself included.
public enum ComparisonOperation: Sendable, Hashable, CaseIterable {
  /// `a == b`.
  case equal
  /// `a != b`.
  case notEqual
  /// `a < b`.
  case less
  /// `a <= b`.
  case lessOrEqual
  /// `a > b`.
  case greater
  /// `a >= b`.
  case greaterOrEqual
}

/// A logical op on the truth values (`x != 0`) of its operands, writing bool.
public enum LogicalOperation: Sendable, Hashable, CaseIterable {
  /// `logical_and`.
  case and
  /// `logical_or`.
  case or
  /// `logical_xor`.
  case xor
}

extension ElementwiseKernels {
  /// `output[i] = op(a[i], b[i])` over `shape`; both inputs and the output have `dtype`.
  ///
  /// - Precondition: `op.supports(dtype)`.
  /// - Throws: `KernelError.integerDivisionByZero` for an integer `divTrunc`, `divFloor`,
  ///   `remainder` or `fmod` with a zero in `b`; the output is then untouched.
  public static func binary(
    _ op: BinaryOperation, dtype: DType,
    a: UnsafeRawPointer, aStrides: [Int], b: UnsafeRawPointer, bStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int], shape: [Int]
  ) throws(KernelError) {
    precondition(op.supports(dtype), "\(op.name) has no kernel for \(dtype)")
    let loop = StridedLoop(shape: shape, strides: [aStrides, bStrides, outputStrides])
    switch dtype {
    case .float32: binaryReal(op, loop, a.typed(Float.self), b.typed(Float.self), output.typed(Float.self))
    case .float64: binaryReal(op, loop, a.typed(Double.self), b.typed(Double.self), output.typed(Double.self))
    case .int64: try binaryInteger(op, loop, a.typed(Int64.self), b.typed(Int64.self), output.typed(Int64.self), bStrides, shape)
    case .int32: try binaryInteger(op, loop, a.typed(Int32.self), b.typed(Int32.self), output.typed(Int32.self), bStrides, shape)
    case .int16: try binaryInteger(op, loop, a.typed(Int16.self), b.typed(Int16.self), output.typed(Int16.self), bStrides, shape)
    case .int8: try binaryInteger(op, loop, a.typed(Int8.self), b.typed(Int8.self), output.typed(Int8.self), bStrides, shape)
    case .uint8: try binaryInteger(op, loop, a.typed(UInt8.self), b.typed(UInt8.self), output.typed(UInt8.self), bStrides, shape)
    case .bool: binaryBool(op, loop, a.typed(UInt8.self), b.typed(UInt8.self), output.typed(UInt8.self))
    default: preconditionFailure("unreachable: supports(\(dtype)) was checked")
    }
  }

  /// `output[i] = op(a[i], b[i])` as bool (one byte, 0 or 1); `a` and `b` have `dtype`.
  public static func compare(
    _ op: ComparisonOperation, dtype: DType,
    a: UnsafeRawPointer, aStrides: [Int], b: UnsafeRawPointer, bStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int], shape: [Int]
  ) {
    let loop = StridedLoop(shape: shape, strides: [aStrides, bStrides, outputStrides])
    let target = output.typed(UInt8.self)
    switch dtype {
    case .float32: compareRows(op, loop, a.typed(Float.self), b.typed(Float.self), target)
    case .float64: compareRows(op, loop, a.typed(Double.self), b.typed(Double.self), target)
    case .int64: compareRows(op, loop, a.typed(Int64.self), b.typed(Int64.self), target)
    case .int32: compareRows(op, loop, a.typed(Int32.self), b.typed(Int32.self), target)
    case .int16: compareRows(op, loop, a.typed(Int16.self), b.typed(Int16.self), target)
    case .int8: compareRows(op, loop, a.typed(Int8.self), b.typed(Int8.self), target)
    case .uint8, .bool: compareRows(op, loop, a.typed(UInt8.self), b.typed(UInt8.self), target)
    default: preconditionFailure("comparison has no kernel for \(dtype)")
    }
  }

  /// `output[i] = op(a[i] != 0, b[i] != 0)` as bool; `a` and `b` have `dtype`.
  public static func logical(
    _ op: LogicalOperation, dtype: DType,
    a: UnsafeRawPointer, aStrides: [Int], b: UnsafeRawPointer, bStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int], shape: [Int]
  ) {
    let loop = StridedLoop(shape: shape, strides: [aStrides, bStrides, outputStrides])
    let target = output.typed(UInt8.self)
    switch dtype {
    case .float32: logicalRows(op, loop, a.typed(Float.self), b.typed(Float.self), target)
    case .float64: logicalRows(op, loop, a.typed(Double.self), b.typed(Double.self), target)
    case .int64: logicalRows(op, loop, a.typed(Int64.self), b.typed(Int64.self), target)
    case .int32: logicalRows(op, loop, a.typed(Int32.self), b.typed(Int32.self), target)
    case .int16: logicalRows(op, loop, a.typed(Int16.self), b.typed(Int16.self), target)
    case .int8: logicalRows(op, loop, a.typed(Int8.self), b.typed(Int8.self), target)
    case .uint8, .bool: logicalRows(op, loop, a.typed(UInt8.self), b.typed(UInt8.self), target)
    default: preconditionFailure("logical op has no kernel for \(dtype)")
    }
  }

  /// `output[i] = condition[i] != 0 ? a[i] : b[i]` (`torch.where`) for elements of any size.
  ///
  /// - Parameters:
  ///   - elementSize: bytes per element of `a`, `b` and `output` (1, 2, 4, 8 or 16).
  ///   - condition: bool (one byte per element).
  public static func select(
    elementSize: Int, condition: UnsafeRawPointer, conditionStrides: [Int],
    a: UnsafeRawPointer, aStrides: [Int], b: UnsafeRawPointer, bStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int], shape: [Int]
  ) {
    let loop = StridedLoop(shape: shape, strides: [conditionStrides, aStrides, bStrides, outputStrides])
    func run<Element>(_: Element.Type) {
      let (flags, left, right, target) = (
        condition.typed(UInt8.self), a.typed(Element.self), b.typed(Element.self), output.typed(Element.self)
      )
      let steps = (loop.rowStride(0), loop.rowStride(1), loop.rowStride(2), loop.rowStride(3))
      for offsets in loop {
        for index in 0..<loop.rowLength {
          let chosen =
            flags[offsets[0] + index &* steps.0] != 0
            ? left[offsets[1] + index &* steps.1] : right[offsets[2] + index &* steps.2]
          target[offsets[3] + index &* steps.3] = chosen
        }
      }
    }
    switch elementSize {
    case 1: run(UInt8.self)
    case 2: run(UInt16.self)
    case 4: run(UInt32.self)
    case 8: run(UInt64.self)
    case 16: run(SIMD2<UInt64>.self)
    default: preconditionFailure("unsupported element size \(elementSize)")
    }
  }

  // MARK: - Per-domain implementations

  private static func binaryReal<T: RealElement>(
    _ op: BinaryOperation, _ loop: StridedLoop, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
    _ y: UnsafeMutablePointer<T>
  ) {
    switch op {
    case .add(let alpha):
      let alpha = T(scalar: alpha)
      if alpha == 1 { mapRows(loop, a, b, y) { $0 + $1 } } else { mapRows(loop, a, b, y) { $0 + alpha * $1 } }
    case .sub(let alpha):
      let alpha = T(scalar: alpha)
      if alpha == 1 { mapRows(loop, a, b, y) { $0 - $1 } } else { mapRows(loop, a, b, y) { $0 - alpha * $1 } }
    case .mul: mapRows(loop, a, b, y) { $0 * $1 }
    case .div: mapRows(loop, a, b, y) { $0 / $1 }
    case .divTrunc: mapRows(loop, a, b, y) { ($0 / $1).rounded(.towardZero) }
    case .divFloor: mapRows(loop, a, b, y) { floorDivideReal($0, $1) }
    case .remainder:
      mapRows(loop, a, b, y) { left, right in
        let remainder = left.truncatingRemainder(dividingBy: right)
        return remainder != 0 && (right < 0) != (remainder < 0) ? remainder + right : remainder
      }
    case .fmod: mapRows(loop, a, b, y) { $0.truncatingRemainder(dividingBy: $1) }
    case .pow: mapRows(loop, a, b, y) { T.pow($0, $1) }
    case .maximum: mapRows(loop, a, b, y) { $0.isNaN || $0 > $1 ? $0 : $1 }
    case .minimum: mapRows(loop, a, b, y) { $0.isNaN || $0 < $1 ? $0 : $1 }
    case .addRelu(let alpha):
      let alpha = T(scalar: alpha)
      mapRows(loop, a, b, y) { left, right in
        let sum = left + alpha * right
        return sum < 0 ? 0 : sum
      }
    case .bitwiseAnd, .bitwiseOr, .bitwiseXor:
      preconditionFailure("unreachable: supports() was checked")
    }
  }

  private static func binaryInteger<T: IntegerElement>(
    _ op: BinaryOperation, _ loop: StridedLoop, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
    _ y: UnsafeMutablePointer<T>, _ bStrides: [Int], _ shape: [Int]
  ) throws(KernelError) {
    if op.dividesIntegers, firstElement(b, strides: bStrides, shape: shape, where: { $0 == 0 }) != nil {
      throw .integerDivisionByZero(op: op.name)
    }
    switch op {
    case .add(let alpha):
      let alpha = T(scalar: alpha)
      mapRows(loop, a, b, y) { $0 &+ alpha &* $1 }
    case .sub(let alpha):
      let alpha = T(scalar: alpha)
      mapRows(loop, a, b, y) { $0 &- alpha &* $1 }
    case .mul: mapRows(loop, a, b, y) { $0 &* $1 }
    case .divTrunc: mapRows(loop, a, b, y) { $0.dividedReportingOverflow(by: $1).partialValue }
    case .divFloor:
      mapRows(loop, a, b, y) { left, right in
        let quotient = left.dividedReportingOverflow(by: right).partialValue
        let remainder = left.remainderReportingOverflow(dividingBy: right).partialValue
        return remainder != 0 && (remainder < 0) != (right < 0) ? quotient &- 1 : quotient
      }
    case .remainder:
      mapRows(loop, a, b, y) { left, right in
        let remainder = left.remainderReportingOverflow(dividingBy: right).partialValue
        return remainder != 0 && (remainder < 0) != (right < 0) ? remainder &+ right : remainder
      }
    case .fmod: mapRows(loop, a, b, y) { $0.remainderReportingOverflow(dividingBy: $1).partialValue }
    case .pow: mapRows(loop, a, b, y) { integerPower($0, $1) }
    case .maximum: mapRows(loop, a, b, y) { Swift.max($0, $1) }
    case .minimum: mapRows(loop, a, b, y) { Swift.min($0, $1) }
    case .addRelu(let alpha):
      let alpha = T(scalar: alpha)
      mapRows(loop, a, b, y) { left, right in
        let sum = left &+ alpha &* right
        return sum < 0 ? 0 : sum
      }
    case .bitwiseAnd: mapRows(loop, a, b, y) { $0 & $1 }
    case .bitwiseOr: mapRows(loop, a, b, y) { $0 | $1 }
    case .bitwiseXor: mapRows(loop, a, b, y) { $0 ^ $1 }
    case .div:
      preconditionFailure("unreachable: supports() was checked")
    }
  }

  /// Bool operands are bytes 0 or 1, so or/and/xor of the bytes are the logical results.
  private static func binaryBool(
    _ op: BinaryOperation, _ loop: StridedLoop, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>,
    _ y: UnsafeMutablePointer<UInt8>
  ) {
    switch op {
    case .add(let alpha):
      if alpha.doubleValue != 0 { mapRows(loop, a, b, y) { $0 | $1 } } else { mapRows(loop, a, b, y) { left, _ in left } }
    case .maximum, .bitwiseOr: mapRows(loop, a, b, y) { $0 | $1 }
    case .mul, .minimum, .bitwiseAnd: mapRows(loop, a, b, y) { $0 & $1 }
    case .bitwiseXor: mapRows(loop, a, b, y) { $0 ^ $1 }
    default: preconditionFailure("unreachable: supports() was checked")
    }
  }

  private static func compareRows<T: Comparable>(
    _ op: ComparisonOperation, _ loop: StridedLoop, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
    _ y: UnsafeMutablePointer<UInt8>
  ) {
    switch op {
    case .equal: mapRows(loop, a, b, y) { $0 == $1 ? 1 : 0 }
    case .notEqual: mapRows(loop, a, b, y) { $0 != $1 ? 1 : 0 }
    case .less: mapRows(loop, a, b, y) { $0 < $1 ? 1 : 0 }
    case .lessOrEqual: mapRows(loop, a, b, y) { $0 <= $1 ? 1 : 0 }
    case .greater: mapRows(loop, a, b, y) { $0 > $1 ? 1 : 0 }
    case .greaterOrEqual: mapRows(loop, a, b, y) { $0 >= $1 ? 1 : 0 }
    }
  }

  private static func logicalRows<T: NumericElement>(
    _ op: LogicalOperation, _ loop: StridedLoop, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
    _ y: UnsafeMutablePointer<UInt8>
  ) {
    switch op {
    case .and: mapRows(loop, a, b, y) { $0 != .zero && $1 != .zero ? 1 : 0 }
    case .or: mapRows(loop, a, b, y) { $0 != .zero || $1 != .zero ? 1 : 0 }
    case .xor: mapRows(loop, a, b, y) { ($0 != .zero) != ($1 != .zero) ? 1 : 0 }
    }
  }
}

/// Python's float `a // b`, which PyTorch's `div(rounding_mode='floor')` follows: computed from
/// `fmod` so that the quotient is exact where `floor(a / b)` would round wrongly.
@inline(__always)
func floorDivideReal<T: RealElement>(_ a: T, _ b: T) -> T {
  if b == 0 { return a / b }
  let remainder = a.truncatingRemainder(dividingBy: b)
  var quotient = (a - remainder) / b
  if remainder != 0 && (b < 0) != (remainder < 0) { quotient -= 1 }
  if quotient == 0 { return T(signOf: a / b, magnitudeOf: 0) }
  var floored = quotient.rounded(.down)
  if quotient - floored > 0.5 { floored += 1 }
  return floored
}

/// `base ** exponent` with wrapping; a negative exponent gives 0 unless the base is ±1
/// (PyTorch's integer `pow`).
@inline(__always)
func integerPower<T: FixedWidthInteger>(_ base: T, _ exponent: T) -> T {
  if exponent < 0 {
    if base == 1 { return 1 }
    if T.isSigned && base == 0 &- 1 { return exponent & 1 == 0 ? 1 : base }
    return 0
  }
  var (result, factor, remaining): (T, T, T) = (1, base, exponent)
  while remaining != 0 {
    if remaining & 1 == 1 { result = result &* factor }
    factor = factor &* factor
    remaining >>= 1
  }
  return result
}
