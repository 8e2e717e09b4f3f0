import Kernels
import Testing

/// `values` converted by `convert` (`ChannelBlocks.pack` or `unpack`), all blocks at once.
private func converted(
  _ values: [Float], channels: Int, pixels: Int,
  by convert: (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, Range<Int>) -> Void
) -> [Float] {
  var result = [Float](repeating: .nan, count: values.count)
  values.withUnsafeBufferPointer { source in
    result.withUnsafeMutableBufferPointer { convert(source.baseAddress!, channels, pixels, $0.baseAddress!, 0..<channels / 8) }
  }
  return result
}

/// Blocked copies of NCHW float arrays (Note [Channel-blocked activations]), and back.
private func pack(_ nchw: [Float], channels: Int, pixels: Int) -> [Float] {
  converted(nchw, channels: channels, pixels: pixels) { ChannelBlocks.pack($0, channels: $1, pixels: $2, into: $3, blocks: $4) }
}

private func unpack(_ blocked: [Float], channels: Int, pixels: Int) -> [Float] {
  converted(blocked, channels: channels, pixels: pixels) { ChannelBlocks.unpack($0, channels: $1, pixels: $2, into: $3, blocks: $4) }
}

/// Guard floats after an output or a scratch that must keep their value.
private let guardCount = 16
private let guardValue: Float = 12345

/// Checks `blockedPointwise` against `conv2dReference` for one 1×1 shape (one image), its
/// pixels or its panels split into parts that must compose, and that nothing past the output or
/// the scratch is written.
struct BlockedPointwiseTester {
  var inputChannels: Int
  var outputChannels: Int
  var pixels: Int
  var panelRows = 16
  var clamp = OutputClamp.relu6
  var pixelSplits: [Int] = []
  var panelSplits: [Int] = []
  var seed: UInt64 = 1

  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    let shape = convShape(inputChannels, outputChannels, height: 1, width: pixels, kernel: 1)
    let problem = ConvolutionProblem(shape, hasBias: true, clamp: clamp, seed: seed)
    let weights = problem.packed {
      VectorPanelWeights(
        rows: outputChannels, depth: inputChannels, weights: $0, rowStride: inputChannels, bias: $1, panelRows: panelRows)
    }
    let input = pack(problem.input, channels: inputChannels, pixels: pixels)
    let scratchCount = ConvolutionKernels.blockedPointwiseScratchCount(depth: inputChannels)
    let scratch = AlignedBuffer(count: scratchCount + guardCount)
    (scratch.pointer + scratchCount).update(repeating: guardValue, count: guardCount)
    let count = outputChannels * pixels
    var output = [Float](repeating: .nan, count: count) + [Float](repeating: guardValue, count: guardCount)
    let pixelBounds = [0] + pixelSplits + [pixels]
    let rowBounds = [0] + panelSplits + [outputChannels]
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        for part in (0..<pixelBounds.count - 1).reversed() {
          for rows in (0..<rowBounds.count - 1).reversed() {
            ConvolutionKernels.blockedPointwise(
              weights: weights, input: input.baseAddress!, output: output.baseAddress!, pixelCount: pixels,
              clamp: clamp, pixels: pixelBounds[part]..<pixelBounds[part + 1],
              rows: rowBounds[rows]..<rowBounds[rows + 1], scratch: scratch.pointer)
          }
        }
      }
    }
    let label = "1×1 \(inputChannels)→\(outputChannels) on \(pixels) pixels, panels of \(panelRows)"
    expectClose(
      unpack(Array(output[..<count]), channels: outputChannels, pixels: pixels), problem.expected, tolerance: 1e-5, label,
      sourceLocation: sourceLocation)
    #expect(output[count...].allSatisfy { $0 == guardValue }, "wrote past the output: \(label)", sourceLocation: sourceLocation)
    #expect(
      UnsafeBufferPointer(start: scratch.pointer + scratchCount, count: guardCount).allSatisfy { $0 == guardValue },
      "wrote past the scratch: \(label)", sourceLocation: sourceLocation)
  }
}

/// Checks `blockedDepthwise` against `conv2dReference` for one depthwise shape (one image), the
/// blocks or the output rows split into parts that must compose.
struct BlockedDepthwiseTester {
  var shape: Conv2DShape
  var clamp = OutputClamp.relu6
  var blockSplits: [Int] = []
  var rowSplits: [Int] = []
  var seed: UInt64 = 1

  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    let problem = ConvolutionProblem(shape, hasBias: true, clamp: clamp, seed: seed)
    let weights = problem.packed { DepthwiseWeights(shape, weight: $0, bias: $1) }
    let channels = shape.outputChannels
    let (inputPixels, outputPixels) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let input = pack(problem.input, channels: channels, pixels: inputPixels)
    let scratchCount = ConvolutionKernels.blockedDepthwiseScratchCount(shape)
    let scratch = AlignedBuffer(count: scratchCount + guardCount)
    (scratch.pointer + scratchCount).update(repeating: guardValue, count: guardCount)
    let count = channels * outputPixels
    var output = [Float](repeating: .nan, count: count) + [Float](repeating: guardValue, count: guardCount)
    let blockBounds = [0] + blockSplits + [channels / 8]
    let rowBounds = ConvolutionKernels.blockedDepthwiseTiles(shape) ? [0, shape.outputHeight] : [0] + rowSplits + [shape.outputHeight]
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        for blocks in (0..<blockBounds.count - 1).reversed() {
          for rows in (0..<rowBounds.count - 1).reversed() {
            ConvolutionKernels.blockedDepthwise(
              shape, input: input.baseAddress!, weights: weights, output: output.baseAddress!, clamp: clamp,
              blocks: blockBounds[blocks]..<blockBounds[blocks + 1], rows: rowBounds[rows]..<rowBounds[rows + 1],
              scratch: scratch.pointer)
          }
        }
      }
    }
    expectClose(
      unpack(Array(output[..<count]), channels: channels, pixels: outputPixels), problem.expected, tolerance: 1e-5,
      "\(shape)", sourceLocation: sourceLocation)
    #expect(output[count...].allSatisfy { $0 == guardValue }, "wrote past the output: \(shape)", sourceLocation: sourceLocation)
    #expect(
      UnsafeBufferPointer(start: scratch.pointer + scratchCount, count: guardCount).allSatisfy { $0 == guardValue },
      "wrote past the scratch: \(shape)", sourceLocation: sourceLocation)
  }
}

@Suite struct BlockedConvolutionTests {
  @Test func packAndUnpackAreInverse() {
    var generator = SeededGenerator(seed: 3)
    for (channels, pixels) in [(8, 1), (16, 7), (24, 49), (8, 64), (32, 13)] {
      let values = generator.floats(channels * pixels)
      let blocked = pack(values, channels: channels, pixels: pixels)
      // Blocked float (c / 8)·P·8 + p·8 + c % 8 is NCHW float c·P + p.
      for c in 0..<channels {
        for p in 0..<pixels { #expect(blocked[(c / 8) * pixels * 8 + p * 8 + c % 8] == values[c * pixels + p]) }
      }
      #expect(unpack(blocked, channels: channels, pixels: pixels) == values)
    }
  }

  /// Every pixel remainder of both tiles (six and four pixels), single last pixels (7×7 planes),
  /// deep products in several depth blocks, channel counts that end in a part panel, and
  /// splits by pixels and by panels.
  @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 11, 13, 49, 50, 196])
  func pointwise(pixels: Int) {
    for panelRows in [16, 24] {
      BlockedPointwiseTester(inputChannels: 16, outputChannels: 24, pixels: pixels, panelRows: panelRows).test()
      BlockedPointwiseTester(inputChannels: 40, outputChannels: 56, pixels: pixels, panelRows: panelRows).test()
      BlockedPointwiseTester(
        inputChannels: 320, outputChannels: 40, pixels: pixels, panelRows: panelRows, clamp: .none, seed: 2
      ).test()
      // Hardswish at the final store only: 320 channels take several depth blocks, whose
      // partial sums must be stored as they are.
      BlockedPointwiseTester(
        inputChannels: 320, outputChannels: 48, pixels: pixels, panelRows: panelRows, clamp: .hardswish, seed: 3
      ).test()
      BlockedPointwiseTester(
        inputChannels: 16, outputChannels: 72, pixels: pixels, panelRows: panelRows, clamp: .hardswish, seed: 4
      ).test()
    }
  }

  @Test func pointwiseSplits() {
    BlockedPointwiseTester(inputChannels: 24, outputChannels: 64, pixels: 49, pixelSplits: [18, 30]).test()
    BlockedPointwiseTester(inputChannels: 24, outputChannels: 64, pixels: 49, panelSplits: [16, 48]).test()
    BlockedPointwiseTester(inputChannels: 288, outputChannels: 96, pixels: 49, panelRows: 24, panelSplits: [48]).test()
    BlockedPointwiseTester(
      inputChannels: 296, outputChannels: 40, pixels: 197, clamp: .hardtanh(-0.5, 0.5), pixelSplits: [102]
    ).test()
  }

  /// Stride 1 and 2, 3×3 and 5×5, padding, dilation, planes on both paths (a padded tile per
  /// block up to 16 output columns, rows straight from the input beyond), odd sizes, splits.
  @Test func depthwise() {
    let shapes = [
      convShape(8, 8, height: 7, width: 7, kernel: 3, padding: 1, groups: 8),
      convShape(16, 16, height: 14, width: 14, kernel: 3, stride: 2, padding: 1, groups: 16),
      convShape(16, 16, height: 20, width: 20, kernel: 3, padding: 1, groups: 16),
      convShape(16, 16, height: 21, width: 23, kernel: 3, stride: 2, padding: 1, groups: 16),
      convShape(8, 8, height: 40, width: 37, kernel: 3, padding: 1, groups: 8),
      convShape(8, 8, height: 19, width: 34, kernel: 5, padding: 2, groups: 8),
      convShape(8, 8, height: 19, width: 35, kernel: 5, stride: 2, padding: 2, groups: 8),
      convShape(8, 8, height: 18, width: 36, kernel: 3, padding: 2, dilation: 2, groups: 8),
      convShape(8, 8, height: 9, width: 40, kernel: 3, padding: 0, groups: 8),
      convShape(8, 8, height: 3, width: 3, kernel: 3, padding: 1, groups: 8),
      convShape(8, 8, height: 2, width: 40, kernel: 3, padding: 1, groups: 8),
    ]
    for (index, shape) in shapes.enumerated() {
      BlockedDepthwiseTester(shape: shape, seed: UInt64(index + 1)).test()
    }
    BlockedDepthwiseTester(
      shape: convShape(24, 24, height: 34, width: 34, kernel: 3, padding: 1, groups: 24), blockSplits: [1, 2],
      rowSplits: [5, 17]
    ).test()
    BlockedDepthwiseTester(
      shape: convShape(24, 24, height: 9, width: 9, kernel: 3, stride: 2, padding: 1, groups: 24), clamp: .none,
      blockSplits: [2]
    ).test()
    // Hardswish at the store on both paths (tiles, rows with the grouped 3×3 loop at stride 1
    // and 2, and the general loop).
    let hardswishShapes = [
      convShape(16, 16, height: 14, width: 14, kernel: 5, padding: 2, groups: 16),
      convShape(16, 16, height: 14, width: 14, kernel: 3, stride: 2, padding: 1, groups: 16),
      convShape(16, 16, height: 30, width: 37, kernel: 3, padding: 1, groups: 16),
      convShape(16, 16, height: 31, width: 40, kernel: 3, stride: 2, padding: 1, groups: 16),
      convShape(8, 8, height: 19, width: 35, kernel: 5, stride: 2, padding: 2, groups: 8),
    ]
    for (index, shape) in hardswishShapes.enumerated() {
      BlockedDepthwiseTester(shape: shape, clamp: .hardswish, rowSplits: [3], seed: UInt64(index + 20)).test()
    }
  }

  /// On small planes the blocked kernel hands over each block's channel means (Note [Pooled side
  /// output]): bit for bit the NCHW kernel's, from the same outputs, with clamps, hardswish or
  /// nothing at the store and the blocks in parts.
  @Test func depthwiseChannelMeans() {
    let shapes = [
      convShape(16, 16, height: 14, width: 14, kernel: 5, padding: 2, groups: 16),
      convShape(24, 24, height: 7, width: 7, kernel: 3, padding: 1, groups: 24),
      convShape(16, 16, height: 28, width: 28, kernel: 5, stride: 2, padding: 2, groups: 16),
    ]
    for (index, shape) in shapes.enumerated() {
      #expect(ConvolutionKernels.blockedDepthwiseTiles(shape) && ConvolutionKernels.depthwiseAveragesChannels(shape))
      let clamp = [OutputClamp.hardswish, .relu6, .none][index % 3]
      let problem = ConvolutionProblem(shape, hasBias: true, clamp: clamp, seed: UInt64(index + 60))
      let weights = problem.packed { DepthwiseWeights(shape, weight: $0, bias: $1) }
      let channels = shape.outputChannels
      let (inputPixels, outputPixels) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
      let input = pack(problem.input, channels: channels, pixels: inputPixels)
      let scratch = AlignedBuffer(count: max(
        ConvolutionKernels.blockedDepthwiseScratchCount(shape), ConvolutionKernels.depthwiseScratchCount(shape)))
      var output = [Float](repeating: .nan, count: channels * outputPixels)
      var means = [Float](repeating: .nan, count: channels)
      var planes = output
      var planeMeans = means
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          means.withUnsafeMutableBufferPointer { means in
            for blocks in [1..<channels / 8, 0..<1] {
              ConvolutionKernels.blockedDepthwise(
                shape, input: input.baseAddress!, weights: weights, output: output.baseAddress!, clamp: clamp,
                blocks: blocks, rows: 0..<shape.outputHeight, scratch: scratch.pointer, channelMeans: means.baseAddress!)
            }
          }
        }
      }
      problem.input.withUnsafeBufferPointer { input in
        planes.withUnsafeMutableBufferPointer { output in
          planeMeans.withUnsafeMutableBufferPointer { means in
            ConvolutionKernels.depthwiseConv2d(
              shape, input: input.baseAddress!, weights: weights, output: output.baseAddress!, clamp: clamp,
              channels: 0..<channels, scratch: scratch.pointer, channelMeans: means.baseAddress!)
          }
        }
      }
      #expect(unpack(output, channels: channels, pixels: outputPixels).map(\.bitPattern) == planes.map(\.bitPattern), "\(shape)")
      #expect(means.map(\.bitPattern) == planeMeans.map(\.bitPattern), "means of \(shape)")
    }
  }

  /// A stem from three NCHW channels into blocked outputs over its phase planes, split by flat
  /// columns; and wider, dilated and odd-sized dense shapes.
  @Test func phasePlanes() {
    let shapes = [
      convShape(3, 32, height: 32, width: 32, kernel: 3, stride: 2, padding: 1),
      convShape(3, 16, height: 23, width: 17, kernel: 3, stride: 2, padding: 1),
      convShape(5, 8, height: 12, width: 12, kernel: 3, padding: 1),
      convShape(4, 24, height: 15, width: 15, kernel: 5, stride: 2, padding: 2),
    ]
    let cases = shapes.map { ($0, OutputClamp.relu) } + [(shapes[1], .hardswish)]
    for (index, (shape, clamp)) in cases.enumerated() where ConvolutionKernels.takesBlockedPhasePlanes(shape) {
      let problem = ConvolutionProblem(shape, hasBias: true, clamp: clamp, seed: UInt64(index + 5))
      let depth = shape.inputChannels * shape.kernelHeight * shape.kernelWidth
      let weights = problem.packed {
        VectorPanelWeights(rows: shape.outputChannels, depth: depth, weights: $0, rowStride: depth, bias: $1, panelRows: 16)
      }
      let planesCount = ConvolutionKernels.phasePlanesCount(shape) + ConvolutionKernels.blockedPhasePlanesSlack
      let planes = AlignedBuffer(count: planesCount)
      planes.pointer.update(repeating: 0, count: planesCount)
      let outputPixels = shape.outputHeight * shape.outputWidth
      let count = shape.outputChannels * outputPixels
      var output = [Float](repeating: .nan, count: count) + [Float](repeating: guardValue, count: guardCount)
      let columns = ConvolutionKernels.phasePlanesColumns(shape)
      let split = columns / 12 * 6
      problem.input.withUnsafeBufferPointer { input in
        ConvolutionKernels.conv2dPhasePlanesScatter(
          shape, input: input.baseAddress!, planes: planes.pointer, channels: 0..<shape.inputChannels)
      }
      output.withUnsafeMutableBufferPointer { output in
        for range in [split..<columns, 0..<split] {
          ConvolutionKernels.blockedPhasePlaneConv2d(
            shape, planes: planes.pointer, weights: weights, output: output.baseAddress!, clamp: clamp, columns: range)
        }
      }
      expectClose(
        unpack(Array(output[..<count]), channels: shape.outputChannels, pixels: outputPixels), problem.expected,
        tolerance: 1e-5, "\(shape) \(clamp)")
      #expect(output[count...].allSatisfy { $0 == guardValue }, "wrote past the output: \(shape)")
    }
    #expect(ConvolutionKernels.takesBlockedPhasePlanes(shapes[0]))
  }
}

/// `blockedWinograd` against the NCHW Winograd kernel (bit for bit: the same transforms per lane
/// and the same sums, Note [Channel-blocked Winograd]) and the direct reference, with the tile
/// rows in two chunks computed in reverse order, and nothing written past the output or the
/// scratch.
@Suite struct BlockedWinogradTests {
  @Test(arguments: [2, 4])
  func matchesTheNCHWKernel(tileSize: Int) {
    let cases: [(Conv2DShape, OutputClamp)] = [
      (convShape(16, 64, height: 13, width: 13, kernel: 3, padding: 1), .relu),
      (convShape(8, 16, height: 9, width: 11, kernel: 3, padding: 1), .none),
      (convShape(24, 8, height: 7, width: 6, kernel: 3, padding: 0), .relu6),
      (convShape(8, 24, height: 20, width: 17, kernel: 3, padding: 1), .hardswish),
      (convShape(32, 16, height: 5, width: 5, kernel: 3, padding: 1), .relu),
    ]
    for (index, (shape, clamp)) in cases.enumerated() {
      let problem = ConvolutionProblem(shape, hasBias: index != 1, clamp: clamp, seed: UInt64(index + 21))
      let nchwWeights = problem.packed { WinogradWeights(shape, tileSize: tileSize, weight: $0, bias: $1) }
      let blockedWeights = problem.packed { BlockedWinogradWeights(shape, tileSize: tileSize, weight: $0, bias: $1) }
      let outputPixels = shape.outputHeight * shape.outputWidth
      let count = shape.outputChannels * outputPixels
      var nchw = [Float](repeating: .nan, count: count)
      let scratch = AlignedBuffer(count: ConvolutionKernels.winogradScratchCount(shape, tileSize: tileSize))
      problem.input.withUnsafeBufferPointer { input in
        nchw.withUnsafeMutableBufferPointer {
          ConvolutionKernels.conv2dWinograd(
            shape, input: input.baseAddress!, weights: nchwWeights, output: $0.baseAddress!, clamp: clamp,
            scratch: scratch.pointer)
        }
      }
      let tileRows = ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
      let split = tileRows / 2
      let blockedScratchCount = ConvolutionKernels.blockedWinogradScratchCount(
        shape, tileSize: tileSize, tileRows: max(split, tileRows - split))
      let blockedScratch = AlignedBuffer(count: blockedScratchCount + guardCount)
      (blockedScratch.pointer + blockedScratchCount).update(repeating: guardValue, count: guardCount)
      let input = pack(problem.input, channels: shape.inputChannels, pixels: shape.inputHeight * shape.inputWidth)
      var output = [Float](repeating: .nan, count: count) + [Float](repeating: guardValue, count: guardCount)
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          for rows in [split..<tileRows, 0..<split] {
            ConvolutionKernels.blockedWinograd(
              shape, input: input.baseAddress!, weights: blockedWeights, output: output.baseAddress!, clamp: clamp,
              tileRows: rows, scratch: blockedScratch.pointer)
          }
        }
      }
      let label = "\(shape) F(\(tileSize)) \(clamp)"
      let result = unpack(Array(output[..<count]), channels: shape.outputChannels, pixels: outputPixels)
      #expect(result == nchw, "differs from the NCHW Winograd kernel: \(label)")
      expectClose(result, problem.expected, tolerance: tileSize == 4 ? 1e-4 : 1e-5, label)
      #expect(output[count...].allSatisfy { $0 == guardValue }, "wrote past the output: \(label)")
      #expect(
        UnsafeBufferPointer(start: blockedScratch.pointer + blockedScratchCount, count: guardCount).allSatisfy {
          $0 == guardValue
        }, "wrote past the scratch: \(label)")
    }
  }

  /// The three steps, split as threads share them (input blocks, positions and output blocks in
  /// uneven parts, last part first) on one V and M, give the whole chunk's floats, and write
  /// nothing past the steps' scratch or the output.
  @Test(arguments: [2, 4])
  func stepsComposeToTheWholeChunk(tileSize: Int) {
    let cases: [(Conv2DShape, OutputClamp)] = [
      (convShape(128, 16, height: 10, width: 9, kernel: 3, padding: 1), .relu),
      (convShape(24, 40, height: 7, width: 8, kernel: 3, padding: 0), .hardswish),
      (convShape(16, 24, height: 5, width: 13, kernel: 3, padding: 1), .none),
    ]
    for (index, (shape, clamp)) in cases.enumerated() {
      let problem = ConvolutionProblem(shape, hasBias: index != 2, clamp: clamp, seed: UInt64(index + 41))
      let weights = problem.packed { BlockedWinogradWeights(shape, tileSize: tileSize, weight: $0, bias: $1) }
      let tileRows = ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
      let count = shape.outputChannels * shape.outputHeight * shape.outputWidth
      let input = pack(problem.input, channels: shape.inputChannels, pixels: shape.inputHeight * shape.inputWidth)
      let label = "\(shape) F(\(tileSize)) \(clamp)"
      var whole = [Float](repeating: .nan, count: count)
      let scratch = AlignedBuffer(
        count: ConvolutionKernels.blockedWinogradScratchCount(shape, tileSize: tileSize, tileRows: tileRows))
      input.withUnsafeBufferPointer { input in
        whole.withUnsafeMutableBufferPointer {
          ConvolutionKernels.blockedWinograd(
            shape, input: input.baseAddress!, weights: weights, output: $0.baseAddress!, clamp: clamp,
            tileRows: 0..<tileRows, scratch: scratch.pointer)
        }
      }
      let stepsCount = ConvolutionKernels.blockedWinogradStepsCount(shape, tileSize: tileSize, tileRows: tileRows)
      let steps = AlignedBuffer(count: stepsCount + guardCount)
      (steps.pointer + stepsCount).update(repeating: guardValue, count: guardCount)
      let gemmScratch = AlignedBuffer(count: ConvolutionKernels.blockedPointwiseScratchCount(depth: shape.inputChannels))
      var split = [Float](repeating: .nan, count: count) + [Float](repeating: guardValue, count: guardCount)
      // `0..<n` in two uneven parts, the last one first.
      func parts(_ n: Int) -> [Range<Int>] { let k = max(1, n / 3); return [k..<n, 0..<k] }
      input.withUnsafeBufferPointer { input in
        split.withUnsafeMutableBufferPointer { output in
          for blocks in parts(shape.inputChannels / 8) {
            ConvolutionKernels.blockedWinogradInputTransform(
              shape, weights: weights, input: input.baseAddress!, steps: steps.pointer, blocks: blocks,
              tileRows: 0..<tileRows)
          }
          for positions in parts(weights.positions) {
            ConvolutionKernels.blockedWinogradGEMM(
              shape, weights: weights, steps: steps.pointer, positions: positions, tileRows: tileRows,
              scratch: gemmScratch.pointer)
          }
          for blocks in parts(shape.outputChannels / 8) {
            ConvolutionKernels.blockedWinogradOutputTransform(
              shape, weights: weights, steps: UnsafePointer(steps.pointer), output: output.baseAddress!, clamp: clamp,
              blocks: blocks, tileRows: 0..<tileRows)
          }
        }
      }
      let differing = zip(split[..<count], whole).filter { $0.0 != $0.1 }.count
      #expect(differing == 0, "\(differing) floats differ from the whole chunk's: \(label)")
      let result = unpack(Array(split[..<count]), channels: shape.outputChannels, pixels: count / shape.outputChannels)
      // F(2×2) over 128 input channels rounds to a few 1e-5 of an output (the NCHW kernel's floats).
      expectClose(result, problem.expected, tolerance: 1e-4, label)
      #expect(split[count...].allSatisfy { $0 == guardValue }, "wrote past the output: \(label)")
      #expect(
        UnsafeBufferPointer(start: steps.pointer + stepsCount, count: guardCount).allSatisfy { $0 == guardValue },
        "wrote past the steps' scratch: \(label)")
    }
  }
}
