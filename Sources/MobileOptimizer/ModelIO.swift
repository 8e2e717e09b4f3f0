import Foundation
import TensorCore
import TorchArchive

/// Errors in model inputs and outputs given on the command line.
public enum ModelIOError: Error, CustomStringConvertible {
  /// `--bundled` and `--input` were both given.
  case conflictingInputs
  /// The number of `--output` files differs from the number of outputs.
  case outputCountMismatch(produced: Int, files: Int)
  /// An output that cannot be saved as `.npy`.
  case unsavable(String)
  /// The model has no bundled inputs, or not that many.
  case noBundledInput(index: Int, available: Int)

  public var description: String {
    switch self {
    case .conflictingInputs: "--bundled and --input cannot be used together"
    case .outputCountMismatch(let produced, let files):
      "the method returned \(produced) outputs but \(files) --output files were given"
    case .unsavable(let kind): "an output of kind \(kind) cannot be saved as .npy"
    case .noBundledInput(let index, let available):
      available == 0 ? "the model has no bundled inputs" : "bundled input \(index) does not exist (the model has \(available))"
    }
  }
}

/// Reading inputs from `.npy` files and flattening, printing and saving outputs.
public enum ModelIO {
  /// An input value from a `.npy` file: a tensor, or an int/float/bool for 0-d int64, float64
  /// and bool arrays (how the fixture script saves scalar arguments).
  public static func readInput(_ url: URL) throws -> IValue {
    let tensor = try NPY.read(contentsOf: url)
    if tensor.rank == 0 {
      switch tensor.dtype {
      case .int64: return .int(Int(tensor.integerElement(0)))
      case .float64: return .double(tensor.element(0))
      case .bool: return .bool(tensor.element(0) != 0)
      default: break
      }
    }
    return .tensor(tensor)
  }

  /// Tuples, lists and dicts (values, in insertion order) flattened in order.
  public static func flatten(_ value: IValue) -> [IValue] {
    switch value {
    case .tuple(let items): return items.flatMap(flatten)
    case .list(let list): return list.elements.flatMap(flatten)
    case .dict(let dict): return dict.values.flatMap(flatten)
    default: return [value]
    }
  }

  /// One line about a value: a tensor's dtype, shape and first values; a scalar's value.
  public static func summary(_ value: IValue) -> String {
    switch value {
    case .tensor(let tensor):
      let shown = (0..<min(tensor.count, 6)).map { index -> String in
        let element = tensor.element(index)
        return tensor.dtype.isFloatingPoint ? String(format: "%.6g", element) : String(Int64(element))
      }
      let more = tensor.count > 6 ? ", ..." : ""
      return "Tensor \(tensor.dtype) \(tensor.shape) [\(shown.joined(separator: ", "))\(more)]"
    case .int(let number): return "int \(number)"
    case .double(let number): return "float \(number)"
    case .bool(let flag): return "bool \(flag ? "True" : "False")"
    case .string(let text): return "str \"\(text)\""
    case .none: return "None"
    default: return value.kindName
    }
  }

  /// Saves a tensor, int, float or bool output as `.npy` (scalars as 0-d arrays).
  public static func write(_ value: IValue, to url: URL) throws {
    let tensor: Tensor
    switch value {
    case .tensor(let t): tensor = t.contiguous()
    case .int(let number): tensor = Tensor(shape: [], int64s: [Int64(number)])
    case .double(let number): tensor = Tensor(shape: [], dtype: .float64, doubles: [number])
    case .bool(let flag): tensor = Tensor(shape: [], dtype: .bool, doubles: [flag ? 1 : 0])
    default: throw ModelIOError.unsavable(value.kindName)
    }
    try NPY.write(tensor, to: url)
  }
}
