import Kernels
import Testing

/// A random convolution (input, weight and bias drawn in that order from `seed`) and its
/// reference output, for the testers of the fast kernels.
struct ConvolutionProblem {
  let input: [Float]
  let weight: [Float]
  /// The bias, or nil when the problem has none (its values are drawn either way).
  let bias: [Float]?
  let expected: [Float]

  init(_ shape: Conv2DShape, hasBias: Bool, clamp: OutputClamp, seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    input = generator.floats(shape.inputShape.elementCount)
    weight = generator.floats(shape.weightShape.elementCount)
    let bias = generator.floats(shape.outputChannels)
    self.bias = hasBias ? bias : nil
    expected = conv2d(shape, input, weight, bias: self.bias, clamp: clamp)
  }

  /// The weights packed by `pack(weight, bias)`.
  func packed<Packed>(_ pack: (UnsafePointer<Float>, UnsafePointer<Float>?) -> Packed) -> Packed {
    weight.withUnsafeBufferPointer { weight in
      if let bias { return bias.withUnsafeBufferPointer { pack(weight.baseAddress!, $0.baseAddress!) } }
      return pack(weight.baseAddress!, nil)
    }
  }
}

/// Runs `conv2dReference` on arrays.
func conv2d(
  _ shape: Conv2DShape, _ input: [Float], _ weight: [Float], bias: [Float]? = nil, clamp: OutputClamp = .none
) -> [Float] {
  var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
  input.withUnsafeBufferPointer { input in
    weight.withUnsafeBufferPointer { weight in
      output.withUnsafeMutableBufferPointer { output in
        if let bias {
          bias.withUnsafeBufferPointer {
            ConvolutionKernels.conv2dReference(
              shape, input: input.baseAddress!, weight: weight.baseAddress!, bias: $0.baseAddress!,
              output: output.baseAddress!, clamp: clamp)
          }
        } else {
          ConvolutionKernels.conv2dReference(
            shape, input: input.baseAddress!, weight: weight.baseAddress!, bias: nil, output: output.baseAddress!,
            clamp: clamp)
        }
      }
    }
  }
  return output
}

/// Runs `convTranspose2dReference` on arrays.
func convTranspose2d(
  _ shape: ConvTranspose2DShape, _ input: [Float], _ weight: [Float], bias: [Float]? = nil,
  clamp: OutputClamp = .none
) -> [Float] {
  var output = [Float](repeating: .nan, count: shape.outputShape.elementCount)
  let biasStorage = bias ?? []
  input.withUnsafeBufferPointer { input in
    weight.withUnsafeBufferPointer { weight in
      biasStorage.withUnsafeBufferPointer { biasBuffer in
        output.withUnsafeMutableBufferPointer { output in
          ConvolutionKernels.convTranspose2dReference(
            shape, input: input.baseAddress!, weight: weight.baseAddress!,
            bias: bias == nil ? nil : biasBuffer.baseAddress!, output: output.baseAddress!, clamp: clamp)
        }
      }
    }
  }
  return output
}

/// Convolution straight from its definition: every output sums every tap, and a tap outside
/// the input contributes nothing.
func naiveConv2d(_ s: Conv2DShape, _ input: [Float], _ weight: [Float], bias: [Float]?) -> [Double] {
  let (oh, ow) = (s.outputHeight, s.outputWidth)
  let cinG = s.inputChannels / s.groups
  let coutG = s.outputChannels / s.groups
  var out = [Double](repeating: 0, count: s.batch * s.outputChannels * oh * ow)
  for n in 0..<s.batch {
    for oc in 0..<s.outputChannels {
      let g = oc / coutG
      for y in 0..<oh {
        for x in 0..<ow {
          var sum = Double(bias?[oc] ?? 0)
          for ci in 0..<cinG {
            for kh in 0..<s.kernelHeight {
              for kw in 0..<s.kernelWidth {
                let iy = y * s.strideHeight - s.paddingTop + kh * s.dilationHeight
                let ix = x * s.strideWidth - s.paddingLeft + kw * s.dilationWidth
                guard iy >= 0, iy < s.inputHeight, ix >= 0, ix < s.inputWidth else { continue }
                let c = g * cinG + ci
                let inValue = input[((n * s.inputChannels + c) * s.inputHeight + iy) * s.inputWidth + ix]
                let wValue = weight[((oc * cinG + ci) * s.kernelHeight + kh) * s.kernelWidth + kw]
                sum += Double(inValue) * Double(wValue)
              }
            }
          }
          out[((n * s.outputChannels + oc) * oh + y) * ow + x] = sum
        }
      }
    }
  }
  return out
}

/// Transposed convolution from its definition, written as a gather: output (oy, ox) receives
/// input (iy, ix) through tap (kh, kw) exactly when oy = iy·s − p + kh·d (and likewise for x).
func naiveConvTranspose2d(_ s: ConvTranspose2DShape, _ input: [Float], _ weight: [Float], bias: [Float]?) -> [Double] {
  let (oh, ow) = (s.outputHeight, s.outputWidth)
  let cinG = s.inputChannels / s.groups
  let coutG = s.outputChannels / s.groups
  var out = [Double](repeating: 0, count: s.batch * s.outputChannels * oh * ow)
  for n in 0..<s.batch {
    for oc in 0..<s.outputChannels {
      let g = oc / coutG
      let co = oc % coutG
      for y in 0..<oh {
        for x in 0..<ow {
          var sum = Double(bias?[oc] ?? 0)
          for ci in 0..<cinG {
            let c = g * cinG + ci
            for kh in 0..<s.kernelHeight {
              let rowNumerator = y + s.paddingHeight - kh * s.dilationHeight
              guard rowNumerator >= 0, rowNumerator % s.strideHeight == 0 else { continue }
              let iy = rowNumerator / s.strideHeight
              guard iy < s.inputHeight else { continue }
              for kw in 0..<s.kernelWidth {
                let columnNumerator = x + s.paddingWidth - kw * s.dilationWidth
                guard columnNumerator >= 0, columnNumerator % s.strideWidth == 0 else { continue }
                let ix = columnNumerator / s.strideWidth
                guard ix < s.inputWidth else { continue }
                let inValue = input[((n * s.inputChannels + c) * s.inputHeight + iy) * s.inputWidth + ix]
                let wValue = weight[((c * coutG + co) * s.kernelHeight + kh) * s.kernelWidth + kw]
                sum += Double(inValue) * Double(wValue)
              }
            }
          }
          out[((n * s.outputChannels + oc) * oh + y) * ow + x] = sum
        }
      }
    }
  }
  return out
}

@Suite struct ConvolutionTests {
  let nine: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]

  @Test func sumOfNeighbourhoodsWithPadding() throws {
    // A 3×3 all-ones kernel with padding 1 sums each pixel's in-image neighbourhood.
    let shape = Conv2DShape(
      batch: 1, inputChannels: 1, outputChannels: 1, inputHeight: 3, inputWidth: 3, kernelHeight: 3, kernelWidth: 3,
      padding: (1, 1))
    try shape.validate()
    #expect(shape.outputShape == [1, 1, 3, 3])
    expectClose(conv2d(shape, nine, [Float](repeating: 1, count: 9)), [12, 21, 16, 27, 45, 33, 24, 39, 28] as [Float])

    var strided = shape
    (strided.strideHeight, strided.strideWidth) = (2, 2)
    #expect(strided.outputShape == [1, 1, 2, 2])
    expectClose(conv2d(strided, nine, [Float](repeating: 1, count: 9)), [12, 16, 24, 28] as [Float])
  }

  @Test func diagonalDifferenceKernelWithBiasAndClamp() {
    // Kernel [[1, 0], [0, −1]]: x[i][j] − x[i+1][j+1] = −4 everywhere, plus bias 1.5.
    let shape = Conv2DShape(
      batch: 1, inputChannels: 1, outputChannels: 1, inputHeight: 3, inputWidth: 3, kernelHeight: 2, kernelWidth: 2)
    expectClose(conv2d(shape, nine, [1, 0, 0, -1], bias: [1.5]), [-2.5, -2.5, -2.5, -2.5] as [Float])
    expectClose(conv2d(shape, nine, [1, 0, 0, -1], bias: [1.5], clamp: .relu), [0, 0, 0, 0] as [Float])
    expectClose(conv2d(shape, nine, [-1, 0, 0, 1], clamp: .relu6), [4, 4, 4, 4] as [Float])
    expectClose(conv2d(shape, nine, [-1, 0, 0, 1], clamp: .hardtanh(-1, 3.5)), [3.5, 3.5, 3.5, 3.5] as [Float])
  }

  @Test func dilatedKernelReadsCornersAndCentre() {
    // 5×5 input 0..24, 3×3 kernel of ones with dilation 2: taps at rows/cols 0, 2, 4.
    let input = (0..<25).map(Float.init)
    let shape = Conv2DShape(
      batch: 1, inputChannels: 1, outputChannels: 1, inputHeight: 5, inputWidth: 5, kernelHeight: 3, kernelWidth: 3,
      dilation: (2, 2))
    #expect(shape.outputShape == [1, 1, 1, 1])
    let expected: Float = [0, 2, 4, 10, 12, 14, 20, 22, 24].reduce(0, +)
    expectClose(conv2d(shape, input, [Float](repeating: 1, count: 9)), [expected])
  }

  @Test func depthwiseChannelsUseTheirOwnKernel() {
    // Two channels, groups 2, 1×1 kernels 2 and −1, then 1×2 kernels.
    let input: [Float] = [1, 2, 3, 4, 10, 20, 30, 40]
    let pointwise = Conv2DShape(
      batch: 1, inputChannels: 2, outputChannels: 2, inputHeight: 2, inputWidth: 2, kernelHeight: 1, kernelWidth: 1,
      groups: 2)
    expectClose(conv2d(pointwise, input, [2, -1]), [2, 4, 6, 8, -10, -20, -30, -40] as [Float])
    let rows = Conv2DShape(
      batch: 1, inputChannels: 2, outputChannels: 2, inputHeight: 2, inputWidth: 2, kernelHeight: 1, kernelWidth: 2,
      groups: 2)
    // Channel 0: x0 + x1 per row; channel 1: x0 − x1 per row.
    expectClose(conv2d(rows, input, [1, 1, 1, -1]), [3, 7, -10, -10] as [Float])
  }

  @Test func groupedPointwiseMatchesPerGroupProducts() {
    // Cin 4 → Cout 2, groups 2: output g sums input channels 2g and 2g+1 with its two weights.
    let input: [Float] = [1, 1, 2, 2, 3, 3, 4, 4]  // 4 channels of 1×2
    let shape = Conv2DShape(
      batch: 1, inputChannels: 4, outputChannels: 2, inputHeight: 1, inputWidth: 2, kernelHeight: 1, kernelWidth: 1,
      groups: 2)
    // Out 0 = 1·1 + 10·2 = 21; out 1 = 100·3 + 1000·4 = 4300.
    expectClose(conv2d(shape, input, [1, 10, 100, 1000], bias: [0, 0.5]), [21, 21, 4300.5, 4300.5] as [Float])
  }

  @Test func conv1dIsConv2dWithUnitHeight() throws {
    // x = [1, 2, 3, 4, 5], w = [1, 0, −1], padding 1: out[i] = x[i−1] − x[i+1].
    let shape = try Conv2DShape.conv1d(
      input: [1, 1, 5], weight: [1, 1, 3], stride: [1], padding: .explicit([1]), dilation: [1], groups: 1)
    #expect(shape.outputShape == [1, 1, 1, 5])
    #expect((shape.kernelHeight, shape.paddingTop, shape.paddingLeft) == (1, 0, 1))
    expectClose(conv2d(shape, [1, 2, 3, 4, 5], [1, 0, -1]), [-2, -2, -2, -2, 4] as [Float])
  }

  @Test func samePaddingPutsTheOddElementAfter() throws {
    // Kernel 2: total padding 1, all on the right; out[i] = x[i] + x[i+1].
    let shape = try Conv2DShape.conv1d(
      input: [1, 4], weight: [1, 1, 2], stride: [1], padding: .same, dilation: [1], groups: 1)
    #expect((shape.paddingLeft, shape.paddingRight) == (0, 1))
    #expect(shape.outputWidth == 4)
    expectClose(conv2d(shape, [1, 2, 3, 4], [1, 1]), [3, 5, 7, 4] as [Float])
    let square = try Conv2DShape.conv2d(
      input: [1, 3, 7, 7], weight: [4, 3, 3, 3], stride: [1, 1], padding: .same, dilation: [2, 2], groups: 1)
    #expect(square.outputShape == [1, 4, 7, 7])
    #expect((square.paddingTop, square.paddingBottom) == (2, 2))
    let valid = try Conv2DShape.conv2d(
      input: [3, 7, 7], weight: [4, 3, 3, 3], stride: [2], padding: .valid, dilation: [1], groups: 1)
    #expect(valid.outputShape == [1, 4, 3, 3])
  }

  @Test func transposedConvolutionScattersEachInput() {
    // 2×2 input, 2×2 ones kernel: stride 2 tiles blocks, stride 1 overlaps them.
    let input: [Float] = [1, 2, 3, 4]
    let ones: [Float] = [1, 1, 1, 1]
    let tiled = ConvTranspose2DShape(
      batch: 1, inputChannels: 1, outputChannels: 1, inputHeight: 2, inputWidth: 2, kernelHeight: 2, kernelWidth: 2,
      stride: (2, 2))
    #expect(tiled.outputShape == [1, 1, 4, 4])
    expectClose(convTranspose2d(tiled, input, ones), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4] as [Float])
    let overlapping = ConvTranspose2DShape(
      batch: 1, inputChannels: 1, outputChannels: 1, inputHeight: 2, inputWidth: 2, kernelHeight: 2, kernelWidth: 2)
    expectClose(convTranspose2d(overlapping, input, ones), [1, 3, 2, 4, 10, 6, 3, 7, 4] as [Float])
    // Padding 1 crops one row and column from each side: the centre 10 remains.
    var cropped = overlapping
    (cropped.paddingHeight, cropped.paddingWidth) = (1, 1)
    #expect(cropped.outputShape == [1, 1, 1, 1])
    expectClose(convTranspose2d(cropped, input, ones), [10] as [Float])
    // Output padding adds a last row and column that only the bias reaches.
    var padded = tiled
    (padded.outputPaddingHeight, padded.outputPaddingWidth) = (1, 1)
    let result = convTranspose2d(padded, input, ones, bias: [0.5], clamp: .hardtanh(0, 3))
    #expect(padded.outputShape == [1, 1, 5, 5])
    expectClose(
      result,
      [1.5, 1.5, 2.5, 2.5, 0.5, 1.5, 1.5, 2.5, 2.5, 0.5, 3, 3, 3, 3, 0.5, 3, 3, 3, 3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
        as [Float])
  }

  @Test func shapeValidationMatchesPyTorchChecks() {
    #expect(throws: KernelError.self) {
      // Kernel 3×3 on a 2×2 input.
      try Conv2DShape.conv2d(input: [1, 1, 2, 2], weight: [1, 1, 3, 3], stride: [1], padding: .valid, dilation: [1], groups: 1)
    }
    #expect(throws: KernelError.self) {
      // Weight expects 4 input channels, input has 3.
      try Conv2DShape.conv2d(input: [1, 3, 5, 5], weight: [8, 4, 3, 3], stride: [1], padding: .valid, dilation: [1], groups: 1)
    }
    #expect(throws: KernelError.self) {
      try Conv2DShape.conv2d(input: [1, 4, 5, 5], weight: [3, 2, 3, 3], stride: [1], padding: .valid, dilation: [1], groups: 2)
    }
    #expect(throws: KernelError.self) {
      try Conv2DShape.conv2d(input: [1, 1, 5, 5], weight: [1, 1, 3, 3], stride: [0], padding: .valid, dilation: [1], groups: 1)
    }
    #expect(throws: KernelError.self) {
      try Conv2DShape.conv2d(input: [1, 1, 5, 5], weight: [1, 1, 3, 3], stride: [1], padding: .explicit([-1]), dilation: [1], groups: 1)
    }
    #expect(throws: KernelError.self) {
      try Conv2DShape.conv2d(input: [1, 1, 5, 5], weight: [1, 1, 3, 3], stride: [2], padding: .same, dilation: [1], groups: 1)
    }
    #expect(throws: KernelError.self) {
      try Conv2DShape.conv2d(input: [1, 1, 5, 5], weight: [1, 1, 3, 3], stride: [1, 1, 1], padding: .valid, dilation: [1], groups: 1)
    }
    #expect(throws: KernelError.self) {
      // Output padding must be below stride or dilation.
      try ConvTranspose2DShape.convTranspose2d(
        input: [1, 1, 3, 3], weight: [1, 1, 3, 3], stride: [1], padding: [0], outputPadding: [1], dilation: [1], groups: 1)
    }
    // ... but dilation 2 allows output padding 1 with stride 1.
    #expect(
      (try? ConvTranspose2DShape.convTranspose2d(
        input: [1, 1, 3, 3], weight: [1, 1, 3, 3], stride: [1], padding: [0], outputPadding: [1], dilation: [2], groups: 1
      ))?.outputShape == [1, 1, 8, 8])
    #expect(throws: KernelError.self) {
      try ConvTranspose2DShape.convTranspose2d(
        input: [1, 3, 3, 3], weight: [2, 1, 3, 3], stride: [1], padding: [0], outputPadding: [0], dilation: [1], groups: 1)
    }
  }

  /// Random small shapes over every setting, checked against `naiveConv2d`.
  @Test(arguments: 0..<48)
  func matchesDefinitionOnRandomShapes(seed: Int) throws {
    var generator = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 1)
    var checked = 0
    while checked < 6 {
      let groups = [1, 1, 2, 3][Int.random(in: 0..<4, using: &generator)]
      let depthwise = Bool.random(using: &generator) && seed % 3 == 0
      let inputChannels = depthwise ? groups * 2 : groups * Int.random(in: 1...3, using: &generator)
      let outputChannels = depthwise ? inputChannels : groups * Int.random(in: 1...3, using: &generator)
      let pointwise = seed % 4 == 1
      var shape = Conv2DShape(
        batch: Int.random(in: 1...2, using: &generator), inputChannels: inputChannels, outputChannels: outputChannels,
        inputHeight: Int.random(in: 1...9, using: &generator), inputWidth: Int.random(in: 1...11, using: &generator),
        kernelHeight: pointwise ? 1 : Int.random(in: 1...4, using: &generator),
        kernelWidth: pointwise ? 1 : Int.random(in: 1...4, using: &generator),
        stride: pointwise ? (1, 1) : (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)),
        dilation: (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)),
        groups: depthwise ? inputChannels : groups)
      if !pointwise {
        shape.paddingTop = Int.random(in: 0...2, using: &generator)
        shape.paddingLeft = Int.random(in: 0...2, using: &generator)
        shape.paddingBottom = Int.random(in: 0...2, using: &generator)
        shape.paddingRight = Int.random(in: 0...2, using: &generator)
      }
      // Draws whose kernel overhangs the padded input are invalid; draw again.
      guard (try? shape.validate()) != nil else { continue }
      checked += 1
      let input = generator.floats(shape.inputShape.elementCount)
      let weight = generator.floats(shape.weightShape.elementCount)
      let bias = Bool.random(using: &generator) ? generator.floats(outputChannels) : nil
      let expected = naiveConv2d(shape, input, weight, bias: bias)
      expectClose(conv2d(shape, input, weight, bias: bias), expected, tolerance: 1e-5, "\(shape)")
      // The clamp is the definition's result clamped.
      let clamped = expected.map { min(max($0, -0.25), 0.5) }
      expectClose(
        conv2d(shape, input, weight, bias: bias, clamp: .hardtanh(-0.25, 0.5)), clamped, tolerance: 1e-5, "\(shape)")
    }
  }

  /// Random small transposed convolutions, checked against `naiveConvTranspose2d`.
  @Test(arguments: 0..<32)
  func transposedMatchesDefinitionOnRandomShapes(seed: Int) throws {
    var generator = SeededGenerator(seed: UInt64(seed) &* 104_729 &+ 3)
    var checked = 0
    while checked < 6 {
      let groups = Int.random(in: 1...3, using: &generator)
      let stride = (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator))
      let dilation = (Int.random(in: 1...2, using: &generator), Int.random(in: 1...2, using: &generator))
      let shape = ConvTranspose2DShape(
        batch: Int.random(in: 1...2, using: &generator), inputChannels: groups * Int.random(in: 1...2, using: &generator),
        outputChannels: groups * Int.random(in: 1...3, using: &generator),
        inputHeight: Int.random(in: 1...6, using: &generator), inputWidth: Int.random(in: 1...6, using: &generator),
        kernelHeight: Int.random(in: 1...4, using: &generator), kernelWidth: Int.random(in: 1...4, using: &generator),
        stride: stride, padding: (Int.random(in: 0...2, using: &generator), Int.random(in: 0...2, using: &generator)),
        outputPadding: (Int.random(in: 0..<max(stride.0, dilation.0), using: &generator),
                        Int.random(in: 0..<max(stride.1, dilation.1), using: &generator)),
        dilation: dilation, groups: groups)
      // Draws whose padding crops the whole output are invalid; draw again.
      guard (try? shape.validate()) != nil else { continue }
      checked += 1
      let input = generator.floats(shape.inputShape.elementCount)
      let weight = generator.floats(shape.weightShape.elementCount)
      let bias = Bool.random(using: &generator) ? generator.floats(shape.outputChannels) : nil
      expectClose(
        convTranspose2d(shape, input, weight, bias: bias), naiveConvTranspose2d(shape, input, weight, bias: bias),
        tolerance: 1e-5, "\(shape)")
    }
  }
}
