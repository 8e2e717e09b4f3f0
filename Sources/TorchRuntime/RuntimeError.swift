import Foundation
import TensorCore
import TorchIR

/// A failure inside one operator: what went wrong, before the interpreter adds where.
public struct OpError: Error, CustomStringConvertible {
  /// What went wrong, with the values involved.
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}

/// An error while running a model: bad inputs, an op that failed or has no kernel, or an
/// exception the model raised. Messages name the method, the op and the model's source line.
public enum RuntimeError: Error, CustomStringConvertible {
  /// The model raised an exception (`raise ValueError(...)` / `ops.prim.RaiseException`).
  case modelRaised(message: String, exceptionClass: String?, method: String, location: SourceLocation?)
  /// An op failed on these inputs (a shape the model rejects, a wrong dtype).
  case opFailed(op: String, message: String, method: String, location: SourceLocation?)
  /// No kernel implements this op.
  case noKernel(op: String, method: String, location: SourceLocation?)
  /// The arguments given to a method do not fit its signature.
  case badArguments(method: String, message: String)
  /// The object has no such method.
  case noSuchMethod(typeName: String, method: String)

  public var description: String {
    func place(_ method: String, _ location: SourceLocation?) -> String {
      location.map { "\(method) (\($0))" } ?? method
    }
    switch self {
    case .modelRaised(let message, let exceptionClass, let method, let location):
      let kind = exceptionClass.map { $0.replacingOccurrences(of: "builtins.", with: "") + ": " } ?? ""
      return "model raised \(kind)\(message) in \(place(method, location))"
    case .opFailed(let op, let message, let method, let location):
      return "\(op) failed in \(place(method, location)): \(message)"
    case .noKernel(let op, let method, let location):
      return "no kernel for operator \(op), used in \(place(method, location))"
    case .badArguments(let method, let message):
      return "bad arguments for \(method): \(message)"
    case .noSuchMethod(let typeName, let method):
      return "\(typeName) has no method '\(method)'"
    }
  }
}

