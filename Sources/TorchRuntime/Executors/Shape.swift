import TensorCore
import TorchIR

/// Executors for `prim::` tensor queries (`prim::dtype`, `prim::device`, ...).
enum PrimExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("prim::dtype", { a in [.int(try a.tensor(0).dtype.rawValue)] }),
      ("prim::device", { _ in [.device("cpu")] }),
      ("prim::layout", { _ in [.int(0)] }),
      ("prim::is_cuda", { _ in [.bool(false)] }),
      ("prim::is_cpu", { _ in [.bool(true)] }),
      ("prim::is_nested", { _ in [.bool(false)] }),
      ("prim::is_quantized", { a in [.bool(try a.tensor(0).dtype.isQuantized)] }),
      ("prim::requires_grad", { a in [.bool(try a.tensor(0).requiresGrad)] }),
      ("prim::NumToTensor.Scalar", { a in [.tensor(scalarTensor(a[0]))] }),
      ("prim::NumToTensor.bool", { a in [.tensor(scalarTensor(a[0]))] }),
      ("aten::scalar_tensor", { a in [.tensor(scalarTensor(a[0]))] }),
    ]
  }

  /// A 0-d tensor holding a scalar: int64 for ints, float64 for floats, bool for bools (PyTorch's
  /// `scalar_to_tensor`).
  static func scalarTensor(_ value: IValue) -> Tensor {
    switch value {
    case .int(let number): return Tensor(shape: [], int64s: [Int64(number)])
    case .bool(let flag): return Tensor(shape: [], dtype: .bool, doubles: [flag ? 1 : 0])
    default: return Tensor(shape: [], dtype: .float64, doubles: [value.number ?? 0])
    }
  }
}

/// Executors that only change tensor metadata (views) or report shapes.
enum ShapeExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("aten::size", { a in [.list(ListValue(try a.tensor(0).shape.map { .int($0) }, elementType: .int))] }),
      ("aten::size.int", { a in
        let tensor = try a.tensor(0)
        return [.int(tensor.shape[try Tensor.wrapDimension(try a.int(1), rank: tensor.rank)])]
      }),
      ("aten::dim", { a in [.int(try a.tensor(0).rank)] }),
      ("aten::numel", { a in [.int(try a.tensor(0).count)] }),
      ("aten::len.Tensor", { a in
        let tensor = try a.tensor(0)
        guard tensor.rank > 0 else { throw OpError("len() of a 0-d tensor") }
        return [.int(tensor.shape[0])]
      }),
      ("aten::stride", { a in [.list(ListValue(try a.tensor(0).strides.map { .int($0) }, elementType: .int))] }),
      ("aten::view", { a in [.tensor(try a.tensor(0).viewed(as: try a.intList(1)))] }),
      ("aten::reshape", { a in [.tensor(try a.tensor(0).reshaped(try a.intList(1)))] }),
      ("aten::view_as", { a in [.tensor(try a.tensor(0).viewed(as: try a.tensor(1).shape))] }),
      ("aten::reshape_as", { a in [.tensor(try a.tensor(0).reshaped(try a.tensor(1).shape))] }),
      ("aten::_unsafe_view", { a in [.tensor(try a.tensor(0).reshaped(try a.intList(1)))] }),
      ("aten::flatten.using_ints", { a in [.tensor(try a.tensor(0).flattened(from: try a.int(1), to: try a.int(2)))] }),
      ("aten::unflatten.int", { a in
        let tensor = try a.tensor(0)
        let dim = try Tensor.wrapDimension(try a.int(1), rank: tensor.rank)
        let sizes = try Tensor.inferShape(try a.intList(2), count: tensor.shape[dim])
        let shape = Array(tensor.shape[..<dim]) + sizes + Array(tensor.shape[(dim + 1)...])
        return [.tensor(try tensor.reshaped(shape))]
      }),
      ("aten::squeeze", { a in [.tensor(try a.tensor(0).squeezed())] }),
      ("aten::squeeze.dim", { a in [.tensor(try a.tensor(0).squeezed(try a.int(1)))] }),
      ("aten::squeeze.dims", { a in
        var tensor = try a.tensor(0)
        let dims = try a.intList(1).map { try Tensor.wrapDimension($0, rank: tensor.rank) }.sorted(by: >)
        for dim in dims { tensor = try tensor.squeezed(dim) }
        return [.tensor(tensor)]
      }),
      ("aten::unsqueeze", { a in [.tensor(try a.tensor(0).unsqueezed(try a.int(1)))] }),
      ("aten::transpose.int", { a in [.tensor(try a.tensor(0).transposed(try a.int(1), try a.int(2)))] }),
      ("aten::t", { a in
        let tensor = try a.tensor(0)
        guard tensor.rank <= 2 else { throw OpError("t() expects a tensor with <= 2 dimensions, but self is \(tensor.rank)D") }
        return [.tensor(tensor.rank < 2 ? tensor : try tensor.transposed(0, 1))]
      }),
      ("aten::permute", { a in [.tensor(try a.tensor(0).permuted(try a.intList(1)))] }),
      ("aten::movedim.int", { a in
        let tensor = try a.tensor(0)
        let source = try Tensor.wrapDimension(try a.int(1), rank: tensor.rank)
        let destination = try Tensor.wrapDimension(try a.int(2), rank: tensor.rank)
        var order = Array(0..<tensor.rank)
        order.remove(at: source)
        order.insert(source, at: destination)
        return [.tensor(try tensor.permuted(order))]
      }),
      ("aten::expand", { a in [.tensor(try a.tensor(0).expanded(to: try a.intList(1)))] }),
      ("aten::expand_as", { a in [.tensor(try a.tensor(0).expanded(to: try a.tensor(1).shape))] }),
      ("aten::select.int", { a in [.tensor(try a.tensor(0).select(dim: try a.int(1), index: try a.int(2)))] }),
      ("aten::slice.Tensor", { a in
        [.tensor(try a.tensor(0).slice(dim: try a.int(1), start: try a.optionalInt(2), end: try a.optionalInt(3), step: try a.int(4)))]
      }),
      ("aten::narrow", { a in [.tensor(try a.tensor(0).narrow(dim: try a.int(1), start: try a.int(2), length: try a.int(3)))] }),
      ("aten::chunk", { a in
        let tensor = try a.tensor(0)
        let chunks = try a.int(1)
        guard chunks > 0 else { throw OpError("chunk expects `chunks` to be greater than 0, got: \(chunks)") }
        let dim = try Tensor.wrapDimension(try a.int(2), rank: tensor.rank)
        let size = (tensor.shape[dim] + chunks - 1) / chunks
        return [.list(ListValue(try splitBySize(tensor, size: max(size, 1), dim: dim).map { .tensor($0) }, elementType: .tensor))]
      }),
      ("aten::split.Tensor", { a in
        let tensor = try a.tensor(0)
        let dim = try Tensor.wrapDimension(try a.int(2), rank: tensor.rank)
        let size = try a.int(1)
        guard size > 0 || tensor.shape[dim] == 0 else { throw OpError("split_size can only be 0 if dimension size is 0") }
        return [.list(ListValue(try splitBySize(tensor, size: max(size, 1), dim: dim).map { .tensor($0) }, elementType: .tensor))]
      }),
      ("aten::split_with_sizes", { a in
        [.list(ListValue(try splitWithSizes(try a.tensor(0), try a.intList(1), dim: try a.int(2)).map { .tensor($0) }, elementType: .tensor))]
      }),
      ("aten::split.sizes", { a in
        [.list(ListValue(try splitWithSizes(try a.tensor(0), try a.intList(1), dim: try a.int(2)).map { .tensor($0) }, elementType: .tensor))]
      }),
      ("aten::unbind.int", { a in
        let tensor = try a.tensor(0)
        let dim = try Tensor.wrapDimension(try a.int(1), rank: tensor.rank)
        let parts = try (0..<tensor.shape[dim]).map { try tensor.select(dim: dim, index: $0) }
        return [.list(ListValue(parts.map { .tensor($0) }, elementType: .tensor))]
      }),
      ("aten::contiguous", { a in [.tensor(try a.tensor(0).contiguous())] }),
      ("aten::clone", { a in [.tensor(try a.tensor(0).copy())] }),
      ("aten::detach", { a in [a[0]] }),
      ("aten::alias", { a in [a[0]] }),
    ]
  }

  static func splitBySize(_ tensor: Tensor, size: Int, dim: Int) throws -> [Tensor] {
    let total = tensor.shape[dim]
    if total == 0 { return [tensor] }
    return try Swift.stride(from: 0, to: total, by: size).map {
      try tensor.narrow(dim: dim, start: $0, length: min(size, total - $0))
    }
  }

  static func splitWithSizes(_ tensor: Tensor, _ sizes: [Int], dim rawDim: Int) throws -> [Tensor] {
    let dim = try Tensor.wrapDimension(rawDim, rank: tensor.rank)
    guard sizes.reduce(0, +) == tensor.shape[dim], sizes.allSatisfy({ $0 >= 0 }) else {
      throw OpError("split_with_sizes expects split_sizes to sum exactly to \(tensor.shape[dim]) (input tensor's size at dimension \(dim)), but got split_sizes=\(sizes)")
    }
    var start = 0
    var parts: [Tensor] = []
    for size in sizes {
      parts.append(try tensor.narrow(dim: dim, start: start, length: size))
      start += size
    }
    return parts
  }
}
