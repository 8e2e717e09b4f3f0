import TensorCore

/// `softmax` and `log_softmax` along one dimension of a strided float32 or float64 buffer.
///
/// For each line of elements along `dim`, with m = max_j x_j (NaN if any x_j is NaN):
///
///     softmax(x)_i     = e^(x_i − m) / Σ_j e^(x_j − m)
///     log_softmax(x)_i = x_i − m − log Σ_j e^(x_j − m)
///
/// Subtracting the maximum keeps every exponent ≤ 0, so large inputs do not overflow; a line of
/// all −∞ gives NaN, as in PyTorch. The sum accumulates in Double.
///
/// Buffer contract: input and output are strided views of the same `shape` (strides in
/// elements); the output may be the input buffer. `dim` is non-negative and less than the rank
/// (normalize with `ReductionKernels.normalizeDims`); a 0-d input is a line of one element.
public enum SoftmaxKernels {
  /// `softmax(input, dim)`, or `log_softmax` when `logarithm` is true.
  ///
  /// - Precondition: `dtype` is float32 or float64.
  public static func softmax(
    dtype: DType, input: UnsafeRawPointer, inputStrides: [Int], output: UnsafeMutableRawPointer,
    outputStrides: [Int], shape: [Int], dim: Int, logarithm: Bool = false
  ) {
    // A 0-d tensor is treated as one line of length 1.
    let (shape, inputStrides, outputStrides) = shape.isEmpty ? ([1], [0], [0]) : (shape, inputStrides, outputStrides)
    precondition(shape.indices.contains(dim), "softmax dim \(dim) out of range for rank \(shape.count)")
    switch dtype {
    case .float32:
      softmaxLines(
        input.typed(Float.self), inputStrides, output.typed(Float.self), outputStrides, shape, dim, logarithm)
    case .float64:
      softmaxLines(
        input.typed(Double.self), inputStrides, output.typed(Double.self), outputStrides, shape, dim, logarithm)
    default:
      preconditionFailure("softmax has no kernel for \(dtype)")
    }
  }

  private static func softmaxLines<T: RealElement>(
    _ input: UnsafePointer<T>, _ inputStrides: [Int], _ output: UnsafeMutablePointer<T>, _ outputStrides: [Int],
    _ shape: [Int], _ dim: Int, _ logarithm: Bool
  ) {
    let length = shape[dim]
    if length == 0 { return }
    let (inputStep, outputStep) = (inputStrides[dim], outputStrides[dim])
    var outerShape = shape
    var outerInput = inputStrides
    var outerOutput = outputStrides
    outerShape.remove(at: dim)
    outerInput.remove(at: dim)
    outerOutput.remove(at: dim)
    let loop = StridedLoop(shape: outerShape, strides: [outerInput, outerOutput])
    let steps = (loop.rowStride(0), loop.rowStride(1))
    for offsets in loop {
      for line in 0..<loop.rowLength {
        let source = input + offsets[0] + line * steps.0
        let target = output + offsets[1] + line * steps.1
        var maximum = -T.infinity
        for index in 0..<length {
          let value = source[index * inputStep]
          if value.isNaN || value > maximum { maximum = value }
          if maximum.isNaN { break }
        }
        var sum = 0.0
        for index in 0..<length { sum += Double(T.exp(source[index * inputStep] - maximum)) }
        if logarithm {
          let shift = maximum + T(Double.log(sum))
          for index in 0..<length { target[index * outputStep] = source[index * inputStep] - shift }
        } else {
          let scale = 1 / sum
          for index in 0..<length {
            target[index * outputStep] = T(Double(T.exp(source[index * inputStep] - maximum)) * scale)
          }
        }
      }
    }
  }
}
