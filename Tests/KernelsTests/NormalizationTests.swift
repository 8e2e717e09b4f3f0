import Foundation
import Kernels
import Testing

/// Calls `body` with a pointer to `values`, or nil for nil.
func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let values else { return body(nil) }
  return values.withUnsafeBufferPointer { body($0.baseAddress!) }
}

@Suite struct NormalizationTests {
  func batchNormInference(
    _ x: [Float], batch: Int, channels: Int, spatial: Int, mean: [Float], variance: [Float], weight: [Float]?,
    bias: [Float]?, epsilon: Double
  ) -> [Float] {
    var output = [Float](repeating: .nan, count: x.count)
    x.withUnsafeBufferPointer { x in
      mean.withUnsafeBufferPointer { mean in
        variance.withUnsafeBufferPointer { variance in
          withOptionalPointer(weight) { weight in
            withOptionalPointer(bias) { bias in
              output.withUnsafeMutableBufferPointer { output in
                NormalizationKernels.batchNormInference(
                  input: x.baseAddress!, output: output.baseAddress!, batch: batch, channels: channels, spatial: spatial,
                  mean: mean.baseAddress!, variance: variance.baseAddress!, weight: weight, bias: bias, epsilon: epsilon)
              }
            }
          }
        }
      }
    }
    return output
  }

  @Test func inferenceUsesRunningStatistics() {
    // [N=1, C=2, S=2] = [[1, 2], [3, 4]]; mean [1, 2], var [4, 1], weight [2, 1], bias [0, 1].
    // Channel 0: (x − 1) / 2 · 2; channel 1: (x − 2) / 1 · 1 + 1.
    let x: [Float] = [1, 2, 3, 4]
    expectClose(
      batchNormInference(
        x, batch: 1, channels: 2, spatial: 2, mean: [1, 2], variance: [4, 1], weight: [2, 1], bias: [0, 1], epsilon: 0),
      [0, 1, 2, 3] as [Float])
    // No affine parameters: weight 1, bias 0; eps is added to the variance.
    expectClose(
      batchNormInference(
        x, batch: 1, channels: 2, spatial: 2, mean: [1, 2], variance: [3, 0], weight: nil, bias: nil, epsilon: 1),
      [0, 0.5, 1, 2] as [Float])
    // Two images: the channel index cycles every `spatial` elements.
    expectClose(
      batchNormInference(
        x + [5, 6, 7, 8], batch: 2, channels: 2, spatial: 2, mean: [0, 0], variance: [1, 1], weight: [1, -1],
        bias: nil, epsilon: 0),
      [1, 2, -3, -4, 5, 6, -7, -8] as [Float])
  }

  @Test func trainingUsesBatchStatisticsAndUpdatesRunningOnes() {
    // Channel 0 sees [1, 3] (mean 2, biased var 1, unbiased 2); channel 1 sees [10, 10].
    let x: [Float] = [1, 10, 3, 10]  // [N=2, C=2]
    var output = [Float](repeating: .nan, count: 4)
    var runningMean: [Float] = [0, 5]
    var runningVariance: [Float] = [1, 1]
    var savedMean: [Float] = [0, 0]
    var savedInverse: [Float] = [0, 0]
    let bias: [Float] = [0.5, -1]
    x.withUnsafeBufferPointer { x in
      bias.withUnsafeBufferPointer { bias in
        output.withUnsafeMutableBufferPointer { output in
          runningMean.withUnsafeMutableBufferPointer { runningMean in
            runningVariance.withUnsafeMutableBufferPointer { runningVariance in
              savedMean.withUnsafeMutableBufferPointer { savedMean in
                savedInverse.withUnsafeMutableBufferPointer { savedInverse in
                  NormalizationKernels.batchNormTraining(
                    input: x.baseAddress!, output: output.baseAddress!, batch: 2, channels: 2, spatial: 1, weight: nil,
                    bias: bias.baseAddress!, epsilon: 0, momentum: 0.1, runningMean: runningMean.baseAddress!,
                    runningVariance: runningVariance.baseAddress!, savedMean: savedMean.baseAddress!,
                    savedInverseDeviation: savedInverse.baseAddress!)
                }
              }
            }
          }
        }
      }
    }
    // Channel 1 has zero variance and eps 0: (x − mean) · ∞ is NaN, as in PyTorch.
    expectClose(Array(output[0..<1]) + Array(output[2..<3]), [-0.5, 1.5] as [Float])
    #expect(output[1].isNaN && output[3].isNaN)
    expectClose(runningMean, [0.2, 5.5] as [Float])
    expectClose(runningVariance, [1.1, 0.9] as [Float])
    expectClose(savedMean, [2, 10] as [Float])
    #expect(savedInverse[0] == 1 && savedInverse[1] == .infinity)
  }

  @Test func layoutChecksFollowPyTorch() throws {
    #expect(try NormalizationKernels.batchNormLayout(inputShape: [2, 3, 4, 5], training: true) == (2, 3, 20))
    #expect(try NormalizationKernels.batchNormLayout(inputShape: [1, 3], training: false) == (1, 3, 1))
    #expect(throws: KernelError.self) { try NormalizationKernels.batchNormLayout(inputShape: [1, 3], training: true) }
    #expect(throws: KernelError.self) { try NormalizationKernels.batchNormLayout(inputShape: [3], training: false) }
    #expect(try NormalizationKernels.layerNormLayout(inputShape: [2, 3, 4], normalizedShape: [3, 4]) == (2, 12))
    #expect(throws: KernelError.self) {
      try NormalizationKernels.layerNormLayout(inputShape: [2, 3, 4], normalizedShape: [4, 3])
    }
  }

  @Test func layerNormNormalizesEachRow() {
    // Row [1, 2, 3, 4]: mean 2.5, biased var 1.25.
    let x: [Float] = [1, 2, 3, 4, -2, -2, -2, -2]
    let root = 1.25.squareRoot()
    func run(weight: [Float]?, bias: [Float]?, epsilon: Double) -> [Float] {
      var output = [Float](repeating: .nan, count: 8)
      x.withUnsafeBufferPointer { x in
        withOptionalPointer(weight) { weight in
          withOptionalPointer(bias) { bias in
            output.withUnsafeMutableBufferPointer { output in
              NormalizationKernels.layerNorm(
                input: x.baseAddress!, output: output.baseAddress!, rows: 2, size: 4, weight: weight, bias: bias,
                epsilon: epsilon)
            }
          }
        }
      }
      return output
    }
    expectClose(
      run(weight: nil, bias: nil, epsilon: 0),
      [-1.5 / root, -0.5 / root, 0.5 / root, 1.5 / root, .nan, .nan, .nan, .nan], tolerance: 1e-6)
    // Deviations times weight [1, 2, 3, 4] are [−1.5, −1, 1.5, 6]; the constant row becomes the bias.
    let scale = 1 / (1.25 + 1e-5).squareRoot()
    expectClose(
      run(weight: [1, 2, 3, 4], bias: [0, 0, 0, 1], epsilon: 1e-5),
      [-1.5 * scale, -1 * scale, 1.5 * scale, 6 * scale + 1, 0, 0, 0, 1], tolerance: 1e-6)
  }

  /// Random batch-norm and layer-norm problems against the formulas in Double.
  @Test(arguments: 0..<8)
  func matchesFormulas(seed: Int) {
    var generator = SeededGenerator(seed: UInt64(seed) &+ 900)
    let (batch, channels, spatial) = (Int.random(in: 1...3, using: &generator), Int.random(in: 1...4, using: &generator), Int.random(in: 2...7, using: &generator))
    let x = generator.floats(batch * channels * spatial, in: -3...3)
    let mean = generator.floats(channels)
    let variance = generator.floats(channels, in: 0.1...2)
    let weight = seed % 2 == 0 ? generator.floats(channels) : nil
    let bias = seed % 3 == 0 ? generator.floats(channels) : nil
    var expected: [Double] = []
    for index in 0..<x.count {
      let c = (index / spatial) % channels
      let normalized = (Double(x[index]) - Double(mean[c])) / (Double(variance[c]) + 1e-5).squareRoot()
      expected.append(normalized * Double(weight?[c] ?? 1) + Double(bias?[c] ?? 0))
    }
    expectClose(
      batchNormInference(
        x, batch: batch, channels: channels, spatial: spatial, mean: mean, variance: variance, weight: weight,
        bias: bias, epsilon: 1e-5),
      expected, tolerance: 1e-5)

    // Layer norm over rows of `channels · spatial`.
    let size = channels * spatial
    var layerExpected: [Double] = []
    let layerWeight = weight.map { _ in generator.floats(size) }
    for row in 0..<batch {
      let values = x[(row * size)..<((row + 1) * size)].map(Double.init)
      let rowMean = values.reduce(0, +) / Double(size)
      let rowVariance = values.map { ($0 - rowMean) * ($0 - rowMean) }.reduce(0, +) / Double(size)
      for (i, value) in values.enumerated() {
        layerExpected.append((value - rowMean) / (rowVariance + 1e-5).squareRoot() * Double(layerWeight?[i] ?? 1))
      }
    }
    var output = [Float](repeating: .nan, count: x.count)
    x.withUnsafeBufferPointer { x in
      withOptionalPointer(layerWeight) { weight in
        output.withUnsafeMutableBufferPointer { output in
          NormalizationKernels.layerNorm(
            input: x.baseAddress!, output: output.baseAddress!, rows: batch, size: size, weight: weight, bias: nil,
            epsilon: 1e-5)
        }
      }
    }
    expectClose(output, layerExpected, tolerance: 1e-5)
  }
}
