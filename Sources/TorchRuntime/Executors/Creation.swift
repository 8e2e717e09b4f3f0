import Kernels
import TensorCore
import TorchIR

/// Executors that make new tensors: `zeros`, `ones`, `full`, their `_like` forms, `empty`,
/// `arange`, `new_zeros`/`new_ones`/`new_full`.
enum CreationExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("aten::zeros", { a in [.tensor(try filled(try a.intList(0), .int(0), dtype: try a.optionalInt(1), defaultType: .float32))] }),
      ("aten::ones", { a in [.tensor(try filled(try a.intList(0), .int(1), dtype: try a.optionalInt(1), defaultType: .float32))] }),
      ("aten::empty.memory_format", { a in [.tensor(try filled(try a.intList(0), .int(0), dtype: try a.optionalInt(1), defaultType: .float32))] }),
      ("aten::full", { a in
        [.tensor(try filled(try a.intList(0), a[1], dtype: try a.optionalInt(2), defaultType: defaultType(of: a[1])))]
      }),
      ("aten::zeros_like", { a in [.tensor(try like(try a.tensor(0), .int(0), dtype: try a.optionalInt(1)))] }),
      ("aten::ones_like", { a in [.tensor(try like(try a.tensor(0), .int(1), dtype: try a.optionalInt(1)))] }),
      ("aten::empty_like", { a in [.tensor(try like(try a.tensor(0), .int(0), dtype: try a.optionalInt(1)))] }),
      ("aten::full_like", { a in [.tensor(try like(try a.tensor(0), a[1], dtype: try a.optionalInt(2)))] }),
      ("aten::new_zeros", { a in
        [.tensor(try filled(try a.intList(1), .int(0), dtype: try a.optionalInt(2), defaultType: try a.tensor(0).dtype))]
      }),
      ("aten::new_ones", { a in
        [.tensor(try filled(try a.intList(1), .int(1), dtype: try a.optionalInt(2), defaultType: try a.tensor(0).dtype))]
      }),
      ("aten::new_full", { a in
        [.tensor(try filled(try a.intList(1), a[2], dtype: try a.optionalInt(3), defaultType: try a.tensor(0).dtype))]
      }),
      ("aten::arange", { a in [.tensor(try arange(.int(0), a[0], .int(1), dtype: try a.optionalInt(1)))] }),
      ("aten::arange.start", { a in [.tensor(try arange(a[0], a[1], .int(1), dtype: try a.optionalInt(2)))] }),
      ("aten::arange.start_step", { a in [.tensor(try arange(a[0], a[1], a[2], dtype: try a.optionalInt(3)))] }),
    ]
  }

  /// float32 for floats, int64 for ints, bool for bools (`torch.full`'s inference).
  static func defaultType(of value: IValue) -> DType {
    switch value {
    case .int: .int64
    case .bool: .bool
    default: .float32
    }
  }

  static func dtype(_ code: Int?, default fallback: DType) throws -> DType {
    guard let code else { return fallback }
    guard let dtype = DType(rawValue: code) else { throw OpError("unknown dtype code \(code)") }
    return dtype
  }

  static func filled(_ shape: [Int], _ value: IValue, dtype code: Int?, defaultType: DType) throws -> Tensor {
    _ = try Tensor.checkedElementCount(shape)
    let type = try dtype(code, default: defaultType)
    let tensor = Tensor(zeros: shape, dtype: type)
    guard let scalar = value.kernelScalar else { throw OpError("fill value must be a number, got \(value.kindName)") }
    withExtendedLifetime(tensor) {
      DataMovementKernels.fill(scalar, dtype: type, destination: tensor.firstElement, strides: tensor.strides, shape: shape)
    }
    return tensor
  }

  static func like(_ tensor: Tensor, _ value: IValue, dtype code: Int?) throws -> Tensor {
    try filled(tensor.shape, value, dtype: code, defaultType: tensor.dtype)
  }

  static func arange(_ start: IValue, _ end: IValue, _ step: IValue, dtype code: Int?) throws -> Tensor {
    guard let first = start.number, let last = end.number, let stride = step.number, stride != 0 else {
      throw OpError("arange needs numbers and a non-zero step")
    }
    let isInteger = [start, end, step].allSatisfy { if case .int = $0 { true } else { false } }
    let type = try dtype(code, default: isInteger ? .int64 : .float32)
    let count = max(0, Int(((last - first) / stride).rounded(.up)))
    _ = try Tensor.checkedElementCount([count])
    let tensor = Tensor(zeros: [count], dtype: type)
    for index in 0..<count {
      if isInteger, let base = start.int, let delta = step.int {
        tensor.setIntegerElement(index, Int64(base + index * delta))
      } else {
        tensor.setElement(index, first + Double(index) * stride)
      }
    }
    return tensor
  }
}
