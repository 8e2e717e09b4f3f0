import Kernels
import TensorCore
import TorchIR

/// Executors that move data: `cat`, `stack`, dtype conversion (`to`, `type_as`), `copy_`,
/// `fill_`, `zero_`, `index_select`, tensor indexing, `gather`, `repeat`, constant padding, and
/// dropout (identity unless training).
enum DataMovementExecutors {
  static var entries: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = [
      ("aten::cat", { a in [.tensor(try cat(try a.tensorList(0), dim: try a.int(1)))] }),
      ("aten::concat", { a in [.tensor(try cat(try a.tensorList(0), dim: try a.int(1)))] }),
      ("aten::stack", { a in
        let tensors = try a.tensorList(0)
        guard let first = tensors.first else { throw OpError("stack expects a non-empty TensorList") }
        let dim = try Tensor.wrapDimension(try a.int(1), rank: first.rank + 1)
        for tensor in tensors where tensor.shape != first.shape {
          throw OpError("stack expects each tensor to be equal size, but got \(first.shape) and \(tensor.shape)")
        }
        return [.tensor(try cat(try tensors.map { try $0.unsqueezed(dim) }, dim: dim))]
      }),
      ("aten::type_as", { a in [.tensor(try a.tensor(0).converted(to: try a.tensor(1).dtype))] }),
      ("aten::copy_", { a in
        let target = try a.tensor(0)
        try target.assign(from: try a.tensor(1))
        return [.tensor(target)]
      }),
      ("aten::fill_.Scalar", { a in
        let target = try a.tensor(0)
        guard let scalar = a[1].kernelScalar else { throw OpError("fill_ value must be a number") }
        withExtendedLifetime(target) {
          DataMovementKernels.fill(scalar, dtype: target.dtype, destination: target.firstElement, strides: target.strides, shape: target.shape)
        }
        return [.tensor(target)]
      }),
      ("aten::zero_", { a in
        let target = try a.tensor(0)
        withExtendedLifetime(target) {
          DataMovementKernels.fill(.int(0), dtype: target.dtype, destination: target.firstElement, strides: target.strides, shape: target.shape)
        }
        return [.tensor(target)]
      }),
      ("aten::index_select", { a in [.tensor(try indexSelect(try a.tensor(0), dim: try a.int(1), index: try a.tensor(2)))] }),
      ("aten::index.Tensor", { a in [.tensor(try index(try a.tensor(0), a[1]))] }),
      ("aten::gather", { a in [.tensor(try gather(try a.tensor(0), dim: try a.int(1), index: try a.tensor(2)))] }),
      ("aten::repeat", { a in [.tensor(try repeatTensor(try a.tensor(0), try a.intList(1)))] }),
      ("aten::constant_pad_nd", { a in [.tensor(try pad(try a.tensor(0), try a.intList(1), value: a[2]))] }),
      ("aten::pad", { a in
        let mode = try a.string(2)
        guard mode == "constant" else { throw OpError("pad mode '\(mode)' is not supported") }
        return [.tensor(try pad(try a.tensor(0), try a.intList(1), value: a.count > 3 && !a[3].isNone ? a[3] : .int(0)))]
      }),
    ]
    for name in ["dropout", "dropout_", "feature_dropout", "feature_dropout_", "alpha_dropout"] {
      result.append(("aten::" + name, { a in
        guard try !a.bool(2) || a.double(1) == 0 else {
          throw OpError("\(name) in training mode is random; this runtime runs models in eval mode only")
        }
        return [a[0]]
      }))
    }
    for schema in OpRegistry.standard.schemas(for: "aten::to") {
      // to.dtype(self, dtype, ...), to.other(self, other, ...), to.device(self, device, dtype, ...),
      // to.dtype_layout(self, *, dtype, layout, device, ...).
      let names = schema.arguments.map(\.name)
      result.append((schema.fullName, { a in
        let tensor = try a.tensor(0)
        var target = tensor.dtype
        if let index = names.firstIndex(of: "other") {
          target = try a.tensor(index).dtype
        } else if let index = names.firstIndex(of: "dtype"), let code = try a.optionalInt(index) {
          guard let type = DType(rawValue: code) else { throw OpError("unknown dtype code \(code)") }
          target = type
        }
        let copy = names.firstIndex(of: "copy").map { (try? a.bool($0)) ?? false } ?? false
        return [.tensor(copy && target == tensor.dtype ? tensor.copy() : tensor.converted(to: target))]
      }))
    }
    return result
  }

  static func cat(_ tensors: [Tensor], dim rawDim: Int) throws -> Tensor {
    // Legacy behaviour: 1-D empty tensors are skipped.
    let inputs = tensors.filter { !($0.rank == 1 && $0.count == 0) }
    guard let first = inputs.first ?? tensors.first else { throw OpError("torch.cat(): expected a non-empty list of Tensors") }
    let type = inputs.dropFirst().reduce(first.dtype) { TypePromotion.promote($0, $1.dtype) }
    let converted = inputs.map { $0.converted(to: type) }
    let layout: (shape: [Int], dim: Int)
    do {
      layout = try DataMovementKernels.catOutputShape(converted.map(\.shape), dim: rawDim)
    } catch {
      throw error.opError
    }
    let output = Tensor(zeros: layout.shape, dtype: type)
    withExtendedLifetime((converted, output)) {
      let sources = converted.map { StridedSource(base: UnsafeRawPointer($0.firstElement), shape: $0.shape, strides: $0.strides) }
      DataMovementKernels.cat(
        elementSize: type.itemSize, inputs: sources, dim: layout.dim, output: output.firstElement, outputStrides: output.strides)
    }
    return output
  }

  static func indexSelect(_ input: Tensor, dim rawDim: Int, index: Tensor) throws -> Tensor {
    guard index.rank <= 1 else { throw OpError("index_select(): Index is supposed to be a vector") }
    let dim = try Tensor.wrapDimension(rawDim, rank: input.rank)
    let indices = index.converted(to: .int64).contiguous()
    var shape = input.shape
    if !shape.isEmpty { shape[dim] = indices.count }
    let output = Tensor(zeros: shape, dtype: input.dtype)
    do {
      try withExtendedLifetime((input, indices, output)) { () throws(KernelError) in
        try DataMovementKernels.indexSelect(
          elementSize: input.dtype.itemSize, input: input.firstElement, inputShape: input.shape, inputStrides: input.strides,
          dim: dim, indices: indices.firstElement.assumingMemoryBound(to: Int64.self), indexCount: indices.count,
          output: output.firstElement, outputStrides: output.strides)
      }
    } catch {
      throw error.opError
    }
    return output
  }

  /// `x[indices]` with one index tensor (the other positions `None`): the result has the index's
  /// shape in place of that dimension. Bool masks select where true.
  static func index(_ input: Tensor, _ indices: IValue) throws -> Tensor {
    guard let items = indices.elements else { throw OpError("index expects a list of optional tensors") }
    let given = items.enumerated().compactMap { offset, item -> (Int, Tensor)? in
      if case .tensor(let tensor) = item { return (offset, tensor) }
      return nil
    }
    guard given.count == 1, let (dim, rawIndex) = given.first else {
      throw OpError("indexing with \(given.count) index tensors is not supported")
    }
    var indexTensor = rawIndex
    if indexTensor.dtype == .bool {
      guard indexTensor.rank == 1 else { throw OpError("boolean masks of more than one dimension are not supported") }
      let selected = (0..<indexTensor.count).filter { indexTensor.element($0) != 0 }.map { Int64($0) }
      indexTensor = Tensor(shape: [selected.count], int64s: selected)
    }
    let flat = try indexSelect(input, dim: dim, index: try indexTensor.reshaped([-1]))
    var shape = Array(input.shape[..<dim]) + indexTensor.shape
    shape += Array(input.shape[(dim + 1)...])
    return try flat.reshaped(shape)
  }

  static func gather(_ input: Tensor, dim rawDim: Int, index: Tensor) throws -> Tensor {
    let indices = index.converted(to: .int64)
    let dim: Int
    do {
      dim = try DataMovementKernels.validateGather(inputShape: input.shape, dim: rawDim, indexShape: indices.shape)
    } catch {
      throw error.opError
    }
    let output = Tensor(zeros: indices.shape, dtype: input.dtype)
    do {
      try withExtendedLifetime((input, indices, output)) { () throws(KernelError) in
        try DataMovementKernels.gather(
          elementSize: input.dtype.itemSize, input: input.firstElement, inputShape: input.shape, inputStrides: input.strides,
          dim: dim, index: indices.firstElement.assumingMemoryBound(to: Int64.self), indexShape: indices.shape,
          indexStrides: indices.strides, output: output.firstElement, outputStrides: output.strides)
      }
    } catch {
      throw error.opError
    }
    return output
  }

  static func repeatTensor(_ input: Tensor, _ repeats: [Int]) throws -> Tensor {
    guard repeats.count >= input.rank else {
      throw OpError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    }
    let padded = try input.reshaped(Array(repeating: 1, count: repeats.count - input.rank) + input.shape)
    // Expand a [r0, s0, r1, s1, ...] view, then merge pairs.
    var expandedShape: [Int] = []
    var viewShape: [Int] = []
    for (size, times) in zip(padded.shape, repeats) {
      viewShape += [1, size]
      expandedShape += [times, size]
    }
    let expanded = try padded.reshaped(viewShape).expanded(to: expandedShape)
    return try expanded.copy().reshaped(zip(padded.shape, repeats).map { $0 * $1 })
  }

  /// `constant_pad_nd`: `pad` lists (before, after) pairs from the last dimension backwards.
  static func pad(_ input: Tensor, _ pad: [Int], value: IValue) throws -> Tensor {
    guard pad.count % 2 == 0, pad.count / 2 <= input.rank else {
      throw OpError("padding length must be divisible by 2 and at most twice the input rank, got \(pad.count)")
    }
    var shape = input.shape
    var view = input
    for pair in 0..<(pad.count / 2) {
      let dim = input.rank - 1 - pair
      let (before, after) = (pad[2 * pair], pad[2 * pair + 1])
      shape[dim] += before + after
      guard shape[dim] >= 0 else { throw OpError("padding results in a negative size for dimension \(dim)") }
      // Negative padding crops the input.
      let cropStart = max(0, -before)
      let cropEnd = input.shape[dim] - max(0, -after)
      view = try view.slice(dim: dim, start: cropStart, end: cropEnd, step: 1)
    }
    let output = try CreationExecutors.filled(shape, value, dtype: input.dtype.rawValue, defaultType: input.dtype)
    var window = output
    for pair in 0..<(pad.count / 2) {
      let dim = input.rank - 1 - pair
      let before = max(0, pad[2 * pair])
      window = try window.narrow(dim: dim, start: before, length: view.shape[dim])
    }
    try window.assign(from: view)
    return output
  }
}
