import Foundation
import Testing
import TensorCore

@testable import MobileOptimizer

/// The folding arithmetic, checked against the definitions it replaces: applying the folded
/// convolution must equal applying the convolution and then the batch norm (or affine op).
struct FoldingMathTests {
  /// y = W·x + b for one input vector (a 1×1 convolution at one pixel).
  func apply(_ weight: Tensor, _ bias: Tensor?, _ x: [Double]) -> [Double] {
    let outputs = weight.shape[0]
    let inputs = weight.count / outputs
    let w = weight.doubles()
    let b = bias?.doubles() ?? [Double](repeating: 0, count: outputs)
    return (0..<outputs).map { o in (0..<inputs).reduce(b[o]) { $0 + w[o * inputs + $1] * x[$1] } }
  }

  func randomTensor(_ shape: [Int], seed: inout UInt64, offset: Double = 0, scale: Double = 1) -> Tensor {
    let count = shape.reduce(1, *)
    let values = (0..<count).map { _ -> Double in
      seed = seed &* 6364136223846793005 &+ 1442695040888963407
      return offset + scale * (Double(seed >> 11) / Double(1 << 53) - 0.5)
    }
    return Tensor(shape: shape, dtype: .float32, doubles: values)
  }

  @Test func convBatchNormMatchesConvThenBatchNorm() throws {
    var seed: UInt64 = 7
    let weight = randomTensor([4, 3, 1, 1], seed: &seed)
    let bias = randomTensor([4], seed: &seed)
    let bn = FoldingMath.BatchNorm(
      runningMean: randomTensor([4], seed: &seed), runningVar: randomTensor([4], seed: &seed, offset: 1, scale: 0.5),
      weight: randomTensor([4], seed: &seed, offset: 1), bias: randomTensor([4], seed: &seed), eps: 1e-5)
    let (foldedWeight, foldedBias) = try FoldingMath.convBatchNorm(weight: weight, bias: bias, batchNorm: bn)
    let x = [0.3, -1.2, 0.7]
    let conv = apply(weight, bias, x)
    let (mean, variance, gamma, beta) = (bn.runningMean.doubles(), bn.runningVar.doubles(), bn.weight!.doubles(), bn.bias!.doubles())
    let expected = (0..<4).map { c in (conv[c] - mean[c]) / (variance[c] + bn.eps).squareRoot() * gamma[c] + beta[c] }
    let actual = apply(foldedWeight, foldedBias, x)
    for (a, e) in zip(actual, expected) { #expect(abs(a - e) < 1e-5) }
    #expect(foldedWeight.shape == weight.shape)
    #expect(foldedWeight.dtype == .float32)
  }

  @Test func missingConvBiasAndAffineAreZerosAndOnes() throws {
    var seed: UInt64 = 3
    let weight = randomTensor([2, 2, 1, 1], seed: &seed)
    let bn = FoldingMath.BatchNorm(
      runningMean: Tensor(shape: [2], floats: [0.5, -0.25]), runningVar: Tensor(shape: [2], floats: [4, 0.25]),
      weight: nil, bias: nil, eps: 0)
    let (w, b) = try FoldingMath.convBatchNorm(weight: weight, bias: nil, batchNorm: bn)
    // rsqrt(4) = 0.5, rsqrt(0.25) = 2; bias = -mean * rsqrt(var).
    #expect(b.doubles() == [-0.25, 0.5])
    let original = weight.doubles()
    #expect(w.doubles() == [original[0] * 0.5, original[1] * 0.5, original[2] * 2, original[3] * 2].map { Double(Float($0)) })
  }

  @Test func linearBatchNormMatchesLinearThenBatchNorm() throws {
    var seed: UInt64 = 11
    let weight = randomTensor([3, 5], seed: &seed)
    let bn = FoldingMath.BatchNorm(
      runningMean: randomTensor([3], seed: &seed), runningVar: randomTensor([3], seed: &seed, offset: 1, scale: 0.5),
      weight: randomTensor([3], seed: &seed, offset: 1), bias: randomTensor([3], seed: &seed), eps: 1e-3)
    let (w, b) = try FoldingMath.linearBatchNorm(weight: weight, bias: nil, batchNorm: bn)
    let x = [0.1, 0.2, -0.3, 0.4, -0.5]
    let y = apply(weight, nil, x)
    let (mean, variance, gamma, beta) = (bn.runningMean.doubles(), bn.runningVar.doubles(), bn.weight!.doubles(), bn.bias!.doubles())
    let expected = (0..<3).map { c in (y[c] - mean[c]) / (variance[c] + bn.eps).squareRoot() * gamma[c] + beta[c] }
    for (a, e) in zip(apply(w, b, x), expected) { #expect(abs(a - e) < 1e-5) }
  }

  @Test func rejectsBatchNormWithTheWrongChannelCount() {
    var seed: UInt64 = 1
    let weight = randomTensor([4, 1, 3, 3], seed: &seed)
    let bn = FoldingMath.BatchNorm(
      runningMean: Tensor(zeros: [3]), runningVar: Tensor(zeros: [3]), weight: nil, bias: nil, eps: 1e-5)
    #expect(throws: FoldingMath.FoldingError.self) { try FoldingMath.convBatchNorm(weight: weight, bias: nil, batchNorm: bn) }
  }

  @Test func scaleAndShiftArePerOutputChannel() throws {
    let weight = Tensor(shape: [2, 1, 1, 1], floats: [1, 2])
    let bias = Tensor(shape: [2], floats: [3, 4])
    let (w, b) = try FoldingMath.convScale(weight: weight, bias: bias, by: [10, 100], divide: false)
    #expect(w.doubles() == [10, 200])
    #expect(b?.doubles() == [30, 400])
    let (d, _) = try FoldingMath.convScale(weight: weight, bias: nil, by: [2], divide: true)
    #expect(d.doubles() == [0.5, 1])
    let shifted = try FoldingMath.convShift(bias: bias, channels: 2, dtype: .float32, by: [1, 2], alpha: 2, subtract: true)
    #expect(shifted.doubles() == [1, 0])
    let fresh = try FoldingMath.convShift(bias: nil, channels: 2, dtype: .float32, by: [0.5], alpha: 1, subtract: false)
    #expect(fresh.doubles() == [0.5, 0.5])
  }
}
