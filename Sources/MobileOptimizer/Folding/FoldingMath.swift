import Foundation
import TensorCore

/// The arithmetic behind folding batch norms and affine ops into convolutions and linears.
///
/// Pure functions over tensors, apart from graph surgery, each with its own numeric tests.
/// They compute in the weights' floating-point type (float32 or float64), in the order PyTorch's
/// `computeUpdatedConvWeightAndBias` uses, so results match it to rounding.
public enum FoldingMath {
  /// Batch-norm statistics and affine parameters per channel.
  public struct BatchNorm {
    public var runningMean: Tensor
    public var runningVar: Tensor
    /// γ; nil means ones.
    public var weight: Tensor?
    /// β; nil means zeros.
    public var bias: Tensor?
    public var eps: Double

    public init(runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?, eps: Double) {
      self.runningMean = runningMean
      self.runningVar = runningVar
      self.weight = weight
      self.bias = bias
      self.eps = eps
    }
  }

  /// Errors: shapes or dtypes folding cannot combine.
  public struct FoldingError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
  }

  /// Values of `tensor` as Doubles in C order.
  static func values(_ tensor: Tensor) -> [Double] {
    if tensor.dtype == .float32 { return tensor.floats().map(Double.init) }
    return tensor.doubles()
  }

  /// A new contiguous tensor of `dtype` and `shape` holding `values`.
  static func make(_ values: [Double], shape: [Int], dtype: DType) -> Tensor {
    if dtype == .float32 { return Tensor(shape: shape, floats: values.map { Float($0) }) }
    return Tensor(shape: shape, dtype: dtype, doubles: values)
  }

  /// Rounds like the weight's dtype does at every step.
  static func rounded(_ value: Double, _ dtype: DType) -> Double {
    dtype == .float32 ? Double(Float(value)) : value
  }

  /// Folds `bn(conv(x))` into new conv weights and bias:
  /// `W' = W * (γ * rsqrt(var + eps))` per output channel (dim 0);
  /// `b' = (b - mean) * rsqrt(var + eps) * γ + β`.
  public static func convBatchNorm(weight: Tensor, bias: Tensor?, batchNorm bn: BatchNorm) throws -> (Tensor, Tensor) {
    let channels = weight.shape.first ?? 0
    try checkChannels(bn, channels)
    let dtype = weight.dtype
    guard dtype.isFloatingPoint else { throw FoldingError(message: "conv weight must be floating point, got \(dtype)") }
    let scale = try channelScale(bn, dtype: dtype)
    let foldedWeight = scaleRows(weight, by: scale.factor)
    let mean = values(bn.runningMean)
    let b = bias.map(values) ?? [Double](repeating: 0, count: channels)
    let beta = bn.bias.map(values) ?? [Double](repeating: 0, count: channels)
    let gamma = bn.weight.map(values) ?? [Double](repeating: 1, count: channels)
    var newBias = [Double](repeating: 0, count: channels)
    for channel in 0..<channels {
      var value = rounded(b[channel] - mean[channel], dtype)
      value = rounded(value * scale.rsqrt[channel], dtype)
      value = rounded(value * gamma[channel], dtype)
      newBias[channel] = rounded(value + beta[channel], dtype)
    }
    let biasType = bias?.dtype ?? dtype
    return (foldedWeight, make(newBias, shape: [channels], dtype: biasType))
  }

  /// `weight` with each slice along dim 0 multiplied by its factor (divided, with `divide`),
  /// rounded to the weight's dtype.
  static func scaleRows(_ weight: Tensor, by factors: [Double], divide: Bool = false) -> Tensor {
    let rows = weight.shape.first ?? 0
    let perRow = weight.count / max(rows, 1)
    if weight.dtype == .float32 {
      // The common case, on raw floats: folding weights is most of `optimize`'s arithmetic.
      let source = weight.contiguous()
      let result = Tensor(uninitialized: weight.shape)
      source.storage.withUnsafeBytes { input in
        result.storage.withUnsafeMutableBytes { output in
          nonisolated(unsafe) let x = input.bindMemory(to: Float.self).baseAddress! + source.storageOffset
          nonisolated(unsafe) let y = output.bindMemory(to: Float.self).baseAddress!
          let scale: @Sendable (Range<Int>) -> Void = { rowRange in
            for row in rowRange {
              let factor = factors.count == 1 ? factors[0] : factors[row]
              let f = Float(factor)
              let base = row * perRow
              if divide {
                for index in base..<(base + perRow) { y[index] = Float(Double(x[index]) / factor) }
              } else {
                for index in base..<(base + perRow) { y[index] = x[index] * f }
              }
            }
          }
          // Large weights are memory-bound (and fault in the new pages): the second half goes to
          // the background lane (which runs it at once when this is the lane, folding ahead).
          if weight.count >= 1 << 17, rows >= 8, ProcessInfo.processInfo.activeProcessorCount > 1 {
            let half = BackgroundLane.shared.submit { scale(rows / 2..<rows) }
            scale(0..<rows / 2)
            half.wait()
          } else {
            scale(0..<rows)
          }
        }
      }
      return result
    }
    let w = values(weight)
    var folded = [Double](repeating: 0, count: w.count)
    for row in 0..<rows {
      let factor = factors.count == 1 ? factors[0] : factors[row]
      for index in 0..<perRow {
        let position = row * perRow + index
        folded[position] = rounded(divide ? w[position] / factor : w[position] * factor, weight.dtype)
      }
    }
    return make(folded, shape: weight.shape, dtype: weight.dtype)
  }

  /// Folds `bn(linear(x))`: `scale = γ * rsqrt(var + eps)`; `W' = W * scale` per output row;
  /// `b' = (b - mean) * scale + β`. A batch norm with one feature broadcasts to every output.
  public static func linearBatchNorm(weight: Tensor, bias: Tensor?, batchNorm bn: BatchNorm) throws -> (Tensor, Tensor) {
    guard weight.rank == 2 else { throw FoldingError(message: "linear weight must be 2-D, got \(weight.shape)") }
    let outputs = weight.shape[0]
    let inputs = weight.shape[1]
    let features = bn.runningMean.count
    guard features == outputs || features == 1 else {
      throw FoldingError(message: "batch norm over \(features) features cannot fold into a linear with \(outputs) outputs")
    }
    let dtype = weight.dtype
    let scale = try channelScale(bn, dtype: dtype)
    let mean = values(bn.runningMean)
    let beta = bn.bias.map(values) ?? [Double](repeating: 0, count: features)
    let b = bias.map(values) ?? [Double](repeating: 0, count: outputs)
    var newBias = [Double](repeating: 0, count: outputs)
    for row in 0..<outputs {
      let channel = features == 1 ? 0 : row
      let centered = rounded(b[row] - mean[channel], dtype)
      newBias[row] = rounded(rounded(centered * scale.factor[channel], dtype) + beta[channel], dtype)
    }
    _ = inputs
    return (scaleRows(weight, by: scale.factor), make(newBias, shape: [outputs], dtype: bias?.dtype ?? dtype))
  }

  private static func checkChannels(_ bn: BatchNorm, _ channels: Int) throws {
    for (name, tensor) in [("running_mean", bn.runningMean), ("running_var", bn.runningVar)] where tensor.count != channels {
      throw FoldingError(message: "batch norm \(name) has \(tensor.count) elements, expected \(channels)")
    }
    if let weight = bn.weight, weight.count != channels {
      throw FoldingError(message: "batch norm weight has \(weight.count) elements, expected \(channels)")
    }
    if let bias = bn.bias, bias.count != channels {
      throw FoldingError(message: "batch norm bias has \(bias.count) elements, expected \(channels)")
    }
  }

  /// Per channel: rsqrt(var + eps), and γ · rsqrt(var + eps).
  private static func channelScale(_ bn: BatchNorm, dtype: DType) throws -> (rsqrt: [Double], factor: [Double]) {
    let variance = values(bn.runningVar)
    let gamma = bn.weight.map(values) ?? [Double](repeating: 1, count: variance.count)
    var rsqrt = [Double](repeating: 0, count: variance.count)
    var factor = [Double](repeating: 0, count: variance.count)
    for index in variance.indices {
      let sum = rounded(variance[index] + bn.eps, dtype)
      rsqrt[index] = dtype == .float32 ? Double(1 / Float(sum).squareRoot()) : 1 / sum.squareRoot()
      factor[index] = rounded(gamma[index] * rsqrt[index], dtype)
    }
    return (rsqrt, factor)
  }

  /// Multiplies (or divides) conv weights per output channel by `other` (one value per channel,
  /// or one for all), and the bias likewise when there is one.
  public static func convScale(weight: Tensor, bias: Tensor?, by other: [Double], divide: Bool) throws -> (Tensor, Tensor?) {
    let channels = weight.shape.first ?? 0
    guard other.count == channels || other.count == 1 else {
      throw FoldingError(message: "cannot scale \(channels) output channels by \(other.count) values")
    }
    var newBias: Tensor?
    if let bias {
      let b = values(bias)
      newBias = make(
        b.indices.map { channel in
          let factor = other.count == 1 ? other[0] : other[channel]
          return rounded(divide ? b[channel] / factor : b[channel] * factor, bias.dtype)
        }, shape: [channels], dtype: bias.dtype)
    }
    return (scaleRows(weight, by: other, divide: divide), newBias)
  }

  /// Adds (or subtracts) `alpha * other` to a conv bias (zeros when absent), per output channel.
  public static func convShift(bias: Tensor?, channels: Int, dtype: DType, by other: [Double], alpha: Double, subtract: Bool)
    throws -> Tensor
  {
    guard other.count == channels || other.count == 1 else {
      throw FoldingError(message: "cannot shift \(channels) output channels by \(other.count) values")
    }
    let b = bias.map(values) ?? [Double](repeating: 0, count: channels)
    let type = bias?.dtype ?? dtype
    let shifted = (0..<channels).map { channel -> Double in
      let value = rounded(alpha * (other.count == 1 ? other[0] : other[channel]), type)
      return rounded(subtract ? b[channel] - value : b[channel] + value, type)
    }
    return make(shifted, shape: [channels], dtype: type)
  }
}
