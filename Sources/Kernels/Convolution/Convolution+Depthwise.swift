/// Depthwise convolution (groups == Cin == Cout), vectorized over the output plane, with fused
/// bias and clamp (the math and NCHW layout are `ConvolutionKernels`'s):
///
///     out[n, c, oy, ox] = clamp( bias[c] + Σ_{ky, kx} w[c, ky, kx] ·
///                                in[n, c, oy·sH − padTop + ky·dH, ox·sW − padLeft + kx·dW] )
///
/// See Note [Depthwise phase planes] for how padding and strides become unit-stride vector loads
/// over a whole plane. `depthwiseConv2d` takes any kernel size, stride, padding and dilation;
/// 3×3 kernels (MobileNet's) run a loop with the nine taps held in registers, others add one
/// tap at a time. Work splits by channel range; each call needs its own scratch.
extension ConvolutionKernels {
  /// True when the convolution is depthwise with one output channel per input channel.
  public static func isDepthwise(_ shape: Conv2DShape) -> Bool {
    shape.groups == shape.inputChannels && shape.outputChannels == shape.inputChannels
  }

  /// Floats of scratch `depthwiseConv2d` needs.
  public static func depthwiseScratchCount(_ shape: Conv2DShape) -> Int {
    DepthwisePlaneLayout(shape).scratchCount
  }

  /// Depthwise convolution with packed weights over a range of channels.
  ///
  /// - Parameters:
  ///   - shape: a validated depthwise shape (`isDepthwise`).
  ///   - input: `shape.inputShape` floats.
  ///   - weights: `DepthwiseWeights(shape, …)`.
  ///   - output: `shape.outputShape` floats; the planes of `channels` (every image) are written.
  ///   - clamp: applied after the bias.
  ///   - channels: a range of `0..<C`; nil for all.
  ///   - scratch: `depthwiseScratchCount(shape)` floats.
  public static func depthwiseConv2d(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, channels: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    precondition(isDepthwise(shape), "depthwise convolution needs groups == input channels == output channels")
    precondition(
      weights.channels == shape.outputChannels && weights.kernelHeight == shape.kernelHeight
        && weights.kernelWidth == shape.kernelWidth, "depthwise weights do not match the shape")
    precondition(shape.outputHeight > 0 && shape.outputWidth > 0, "depthwise shape was not validated")
    let channels = channels ?? 0..<shape.outputChannels
    precondition(channels.lowerBound >= 0 && channels.upperBound <= shape.outputChannels, "channels out of range")
    if channels.isEmpty { return }
    let layout = DepthwisePlaneLayout(shape)
    // Padding positions are the same for every channel, and a channel writes only the positions
    // of image pixels: zeroing the phase planes once makes the padding zero for all channels.
    scratch.update(repeating: 0, count: layout.scratchCount)
    let planes = scratch
    let sums = scratch + layout.planeFloats
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let threeByThree = shape.kernelHeight == 3 && shape.kernelWidth == 3
    for image in 0..<shape.batch {
      for channel in channels {
        let plane = image * shape.inputChannels + channel
        layout.scatter(input + plane * inputPlane, into: planes)
        let taps = weights.taps(channel)
        if threeByThree {
          depthwiseSums3x3(layout, planes: planes, taps: taps, sums: sums, clamp: clamp)
          layout.gather(sums, into: output + plane * outputPlane, clamp: .none)
        } else {
          depthwiseSums(layout, planes: planes, taps: taps, sums: sums)
          layout.gather(sums, into: output + plane * outputPlane, clamp: clamp)
        }
      }
    }
  }

  /// `depthwiseConv2d` for 3×3 kernels (MobileNet's depthwise layers), which always take the
  /// nine-taps-in-registers loop.
  public static func depthwiseConv3x3(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, channels: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    precondition(shape.kernelHeight == 3 && shape.kernelWidth == 3, "depthwiseConv3x3 needs a 3×3 kernel")
    depthwiseConv2d(
      shape, input: input, weights: weights, output: output, clamp: clamp, channels: channels, scratch: scratch)
  }

  /// The flat sums of one channel, 3×3 taps in registers and one partial sum per kernel row so
  /// that the FMAs do not wait on one another; bias and clamp fused.
  @inline(__always)
  private static func depthwiseSums3x3(
    _ layout: DepthwisePlaneLayout, planes: UnsafePointer<Float>, taps: UnsafePointer<Float>,
    sums: UnsafeMutablePointer<Float>, clamp: OutputClamp
  ) {
    let (p00, p01, p02) = (planes + layout.tapOffset(0, 0), planes + layout.tapOffset(0, 1), planes + layout.tapOffset(0, 2))
    let (p10, p11, p12) = (planes + layout.tapOffset(1, 0), planes + layout.tapOffset(1, 1), planes + layout.tapOffset(1, 2))
    let (p20, p21, p22) = (planes + layout.tapOffset(2, 0), planes + layout.tapOffset(2, 1), planes + layout.tapOffset(2, 2))
    let (w00, w01, w02) = (SIMD8(repeating: taps[0]), SIMD8(repeating: taps[1]), SIMD8(repeating: taps[2]))
    let (w10, w11, w12) = (SIMD8(repeating: taps[3]), SIMD8(repeating: taps[4]), SIMD8(repeating: taps[5]))
    let (w20, w21, w22) = (SIMD8(repeating: taps[6]), SIMD8(repeating: taps[7]), SIMD8(repeating: taps[8]))
    let bias = SIMD8<Float>(repeating: taps[9])
    let bounds = VectorClamp(clamp)
    var f = 0
    while f < layout.sumCount {
      var top = bias
      top.addProduct(w00, load8(p00 + f))
      top.addProduct(w01, load8(p01 + f))
      top.addProduct(w02, load8(p02 + f))
      var middle = w10 * load8(p10 + f)
      middle.addProduct(w11, load8(p11 + f))
      middle.addProduct(w12, load8(p12 + f))
      var bottom = w20 * load8(p20 + f)
      bottom.addProduct(w21, load8(p21 + f))
      bottom.addProduct(w22, load8(p22 + f))
      store8(bounds(top + middle + bottom), sums + f)
      f += 8
    }
  }

  /// The flat sums of one channel for any kernel: bias, then one pass per tap.
  @inline(__always)
  private static func depthwiseSums(
    _ layout: DepthwisePlaneLayout, planes: UnsafePointer<Float>, taps: UnsafePointer<Float>,
    sums: UnsafeMutablePointer<Float>
  ) {
    let count = layout.sumCount
    let bias = SIMD8<Float>(repeating: taps[layout.kernelHeight * layout.kernelWidth])
    var f = 0
    while f < count {
      store8(bias, sums + f)
      f += 8
    }
    for ky in 0..<layout.kernelHeight {
      for kx in 0..<layout.kernelWidth {
        let weight = SIMD8<Float>(repeating: taps[ky * layout.kernelWidth + kx])
        let source = planes + layout.tapOffset(ky, kx)
        f = 0
        while f < count {
          var sum = load8(sums + f)
          sum.addProduct(weight, load8(source + f))
          store8(sum, sums + f)
          f += 8
        }
      }
    }
  }
}

/// Depthwise weights packed once: per channel its kH·kW taps (row-major) and then its bias,
/// `channelStride` floats apart, 64-byte aligned. Immutable after `init`.
public final class DepthwiseWeights: @unchecked Sendable {
  /// Channels (C).
  public let channels: Int
  /// Kernel height (kH).
  public let kernelHeight: Int
  /// Kernel width (kW).
  public let kernelWidth: Int
  /// Floats per channel: taps + bias, rounded up to 8.
  let channelStride: Int
  let values: UnsafeMutablePointer<Float>

  /// Packs a depthwise convolution's weight (`[C, 1, kH, kW]`, as PyTorch stores it) and bias
  /// (`C` values, or nil for zero).
  public init(_ shape: Conv2DShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    precondition(ConvolutionKernels.isDepthwise(shape), "depthwise weights need groups == input channels == output channels")
    channels = shape.outputChannels
    kernelHeight = shape.kernelHeight
    kernelWidth = shape.kernelWidth
    let taps = kernelHeight * kernelWidth
    channelStride = (taps + 1 + 7) / 8 * 8
    values = allocateAligned(channels * channelStride)
    for channel in 0..<channels {
      let target = values + channel * channelStride
      target.update(from: weight + channel * taps, count: taps)
      target[taps] = bias?[channel] ?? 0
    }
  }

  deinit { values.deallocate() }

  /// The taps of `channel` followed by its bias.
  @inline(__always)
  func taps(_ channel: Int) -> UnsafePointer<Float> { UnsafePointer(values + channel * channelStride) }
}

// Note [Depthwise phase planes]
// With strides sH, sW, output (oy, ox) and tap (ky, kx) read the zero-padded input at row
// sH·oy + ky·dH and column sW·ox + kx·dW. Each channel's input is first scattered into sH·sW
// phase planes, all with the same row length Q:
//
//     plane (ρ, φ) [r·Q + c]  =  padded input [sH·r + ρ, sW·c + φ]        (0 in the padding)
//
// so tap (ky, kx) of output (oy, ox) is plane ((ky·dH) mod sH, (kx·dW) mod sW) at flat index
//
//     (oy·Q + ox)  +  ⌊ky·dH / sH⌋·Q + ⌊kx·dW / sW⌋,
//
// the output's flat index plus a per-tap constant. Choosing Q ≥ OW + ⌊(kW−1)·dW / sW⌋ makes
// every tap of every output a plain load at that offset, so the whole plane is one unit-stride
// loop over the flat indices f = oy·Q + ox (the columns ox ≥ OW are computed and dropped):
// strides become unit strides, padding is zeros already in the planes, and there is no
// per-row work but one copy of each output row (`gather`), which also keeps the loop long on
// MobileNet's 7×7 and 14×14 planes. Pixels that no output reads (past the last window) are not
// scattered. The planes' padding never changes, so they are zeroed once per call; each plane
// has 16 spare floats so the last vector of the loop reads only initialized floats.

/// The phase-plane layout of one depthwise shape (Note [Depthwise phase planes]).
struct DepthwisePlaneLayout {
  let height: Int, width: Int, outputHeight: Int, outputWidth: Int
  let kernelHeight: Int, kernelWidth: Int
  let strideHeight: Int, strideWidth: Int
  let dilationHeight: Int, dilationWidth: Int
  let paddingTop: Int, paddingLeft: Int
  /// Row length Q of every phase plane (and of the flat sums).
  let rowLength: Int
  /// Rows of every phase plane.
  let planeRows: Int
  /// Floats per phase plane, with spare floats for the last vector's over-read.
  let phaseFloats: Int
  /// Floats of all phase planes.
  let planeFloats: Int
  /// Flat sums computed per channel: OH·Q rounded up to whole vectors.
  let sumCount: Int
  /// Phase planes, then the flat sums.
  var scratchCount: Int { planeFloats + sumCount }

  init(_ shape: Conv2DShape) {
    (height, width) = (shape.inputHeight, shape.inputWidth)
    (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    (kernelHeight, kernelWidth) = (shape.kernelHeight, shape.kernelWidth)
    (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    (dilationHeight, dilationWidth) = (shape.dilationHeight, shape.dilationWidth)
    (paddingTop, paddingLeft) = (shape.paddingTop, shape.paddingLeft)
    rowLength = outputWidth + (kernelWidth - 1) * dilationWidth / strideWidth
    planeRows = outputHeight + (kernelHeight - 1) * dilationHeight / strideHeight
    // The last vector of a tap reads up to Q − OW + 7 floats past the plane's last row.
    phaseFloats = (planeRows * rowLength + rowLength + 16 + 7) / 8 * 8
    planeFloats = strideHeight * strideWidth * phaseFloats
    sumCount = (outputHeight * rowLength + 7) / 8 * 8
  }

  /// Offset from the planes' start of tap (ky, kx) for flat output index 0.
  @inline(__always)
  func tapOffset(_ ky: Int, _ kx: Int) -> Int {
    let (rowShift, rowPhase) = (ky * dilationHeight).quotientAndRemainder(dividingBy: strideHeight)
    let (columnShift, columnPhase) = (kx * dilationWidth).quotientAndRemainder(dividingBy: strideWidth)
    return (rowPhase * strideWidth + columnPhase) * phaseFloats + rowShift * rowLength + columnShift
  }

  /// Scatters one input plane (`[H, W]`) into the phase planes, writing only image pixels that
  /// some output reads.
  @inline(__always)
  func scatter(_ input: UnsafePointer<Float>, into planes: UnsafeMutablePointer<Float>) {
    for row in 0..<height {
      let (planeRow, rowPhase) = (row + paddingTop).quotientAndRemainder(dividingBy: strideHeight)
      if planeRow >= planeRows { break }
      let source = input + row * width
      let target = planes + rowPhase * strideWidth * phaseFloats + planeRow * rowLength
      // Columns whose plane column lies in 0..<Q, per phase: the image columns the outputs read.
      let columns = min(width, rowLength * strideWidth - paddingLeft)
      if strideWidth == 1 {
        let line = target + paddingLeft
        var column = 0
        while column + 8 <= columns {
          store8(load8(source + column), line + column)
          column += 8
        }
        while column < columns {
          line[column] = source[column]
          column += 1
        }
      } else if strideWidth == 2 && paddingLeft <= 1 {
        // Sixteen consecutive columns split into their even and odd halves give eight columns
        // of both phases; the ends go one by one.
        let odd = target + phaseFloats
        var column = 0
        if paddingLeft == 1 && columns > 0 {
          odd[0] = source[0]
          column = 1
        }
        while column + 16 <= columns {
          let values = SIMD16(lowHalf: load8(source + column), highHalf: load8(source + column + 8))
          // Even lanes land in phase 0, odd lanes in phase 1, both at plane column `first`.
          let first = (column + paddingLeft) / 2
          store8(values.evenHalf, target + first)
          store8(values.oddHalf, odd + first)
          column += 16
        }
        while column < columns {
          let (planeColumn, phase) = (column + paddingLeft).quotientAndRemainder(dividingBy: 2)
          (phase == 0 ? target : odd)[planeColumn] = source[column]
          column += 1
        }
      } else {
        for column in 0..<columns {
          let (planeColumn, phase) = (column + paddingLeft).quotientAndRemainder(dividingBy: strideWidth)
          target[phase * phaseFloats + planeColumn] = source[column]
        }
      }
    }
  }

  /// Copies the OW valid sums of each output row (row length Q) to the output plane, clamping.
  /// Whole vectors may run into the following rows, which are written afterwards; only a vector
  /// that would pass the plane's end is shortened.
  @inline(__always)
  func gather(_ sums: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, clamp: OutputClamp) {
    let bounds = VectorClamp(clamp)
    let clamps = !clamp.isNone
    let end = outputHeight * outputWidth
    for row in 0..<outputHeight {
      let source = sums + row * rowLength
      var column = 0
      while column < outputWidth {
        var value = load8(source + column)
        if clamps { value = bounds(value) }
        let position = row * outputWidth + column
        if position + 8 <= end {
          store8(value, output + position)
        } else {
          storePartial8(value, output + position, count: min(outputWidth - column, end - position))
        }
        column += 8
      }
    }
  }
}
