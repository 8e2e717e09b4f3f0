import Foundation

/// Batch normalization and layer normalization over contiguous float32 buffers.
///
/// Batch norm (`aten::batch_norm`) views the input as `[N, C, S]`, S the product of the
/// dimensions after the channel (1 for a `[N, C]` input):
///
///     y[n, c, s] = (x[n, c, s] − mean[c]) / √(var[c] + eps) · weight[c] + bias[c]
///
/// - Inference uses the running `mean` and `var`.
/// - Training uses the batch statistics over the M = N·S values of each channel, with the
///   biased variance (÷ M), and then, when running buffers are given, updates them with the
///   unbiased variance (÷ (M − 1)), as PyTorch does:
///
///       running_mean ← (1 − momentum) · running_mean + momentum · mean
///       running_var  ← (1 − momentum) · running_var  + momentum · var · M / (M − 1)
///
///   (For `momentum=None` PyTorch uses a cumulative average: pass 1 / num_batches_tracked.)
///
/// Layer norm (`aten::layer_norm`) normalizes each of R rows of D trailing elements (D the
/// product of `normalized_shape`) with the row's mean and biased variance:
///
///     y[r, i] = (x[r, i] − mean_r) / √(var_r + eps) · weight[i] + bias[i]
///
/// A missing weight means 1 and a missing bias 0. Statistics accumulate in Double. The output
/// may be the input buffer (every element is read before it is overwritten).
public enum NormalizationKernels {
  /// The `[N, C, S]` view of a batch-norm input, after PyTorch's checks.
  ///
  /// - Throws: `KernelError.shapeMismatch` when the input has fewer than 2 dimensions, or, in
  ///   training, when a channel has only one value ("expected more than 1 value per channel
  ///   when training").
  public static func batchNormLayout(
    inputShape: [Int], training: Bool
  ) throws(KernelError) -> (batch: Int, channels: Int, spatial: Int) {
    guard inputShape.count >= 2 else {
      throw .shapeMismatch(op: "batch_norm", message: "expected 2D or higher input, but got input of size \(inputShape)")
    }
    let spatial = inputShape[2...].reduce(1, *)
    if training, inputShape[0] * spatial <= 1 {
      throw .shapeMismatch(
        op: "batch_norm", message: "expected more than 1 value per channel when training, got input size \(inputShape)")
    }
    return (inputShape[0], inputShape[1], spatial)
  }

  /// Batch norm with running statistics (evaluation mode).
  ///
  /// - Parameters:
  ///   - input, output: `batch · channels · spatial` floats, `[N, C, S]` contiguous.
  ///   - mean, variance: `channels` running statistics.
  ///   - weight, bias: `channels` affine parameters, or nil.
  public static func batchNormInference(
    input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
    mean: UnsafePointer<Float>, variance: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
    bias: UnsafePointer<Float>?, epsilon: Double
  ) {
    for channel in 0..<channels {
      let inverseDeviation = 1 / (Double(variance[channel]) + epsilon).squareRoot()
      let (scale, shift) = affine(
        channel: channel, mean: Double(mean[channel]), inverseDeviation: inverseDeviation, weight: weight, bias: bias)
      for image in 0..<batch {
        let base = (image * channels + channel) * spatial
        transform(input + base, output + base, count: spatial, scale: scale, shift: shift)
      }
    }
  }

  /// Batch norm with batch statistics (training mode), updating the running statistics.
  ///
  /// - Parameters:
  ///   - input, output: `batch · channels · spatial` floats, `[N, C, S]` contiguous.
  ///   - weight, bias: `channels` affine parameters, or nil.
  ///   - momentum: the running-average factor (PyTorch's default is 0.1).
  ///   - runningMean, runningVariance: `channels` buffers updated in place, or nil to skip.
  ///   - savedMean, savedInverseDeviation: optional outputs of the batch mean and 1/√(var + eps)
  ///     per channel (the extra results of `native_batch_norm`).
  public static func batchNormTraining(
    input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
    weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, epsilon: Double, momentum: Double,
    runningMean: UnsafeMutablePointer<Float>?, runningVariance: UnsafeMutablePointer<Float>?,
    savedMean: UnsafeMutablePointer<Float>? = nil, savedInverseDeviation: UnsafeMutablePointer<Float>? = nil
  ) {
    let count = batch * spatial
    precondition(count > 1, "batch norm training needs more than one value per channel")
    for channel in 0..<channels {
      var sum = 0.0
      for image in 0..<batch {
        let plane = input + (image * channels + channel) * spatial
        for index in 0..<spatial { sum += Double(plane[index]) }
      }
      let mean = sum / Double(count)
      var squares = 0.0
      for image in 0..<batch {
        let plane = input + (image * channels + channel) * spatial
        for index in 0..<spatial {
          let deviation = Double(plane[index]) - mean
          squares += deviation * deviation
        }
      }
      let biasedVariance = squares / Double(count)
      let inverseDeviation = 1 / (biasedVariance + epsilon).squareRoot()
      if let runningMean {
        runningMean[channel] = Float((1 - momentum) * Double(runningMean[channel]) + momentum * mean)
      }
      if let runningVariance {
        let unbiased = squares / Double(count - 1)
        runningVariance[channel] = Float((1 - momentum) * Double(runningVariance[channel]) + momentum * unbiased)
      }
      savedMean?[channel] = Float(mean)
      savedInverseDeviation?[channel] = Float(inverseDeviation)
      let (scale, shift) = affine(
        channel: channel, mean: mean, inverseDeviation: inverseDeviation, weight: weight, bias: bias)
      for image in 0..<batch {
        let base = (image * channels + channel) * spatial
        transform(input + base, output + base, count: spatial, scale: scale, shift: shift)
      }
    }
  }

  /// The `[R, D]` view of a layer-norm input.
  ///
  /// - Throws: `KernelError.shapeMismatch` unless the input's trailing dimensions equal
  ///   `normalizedShape`.
  public static func layerNormLayout(
    inputShape: [Int], normalizedShape: [Int]
  ) throws(KernelError) -> (rows: Int, size: Int) {
    guard !normalizedShape.isEmpty, inputShape.count >= normalizedShape.count,
      Array(inputShape.suffix(normalizedShape.count)) == normalizedShape
    else {
      throw .shapeMismatch(
        op: "layer_norm",
        message: "given normalized_shape=\(normalizedShape), expected input with shape [*, "
          + "\(normalizedShape.map(String.init).joined(separator: ", "))], but got input of size \(inputShape)")
    }
    let size = normalizedShape.reduce(1, *)
    return (inputShape.dropLast(normalizedShape.count).reduce(1, *), size)
  }

  /// Layer norm over the last `size` elements of each row.
  ///
  /// - Parameters:
  ///   - input, output: `rows · size` floats, contiguous.
  ///   - weight, bias: `size` affine parameters (the `normalized_shape` tensor), or nil.
  public static func layerNorm(
    input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, size: Int,
    weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, epsilon: Double
  ) {
    for row in 0..<rows {
      let source = input + row * size
      let target = output + row * size
      var sum = 0.0
      for index in 0..<size { sum += Double(source[index]) }
      let mean = sum / Double(size)
      var squares = 0.0
      for index in 0..<size {
        let deviation = Double(source[index]) - mean
        squares += deviation * deviation
      }
      let inverseDeviation = Float(1 / (squares / Double(size) + epsilon).squareRoot())
      let shift = Float(mean)
      for index in 0..<size {
        var value = (source[index] - shift) * inverseDeviation
        if let weight { value *= weight[index] }
        if let bias { value += bias[index] }
        target[index] = value
      }
    }
  }

  // MARK: - Helpers

  /// The per-channel `y = x · scale + shift` equivalent of normalizing then applying the affine
  /// parameters.
  private static func affine(
    channel: Int, mean: Double, inverseDeviation: Double, weight: UnsafePointer<Float>?,
    bias: UnsafePointer<Float>?
  ) -> (scale: Float, shift: Float) {
    let scale = inverseDeviation * Double(weight?[channel] ?? 1)
    let shift = Double(bias?[channel] ?? 0) - mean * scale
    return (Float(scale), Float(shift))
  }

  private static func transform(
    _ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float
  ) {
    for index in 0..<count { target[index] = source[index] * scale + shift }
  }
}
