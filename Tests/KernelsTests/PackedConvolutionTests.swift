@testable import Kernels
import Testing

/// Checks `conv2d` (packed weights, implicit im2col) against `conv2dReference` for one shape,
/// splitting output channels and pixels into parts that must compose.
struct PackedConvolutionTester {
  var shape: Conv2DShape
  var hasBias = true
  var clamp = OutputClamp.none
  /// Boundaries splitting output channels (each part is one call); empty for one call.
  var channelSplits: [Int] = []
  /// Boundaries splitting output pixels.
  var pixelSplits: [Int] = []
  var tiling = GEMMTiling.standard
  var seed: UInt64 = 1

  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    let problem = ConvolutionProblem(shape, hasBias: hasBias, clamp: clamp, seed: seed)
    let (input, expected) = (problem.input, problem.expected)
    let packed = problem.packed { PackedWeights(convolution: shape, weight: $0, bias: $1) }
    let scratch = AlignedBuffer(count: tiling.scratchCount(depth: packed.depth))
    let channelBounds = [0] + channelSplits + [shape.outputChannels]
    let pixelBounds = [0] + pixelSplits + [shape.outputHeight * shape.outputWidth]
    var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        // Last parts first: a part that writes past its range is caught, not overwritten.
        for c in (0..<channelBounds.count - 1).reversed() {
          for p in (0..<pixelBounds.count - 1).reversed() {
            ConvolutionKernels.conv2d(
              shape, input: input.baseAddress!, weights: packed, output: output.baseAddress!, clamp: clamp,
              outputChannels: channelBounds[c]..<channelBounds[c + 1], pixels: pixelBounds[p]..<pixelBounds[p + 1],
              scratch: scratch.pointer, tiling: tiling)
          }
        }
      }
    }
    expectClose(output, expected, tolerance: 1e-5, "\(shape)", sourceLocation: sourceLocation)
  }
}

/// A square-kernel shape with symmetric settings.
func convShape(
  batch: Int = 1, _ inputChannels: Int, _ outputChannels: Int, height: Int, width: Int, kernel: Int,
  stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1
) -> Conv2DShape {
  Conv2DShape(
    batch: batch, inputChannels: inputChannels, outputChannels: outputChannels, inputHeight: height,
    inputWidth: width, kernelHeight: kernel, kernelWidth: kernel, stride: (stride, stride),
    padding: (padding, padding), dilation: (dilation, dilation), groups: groups)
}

@Suite struct PackedConvolutionTests {
  /// 1×1 convolutions (the direct matrix path) over odd plane sizes and channel counts.
  @Test(arguments: edgeSizes)
  func pointwise(width: Int) {
    PackedConvolutionTester(shape: convShape(5, 7, height: 3, width: width, kernel: 1), seed: UInt64(width)).test()
    PackedConvolutionTester(
      shape: convShape(batch: 2, 13, 17, height: 1, width: width, kernel: 1), clamp: .relu6, channelSplits: [5],
      pixelSplits: [width / 2], seed: UInt64(width) + 50
    ).test()
  }

  /// 3×3 convolutions through implicit im2col, strides 1 and 2, paddings 0 to 2, odd widths.
  /// 1×1 convolutions of a single pixel run the matrix-vector product.
  @Test(arguments: [1, 5, 6, 7, 13, 40])
  func pointwiseSinglePixel(channels: Int) {
    PackedConvolutionTester(shape: convShape(channels + 3, channels, height: 1, width: 1, kernel: 1), seed: UInt64(channels)).test()
    PackedConvolutionTester(
      shape: convShape(batch: 2, 2 * channels + 1, channels, height: 1, width: 1, kernel: 1), hasBias: false,
      clamp: .hardtanh(-0.5, 0.5), channelSplits: channels > 2 ? [channels / 3, channels / 2] : [],
      seed: UInt64(channels) + 7
    ).test()
  }

  @Test(arguments: Array(1...19))
  func threeByThree(width: Int) {
    for (stride, padding) in [(1, 1), (2, 1), (1, 0), (2, 2)] where width + 2 * padding >= 3 {
      PackedConvolutionTester(
        shape: convShape(3, 8, height: 5, width: width, kernel: 3, stride: stride, padding: padding),
        clamp: stride == 2 ? .relu : .none, seed: UInt64(width * 10 + stride + padding)
      ).test()
    }
  }

  @Test func stridedDilatedGroupedAndAsymmetric() {
    let shapes: [Conv2DShape] = [
      convShape(4, 6, height: 9, width: 11, kernel: 1, stride: 2),  // 1×1 strided: im2col subsamples
      convShape(4, 6, height: 8, width: 8, kernel: 1, padding: 1),  // 1×1 padded
      convShape(3, 5, height: 11, width: 10, kernel: 3, padding: 2, dilation: 2),
      convShape(6, 9, height: 7, width: 9, kernel: 3, padding: 1, groups: 3),
      convShape(8, 8, height: 6, width: 7, kernel: 3, stride: 2, padding: 1, groups: 4),
      convShape(4, 4, height: 6, width: 6, kernel: 3, padding: 1, groups: 4),  // depthwise through the GEMM
      convShape(2, 3, height: 12, width: 13, kernel: 5, stride: 3, padding: 2),
      convShape(3, 16, height: 16, width: 16, kernel: 3, stride: 2, padding: 1),  // a stem
      Conv2DShape(
        batch: 2, inputChannels: 3, outputChannels: 4, inputHeight: 7, inputWidth: 9, kernelHeight: 2, kernelWidth: 4,
        stride: (1, 2), padding: (1, 0), dilation: (2, 1)),
    ]
    for (index, shape) in shapes.enumerated() {
      PackedConvolutionTester(shape: shape, clamp: clamps[index % clamps.count], seed: UInt64(index)).test()
      PackedConvolutionTester(
        shape: shape, hasBias: false, channelSplits: [shape.outputChannels / 2 + 1].filter { $0 < shape.outputChannels },
        pixelSplits: [3], tiling: smallTiling, seed: UInt64(index) + 20
      ).test()
    }
    // padding='same' with an even kernel: more padding after than before.
    var same = try! Conv2DShape.conv2d(
      input: [1, 3, 6, 7], weight: [4, 3, 4, 2], stride: [1], padding: .same, dilation: [1], groups: 1)
    #expect(same.paddingBottom != same.paddingTop)
    PackedConvolutionTester(shape: same, clamp: .relu).test()
    same.batch = 2
    PackedConvolutionTester(shape: same, pixelSplits: [10, 11], tiling: smallTiling).test()
  }

  /// Channel and pixel splits (including splits inside a group and inside a 6-row panel) give
  /// bit-identical outputs.
  @Test func splitsComposeExactly() {
    let shape = convShape(batch: 2, 6, 14, height: 9, width: 9, kernel: 3, padding: 1, groups: 2)
    var generator = SeededGenerator(seed: 5)
    let input = generator.floats(shape.inputShape.elementCount)
    let weight = generator.floats(shape.weightShape.elementCount)
    let packed = weight.withUnsafeBufferPointer {
      PackedWeights(convolution: shape, weight: $0.baseAddress!, bias: nil)
    }
    let scratch = AlignedBuffer(count: ConvolutionKernels.conv2dScratchCount(shape))
    func run(_ channels: [Range<Int>], _ pixels: [Range<Int>]) -> [Float] {
      var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          for channelRange in channels {
            for pixelRange in pixels {
              ConvolutionKernels.conv2d(
                shape, input: input.baseAddress!, weights: packed, output: output.baseAddress!, clamp: .relu,
                outputChannels: channelRange, pixels: pixelRange, scratch: scratch.pointer)
            }
          }
        }
      }
      return output
    }
    let whole = run([0..<14], [0..<81])
    #expect(run([0..<3, 3..<9, 9..<14], [0..<81]) == whole)
    #expect(run([0..<14], [0..<17, 17..<50, 50..<81]) == whole)
    #expect(run([0..<7, 7..<14], [0..<40, 40..<81]) == whole)
  }

  /// `im2col` + `packedGEMM` per image and group is `conv2d`.
  @Test func explicitIm2colMatchesReference() {
    let shapes = [
      convShape(batch: 2, 4, 6, height: 7, width: 9, kernel: 3, stride: 2, padding: 1, groups: 2),
      convShape(3, 5, height: 5, width: 5, kernel: 3, padding: 2, dilation: 2),
      convShape(2, 3, height: 4, width: 6, kernel: 1, stride: 2),
    ]
    for (index, shape) in shapes.enumerated() {
      var generator = SeededGenerator(seed: UInt64(index) + 300)
      let input = generator.floats(shape.inputShape.elementCount)
      let weight = generator.floats(shape.weightShape.elementCount)
      let bias = generator.floats(shape.outputChannels)
      let expected = conv2d(shape, input, weight, bias: bias, clamp: .relu6)
      let packed = weight.withUnsafeBufferPointer { weight in
        bias.withUnsafeBufferPointer { PackedWeights(convolution: shape, weight: weight.baseAddress!, bias: $0.baseAddress!) }
      }
      let plane = shape.outputHeight * shape.outputWidth
      var columns = [Float](repeating: .nan, count: ConvolutionKernels.im2colCount(shape))
      var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
      let scratch = AlignedBuffer(count: GEMMKernels.packedGEMMScratchCount(depth: packed.depth))
      input.withUnsafeBufferPointer { input in
        columns.withUnsafeMutableBufferPointer { columns in
          output.withUnsafeMutableBufferPointer { output in
            for image in 0..<shape.batch {
              for group in 0..<shape.groups {
                ConvolutionKernels.im2col(
                  shape, input: input.baseAddress! + image * shape.inputChannels * shape.inputHeight * shape.inputWidth,
                  columns: columns.baseAddress!, group: group)
                GEMMKernels.packedGEMM(
                  weights: packed, group: group, b: columns.baseAddress!, bRowStride: plane, n: plane,
                  c: output.baseAddress! + (image * shape.outputChannels + group * shape.outputChannelsPerGroup) * plane,
                  cRowStride: plane, clamp: .relu6, scratch: scratch.pointer)
              }
            }
          }
        }
      }
      expectClose(output, expected, tolerance: 1e-5, "\(shape)")
    }
  }

  // MARK: - Transposed convolution

  @Test func transposedMatchesReference() throws {
    let shapes: [ConvTranspose2DShape] = [
      ConvTranspose2DShape(batch: 1, inputChannels: 3, outputChannels: 4, inputHeight: 5, inputWidth: 6, kernelHeight: 3, kernelWidth: 3),
      ConvTranspose2DShape(
        batch: 2, inputChannels: 4, outputChannels: 6, inputHeight: 4, inputWidth: 7, kernelHeight: 3, kernelWidth: 3,
        stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), groups: 2),
      ConvTranspose2DShape(
        batch: 1, inputChannels: 2, outputChannels: 3, inputHeight: 6, inputWidth: 5, kernelHeight: 4, kernelWidth: 4,
        stride: (2, 2), padding: (1, 1)),
      ConvTranspose2DShape(
        batch: 1, inputChannels: 3, outputChannels: 2, inputHeight: 5, inputWidth: 5, kernelHeight: 3, kernelWidth: 2,
        stride: (1, 3), padding: (2, 0), outputPadding: (0, 1), dilation: (2, 1)),
      // Enough channels and pixels for several channel chunks and pixel blocks.
      ConvTranspose2DShape(
        batch: 1, inputChannels: 5, outputChannels: 40, inputHeight: 17, inputWidth: 19, kernelHeight: 3, kernelWidth: 3,
        stride: (2, 2), padding: (1, 1), outputPadding: (1, 1)),
    ]
    for (index, shape) in shapes.enumerated() {
      try shape.validate()
      var generator = SeededGenerator(seed: UInt64(index) + 400)
      let input = generator.floats(shape.inputShape.elementCount)
      let weight = generator.floats(shape.weightShape.elementCount)
      let bias = generator.floats(shape.outputChannels)
      let clamp = clamps[index % clamps.count]
      let expected = convTranspose2d(shape, input, weight, bias: index % 2 == 0 ? bias : nil, clamp: clamp)
      let packed = weight.withUnsafeBufferPointer { PackedWeights(transposedConvolution: shape, weight: $0.baseAddress!) }
      let scratch = AlignedBuffer(count: ConvolutionKernels.convTranspose2dScratchCount(shape))
      var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
      let middle = shape.outputChannels / 2 + 1
      input.withUnsafeBufferPointer { input in
        bias.withUnsafeBufferPointer { bias in
          output.withUnsafeMutableBufferPointer { output in
            for channels in [0..<middle, middle..<shape.outputChannels] {
              ConvolutionKernels.convTranspose2d(
                shape, input: input.baseAddress!, weights: packed, bias: index % 2 == 0 ? bias.baseAddress! : nil,
                output: output.baseAddress!, clamp: clamp, outputChannels: channels, scratch: scratch.pointer)
            }
          }
        }
      }
      expectClose(output, expected, tolerance: 1e-5, "\(shape)")
    }
  }
}

/// Checks the phase-plane convolution (scatter, then GEMM into the output; Note [Phase-plane
/// GEMM]) against `conv2dReference`, each step split into parts run last-first: input channels
/// for the scatter, output channels or flat columns for the GEMM. Column parts must write
/// exactly the pixels `phasePlanesPixels` names.
struct PhasePlaneConvolutionTester {
  var shape: Conv2DShape
  var hasBias = true
  var clamp = OutputClamp.none
  var inputSplits: [Int] = []
  var channelSplits: [Int] = []
  var columnSplits: [Int] = []
  var seed: UInt64 = 1

  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    let problem = ConvolutionProblem(shape, hasBias: hasBias, clamp: clamp, seed: seed)
    let (input, expected) = (problem.input, problem.expected)
    let packed = problem.packed { PackedWeights(convolution: shape, weight: $0, bias: $1) }
    // Stale values in the scratch must not leak into the result.
    let planes = AlignedBuffer(count: ConvolutionKernels.phasePlanesCount(shape))
    planes.pointer.update(repeating: .nan, count: ConvolutionKernels.phasePlanesCount(shape))
    let scratch = AlignedBuffer(count: ConvolutionKernels.conv2dScratchCount(shape))
    func parts(_ splits: [Int], _ count: Int) -> [Range<Int>] {
      let bounds = [0] + splits + [count]
      return (0..<bounds.count - 1).reversed().map { bounds[$0]..<bounds[$0 + 1] }
    }
    let inputPlane = shape.inputChannels * shape.inputHeight * shape.inputWidth
    let outputPixels = shape.outputHeight * shape.outputWidth
    var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        for image in 0..<shape.batch {
          let imageOutput = output.baseAddress! + image * shape.outputChannels * outputPixels
          for part in parts(inputSplits, shape.inputChannels) {
            ConvolutionKernels.conv2dPhasePlanesScatter(
              shape, input: input.baseAddress! + image * inputPlane, planes: planes.pointer, channels: part)
          }
          if columnSplits.isEmpty {
            for part in parts(channelSplits, shape.outputChannels) {
              ConvolutionKernels.conv2dPhasePlanesGEMM(
                shape, planes: planes.pointer, weights: packed, output: imageOutput, clamp: clamp,
                outputChannels: part, scratch: scratch.pointer)
            }
          } else {
            for part in parts(columnSplits, ConvolutionKernels.phasePlanesColumns(shape)) {
              // Only the part's pixels change.
              let pixels = ConvolutionKernels.phasePlanesPixels(shape, columns: part)
              let before = Array(UnsafeBufferPointer(start: imageOutput, count: shape.outputChannels * outputPixels))
              ConvolutionKernels.conv2dPhasePlanesGEMM(
                shape, planes: planes.pointer, weights: packed, output: imageOutput, clamp: clamp, columns: part,
                scratch: scratch.pointer)
              for index in before.indices where !pixels.contains(index % outputPixels) {
                #expect(
                  before[index].bitPattern == imageOutput[index].bitPattern, "pixel \(index) outside \(pixels)",
                  sourceLocation: sourceLocation)
              }
            }
          }
        }
      }
    }
    expectClose(output, expected, tolerance: 1e-5, "\(shape)", sourceLocation: sourceLocation)
  }
}

@Suite struct PhasePlaneConvolutionTests {
  /// 3×3 and 5×5 kernels, strides 1 and 2, paddings 0 to 2, at every width up to 19.
  @Test(arguments: Array(1...19))
  func kernelsStridesPaddings(width: Int) {
    for (kernel, stride, padding) in [(3, 1, 1), (3, 2, 1), (3, 1, 0), (3, 2, 2), (5, 2, 2), (7, 2, 3)]
    where width + 2 * padding >= kernel {
      PhasePlaneConvolutionTester(
        shape: convShape(3, 8, height: 6, width: width, kernel: kernel, stride: stride, padding: padding),
        clamp: clamps[width % clamps.count], inputSplits: [1], channelSplits: [5], seed: UInt64(width * 10 + stride + padding)
      ).test()
    }
  }

  @Test func columnSplitsBatchesGroupsDilation() {
    PhasePlaneConvolutionTester(
      shape: convShape(batch: 2, 4, 13, height: 9, width: 21, kernel: 3, padding: 1), clamp: .relu6,
      columnSplits: [16, 48, 64]
    ).test()
    PhasePlaneConvolutionTester(
      shape: convShape(6, 9, height: 11, width: 17, kernel: 3, stride: 2, padding: 1, groups: 3), hasBias: false,
      channelSplits: [2, 4]
    ).test()
    PhasePlaneConvolutionTester(
      shape: convShape(4, 7, height: 12, width: 23, kernel: 3, padding: 2, dilation: 2), clamp: .relu,
      columnSplits: [32]
    ).test()
    // Deep enough for two depth blocks of the GEMM (40 · 9 = 360 > 256).
    PhasePlaneConvolutionTester(shape: convShape(40, 7, height: 8, width: 19, kernel: 3, padding: 1)).test()
  }

  /// Every convolution that is neither pointwise nor depthwise runs on phase planes; the GEMM
  /// reads them in place only where junk columns stay under a tenth of the work.
  @Test func chosenForWideOutputsOnly() {
    let wide = [
      convShape(64, 64, height: 56, width: 56, kernel: 3, padding: 1),
      convShape(3, 32, height: 224, width: 224, kernel: 3, stride: 2, padding: 1),
    ]
    let narrow = [
      convShape(512, 512, height: 7, width: 7, kernel: 3, padding: 1),
      convShape(256, 512, height: 14, width: 14, kernel: 3, stride: 2, padding: 1),
    ]
    for shape in wide + narrow { #expect(ConvolutionKernels.prefersPhasePlanes(shape)) }
    for shape in wide { #expect(ConvolutionKernels.readsPlanesInPlace(shape)) }
    for shape in narrow {
      #expect(!ConvolutionKernels.readsPlanesInPlace(shape))
      #expect(ConvolutionKernels.phasePlanesColumns(shape) == shape.outputHeight * shape.outputWidth)
    }
    #expect(!ConvolutionKernels.prefersPhasePlanes(convShape(8, 8, height: 9, width: 9, kernel: 3, padding: 1, groups: 8)))
    #expect(!ConvolutionKernels.prefersPhasePlanes(convShape(16, 16, height: 8, width: 8, kernel: 1)))
  }
}

/// Checks the Winograd convolution (Note [Winograd F(2×2, 3×3)]) against `conv2dReference`, its
/// three steps split into parts run last-first: input channels for the input transform,
/// positions and output channels for the GEMMs, output channels for the output transform.
/// Scratch starts as NaN, so a value a step fails to write shows up in the result.
struct WinogradConvolutionTester {
  var shape: Conv2DShape
  var tileSize = 2
  var hasBias = true
  var clamp = OutputClamp.none
  var inputSplits: [Int] = []
  var positionSplits: [Int] = []
  var channelSplits: [Int] = []
  var seed: UInt64 = 1
  var tolerance = 1e-5

  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    let problem = ConvolutionProblem(shape, hasBias: hasBias, clamp: clamp, seed: seed)
    let weights = problem.packed { WinogradWeights(shape, tileSize: tileSize, weight: $0, bias: $1) }
    let tileRows = ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
    let transformed = AlignedBuffer(
      count: ConvolutionKernels.winogradInputCount(shape, tileSize: tileSize, tileRows: tileRows))
    let products = AlignedBuffer(
      count: ConvolutionKernels.winogradProductCount(shape, tileSize: tileSize, tileRows: tileRows))
    let inputScratch = AlignedBuffer(
      count: ConvolutionKernels.winogradInputScratchCount(shape, tileSize: tileSize, tileRows: tileRows))
    let gemmScratch = AlignedBuffer(count: ConvolutionKernels.winogradGEMMScratchCount(shape))
    for buffer in [transformed, products, inputScratch, gemmScratch] {
      buffer.pointer.update(repeating: .nan, count: buffer.count)
    }
    func parts(_ splits: [Int], _ count: Int) -> [Range<Int>] {
      let bounds = [0] + splits + [count]
      return (0..<bounds.count - 1).reversed().map { bounds[$0]..<bounds[$0 + 1] }
    }
    let inputImage = shape.inputChannels * shape.inputHeight * shape.inputWidth
    let outputImage = shape.outputChannels * shape.outputHeight * shape.outputWidth
    var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
    var chunked = output
    problem.input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        for image in 0..<shape.batch {
          // The whole plane as one chunk, each step split.
          let rows = 0..<tileRows
          for part in parts(inputSplits, shape.inputChannels) {
            ConvolutionKernels.winogradInputTransform(
              shape, tileSize: tileSize, input: input.baseAddress! + image * inputImage, transformed: transformed.pointer, channels: part,
              tileRows: rows, scratch: inputScratch.pointer)
          }
          for positions in parts(positionSplits, weights.positions) {
            for channels in parts(channelSplits, shape.outputChannels) {
              ConvolutionKernels.winogradGEMM(
                shape, weights: weights, transformed: transformed.pointer, products: products.pointer,
                positions: positions, outputChannels: channels, tileRows: tileRows, scratch: gemmScratch.pointer)
            }
          }
          for channels in parts(channelSplits, shape.outputChannels) {
            ConvolutionKernels.winogradOutputTransform(
              shape, products: products.pointer, weights: weights, output: output.baseAddress! + image * outputImage,
              clamp: clamp, outputChannels: channels, tileRows: rows)
          }
        }
      }
      // Chunk by chunk, last chunk first: the runtime's chunks, and chunks of one tile row.
      for chunkRows in [ConvolutionKernels.winogradChunkRows(shape, tileSize: tileSize), 1] {
        chunked.withUnsafeMutableBufferPointer { chunked in
          let scratch = AlignedBuffer(
            count: ConvolutionKernels.winogradScratchCount(shape, tileSize: tileSize, tileRows: chunkRows))
          scratch.pointer.update(repeating: .nan, count: scratch.count)
          for image in 0..<shape.batch {
            for first in stride(from: 0, to: tileRows, by: chunkRows).reversed() {
              ConvolutionKernels.winogradChunk(
                shape, input: input.baseAddress! + image * inputImage, weights: weights,
                output: chunked.baseAddress! + image * outputImage, clamp: clamp,
                tileRows: first..<min(first + chunkRows, tileRows), scratch: scratch.pointer)
            }
          }
        }
        expectClose(
          chunked, problem.expected, tolerance: tolerance, "F(\(tileSize)) \(shape) by chunks of \(chunkRows)",
          sourceLocation: sourceLocation)
        chunked = [Float](repeating: .nan, count: chunked.count)
      }
    }
    expectClose(output, problem.expected, tolerance: tolerance, "F(\(tileSize)) \(shape)", sourceLocation: sourceLocation)
  }
}

@Suite struct WinogradConvolutionTests {
  /// Every output width from 1 to 19 (odd ones end in half tiles; 17 and more need a second
  /// group of eight tiles), paddings 0 to 2, odd and even heights.
  @Test(arguments: Array(1...19))
  func widthsAndPaddings(width: Int) {
    for padding in 0...2 where width + 2 * padding >= 3 {
      for height in [3, 6, 9] where height + 2 * padding >= 3 {
        WinogradConvolutionTester(
          shape: convShape(5, 7, height: height, width: width, kernel: 3, padding: padding),
          clamp: clamps[(width + height) % clamps.count], inputSplits: [2], positionSplits: [5], channelSplits: [3],
          seed: UInt64(width * 100 + height * 10 + padding)
        ).test()
      }
    }
  }

  @Test func batchesBiasUnevenPaddingAndDeepProducts() {
    WinogradConvolutionTester(
      shape: convShape(batch: 2, 8, 16, height: 10, width: 21, kernel: 3, padding: 1), clamp: .relu6).test()
    WinogradConvolutionTester(
      shape: convShape(9, 13, height: 7, width: 12, kernel: 3, padding: 1), hasBias: false,
      positionSplits: [1, 15], channelSplits: [6, 7]
    ).test()
    // Padding only on the bottom and right (a "same" string padding of an even size).
    var uneven = convShape(6, 10, height: 8, width: 11, kernel: 3)
    (uneven.paddingBottom, uneven.paddingRight) = (2, 2)
    WinogradConvolutionTester(shape: uneven, clamp: .hardtanh(-0.25, 0.5)).test()
    var top = convShape(6, 10, height: 9, width: 8, kernel: 3)
    (top.paddingTop, top.paddingLeft, top.paddingRight) = (2, 1, 0)
    WinogradConvolutionTester(shape: top).test()
    // Deep enough for two depth blocks of each GEMM (300 > 256). Float rounding grows with the
    // depth, and the transformed terms are sums of up to four products, so 2,700 unscaled
    // products of magnitude up to 1 summing to about 1 differ from the double reference by
    // up to 3e-5 (a wrong term would be off by about 0.1).
    WinogradConvolutionTester(
      shape: convShape(300, 20, height: 6, width: 6, kernel: 3, padding: 1), tolerance: 5e-5
    ).test()
  }

  /// F(4×4): output widths across the phase split (short rows take the scalar scatter), one
  /// group of eight tiles and its partial last group, two groups (33 to 64 pixels) and a last
  /// group that overlaps the one before; paddings 0 to 2, heights that end in partial tiles.
  @Test(arguments: [1, 2, 3, 4, 5, 7, 8, 12, 13, 15, 16, 17, 20, 29, 31, 32, 33, 36, 40, 47, 55, 64])
  func largeTileWidths(width: Int) {
    for padding in 0...2 where width + 2 * padding >= 3 {
      for height in [3, 5, 8, 10] where height + 2 * padding >= 3 {
        WinogradConvolutionTester(
          shape: convShape(5, 7, height: height, width: width, kernel: 3, padding: padding), tileSize: 4,
          clamp: clamps[(width + height) % clamps.count], inputSplits: [2], positionSplits: [5, 20], channelSplits: [3],
          seed: UInt64(width * 100 + height * 10 + padding), tolerance: 5e-5
        ).test()
      }
    }
  }

  /// F(4×4) on batches, uneven paddings, several chunks, and depths of real layers. Its
  /// transforms scale by 4, 5 and 8 and U's entries by 1/6 and 1/24, so it rounds about ten
  /// times more than F(2×2) on these unscaled random values (up to 1 in magnitude, sums of 45
  /// to 2,700 products): up to about 2e-5 of 1 + |reference| for 5 and 8 input channels, 4e-5
  /// for 16 and 1.2e-4 for 300, against errors of 0.1 and more from a wrong term.
  @Test func largeTileShapes() {
    WinogradConvolutionTester(
      shape: convShape(batch: 2, 8, 16, height: 18, width: 21, kernel: 3, padding: 1), tileSize: 4, clamp: .relu6,
      tolerance: 5e-5
    ).test()
    var uneven = convShape(6, 10, height: 16, width: 11, kernel: 3)
    (uneven.paddingBottom, uneven.paddingRight) = (2, 2)
    WinogradConvolutionTester(shape: uneven, tileSize: 4, clamp: .hardtanh(-0.25, 0.5), tolerance: 5e-5).test()
    var top = convShape(6, 10, height: 19, width: 8, kernel: 3)
    (top.paddingTop, top.paddingLeft, top.paddingRight) = (2, 1, 0)
    WinogradConvolutionTester(shape: top, tileSize: 4, tolerance: 5e-5).test()
    // SqueezeNet's first expand layer's depth on a smaller plane: chunks of 7 tile rows.
    WinogradConvolutionTester(
      shape: convShape(16, 24, height: 45, width: 55, kernel: 3, padding: 1), tileSize: 4, clamp: .relu,
      positionSplits: [7, 30], channelSplits: [6, 13], tolerance: 1e-4
    ).test()
    WinogradConvolutionTester(
      shape: convShape(300, 20, height: 9, width: 9, kernel: 3, padding: 1), tileSize: 4, tolerance: 3e-4
    ).test()
  }

  /// The runtime takes the Winograd path only for 3×3, stride-1, undilated, one-group
  /// convolutions with enough channels and pixels for the transforms to pay off, with 4×4
  /// tiles on planes of 14×14 and more.
  @Test func chosenShapes() {
    #expect(ConvolutionKernels.winogradTileSize(convShape(16, 64, height: 55, width: 55, kernel: 3, padding: 1)) == 4)
    #expect(ConvolutionKernels.winogradTileSize(convShape(256, 256, height: 14, width: 14, kernel: 3, padding: 1)) == 4)
    #expect(ConvolutionKernels.winogradTileSize(convShape(64, 256, height: 13, width: 13, kernel: 3, padding: 1)) == 2)
    #expect(ConvolutionKernels.winogradTileSize(convShape(512, 512, height: 7, width: 7, kernel: 3, padding: 1)) == 2)
    #expect(ConvolutionKernels.prefersWinograd(convShape(64, 64, height: 56, width: 56, kernel: 3, padding: 1)))
    #expect(ConvolutionKernels.prefersWinograd(convShape(16, 64, height: 55, width: 55, kernel: 3, padding: 1)))
    #expect(ConvolutionKernels.prefersWinograd(convShape(512, 512, height: 7, width: 7, kernel: 3, padding: 1)))
    #expect(!ConvolutionKernels.prefersWinograd(convShape(64, 64, height: 56, width: 56, kernel: 3, stride: 2, padding: 1)))
    #expect(!ConvolutionKernels.prefersWinograd(convShape(64, 64, height: 56, width: 56, kernel: 3, padding: 2, dilation: 2)))
    #expect(!ConvolutionKernels.prefersWinograd(convShape(64, 64, height: 56, width: 56, kernel: 3, padding: 1, groups: 2)))
    #expect(!ConvolutionKernels.prefersWinograd(convShape(3, 64, height: 56, width: 56, kernel: 3, padding: 1)))
    #expect(!ConvolutionKernels.prefersWinograd(convShape(64, 64, height: 56, width: 56, kernel: 5, padding: 2)))
    #expect(!ConvolutionKernels.prefersWinograd(convShape(64, 64, height: 3, width: 3, kernel: 3, padding: 1)))
  }
}
