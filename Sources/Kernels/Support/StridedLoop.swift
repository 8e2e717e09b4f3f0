/// Walks the index space shared by up to four strided operands, one innermost row at a time.
///
/// Every operand has the loop's shape; the element of operand `k` at index `(i0, …, in)` lies at
/// element offset `Σ i_d · strides[k][d]` from that operand's base pointer. A broadcast dimension
/// has stride 0 (see `Broadcasting.strides(_:shape:to:)`), so one loop serves unary, binary and
/// broadcasting kernels alike, and reductions use it with stride 0 on the output.
///
/// Before walking, the loop drops size-1 dimensions and merges each pair of neighbours that is
/// contiguous in every operand (`stride[d-1] == stride[d] · size[d]`). A contiguous tensor thus
/// becomes one long row and the row body can run a plain, vectorizable loop; the visiting order
/// stays row-major (C order) in the original shape.
///
/// The loop is a sequence of row starts: each element holds operand `k`'s offset in lane `k`.
///
/// ```swift
/// let loop = StridedLoop(shape: [2, 3], strides: [[3, 1], [1, 2]])  // copy into a transpose
/// for offsets in loop {
///   for i in 0..<loop.rowLength { out[offsets[1] + i * loop.rowStride(1)] = x[offsets[0] + i * loop.rowStride(0)] }
/// }
/// ```
public struct StridedLoop: Sendable, Sequence {
  /// The merged shape, outermost first; never empty (a 0-d loop has shape `[1]`).
  public let shape: [Int]
  /// Number of operands (1 to 4).
  public let operandCount: Int
  /// True when the shape has a zero-size dimension: there is nothing to visit.
  public let isEmpty: Bool
  // Merged strides per dim, operand k in lane k, so advancing a dim is one vector add.
  private let strides: [SIMD4<Int>]

  /// A loop over `shape` for operands with the given per-dimension strides (in elements).
  ///
  /// - Parameters:
  ///   - shape: the common shape; may be empty (a 0-d tensor: one element).
  ///   - strides: one array per operand (at most four), each with `shape.count` entries.
  public init(shape: [Int], strides operandStrides: [[Int]]) {
    precondition((1...4).contains(operandStrides.count), "a strided loop takes one to four operands")
    precondition(
      operandStrides.allSatisfy { $0.count == shape.count }, "operand strides differ in rank from the shape")
    precondition(shape.allSatisfy { $0 >= 0 }, "negative size in a strided loop shape")
    func stridesOf(_ dim: Int) -> SIMD4<Int> {
      var lanes = SIMD4<Int>()
      for operand in operandStrides.indices { lanes[operand] = operandStrides[operand][dim] }
      return lanes
    }
    var mergedShape: [Int] = []
    var merged: [SIMD4<Int>] = []
    for dim in shape.indices where shape[dim] != 1 {
      let size = shape[dim]
      let current = stridesOf(dim)
      if let last = merged.last, last == current &* size {
        mergedShape[mergedShape.count - 1] *= size
        merged[merged.count - 1] = current
      } else {
        mergedShape.append(size)
        merged.append(current)
      }
    }
    if mergedShape.isEmpty {
      mergedShape = [1]
      merged = [SIMD4<Int>()]
    }
    self.shape = mergedShape
    self.strides = merged
    self.operandCount = operandStrides.count
    self.isEmpty = shape.contains(0)
  }

  /// Elements per row: the size of the innermost merged dimension.
  public var rowLength: Int { shape[shape.count - 1] }

  /// The stride, in elements, of `operand` along a row.
  public func rowStride(_ operand: Int) -> Int { strides[strides.count - 1][operand] }

  /// Total number of elements visited.
  public var elementCount: Int { isEmpty ? 0 : shape.reduce(1, *) }

  /// Calls `body` once per row, in row-major order, with each operand's element offset at the
  /// row's first element (`offsets[k]` for operand `k`).
  ///
  /// The body reads `rowLength` elements per operand, `rowStride(k)` apart. Nothing is visited
  /// when the shape has a zero-size dimension.
  public func forEachRow<E: Error>(_ body: (SIMD4<Int>) throws(E) -> Void) throws(E) {
    for offsets in self { try body(offsets) }
  }

  /// The row starts, in row-major order.
  public func makeIterator() -> Iterator { Iterator(self) }

  /// An odometer over the outer (all but the innermost) merged dimensions.
  public struct Iterator: IteratorProtocol {
    private let shape: [Int]
    private let strides: [SIMD4<Int>]
    private var counters: [Int]
    private var offsets = SIMD4<Int>()
    private var remaining: Int

    init(_ loop: StridedLoop) {
      shape = loop.shape
      strides = loop.strides
      counters = [Int](repeating: 0, count: loop.shape.count - 1)
      remaining = loop.isEmpty ? 0 : loop.shape.dropLast().reduce(1, *)
    }

    /// The next row's offsets, or nil after the last row.
    public mutating func next() -> SIMD4<Int>? {
      guard remaining > 0 else { return nil }
      remaining -= 1
      let current = offsets
      var dim = counters.count - 1
      while remaining > 0, dim >= 0 {
        counters[dim] += 1
        if counters[dim] < shape[dim] {
          offsets &+= strides[dim]
          break
        }
        offsets &-= strides[dim] &* (shape[dim] - 1)
        counters[dim] = 0
        dim -= 1
      }
      return current
    }
  }
}
