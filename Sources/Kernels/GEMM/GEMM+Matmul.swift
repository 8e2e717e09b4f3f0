extension GEMMKernels {
  /// The result shape of `torch.matmul(a, b)`.
  ///
  /// A 1-D `a` is a row vector and a 1-D `b` a column vector, and the added dimension is removed
  /// from the result; dimensions before the last two are batch dimensions and broadcast.
  ///
  /// - Throws: `KernelError` for a 0-d operand, mismatched inner sizes, or batch dimensions that
  ///   do not broadcast.
  public static func matmulOutputShape(_ a: [Int], _ b: [Int]) throws(KernelError) -> [Int] {
    guard !a.isEmpty, !b.isEmpty else {
      throw .shapeMismatch(
        op: "matmul", message: "both arguments to matmul need to be at least 1D, but they are \(a.count)D and \(b.count)D")
    }
    let innerA = a[a.count - 1]
    let innerB = b.count == 1 ? b[0] : b[b.count - 2]
    guard innerA == innerB else {
      throw .shapeMismatch(op: "matmul", message: "shapes \(a) and \(b) cannot be multiplied (\(innerA) != \(innerB))")
    }
    let batchA = a.count > 2 ? Array(a[..<(a.count - 2)]) : []
    let batchB = b.count > 2 ? Array(b[..<(b.count - 2)]) : []
    var result = try Broadcasting.shape(batchA, batchB)
    if a.count > 1 { result.append(a[a.count - 2]) }
    if b.count > 1 { result.append(b[b.count - 1]) }
    return result
  }

  /// `torch.matmul` over strided operands, writing a contiguous result of
  /// `matmulOutputShape(aShape, bShape)`.
  ///
  /// Covers dot (1-D · 1-D), mv, vm, mm and broadcast batched products; each matrix product runs
  /// through `gemmReference` reading the operands in place through their strides.
  public static func matmulReference(
    a: UnsafePointer<Float>, aShape: [Int], aStrides: [Int],
    b: UnsafePointer<Float>, bShape: [Int], bStrides: [Int],
    output: UnsafeMutablePointer<Float>
  ) {
    let outputShape: [Int]
    do {
      outputShape = try matmulOutputShape(aShape, bShape)
    } catch {
      preconditionFailure("matmul called with unchecked shapes: \(error)")
    }
    let left = MatrixOperand(shape: aShape, strides: aStrides, isLeft: true)
    let right = MatrixOperand(shape: bShape, strides: bStrides, isLeft: false)
    let batchShape = Array(outputShape.prefix(outputShape.count - (aShape.count > 1 ? 1 : 0) - (bShape.count > 1 ? 1 : 0)))
    let m = left.rows
    let n = right.columns
    let outputBatchStrides = Broadcasting.contiguousStrides(batchShape).map { $0 * m * n }
    let loop = StridedLoop(
      shape: batchShape,
      strides: [
        Broadcasting.strides(left.batchStrides, shape: left.batchShape, to: batchShape),
        Broadcasting.strides(right.batchStrides, shape: right.batchShape, to: batchShape),
        outputBatchStrides,
      ])
    let steps = (loop.rowStride(0), loop.rowStride(1), loop.rowStride(2))
    for offsets in loop {
      for t in 0..<loop.rowLength {
        gemmReference(
          m: m, n: n, k: left.columns,
          a: a + offsets[0] + t * steps.0, aRowStride: left.rowStride, aColumnStride: left.columnStride,
          b: b + offsets[1] + t * steps.1, bRowStride: right.rowStride, bColumnStride: right.columnStride,
          c: output + offsets[2] + t * steps.2, cRowStride: n)
      }
    }
  }
}

/// One `matmul` operand seen as a batch of matrices; a 1-D operand becomes a 1×k row (left) or
/// k×1 column (right).
private struct MatrixOperand {
  var batchShape: [Int]
  var batchStrides: [Int]
  var rows: Int
  var columns: Int
  var rowStride: Int
  var columnStride: Int

  init(shape: [Int], strides: [Int], isLeft: Bool) {
    let rank = shape.count
    if rank == 1 {
      batchShape = []
      batchStrides = []
      (rows, columns) = isLeft ? (1, shape[0]) : (shape[0], 1)
      (rowStride, columnStride) = isLeft ? (0, strides[0]) : (strides[0], 0)
    } else {
      batchShape = Array(shape[..<(rank - 2)])
      batchStrides = Array(strides[..<(rank - 2)])
      (rows, columns) = (shape[rank - 2], shape[rank - 1])
      (rowStride, columnStride) = (strides[rank - 2], strides[rank - 1])
    }
  }
}
