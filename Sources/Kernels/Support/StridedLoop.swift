/// Walks the index space shared by several strided operands, one innermost row at a time.
///
/// Every operand has the loop's shape; the element of operand `k` at index `(i0, …, in)` lies at
/// element offset `Σ i_d · strides[k][d]` from that operand's base pointer. A broadcast dimension
/// has stride 0 (see `Broadcasting.strides(_:_:to:)`), so one loop serves unary, binary and
/// broadcasting kernels alike, and reductions use it with stride 0 on the output.
///
/// Before walking, the loop drops size-1 dimensions and merges each pair of neighbours that is
/// contiguous in every operand (`stride[d-1] == stride[d] · size[d]`). A contiguous tensor thus
/// becomes one long row and the row body can run a plain, vectorizable loop; the visiting order
/// stays row-major (C order) in the original shape.
///
/// ```swift
/// let loop = StridedLoop(shape: [2, 3], strides: [[3, 1], [1, 2]])  // copy a transpose
/// loop.forEachRow { offsets in
///   for i in 0..<loop.rowLength { out[offsets[1] + i * loop.rowStride(1)] = x[offsets[0] + i * loop.rowStride(0)] }
/// }
/// ```
public struct StridedLoop: Sendable {
  /// The merged shape, outermost first; never empty (a 0-d loop has shape `[1]`).
  public let shape: [Int]
  /// Number of operands.
  public let operandCount: Int
  /// True when the shape has a zero-size dimension: there is nothing to visit.
  public let isEmpty: Bool
  // Merged strides, laid out `[dim * operandCount + operand]` so advancing a dim reads one run.
  private let strides: [Int]

  /// A loop over `shape` for operands with the given per-dimension strides (in elements).
  ///
  /// - Parameters:
  ///   - shape: the common shape; may be empty (a 0-d tensor: one element).
  ///   - strides: one array per operand, each with `shape.count` entries.
  public init(shape: [Int], strides operandStrides: [[Int]]) {
    precondition(!operandStrides.isEmpty, "a strided loop needs at least one operand")
    precondition(
      operandStrides.allSatisfy { $0.count == shape.count }, "operand strides differ in rank from the shape")
    precondition(shape.allSatisfy { $0 >= 0 }, "negative size in a strided loop shape")
    let count = operandStrides.count
    var mergedShape: [Int] = []
    var merged: [Int] = []
    for dim in shape.indices where shape[dim] != 1 {
      let size = shape[dim]
      if let last = mergedShape.last {
        let base = (mergedShape.count - 1) * count
        let contiguous = (0..<count).allSatisfy { merged[base + $0] == operandStrides[$0][dim] * size }
        if contiguous {
          mergedShape[mergedShape.count - 1] = last * size
          for operand in 0..<count { merged[base + operand] = operandStrides[operand][dim] }
          continue
        }
      }
      mergedShape.append(size)
      for operand in 0..<count { merged.append(operandStrides[operand][dim]) }
    }
    if mergedShape.isEmpty {
      mergedShape = [1]
      merged = [Int](repeating: 0, count: count)
    }
    self.shape = mergedShape
    self.strides = merged
    self.operandCount = count
    self.isEmpty = shape.contains(0)
  }

  /// Elements per row: the size of the innermost merged dimension.
  public var rowLength: Int { shape[shape.count - 1] }

  /// The stride, in elements, of `operand` along a row.
  public func rowStride(_ operand: Int) -> Int {
    strides[(shape.count - 1) * operandCount + operand]
  }

  /// Total number of elements visited.
  public var elementCount: Int { isEmpty ? 0 : shape.reduce(1, *) }

  /// Calls `body` once per row, in row-major order, with each operand's element offset at the
  /// row's first element (`offsets[k]` for operand `k`).
  ///
  /// The body reads `rowLength` elements per operand, `rowStride(k)` apart. Nothing is visited
  /// when the shape has a zero-size dimension.
  public func forEachRow<E: Error>(_ body: (UnsafeBufferPointer<Int>) throws(E) -> Void) throws(E) {
    if isEmpty { return }
    let outerRank = shape.count - 1
    var rows = 1
    for dim in 0..<outerRank { rows *= shape[dim] }
    let offsets = UnsafeMutableBufferPointer<Int>.allocate(capacity: operandCount + outerRank)
    defer { offsets.deallocate() }
    offsets.initialize(repeating: 0)
    // The odometer's counters live after the offsets in the same scratch allocation.
    let counters = offsets.baseAddress! + operandCount
    for _ in 0..<rows {
      try body(UnsafeBufferPointer(rebasing: offsets[0..<operandCount]))
      var dim = outerRank - 1
      while dim >= 0 {
        let base = dim * operandCount
        counters[dim] += 1
        if counters[dim] < shape[dim] {
          for operand in 0..<operandCount { offsets[operand] += strides[base + operand] }
          break
        }
        for operand in 0..<operandCount { offsets[operand] -= strides[base + operand] * (shape[dim] - 1) }
        counters[dim] = 0
        dim -= 1
      }
    }
  }
}
