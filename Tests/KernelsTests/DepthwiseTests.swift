import Kernels
import Testing

/// Checks `depthwiseConv2d` against `conv2dReference` for one depthwise shape, splitting the
/// channels into parts that must compose, and checks that nothing past the output or the
/// scratch is written.
struct DepthwiseTester {
  var shape: Conv2DShape
  var hasBias = true
  var clamp = OutputClamp.none
  var channelSplits: [Int] = []
  var seed: UInt64 = 1

  /// Floats after the output and after the scratch that must keep their value.
  static let guardCount = 16
  static let guardValue: Float = 12345

  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    let problem = ConvolutionProblem(shape, hasBias: hasBias, clamp: clamp, seed: seed)
    let (input, expected) = (problem.input, problem.expected)
    let packed = problem.packed { DepthwiseWeights(shape, weight: $0, bias: $1) }
    let scratchCount = ConvolutionKernels.depthwiseScratchCount(shape)
    let scratch = AlignedBuffer(count: scratchCount + Self.guardCount)
    (scratch.pointer + scratchCount).update(repeating: Self.guardValue, count: Self.guardCount)
    let bounds = [0] + channelSplits + [shape.outputChannels]
    let count = shape.outputShape.elementCount
    var output = [Float](repeating: .nan, count: count) + [Float](repeating: Self.guardValue, count: Self.guardCount)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        // Last part first: a part that writes past its channels is caught, not overwritten.
        for part in (0..<bounds.count - 1).reversed() {
          ConvolutionKernels.depthwiseConv2d(
            shape, input: input.baseAddress!, weights: packed, output: output.baseAddress!, clamp: clamp,
            channels: bounds[part]..<bounds[part + 1], scratch: scratch.pointer)
        }
      }
    }
    expectClose(Array(output[..<count]), expected, tolerance: 1e-5, "\(shape)", sourceLocation: sourceLocation)
    #expect(
      output[count...].allSatisfy { $0 == Self.guardValue }, "wrote past the output: \(shape)",
      sourceLocation: sourceLocation)
    let scratchGuard = UnsafeBufferPointer(start: scratch.pointer + scratchCount, count: Self.guardCount)
    #expect(
      scratchGuard.allSatisfy { $0 == Self.guardValue }, "wrote past the scratch: \(shape)",
      sourceLocation: sourceLocation)
  }
}

@Suite struct DepthwiseTests {
  /// The channel means the channel-blocked kernel hands to a pool (Note [Pooled side output]):
  /// the mean of each output plane it wrote, two images, the channels in parts of whole blocks,
  /// with a clamp, hardswish at the store, or nothing; the outputs stay the kernel's usual ones.
  @Test func channelMeansAverageTheOutputPlanes() {
    let shapes = [
      convShape(batch: 2, 16, 16, height: 14, width: 14, kernel: 5, padding: 2, groups: 16),
      convShape(batch: 2, 24, 24, height: 7, width: 7, kernel: 3, padding: 1, groups: 24),
      convShape(batch: 2, 16, 16, height: 28, width: 28, kernel: 5, stride: 2, padding: 2, groups: 16),
      convShape(batch: 2, 32, 32, height: 14, width: 14, kernel: 3, stride: 2, padding: 1, groups: 32),
      convShape(batch: 2, 8, 8, height: 3, width: 5, kernel: 3, padding: 1, groups: 8),
    ]
    for (index, shape) in shapes.enumerated() {
      #expect(ConvolutionKernels.depthwiseAveragesChannels(shape), "\(shape)")
      let clamp = [OutputClamp.none, .relu6, .hardswish][index % 3]
      let problem = ConvolutionProblem(shape, hasBias: true, clamp: clamp, seed: UInt64(index + 40))
      let packed = problem.packed { DepthwiseWeights(shape, weight: $0, bias: $1) }
      let scratch = AlignedBuffer(count: ConvolutionKernels.depthwiseScratchCount(shape))
      let (planes, plane) = (shape.batch * shape.outputChannels, shape.outputHeight * shape.outputWidth)
      var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
      var means = [Float](repeating: .nan, count: planes)
      problem.input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          means.withUnsafeMutableBufferPointer { means in
            for part in stride(from: 0, to: shape.outputChannels, by: 8) {
              ConvolutionKernels.depthwiseConv2d(
                shape, input: input.baseAddress!, weights: packed, output: output.baseAddress!, clamp: clamp,
                channels: part..<min(part + 8, shape.outputChannels), scratch: scratch.pointer,
                channelMeans: means.baseAddress!)
            }
          }
        }
      }
      expectClose(output, problem.expected, tolerance: 1e-5, "\(shape)")
      let expectedMeans = (0..<planes).map { index in
        output[index * plane..<(index + 1) * plane].reduce(0.0) { $0 + Double($1) } / Double(plane)
      }
      expectClose(means, expectedMeans, tolerance: 1e-5, "means of \(shape)")
    }
  }

  /// 3×3 and 5×5 at stride 1 and 2 at every width up to 35 — output rows of at most 16 run the
  /// flat loop (Note [Flat depthwise]: rows shorter than a vector that spill into the next
  /// ones, the phase scatter's short and overlapping rows), wider ones the row-blocked loops
  /// (Note [Depthwise row blocks]: several vectors, the overlapping last vector, stride 2's
  /// sixteen-column copy and its overlapping tail) — and every height up to 9 (every remainder
  /// of the row blocks), with padding 0, 1 and 2, one or two images, the channels in two parts.
  @Test(arguments: Array(1...35))
  func blockedKernels(width: Int) {
    for kernel in [3, 5] {
      for stride in [1, 2] {
        for padding in [0, 1, 2] where width + 2 * padding >= kernel {
          for height in 1...9 where height + 2 * padding >= kernel {
            let shape = convShape(
              batch: 1 + height % 2, 3, 3, height: height, width: width, kernel: kernel, stride: stride,
              padding: padding, groups: 3)
            DepthwiseTester(
              shape: shape, hasBias: height != 5, clamp: clamps[(width + height + kernel) % clamps.count], channelSplits: [1],
              seed: UInt64(width * 1000 + height * 100 + kernel * 10 + stride * 3 + padding)
            ).test()
          }
        }
      }
    }
  }

  /// Small planes with eight channels or more run eight channels at a time (Note
  /// [Channel-blocked depthwise]): 19 channels are two blocks and three channels for the flat
  /// loop, and parts starting at channels 3 and 13 make blocks that start off a multiple of
  /// eight. Every output width up to 17 (planes of fewer than eight pixels stay on the flat
  /// loop), stride 1 and 2, padding 0 to 2, odd and even heights (the row pairs' last row).
  @Test(arguments: Array(1...17))
  func channelBlocks(width: Int) {
    for kernel in [3, 5] {
      for stride in [1, 2] {
        for padding in [0, 1, 2] where width + 2 * padding >= kernel {
          for height in [1, 3, 6, 7, 14] where height + 2 * padding >= kernel {
            let shape = convShape(
              batch: 1 + height % 2, 19, 19, height: height, width: width, kernel: kernel, stride: stride,
              padding: padding, groups: 19)
            DepthwiseTester(
              shape: shape, hasBias: height != 6, clamp: clamps[(width + height + kernel) % clamps.count],
              channelSplits: [3, 13], seed: UInt64(width * 1000 + height * 100 + kernel * 10 + stride * 3 + padding)
            ).test()
          }
        }
      }
    }
    // Dilation, stride 3 and asymmetric kernels and strides in blocks too.
    let general = [
      convShape(16, 16, height: 9, width: width, kernel: 5, stride: 1, padding: 4, dilation: 2, groups: 16),
      convShape(16, 16, height: 7, width: width, kernel: 3, stride: 3, padding: 1, groups: 16),
      Conv2DShape(
        batch: 1, inputChannels: 16, outputChannels: 16, inputHeight: 6, inputWidth: width, kernelHeight: 2,
        kernelWidth: 4, stride: (2, 1), padding: (0, 2), groups: 16),
    ]
    for (index, shape) in general.enumerated() where shape.outputHeight > 0 && shape.outputWidth > 0 {
      DepthwiseTester(shape: shape, clamp: clamps[index % clamps.count], channelSplits: [8], seed: UInt64(width * 10 + index))
        .test()
    }
  }

  /// Blocks of eight channels give the very floats of the one-channel loops: the same sums in
  /// the same order.
  @Test func channelBlocksMatchSingleChannels() {
    for (size, kernel, stride) in [(7, 3, 1), (14, 3, 2), (14, 5, 1), (9, 5, 2), (16, 3, 1)] {
      let shape = convShape(batch: 2, 24, 24, height: size, width: size, kernel: kernel, stride: stride, padding: kernel / 2, groups: 24)
      let problem = ConvolutionProblem(shape, hasBias: true, clamp: .relu6, seed: UInt64(size * 10 + kernel))
      let packed = problem.packed { DepthwiseWeights(shape, weight: $0, bias: $1) }
      let scratch = AlignedBuffer(count: ConvolutionKernels.depthwiseScratchCount(shape))
      func run(_ parts: [Range<Int>]) -> [Float] {
        var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
        problem.input.withUnsafeBufferPointer { input in
          output.withUnsafeMutableBufferPointer { output in
            for part in parts {
              ConvolutionKernels.depthwiseConv2d(
                shape, input: input.baseAddress!, weights: packed, output: output.baseAddress!, clamp: .relu6,
                channels: part, scratch: scratch.pointer)
            }
          }
        }
        return output
      }
      let blocked = run([0..<24])
      let single = run((0..<24).map { $0..<$0 + 1 })
      #expect(blocked == single, "\(shape)")
    }
  }

  /// Dilation, strides other than 1 and 2, asymmetric strides and kernels other than 3×3 and
  /// 5×5 run the general loop.
  @Test(arguments: Array(1...19))
  func general(width: Int) {
    let shapes = [
      convShape(2, 2, height: 9, width: width, kernel: 5, stride: 1, padding: 4, dilation: 2, groups: 2),
      convShape(2, 2, height: 7, width: width, kernel: 3, stride: 3, padding: 1, groups: 2),
      convShape(2, 2, height: 6, width: width, kernel: 3, padding: 2, dilation: 2, groups: 2),
      convShape(2, 2, height: 5, width: width, kernel: 1, stride: 2, groups: 2),
      convShape(2, 2, height: 8, width: width, kernel: 7, stride: 3, padding: 3, groups: 2),
      Conv2DShape(
        batch: 1, inputChannels: 2, outputChannels: 2, inputHeight: 5, inputWidth: width, kernelHeight: 3,
        kernelWidth: 3, stride: (1, 2), padding: (1, 1), dilation: (2, 1), groups: 2),
      Conv2DShape(
        batch: 1, inputChannels: 2, outputChannels: 2, inputHeight: 6, inputWidth: width, kernelHeight: 2,
        kernelWidth: 4, stride: (2, 1), padding: (0, 2), groups: 2),
    ]
    for (index, shape) in shapes.enumerated() where shape.outputHeight > 0 && shape.outputWidth > 0 {
      DepthwiseTester(
        shape: shape, hasBias: index % 2 == 0, clamp: clamps[index % clamps.count], channelSplits: [1],
        seed: UInt64(width * 10 + index)
      ).test()
    }
  }

  @Test func batchesAndChannelRanges() {
    let shape = convShape(batch: 3, 11, 11, height: 9, width: 23, kernel: 3, stride: 2, padding: 1, groups: 11)
    DepthwiseTester(shape: shape, clamp: .relu6, channelSplits: [0, 1, 5, 10]).test()
    // Wide rows: several 16-column deinterleaving steps per row, several vectors per row.
    for (width, stride, padding) in [(57, 2, 1), (56, 2, 0), (40, 1, 1), (37, 3, 1), (60, 2, 2)] {
      DepthwiseTester(
        shape: convShape(2, 2, height: 5, width: width, kernel: 3, stride: stride, padding: padding, groups: 2),
        clamp: .relu, channelSplits: [1]
      ).test()
    }
    for (width, kernel, stride) in [(56, 3, 1), (28, 5, 1), (57, 5, 2)] {
      DepthwiseTester(
        shape: convShape(
          batch: 2, 5, 5, height: 11, width: width, kernel: kernel, stride: stride, padding: kernel / 2, groups: 5),
        clamp: .relu6, channelSplits: [2, 3]
      ).test()
    }
    var same = try! Conv2DShape.conv2d(
      input: [2, 4, 9, 10], weight: [4, 1, 4, 4], stride: [1], padding: .same, dilation: [1], groups: 4)
    DepthwiseTester(shape: same, channelSplits: [2]).test()
    same.batch = 1
    DepthwiseTester(shape: same, hasBias: false, clamp: .relu).test()
  }

  /// MobileNet's 3×3 widths, whose plane row lengths have their own copy of the loop (Note
  /// [Depthwise row blocks]), and for each a second width whose plane rows are as long.
  @Test func specializedRowLengths() {
    for (width, stride) in [(28, 1), (27, 1), (56, 1), (59, 1), (112, 1), (115, 1), (56, 2), (61, 2), (112, 2), (117, 2)] {
      DepthwiseTester(
        shape: convShape(3, 3, height: 10, width: width, kernel: 3, stride: stride, padding: 1, groups: 3),
        clamp: .relu6, channelSplits: [1], seed: UInt64(width * 3 + stride)
      ).test()
    }
  }

  @Test func threeByThreeEntryAcceptsMobileNetShapes() {
    let shape = convShape(4, 4, height: 12, width: 12, kernel: 3, stride: 2, padding: 1, groups: 4)
    var generator = SeededGenerator(seed: 3)
    let input = generator.floats(shape.inputShape.elementCount)
    let weight = generator.floats(shape.weightShape.elementCount)
    let expected = conv2d(shape, input, weight, clamp: .relu6)
    let packed = weight.withUnsafeBufferPointer { DepthwiseWeights(shape, weight: $0.baseAddress!, bias: nil) }
    let scratch = AlignedBuffer(count: ConvolutionKernels.depthwiseScratchCount(shape))
    var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        ConvolutionKernels.depthwiseConv3x3(
          shape, input: input.baseAddress!, weights: packed, output: output.baseAddress!, clamp: .relu6,
          scratch: scratch.pointer)
      }
    }
    expectClose(output, expected, tolerance: 1e-5)
  }
}
