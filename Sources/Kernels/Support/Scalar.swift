/// A number passed to a kernel as an argument (alpha, clamp bounds, a fill value): PyTorch's
/// `c10::Scalar`.
///
/// Integers stay exact: `fill(.int(1 << 62), ...)` into an int64 buffer stores exactly that
/// value, which a `Double` argument could not promise.
public enum Scalar: Sendable, Hashable, CustomStringConvertible {
  /// An integer argument (TorchScript `int`).
  case int(Int64)
  /// A floating-point argument (TorchScript `float`).
  case double(Double)
  /// A boolean argument (TorchScript `bool`).
  case bool(Bool)

  /// The value as a Double (integers above 2^53 round).
  public var doubleValue: Double {
    switch self {
    case .int(let value): Double(value)
    case .double(let value): value
    case .bool(let value): value ? 1 : 0
    }
  }

  /// The value as an Int64, converting a double as a C cast does (toward zero).
  public var int64Value: Int64 {
    switch self {
    case .int(let value): value
    case .double(let value): Scalar.truncatingToInt64(value)
    case .bool(let value): value ? 1 : 0
    }
  }

  public var description: String {
    switch self {
    case .int(let value): "\(value)"
    case .double(let value): "\(value)"
    case .bool(let value): value ? "True" : "False"
    }
  }

  /// Float → integer conversion as the C cast PyTorch uses, made total.
  ///
  /// The C cast is undefined for NaN and out-of-range values; we map NaN to 0 and saturate at
  /// ±9.2e18 before wrapping, the same choice `TensorCore.Tensor.setElement` makes.
  @inline(__always)
  static func truncatingToInt64(_ value: Double) -> Int64 {
    guard value.isFinite else { return value.isNaN ? 0 : (value > 0 ? .max : .min) }
    return Int64(max(min(value.rounded(.towardZero), 9.2e18), -9.2e18))
  }
}
