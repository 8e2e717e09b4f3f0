import Foundation
import TensorCore

// Note [Element types]
// Multi-dtype kernels are written once, generic over these protocols, and specialized per dtype
// inside this module: their public entry points take raw pointers and a `DType` and switch once,
// so the runtime never names a Swift element type and release builds still get a concrete loop
// per type. Bool tensors hold one byte, 0 or 1, so they use `UInt8` and the dtype says which
// meaning applies. float16 and bfloat16 are storage formats only (`convert` reads and writes
// them); arithmetic kernels do not take them, as PyTorch's CPU kernels mostly widen them too.

/// An element a multi-dtype kernel computes with.
protocol NumericElement: Comparable, AdditiveArithmetic {
  /// The scalar argument converted to this type as PyTorch converts a `Scalar` for a kernel.
  init(scalar: Scalar)
  /// True for a NaN; reductions that propagate NaN test it (always false for integers).
  var isNaNValue: Bool { get }
}

/// A floating-point element with the math functions the unary kernels need.
protocol RealElement: NumericElement, BinaryFloatingPoint {
  static func exp(_ x: Self) -> Self
  static func expm1(_ x: Self) -> Self
  static func log(_ x: Self) -> Self
  static func log1p(_ x: Self) -> Self
  static func log2(_ x: Self) -> Self
  static func log10(_ x: Self) -> Self
  static func tanh(_ x: Self) -> Self
  static func erf(_ x: Self) -> Self
  static func sin(_ x: Self) -> Self
  static func cos(_ x: Self) -> Self
  static func pow(_ x: Self, _ y: Self) -> Self
}

/// An integer element; arithmetic wraps on overflow as PyTorch's C++ kernels do in practice.
protocol IntegerElement: NumericElement, FixedWidthInteger {}

extension RealElement {
  @inline(__always) var isNaNValue: Bool { isNaN }

  init(scalar: Scalar) {
    switch scalar {
    case .int(let value): self.init(value)
    case .double(let value): self.init(value)
    case .bool(let value): self = value ? 1 : 0
    }
  }
}

extension IntegerElement {
  @inline(__always) var isNaNValue: Bool { false }

  init(scalar: Scalar) {
    self.init(truncatingIfNeeded: scalar.int64Value)
  }
}

extension Float: RealElement {
  @inline(__always) static func exp(_ x: Float) -> Float { Foundation.exp(x) }
  @inline(__always) static func expm1(_ x: Float) -> Float { Foundation.expm1(x) }
  @inline(__always) static func log(_ x: Float) -> Float { Foundation.log(x) }
  @inline(__always) static func log1p(_ x: Float) -> Float { Foundation.log1p(x) }
  @inline(__always) static func log2(_ x: Float) -> Float { Foundation.log2(x) }
  @inline(__always) static func log10(_ x: Float) -> Float { Foundation.log10(x) }
  @inline(__always) static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
  @inline(__always) static func erf(_ x: Float) -> Float { Foundation.erf(x) }
  @inline(__always) static func sin(_ x: Float) -> Float { Foundation.sin(x) }
  @inline(__always) static func cos(_ x: Float) -> Float { Foundation.cos(x) }
  @inline(__always) static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
}

extension Double: RealElement {
  @inline(__always) static func exp(_ x: Double) -> Double { Foundation.exp(x) }
  @inline(__always) static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
  @inline(__always) static func log(_ x: Double) -> Double { Foundation.log(x) }
  @inline(__always) static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
  @inline(__always) static func log2(_ x: Double) -> Double { Foundation.log2(x) }
  @inline(__always) static func log10(_ x: Double) -> Double { Foundation.log10(x) }
  @inline(__always) static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
  @inline(__always) static func erf(_ x: Double) -> Double { Foundation.erf(x) }
  @inline(__always) static func sin(_ x: Double) -> Double { Foundation.sin(x) }
  @inline(__always) static func cos(_ x: Double) -> Double { Foundation.cos(x) }
  @inline(__always) static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

extension Int64: IntegerElement {}
extension Int32: IntegerElement {}
extension Int16: IntegerElement {}
extension Int8: IntegerElement {}
extension UInt8: IntegerElement {}

extension DType {
  /// True for the types the arithmetic kernels compute in: float32, float64, the integer types
  /// and bool.
  var isArithmetic: Bool {
    switch self {
    case .float32, .float64, .int64, .int32, .int16, .int8, .uint8, .bool: true
    default: false
    }
  }
}
