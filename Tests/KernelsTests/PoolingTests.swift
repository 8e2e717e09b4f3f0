import Foundation
import Kernels
import Testing

@Suite struct PoolingTests {
  /// 0, 1, …, 15 as one 4×4 plane: element (y, x) is 4y + x.
  let grid = (0..<16).map(Float.init)

  func maxPool(_ shape: Pool2DShape, _ input: [Float]) -> (values: [Float], indices: [Int64]) {
    let count = shape.planes * shape.outputHeight * shape.outputWidth
    var values = [Float](repeating: .nan, count: count)
    var indices = [Int64](repeating: -1, count: count)
    input.withUnsafeBufferPointer { input in
      values.withUnsafeMutableBufferPointer { values in
        indices.withUnsafeMutableBufferPointer { indices in
          PoolingKernels.maxPool2dReference(
            shape, input: input.baseAddress!, output: values.baseAddress!, indices: indices.baseAddress!)
        }
      }
    }
    return (values, indices)
  }

  func avgPool(_ shape: Pool2DShape, _ input: [Float], countIncludePad: Bool = true, divisorOverride: Int? = nil) -> [Float] {
    var output = [Float](repeating: .nan, count: shape.planes * shape.outputHeight * shape.outputWidth)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        PoolingKernels.avgPool2dReference(
          shape, input: input.baseAddress!, output: output.baseAddress!, countIncludePad: countIncludePad,
          divisorOverride: divisorOverride)
      }
    }
    return output
  }

  func adaptive(_ shape: AdaptivePool2DShape, _ input: [Float]) -> (average: [Float], maximum: [Float], indices: [Int64]) {
    let count = shape.planes * shape.outputHeight * shape.outputWidth
    var average = [Float](repeating: .nan, count: count)
    var maximum = [Float](repeating: .nan, count: count)
    var indices = [Int64](repeating: -1, count: count)
    input.withUnsafeBufferPointer { input in
      average.withUnsafeMutableBufferPointer {
        PoolingKernels.adaptiveAvgPool2dReference(shape, input: input.baseAddress!, output: $0.baseAddress!)
      }
      maximum.withUnsafeMutableBufferPointer { maximum in
        indices.withUnsafeMutableBufferPointer { indices in
          PoolingKernels.adaptiveMaxPool2dReference(
            shape, input: input.baseAddress!, output: maximum.baseAddress!, indices: indices.baseAddress!)
        }
      }
    }
    return (average, maximum, indices)
  }

  @Test func maxPoolByHand() throws {
    let simple = try Pool2DShape.maxPool2d(input: [1, 1, 4, 4], kernel: [2], stride: [], padding: [0], dilation: [1], ceilMode: false)
    let (values, indices) = maxPool(simple, grid)
    #expect(values == [5, 7, 13, 15] && indices == [5, 7, 13, 15])
    // k3 s2 p1 ceil: windows rows [−1, 1], [1, 3], [3, 5]; the max sits at the window's
    // bottom-right in-image element.
    let padded = try Pool2DShape.maxPool2d(input: [1, 4, 4], kernel: [3], stride: [2], padding: [1], dilation: [1], ceilMode: true)
    #expect((padded.outputHeight, padded.outputWidth) == (3, 3))
    let (paddedValues, paddedIndices) = maxPool(padded, grid)
    #expect(paddedValues == [5, 7, 7, 13, 15, 15, 13, 15, 15])
    #expect(paddedIndices == [5, 7, 7, 13, 15, 15, 13, 15, 15])
    // Dilation 2 on 4×4 with k2: taps (0, 2) × (0, 2) and shifted by one: a 2×2 output.
    let dilated = try Pool2DShape.maxPool2d(input: [1, 1, 4, 4], kernel: [2], stride: [1], padding: [0], dilation: [2], ceilMode: false)
    #expect(maxPool(dilated, grid.map { -$0 }).values == [0, -1, -4, -5])
  }

  @Test func maxPoolNaNAndInfinityRules() throws {
    // The last NaN in a window wins the index (PyTorch: v > best || isnan(v)).
    let row = Pool2DShape(planes: 1, inputHeight: 1, inputWidth: 4, kernel: (1, 4))
    let (values, indices) = maxPool(row, [.nan, 1, .nan, 2])
    #expect(values[0].isNaN && indices == [2])
    // All −∞ with padding: the index is the window's first in-image element.
    let padded = Pool2DShape(planes: 1, inputHeight: 1, inputWidth: 4, kernel: (1, 2), padding: (0, 1))
    let (infinite, infiniteIndices) = maxPool(padded, [Float](repeating: -.infinity, count: 4))
    #expect(infinite == [-.infinity, -.infinity, -.infinity] && infiniteIndices == [0, 1, 3])
    // A dilated ceil-mode window that misses the input: −∞, and the index of the first
    // non-negative tap per axis (row 2 of a 2-row plane, columns 2 and 1), as PyTorch reports.
    let missing = Pool2DShape(
      planes: 1, inputHeight: 2, inputWidth: 7, kernel: (2, 3), stride: (2, 2), padding: (1, 1), dilation: (3, 3),
      ceilMode: true)
    let (missed, missedIndices) = maxPool(missing, (0..<14).map(Float.init))
    #expect(missed == [-.infinity, -.infinity] && missedIndices == [16, 15])
  }

  @Test func avgPoolDivisors() throws {
    // 4×4 grid, k3 s2 p1 ceil: padded window counts are clipped to [−1, 5).
    let shape = try Pool2DShape.avgPool2d(input: [1, 1, 4, 4], kernel: [3], stride: [2], padding: [1], ceilMode: true)
    let sums: [Double] = [10, 24, 10, 51, 90, 33, 25, 42, 15]
    let padded: [Double] = [9, 9, 6, 9, 9, 6, 6, 6, 4]
    let inside: [Double] = [4, 6, 2, 6, 9, 3, 2, 3, 1]
    expectClose(avgPool(shape, grid), zip(sums, padded).map { $0 / $1 })
    expectClose(avgPool(shape, grid, countIncludePad: false), zip(sums, inside).map { $0 / $1 })
    expectClose(avgPool(shape, grid, divisorOverride: 2), sums.map { $0 / 2 })
    // No padding, floor mode: plain 2×2 means.
    let plain = try Pool2DShape.avgPool2d(input: [1, 1, 4, 4], kernel: [2], stride: [2], padding: [0], ceilMode: false)
    expectClose(avgPool(plain, grid), [2.5, 4.5, 10.5, 12.5] as [Float])
  }

  @Test func adaptivePoolingWindows() throws {
    // 4×5 → 2×3: rows [0, 2), [2, 4); columns [0, 2), [1, 4), [3, 5). Element (y, x) = 5y + x.
    let input = (0..<20).map(Float.init)
    let shape = try AdaptivePool2DShape.make(op: "adaptive_avg_pool2d", input: [1, 4, 5], outputSize: [2, 3])
    let (average, maximum, indices) = adaptive(shape, input)
    expectClose(average, [3, 4.5, 6, 13, 14.5, 16] as [Float])
    #expect(maximum == [6, 8, 9, 16, 18, 19])
    #expect(indices == [6, 8, 9, 16, 18, 19])
    // Global pooling: one window over everything.
    let global = try AdaptivePool2DShape.make(op: "adaptive_avg_pool2d", input: [2, 1, 4, 5], outputSize: [1])
    #expect(global.planes == 2)
    expectClose(adaptive(global, input + input.map { -$0 }).average, [9.5, -9.5] as [Float])
  }

  @Test func shapeChecksFollowPyTorch() {
    #expect(throws: KernelError.self) {
      // Padding 2 is more than half of kernel 2.
      try Pool2DShape.maxPool2d(input: [1, 1, 8, 8], kernel: [2], stride: [2], padding: [2], dilation: [1], ceilMode: false)
    }
    #expect(throws: KernelError.outputTooSmall(op: "max_pool2d", input: [1, 1], output: [0, 0])) {
      try Pool2DShape.maxPool2d(input: [1, 1, 1, 1], kernel: [2], stride: [], padding: [0], dilation: [1], ceilMode: false)
    }
    #expect(throws: KernelError.self) {
      try Pool2DShape.avgPool2d(input: [1, 8, 8], kernel: [0], stride: [], padding: [0], ceilMode: false)
    }
    #expect(throws: KernelError.self) {
      try Pool2DShape.maxPool2d(input: [8, 8], kernel: [2], stride: [], padding: [0], dilation: [1], ceilMode: false)
    }
    #expect(throws: KernelError.self) {
      try AdaptivePool2DShape.make(op: "adaptive_max_pool2d", input: [1, 1, 0, 4], outputSize: [2, 2])
    }
    // Padding up to half the kernel is allowed, with dilation too.
    #expect((try? Pool2DShape.maxPool2d(input: [1, 1, 8, 8], kernel: [2], stride: [1], padding: [1], dilation: [3], ceilMode: false))?.outputHeight == 7)
  }

  /// Random pooling problems against window enumeration straight from the definition.
  @Test(arguments: 0..<40)
  func matchesDefinitionOnRandomShapes(seed: Int) throws {
    var generator = SeededGenerator(seed: UInt64(seed) &+ 4242)
    var checked = 0
    while checked < 5 {
      let kernel = (Int.random(in: 1...4, using: &generator), Int.random(in: 1...4, using: &generator))
      let shape = Pool2DShape(
        planes: Int.random(in: 1...3, using: &generator), inputHeight: Int.random(in: 1...9, using: &generator),
        inputWidth: Int.random(in: 1...9, using: &generator), kernel: kernel,
        stride: (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)),
        padding: (Int.random(in: 0...(kernel.0 / 2), using: &generator), Int.random(in: 0...(kernel.1 / 2), using: &generator)),
        dilation: seed % 2 == 0 ? (1, 1) : (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)),
        ceilMode: Bool.random(using: &generator))
      // Draws whose window does not fit the padded input are invalid; draw again.
      guard (try? shape.validate()) != nil else { continue }
      checked += 1
      let (height, width) = (shape.inputHeight, shape.inputWidth)
      let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
      // Some repeated values and a NaN now and then, to exercise the tie and NaN rules.
      var input = (0..<(shape.planes * height * width)).map { _ in Float(Int.random(in: -4...4, using: &generator)) }
      if seed % 5 == 0 { input[Int.random(in: 0..<input.count, using: &generator)] = .nan }
      // A dilated ceil-mode window can miss the input entirely: PyTorch then returns −∞ and the
      // index of the first non-negative tap on each axis (which may lie outside the plane).
      func firstNonNegativeTap(_ oy: Int, _ ox: Int) -> Int {
        var y = oy * shape.strideHeight - shape.paddingHeight
        var x = ox * shape.strideWidth - shape.paddingWidth
        while y < 0 { y += shape.dilationHeight }
        while x < 0 { x += shape.dilationWidth }
        return y * width + x
      }
      var expectedMax: [Float] = []
      var expectedIndex: [Int64] = []
      var expectedAverage: [Double] = []
      var expectedExclusive: [Double] = []
      for plane in 0..<shape.planes {
        for oy in 0..<outputHeight {
          for ox in 0..<outputWidth {
            var best = -Float.infinity
            var bestIndex: Int?
            var sum = 0.0
            var (padded, inside) = (0, 0)
            for ky in 0..<shape.kernelHeight {
              for kx in 0..<shape.kernelWidth {
                let y = oy * shape.strideHeight - shape.paddingHeight + ky * shape.dilationHeight
                let x = ox * shape.strideWidth - shape.paddingWidth + kx * shape.dilationWidth
                if y < height + shape.paddingHeight && x < width + shape.paddingWidth { padded += 1 }
                guard y >= 0, y < height, x >= 0, x < width else { continue }
                inside += 1
                let value = input[plane * height * width + y * width + x]
                sum += Double(value)
                if bestIndex == nil { bestIndex = y * width + x }
                if value > best || value.isNaN {
                  best = value
                  bestIndex = y * width + x
                }
              }
            }
            expectedMax.append(best)
            expectedIndex.append(Int64(bestIndex ?? firstNonNegativeTap(oy, ox)))
            expectedAverage.append(sum / Double(padded))
            expectedExclusive.append(sum / Double(inside))
          }
        }
      }
      let (values, indices) = maxPool(shape, input)
      expectClose(values, expectedMax, tolerance: 0, "\(shape)")
      #expect(indices == expectedIndex, "\(shape)")
      if shape.dilationHeight == 1 && shape.dilationWidth == 1 {
        expectClose(avgPool(shape, input), expectedAverage, tolerance: 1e-6, "\(shape)")
        expectClose(avgPool(shape, input, countIncludePad: false), expectedExclusive, tolerance: 1e-6, "\(shape)")
      }
      // Adaptive pooling to a random size, windows from ⌊i·in/out⌋ and ⌈(i+1)·in/out⌉.
      let adaptiveShape = AdaptivePool2DShape(
        planes: shape.planes, inputHeight: height, inputWidth: width,
        outputHeight: Int.random(in: 1...(height + 2), using: &generator), outputWidth: Int.random(in: 1...(width + 2), using: &generator))
      var expectedMean: [Double] = []
      var expectedPeak: [Float] = []
      for plane in 0..<shape.planes {
        for oy in 0..<adaptiveShape.outputHeight {
          let rows = Int(floor(Double(oy * height) / Double(adaptiveShape.outputHeight)))..<Int(ceil(Double((oy + 1) * height) / Double(adaptiveShape.outputHeight)))
          for ox in 0..<adaptiveShape.outputWidth {
            let columns = Int(floor(Double(ox * width) / Double(adaptiveShape.outputWidth)))..<Int(ceil(Double((ox + 1) * width) / Double(adaptiveShape.outputWidth)))
            let window = rows.flatMap { y in columns.map { x in input[plane * height * width + y * width + x] } }
            expectedMean.append(window.map(Double.init).reduce(0, +) / Double(window.count))
            expectedPeak.append(window.contains { $0.isNaN } ? .nan : window.max()!)
          }
        }
      }
      let result = adaptive(adaptiveShape, input)
      expectClose(result.average, expectedMean, tolerance: 1e-6, "\(adaptiveShape)")
      expectClose(result.maximum, expectedPeak, tolerance: 0, "\(adaptiveShape)")
    }
  }
}
