/// Errors from shape manipulation: bad dimensions, incompatible sizes.
public struct ShapeError: Error, Equatable, CustomStringConvertible {
  /// What is wrong, with the sizes involved.
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}

// MARK: - Views

/// Views share storage with the tensor they come from; only the metadata (shape, strides,
/// offset) changes. Their semantics follow PyTorch's ops of the same names.
extension Tensor {
  /// Wraps a possibly negative dimension index (`-1` is the last) into `0..<rank`.
  public static func wrapDimension(_ dim: Int, rank: Int) throws(ShapeError) -> Int {
    let extent = max(rank, 1)
    let wrapped = dim < 0 ? dim + extent : dim
    guard wrapped >= 0, wrapped < extent else {
      throw ShapeError("dimension out of range (expected to be in range of [\(-extent), \(extent - 1)], but got \(dim))")
    }
    return wrapped
  }

  /// `aten::select`: the slice at `index` along `dim`, with that dimension removed.
  public func select(dim: Int, index: Int) throws(ShapeError) -> Tensor {
    guard rank > 0 else { throw ShapeError("select() cannot be applied to a 0-dim tensor") }
    let dim = try Tensor.wrapDimension(dim, rank: rank)
    let size = shape[dim]
    let wrapped = index < 0 ? index + size : index
    guard wrapped >= 0, wrapped < size else {
      throw ShapeError("select(): index \(index) out of range for tensor of size \(shape) at dimension \(dim)")
    }
    var result = self
    result.storageOffset += wrapped * strides[dim]
    result.shape.remove(at: dim)
    result.strides.remove(at: dim)
    return result
  }

  /// `aten::slice`: elements `start..<end` stepping by `step` along `dim` (Python slice rules:
  /// negative bounds count from the end, bounds are clamped).
  public func slice(dim: Int, start: Int?, end: Int?, step: Int) throws(ShapeError) -> Tensor {
    guard rank > 0 else { throw ShapeError("slice() cannot be applied to a 0-dim tensor") }
    guard step > 0 else { throw ShapeError("slice step must be positive, got \(step)") }
    let dim = try Tensor.wrapDimension(dim, rank: rank)
    let size = shape[dim]
    var lower = start ?? 0
    var upper = end ?? size
    if lower < 0 { lower += size }
    if upper < 0 { upper += size }
    lower = min(max(lower, 0), size)
    upper = min(max(upper, lower), size)
    var result = self
    result.storageOffset += lower * strides[dim]
    result.shape[dim] = (upper - lower + step - 1) / step
    result.strides[dim] *= step
    return result
  }

  /// `aten::narrow`: `length` elements from `start` along `dim`.
  public func narrow(dim: Int, start: Int, length: Int) throws(ShapeError) -> Tensor {
    let dim = try Tensor.wrapDimension(dim, rank: rank)
    let begin = start < 0 ? start + shape[dim] : start
    guard begin >= 0, length >= 0, begin + length <= shape[dim] else {
      throw ShapeError("narrow(): start \(start) + length \(length) exceeds dimension size \(shape[dim])")
    }
    return try slice(dim: dim, start: begin, end: begin + length, step: 1)
  }

  /// `aten::transpose`: swaps two dimensions.
  public func transposed(_ a: Int, _ b: Int) throws(ShapeError) -> Tensor {
    if rank == 0 { return self }
    let first = try Tensor.wrapDimension(a, rank: rank)
    let second = try Tensor.wrapDimension(b, rank: rank)
    var result = self
    result.shape.swapAt(first, second)
    result.strides.swapAt(first, second)
    return result
  }

  /// `aten::permute`: reorders dimensions.
  public func permuted(_ order: [Int]) throws(ShapeError) -> Tensor {
    guard order.count == rank else {
      throw ShapeError("permute(): number of dims don't match (got \(order.count) for a tensor of rank \(rank))")
    }
    var seen = Set<Int>()
    var result = self
    for (position, dim) in order.enumerated() {
      let wrapped = try Tensor.wrapDimension(dim, rank: rank)
      guard seen.insert(wrapped).inserted else { throw ShapeError("permute(): repeated dim \(dim)") }
      result.shape[position] = shape[wrapped]
      result.strides[position] = strides[wrapped]
    }
    return result
  }

  /// `aten::unsqueeze`: inserts a size-1 dimension at `dim`.
  public func unsqueezed(_ dim: Int) throws(ShapeError) -> Tensor {
    let dim = try Tensor.wrapDimension(dim, rank: rank + 1)
    var result = self
    let stride = dim < rank ? shape[dim] * strides[dim] : 1
    result.shape.insert(1, at: dim)
    result.strides.insert(stride, at: dim)
    return result
  }

  /// `aten::squeeze` with a dim: removes `dim` if its size is 1.
  public func squeezed(_ dim: Int) throws(ShapeError) -> Tensor {
    if rank == 0 { return self }
    let dim = try Tensor.wrapDimension(dim, rank: rank)
    guard shape[dim] == 1 else { return self }
    var result = self
    result.shape.remove(at: dim)
    result.strides.remove(at: dim)
    return result
  }

  /// `aten::squeeze`: removes every size-1 dimension.
  public func squeezed() -> Tensor {
    var result = self
    result.shape = []
    result.strides = []
    for (size, stride) in zip(shape, strides) where size != 1 {
      result.shape.append(size)
      result.strides.append(stride)
    }
    return result
  }

  /// `aten::expand`: broadcasts size-1 dimensions to `sizes` (`-1` keeps a size) with stride 0.
  public func expanded(to sizes: [Int]) throws(ShapeError) -> Tensor {
    guard sizes.count >= rank else {
      throw ShapeError(
        "expand: the number of sizes provided (\(sizes.count)) must be greater or equal to the number of dimensions in the tensor (\(rank))")
    }
    var newShape = [Int](repeating: 0, count: sizes.count)
    var newStrides = [Int](repeating: 0, count: sizes.count)
    let lead = sizes.count - rank
    for index in stride(from: sizes.count - 1, through: 0, by: -1) {
      let requested = sizes[index]
      if index < lead {
        guard requested >= 0 else { throw ShapeError("expand: -1 is not allowed in a leading, new dimension") }
        newShape[index] = requested
        newStrides[index] = 0
        continue
      }
      let size = shape[index - lead]
      let stride = strides[index - lead]
      if requested == -1 || requested == size {
        newShape[index] = size
        newStrides[index] = stride
      } else if size == 1 {
        guard requested >= 0 else { throw ShapeError("expand: invalid size \(requested)") }
        newShape[index] = requested
        newStrides[index] = 0
      } else {
        throw ShapeError(
          "The expanded size of the tensor (\(requested)) must match the existing size (\(size)) at non-singleton dimension \(index).  Target sizes: \(sizes).  Tensor sizes: \(shape)")
      }
    }
    var result = self
    result.shape = newShape
    result.strides = newStrides
    return result
  }

  /// Resolves a `view`/`reshape` size list with at most one `-1` against `count` elements.
  public static func inferShape(_ sizes: [Int], count: Int) throws(ShapeError) -> [Int] {
    var result = sizes
    var inferred: Int?
    var known = 1
    for (index, size) in sizes.enumerated() {
      if size == -1 {
        guard inferred == nil else { throw ShapeError("only one dimension can be inferred") }
        inferred = index
      } else if size < 0 {
        throw ShapeError("invalid shape dimension \(size)")
      } else {
        known *= size
      }
    }
    if let inferred {
      guard known != 0, count % known == 0 else {
        throw ShapeError("shape '\(sizes)' is invalid for input of size \(count)")
      }
      result[inferred] = count / known
    } else if known != count {
      throw ShapeError("shape '\(sizes)' is invalid for input of size \(count)")
    }
    return result
  }

  /// Strides that view this tensor's elements as `newShape` without copying, or nil when the
  /// layout does not allow it (PyTorch's `computeStride`).
  public func viewStrides(for newShape: [Int]) -> [Int]? {
    if count == 0 || rank == 0 { return Tensor.contiguousStrides(newShape) }
    var newStrides = [Int](repeating: 0, count: newShape.count)
    var viewDim = newShape.count - 1
    // Walk the old dims from the back, grouping runs that are contiguous with each other.
    var chunkBase = strides.last ?? 1
    var tensorElements = 1
    var viewElements = 1
    var tensorDim = rank - 1
    while tensorDim >= 0 {
      tensorElements *= shape[tensorDim]
      if tensorDim == 0 || (shape[tensorDim - 1] != 1 && strides[tensorDim - 1] != tensorElements * chunkBase) {
        while viewDim >= 0, viewElements < tensorElements || newShape[viewDim] == 1 {
          newStrides[viewDim] = viewElements * chunkBase
          viewElements *= newShape[viewDim]
          viewDim -= 1
        }
        if viewElements != tensorElements { return nil }
        if tensorDim > 0 {
          chunkBase = strides[tensorDim - 1]
          tensorElements = 1
          viewElements = 1
        }
      }
      tensorDim -= 1
    }
    if viewDim != -1 { return nil }
    return newStrides
  }

  /// `aten::view`: the same elements with a new shape; fails when the layout needs a copy.
  public func viewed(as sizes: [Int]) throws(ShapeError) -> Tensor {
    let newShape = try Tensor.inferShape(sizes, count: count)
    guard let newStrides = viewStrides(for: newShape) else {
      throw ShapeError(
        "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    }
    var result = self
    result.shape = newShape
    result.strides = newStrides
    return result
  }

  /// `aten::reshape`: a view when possible, otherwise a contiguous copy with the new shape.
  public func reshaped(_ sizes: [Int]) throws(ShapeError) -> Tensor {
    let newShape = try Tensor.inferShape(sizes, count: count)
    if let newStrides = viewStrides(for: newShape) {
      var result = self
      result.shape = newShape
      result.strides = newStrides
      return result
    }
    var copy = self.copy()
    copy.shape = newShape
    copy.strides = Tensor.contiguousStrides(newShape)
    return copy
  }

  /// `aten::flatten`: merges dims `start...end` into one.
  public func flattened(from start: Int, to end: Int) throws(ShapeError) -> Tensor {
    if rank == 0 { return try reshaped([1]) }
    let first = try Tensor.wrapDimension(start, rank: rank)
    let last = try Tensor.wrapDimension(end, rank: rank)
    guard first <= last else { throw ShapeError("flatten() has invalid args: start_dim cannot come after end_dim") }
    if first == last { return self }
    let merged = shape[first...last].reduce(1, *)
    let newShape = Array(shape[..<first]) + [merged] + Array(shape[(last + 1)...])
    return try reshaped(newShape)
  }

  /// The shape two shapes broadcast to (NumPy rules), or an error naming both.
  public static func broadcastShapes(_ a: [Int], _ b: [Int]) throws(ShapeError) -> [Int] {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for index in 0..<rank {
      let x = index < rank - a.count ? 1 : a[index - (rank - a.count)]
      let y = index < rank - b.count ? 1 : b[index - (rank - b.count)]
      if x == y || y == 1 {
        result[index] = x
      } else if x == 1 {
        result[index] = y
      } else {
        throw ShapeError(
          "The size of tensor a (\(x)) must match the size of tensor b (\(y)) at non-singleton dimension \(index)")
      }
    }
    return result
  }

  /// Strides that read this tensor broadcast to `target` (0 for broadcast dims).
  public func broadcastStrides(to target: [Int]) -> [Int] {
    var result = [Int](repeating: 0, count: target.count)
    let lead = target.count - rank
    for index in 0..<rank where shape[index] != 1 {
      result[lead + index] = strides[index]
    }
    return result
  }
}

/// The identity of a tensor view: the same storage seen at the same offset, shape, strides and
/// dtype. Keys of tables that must see one view once (pickling memo, printed constants, folds
/// computed ahead).
public struct TensorViewKey: Hashable, Sendable {
  public let storage: ObjectIdentifier
  public let offset: Int
  public let shape: [Int]
  public let strides: [Int]
  public let dtype: DType

  public init(_ tensor: Tensor) {
    storage = ObjectIdentifier(tensor.storage)
    offset = tensor.storageOffset
    shape = tensor.shape
    strides = tensor.strides
    dtype = tensor.dtype
  }
}
