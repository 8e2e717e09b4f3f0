import TensorCore

/// NumPy/PyTorch broadcasting: shapes align at their trailing dimension; two sizes are compatible
/// when they are equal or one of them is 1; a missing leading dimension counts as size 1.
///
/// A broadcast operand is read through stride 0 along each dimension it is broadcast in, so the
/// kernels never materialize the expanded tensor.
public enum Broadcasting {
  /// The broadcast shape of `a` and `b`.
  ///
  /// A size-0 dimension broadcasts against 1 and stays 0; it does not broadcast against any
  /// other size (PyTorch's rule).
  ///
  /// - Throws: `KernelError.notBroadcastable` when two aligned sizes differ and neither is 1.
  public static func shape(_ a: [Int], _ b: [Int]) throws(KernelError) -> [Int] {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for index in 0..<rank {
      let sizeA = index < rank - a.count ? 1 : a[index - (rank - a.count)]
      let sizeB = index < rank - b.count ? 1 : b[index - (rank - b.count)]
      if sizeA == sizeB || sizeB == 1 {
        result[index] = sizeA
      } else if sizeA == 1 {
        result[index] = sizeB
      } else {
        throw .notBroadcastable(a, b)
      }
    }
    return result
  }

  /// The broadcast shape of all `shapes` (the shape of a 0-d result when `shapes` is empty).
  ///
  /// - Throws: `KernelError.notBroadcastable` naming the first pair that conflicts.
  public static func shape(_ shapes: [[Int]]) throws(KernelError) -> [Int] {
    var result: [Int] = []
    for shape in shapes { result = try Broadcasting.shape(result, shape) }
    return result
  }

  /// Strides that read an operand of `shape` and `strides` as if expanded to `target`.
  ///
  /// Leading dimensions the operand lacks, and dimensions where it has size 1 but the target
  /// does not, get stride 0. The caller has checked that `shape` broadcasts to `target`.
  public static func strides(_ strides: [Int], shape: [Int], to target: [Int]) -> [Int] {
    precondition(strides.count == shape.count, "shape and strides differ in rank")
    precondition(shape.count <= target.count, "cannot broadcast to a lower rank")
    let lead = target.count - shape.count
    var result = [Int](repeating: 0, count: target.count)
    for index in shape.indices {
      let size = shape[index]
      precondition(size == target[lead + index] || size == 1, "shape \(shape) does not broadcast to \(target)")
      result[lead + index] = size == 1 ? 0 : strides[index]
    }
    return result
  }

  /// Row-major (C order) strides for a contiguous tensor of `shape`.
  public static func contiguousStrides(_ shape: [Int]) -> [Int] {
    Tensor.contiguousStrides(shape)
  }
}
