import TensorCore

/// Bad arguments found by a kernel's validation helper, or by a kernel that can only find them
/// while it runs (an integer division by zero, an index out of range).
///
/// Validation helpers (`Conv2DShape.validate()`, `OutputSize`, `Broadcasting.shape(_:_:)`, ...)
/// throw these before the caller allocates anything; the runtime turns them into user errors that
/// name the graph node. Kernels themselves only `precondition` on what validation guarantees.
/// Messages follow PyTorch's wording where it has one, lower-case and without a final period.
public enum KernelError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A size, stride, padding, dilation or group count is outside its allowed range.
  case invalidParameter(op: String, name: String, value: [Int], requirement: String)
  /// Operand shapes are inconsistent with each other or with the op's parameters.
  case shapeMismatch(op: String, message: String)
  /// The computed output size is empty or negative.
  case outputTooSmall(op: String, input: [Int], output: [Int])
  /// Two shapes cannot be broadcast together.
  case notBroadcastable([Int], [Int])
  /// A dimension index is outside `-rank..<rank`.
  case dimOutOfRange(op: String, dim: Int, rank: Int)
  /// A dimension is listed twice in a reduction.
  case duplicateDim(op: String, dim: Int)
  /// A reduction without identity (max, argmax, ...) over a dimension of size zero.
  case emptyReduction(op: String, dim: Int)
  /// An index tensor holds a value outside `0..<size`.
  case indexOutOfRange(op: String, index: Int64, dim: Int, size: Int)
  /// An integer division or remainder by zero.
  case integerDivisionByZero(op: String)
  /// The op has no kernel for the element type.
  case unsupportedDType(op: String, dtype: DType)

  public var description: String {
    switch self {
    case .invalidParameter(let op, let name, let value, let requirement):
      "\(op): \(name) \(value) is invalid, expected \(requirement)"
    case .shapeMismatch(let op, let message):
      "\(op): \(message)"
    case .outputTooSmall(let op, let input, let output):
      "\(op): given input size \(input), calculated output size \(output) is too small"
    case .notBroadcastable(let a, let b):
      "shapes \(a) and \(b) cannot be broadcast together"
    case .dimOutOfRange(let op, let dim, let rank):
      "\(op): dimension \(dim) out of range, expected it in [\(-max(rank, 1)), \(max(rank, 1) - 1)]"
    case .duplicateDim(let op, let dim):
      "\(op): dimension \(dim) appears multiple times in the list of dims"
    case .emptyReduction(let op, let dim):
      "\(op): expected reduction dim \(dim) to have non-zero size"
    case .indexOutOfRange(let op, let index, let dim, let size):
      "\(op): index \(index) is out of bounds for dimension \(dim) with size \(size)"
    case .integerDivisionByZero(let op):
      "\(op): integer division by zero"
    case .unsupportedDType(let op, let dtype):
      "\(op): no kernel for element type \(dtype)"
    }
  }
}
