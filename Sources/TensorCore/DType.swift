/// The element type of a tensor, numbered like PyTorch's `c10::ScalarType`.
///
/// The raw values are the codes TorchScript prints for dtype arguments
/// (`torch.zeros([2], dtype=6)` is float32), so they round-trip through printed source.
public enum DType: Int, Sendable, CaseIterable, CustomStringConvertible {
  case uint8 = 0
  case int8 = 1
  case int16 = 2
  case int32 = 3
  case int64 = 4
  case float16 = 5
  case float32 = 6
  case float64 = 7
  case complex64 = 9
  case complex128 = 10
  case bool = 11
  case qint8 = 12
  case quint8 = 13
  case qint32 = 14
  case bfloat16 = 15

  /// Bytes per element.
  public var itemSize: Int {
    switch self {
    case .uint8, .int8, .bool, .qint8, .quint8: 1
    case .int16, .float16, .bfloat16: 2
    case .int32, .float32, .qint32: 4
    case .int64, .float64, .complex64: 8
    case .complex128: 16
    }
  }

  /// The numpy-style name used in reports and `inspect` (`float32`, `int64`, ...).
  public var name: String {
    switch self {
    case .uint8: "uint8"
    case .int8: "int8"
    case .int16: "int16"
    case .int32: "int32"
    case .int64: "int64"
    case .float16: "float16"
    case .float32: "float32"
    case .float64: "float64"
    case .complex64: "complex64"
    case .complex128: "complex128"
    case .bool: "bool"
    case .qint8: "qint8"
    case .quint8: "quint8"
    case .qint32: "qint32"
    case .bfloat16: "bfloat16"
    }
  }

  /// True for the quantized integer types, whose tensors carry a `Quantization`.
  public var isQuantized: Bool {
    switch self {
    case .qint8, .quint8, .qint32: true
    default: false
    }
  }

  public var description: String { name }

  /// True for the real floating-point types.
  public var isFloatingPoint: Bool {
    switch self {
    case .float16, .float32, .float64, .bfloat16: true
    default: false
    }
  }

  /// True for the integer types, bool excluded.
  public var isIntegral: Bool {
    switch self {
    case .uint8, .int8, .int16, .int32, .int64: true
    default: false
    }
  }

  /// The storage class name torch pickles for this dtype (`FloatStorage` for float32).
  public var storageClassName: String {
    switch self {
    case .uint8: "ByteStorage"
    case .int8: "CharStorage"
    case .int16: "ShortStorage"
    case .int32: "IntStorage"
    case .int64: "LongStorage"
    case .float16: "HalfStorage"
    case .float32: "FloatStorage"
    case .float64: "DoubleStorage"
    case .complex64: "ComplexFloatStorage"
    case .complex128: "ComplexDoubleStorage"
    case .bool: "BoolStorage"
    case .qint8: "QInt8Storage"
    case .quint8: "QUInt8Storage"
    case .qint32: "QInt32Storage"
    case .bfloat16: "BFloat16Storage"
    }
  }

  /// The dtype stored by a torch storage class (`torch.FloatStorage` → float32).
  public init?(storageClassName: String) {
    guard let match = DType.allCases.first(where: { $0.storageClassName == storageClassName }) else {
      return nil
    }
    self = match
  }

  /// Parses a numpy-style name as printed by `name`.
  public init?(name: String) {
    guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
    self = match
  }
}
