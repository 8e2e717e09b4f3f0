/// One input of `DataMovementKernels.cat`: a base pointer, shape and strides in elements.
public struct StridedSource: @unchecked Sendable {
  /// The first element.
  public var base: UnsafeRawPointer
  /// Size of each dimension.
  public var shape: [Int]
  /// Distance in elements between neighbours along each dimension.
  public var strides: [Int]

  /// A strided view.
  public init(base: UnsafeRawPointer, shape: [Int], strides: [Int]) {
    self.base = base
    self.shape = shape
    self.strides = strides
  }
}

extension DataMovementKernels {
  /// The result shape of `torch.cat(tensors, dim)` and the normalized dim.
  ///
  /// As in PyTorch, 1-D empty inputs (shape `[0]`) are skipped whatever the others' rank; every
  /// other input must have the same rank and the same sizes outside `dim`.
  ///
  /// - Throws: `KernelError` for an empty list, a bad dim, or mismatched shapes.
  public static func catOutputShape(_ shapes: [[Int]], dim: Int) throws(KernelError) -> (shape: [Int], dim: Int) {
    guard !shapes.isEmpty else {
      throw .shapeMismatch(op: "cat", message: "expected a non-empty list of tensors")
    }
    let kept = shapes.enumerated().filter { $0.element != [0] }
    guard let first = kept.first?.element else { return ([0], 0) }
    let rank = first.count
    guard rank > 0 else {
      throw .shapeMismatch(op: "cat", message: "zero-dimensional tensor (at position \(kept[0].offset)) cannot be concatenated")
    }
    guard dim >= -rank, dim < rank else { throw .dimOutOfRange(op: "cat", dim: dim, rank: rank) }
    let normalized = dim < 0 ? dim + rank : dim
    var result = first
    result[normalized] = 0
    for (position, shape) in kept {
      guard shape.count == rank else {
        throw .shapeMismatch(
          op: "cat",
          message: "tensors must have same number of dimensions: got \(rank) and \(shape.count) (tensor number \(position))")
      }
      for axis in 0..<rank where axis != normalized && shape[axis] != first[axis] {
        throw .shapeMismatch(
          op: "cat",
          message: "sizes of tensors must match except in dimension \(normalized), expected size \(first[axis]) "
            + "but got size \(shape[axis]) for tensor number \(position) in the list")
      }
      result[normalized] += shape[normalized]
    }
    return (result, normalized)
  }

  /// `torch.cat`: copies each input, in order, into consecutive slices of the output along
  /// `dim`.
  ///
  /// - Parameters:
  ///   - inputs: the inputs, shapes checked by `catOutputShape`; empty ones are skipped.
  ///   - dim: the normalized dim returned by `catOutputShape`.
  ///   - output: the result, with `outputStrides` for the shape `catOutputShape` returned.
  public static func cat(
    elementSize: Int, inputs: [StridedSource], dim: Int, output: UnsafeMutableRawPointer, outputStrides: [Int]
  ) {
    var position = 0
    for input in inputs where !input.shape.contains(0) {
      precondition(input.shape.count == outputStrides.count, "cat input rank differs from the output's")
      copy(
        elementSize: elementSize, source: input.base, sourceStrides: input.strides,
        destination: output + position * outputStrides[dim] * elementSize, destinationStrides: outputStrides,
        shape: input.shape)
      position += input.shape[dim]
    }
  }
}
