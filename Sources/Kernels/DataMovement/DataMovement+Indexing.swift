extension DataMovementKernels {
  /// `index_select(input, dim, index)`: output slice `i` along `dim` is input slice `index[i]`.
  ///
  /// - Parameters:
  ///   - input, inputShape, inputStrides: the strided input (rank ≥ 1; a 0-d input is read as
  ///     shape `[1]`).
  ///   - dim: a non-negative dim of the input.
  ///   - indices, indexCount: contiguous int64 indices.
  ///   - output, outputStrides: the result, shaped like the input with `indexCount` at `dim`.
  /// - Throws: `KernelError.indexOutOfRange` for an index outside `0..<inputShape[dim]`;
  ///   nothing is written then.
  public static func indexSelect(
    elementSize: Int, input: UnsafeRawPointer, inputShape: [Int], inputStrides: [Int], dim: Int,
    indices: UnsafePointer<Int64>, indexCount: Int, output: UnsafeMutableRawPointer, outputStrides: [Int]
  ) throws(KernelError) {
    let (inputShape, inputStrides, outputStrides) =
      inputShape.isEmpty ? ([1], [0], [0]) : (inputShape, inputStrides, outputStrides)
    precondition(inputShape.indices.contains(dim), "index_select dim \(dim) out of range")
    let size = inputShape[dim]
    for position in 0..<indexCount where indices[position] < 0 || indices[position] >= size {
      throw .indexOutOfRange(op: "index_select", index: indices[position], dim: dim, size: size)
    }
    var sliceShape = inputShape
    var sliceInputStrides = inputStrides
    var sliceOutputStrides = outputStrides
    sliceShape.remove(at: dim)
    sliceInputStrides.remove(at: dim)
    sliceOutputStrides.remove(at: dim)
    for position in 0..<indexCount {
      copy(
        elementSize: elementSize,
        source: input + Int(indices[position]) * inputStrides[dim] * elementSize, sourceStrides: sliceInputStrides,
        destination: output + position * outputStrides[dim] * elementSize, destinationStrides: sliceOutputStrides,
        shape: sliceShape)
    }
  }

  /// Checks the shapes of `gather(input, dim, index)` and returns the normalized dim.
  ///
  /// - Throws: `KernelError` when the ranks differ, `dim` is out of range, or the index is
  ///   larger than the input in a dimension other than `dim`.
  public static func validateGather(inputShape: [Int], dim: Int, indexShape: [Int]) throws(KernelError) -> Int {
    let rank = max(inputShape.count, 1)
    guard max(indexShape.count, 1) == rank else {
      throw .shapeMismatch(
        op: "gather", message: "index tensor must have the same number of dimensions as input tensor")
    }
    guard dim >= -rank, dim < rank else { throw .dimOutOfRange(op: "gather", dim: dim, rank: inputShape.count) }
    let normalized = dim < 0 ? dim + rank : dim
    for axis in indexShape.indices where axis != normalized && indexShape[axis] > inputShape[axis] {
      throw .shapeMismatch(
        op: "gather",
        message: "size does not match at dimension \(axis), expected index \(indexShape) to be no larger than "
          + "self \(inputShape) apart from dimension \(normalized)")
    }
    return normalized
  }

  /// `gather(input, dim, index)`: `output[i] = input[i with i[dim] replaced by index[i]]` over
  /// the index's shape.
  ///
  /// - Parameters:
  ///   - inputShape, inputStrides: the strided input, checked against the index by
  ///     `validateGather`.
  ///   - dim: the normalized dim.
  ///   - index, indexShape, indexStrides: strided int64 indices; the output has their shape.
  ///   - output, outputStrides: the result.
  /// - Throws: `KernelError.indexOutOfRange` for an index outside `0..<inputShape[dim]`;
  ///   nothing is written then.
  public static func gather(
    elementSize: Int, input: UnsafeRawPointer, inputShape: [Int], inputStrides: [Int], dim: Int,
    index: UnsafePointer<Int64>, indexShape: [Int], indexStrides: [Int],
    output: UnsafeMutableRawPointer, outputStrides: [Int]
  ) throws(KernelError) {
    let size = inputShape.isEmpty ? 1 : inputShape[dim]
    let step = inputShape.isEmpty ? 0 : inputStrides[dim]
    if let bad = firstElement(index, strides: indexStrides, shape: indexShape, where: { $0 < 0 || $0 >= size }) {
      throw .indexOutOfRange(op: "gather", index: bad, dim: dim, size: size)
    }
    // The input walks the index's shape with its own strides, except along `dim`, where the
    // index value picks the element.
    var walkStrides = inputStrides
    if !walkStrides.isEmpty { walkStrides[dim] = 0 }
    let loop = StridedLoop(shape: indexShape, strides: [walkStrides, indexStrides, outputStrides])
    func run<Element>(_: Element.Type) {
      let (source, target) = (input.typed(Element.self), output.typed(Element.self))
      let steps = (loop.rowStride(0), loop.rowStride(1), loop.rowStride(2))
      for offsets in loop {
        for position in 0..<loop.rowLength {
          let picked = Int(index[offsets[1] + position &* steps.1])
          target[offsets[2] + position &* steps.2] = source[offsets[0] + position &* steps.0 + picked &* step]
        }
      }
    }
    switch elementSize {
    case 1: run(UInt8.self)
    case 2: run(UInt16.self)
    case 4: run(UInt32.self)
    case 8: run(UInt64.self)
    case 16: run(SIMD2<UInt64>.self)
    default: preconditionFailure("unsupported element size \(elementSize)")
    }
  }
}
