import Kernels
import TensorCore

// Note [Executors and kernels]
// Executors adapt TorchScript values to kernel calls: they check arguments, work out result
// shapes and dtypes (PyTorch's type promotion), allocate outputs and pass raw buffers, sizes and
// strides to `Kernels`. They hold no arithmetic loops of their own. The pointer plumbing is
// confined to the helpers in this file.

extension Tensor {
  /// The address of the first element.
  var firstElement: UnsafeMutableRawPointer {
    storage.baseAddress + storageOffset * dtype.itemSize
  }

  /// The tensor as typed float32 elements; the tensor must be float32.
  func floatPointer() -> UnsafeMutablePointer<Float> {
    firstElement.assumingMemoryBound(to: Float.self)
  }

  /// A contiguous float32 version (a copy when needed).
  func contiguousFloat32() throws -> Tensor {
    guard dtype == .float32 else { throw OpError("expected a float32 tensor, got \(dtype)") }
    return contiguous()
  }

  /// This tensor converted to `target` (same shape, contiguous; `self` when nothing changes).
  func converted(to target: DType) -> Tensor {
    if dtype == target { return self }
    let result = Tensor(zeros: shape, dtype: target)
    withExtendedLifetime(self) {
      DataMovementKernels.convert(
        from: dtype, source: firstElement, sourceStrides: strides, to: target, destination: result.firstElement,
        destinationStrides: result.strides, shape: shape)
    }
    return result
  }

  /// Copies `source` (broadcast to this tensor's shape, converted to its dtype) into this view.
  func assign(from source: Tensor) throws {
    let broadcast = try Tensor.broadcastShapes(source.shape, shape)
    guard broadcast == shape else {
      throw OpError("cannot copy a tensor of shape \(source.shape) into one of shape \(shape)")
    }
    let converted = source.converted(to: dtype)
    let sourceStrides = converted.broadcastStrides(to: shape)
    withExtendedLifetime(converted) {
      DataMovementKernels.copy(
        elementSize: dtype.itemSize, source: converted.firstElement, sourceStrides: sourceStrides,
        destination: firstElement, destinationStrides: strides, shape: shape)
    }
  }
}

/// A number or a tensor operand of an elementwise op.
enum Operand {
  case tensor(Tensor)
  case scalar(IValue)

  init(_ value: IValue) throws {
    switch value {
    case .tensor(let tensor): self = .tensor(tensor)
    case .int, .double, .bool: self = .scalar(value)
    default: throw OpError("expected a Tensor or a number, got \(value.kindName)")
    }
  }

  var shape: [Int] {
    if case .tensor(let tensor) = self { return tensor.shape }
    return []
  }
}

/// PyTorch's result-type rules for mixing tensors and numbers.
enum TypePromotion {
  /// bool < integral < floating.
  static func category(_ dtype: DType) -> Int {
    if dtype == .bool { return 0 }
    if dtype.isFloatingPoint { return 2 }
    return 1
  }

  static func category(of scalar: IValue) -> Int {
    switch scalar {
    case .bool: 0
    case .int: 1
    default: 2
    }
  }

  /// The common type of two dtypes (`torch.promote_types`).
  static func promote(_ a: DType, _ b: DType) -> DType {
    if a == b { return a }
    if a == .bool { return b }
    if b == .bool { return a }
    let (ca, cb) = (category(a), category(b))
    if ca != cb { return ca > cb ? a : b }
    if ca == 2 {
      let order: [DType] = [.float16, .bfloat16, .float32, .float64]
      if (a == .float16 && b == .bfloat16) || (a == .bfloat16 && b == .float16) { return .float32 }
      return order.firstIndex(of: a)! > order.firstIndex(of: b)! ? a : b
    }
    // Integers: uint8 mixed with a signed type needs the next wider signed type.
    let signedWidth: [DType: Int] = [.int8: 1, .int16: 2, .int32: 3, .int64: 4]
    if a == .uint8 || b == .uint8 {
      let other = a == .uint8 ? b : a
      return other == .int8 ? .int16 : other
    }
    return signedWidth[a]! > signedWidth[b]! ? a : b
  }

  /// The result dtype of an op over `operands`: dimensioned tensors decide, then 0-d tensors,
  /// then numbers, each group only raising the category (numbers give the default float32 or
  /// int64).
  static func resultType(_ operands: [Operand]) -> DType {
    var dimensioned: DType?
    var zeroDim: DType?
    var scalarCategory = -1
    for operand in operands {
      switch operand {
      case .tensor(let tensor):
        if tensor.rank > 0 {
          dimensioned = dimensioned.map { promote($0, tensor.dtype) } ?? tensor.dtype
        } else {
          zeroDim = zeroDim.map { promote($0, tensor.dtype) } ?? tensor.dtype
        }
      case .scalar(let value):
        scalarCategory = max(scalarCategory, category(of: value))
      }
    }
    var result: DType
    if let dimensioned {
      result = dimensioned
      if let zeroDim, category(zeroDim) > category(result) { result = zeroDim }
    } else if let zeroDim {
      result = zeroDim
    } else {
      return scalarCategory == 2 ? .float32 : scalarCategory == 1 ? .int64 : .bool
    }
    if scalarCategory > category(result) {
      result = scalarCategory == 2 ? .float32 : .int64
    }
    return result
  }

  /// A 0-d tensor of `dtype` holding a number.
  static func scalarTensor(_ value: IValue, dtype: DType) -> Tensor {
    let tensor = Tensor(zeros: [], dtype: dtype)
    switch value {
    case .int(let number): tensor.setIntegerElement(0, Int64(number))
    case .bool(let flag): tensor.setIntegerElement(0, flag ? 1 : 0)
    default: tensor.setElement(0, value.number ?? 0)
    }
    return tensor
  }

  /// The operand as a tensor of `dtype`.
  static func materialize(_ operand: Operand, as dtype: DType) -> Tensor {
    switch operand {
    case .tensor(let tensor): tensor.converted(to: dtype)
    case .scalar(let value): scalarTensor(value, dtype: dtype)
    }
  }
}

extension KernelError {
  /// As an `OpError` for the interpreter.
  var opError: OpError { OpError(description) }
}

extension IValue {
  /// A number as a kernel `Scalar`.
  var kernelScalar: Scalar? {
    switch self {
    case .int(let value): .int(Int64(value))
    case .double(let value): .double(value)
    case .bool(let value): .bool(value)
    default: nil
    }
  }
}
