/// Depthwise convolution (groups == Cin == Cout), vectorized along the output width, with fused
/// bias and clamp (the math and NCHW layout are `ConvolutionKernels`'s):
///
///     out[n, c, oy, ox] = clamp( bias[c] + Σ_{ky, kx} w[c, ky, kx] ·
///                                in[n, c, oy·sH − padTop + ky·dH, ox·sW − padLeft + kx·dW] )
///
/// See Note [Depthwise padded rows] for how borders and strides become unit-stride vector loads.
/// `depthwiseConv2d` takes any kernel size, stride, padding and dilation; 3×3 kernels with
/// horizontal stride 1 or 2 and no horizontal dilation (MobileNet's) run a kernel with the nine
/// taps held in registers. Work splits by channel range; each call needs its own scratch.
extension ConvolutionKernels {
  /// True when the convolution is depthwise with one output channel per input channel.
  public static func isDepthwise(_ shape: Conv2DShape) -> Bool {
    shape.groups == shape.inputChannels && shape.outputChannels == shape.inputChannels
  }

  /// Floats of scratch `depthwiseConv2d` needs.
  public static func depthwiseScratchCount(_ shape: Conv2DShape) -> Int {
    let layout = DepthwiseRowLayout(shape)
    return (layout.ringRows + 1) * layout.rowFloats
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
    let layout = DepthwiseRowLayout(shape)
    let specialized =
      shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.dilationWidth == 1 && shape.strideWidth <= 2
    // Padding positions are the same in every padded row and rows only ever write the positions
    // inside the image, so zeroing the whole ring once makes every row's padding zero.
    scratch.update(repeating: 0, count: (layout.ringRows + 1) * layout.rowFloats)
    let zeroRow = scratch + layout.ringRows * layout.rowFloats
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    for image in 0..<shape.batch {
      for channel in channels {
        let plane = (image * shape.inputChannels + channel)
        var rows = DepthwiseRowRing(layout: layout, input: input + plane * inputPlane, ring: scratch, zero: zeroRow)
        let taps = weights.taps(channel)
        let target = output + plane * outputPlane
        for outputRow in 0..<shape.outputHeight {
          rows.prepare(outputRow: outputRow)
          let line = target + outputRow * shape.outputWidth
          if specialized {
            depthwiseRow3x3(rows: rows, outputRow: outputRow, taps: taps, output: line, clamp: clamp)
          } else {
            depthwiseRow(rows: rows, outputRow: outputRow, taps: taps, output: line, clamp: clamp)
          }
        }
      }
    }
  }

  /// `depthwiseConv2d` for 3×3 kernels with horizontal stride 1 or 2 and no horizontal
  /// dilation (MobileNet's depthwise layers), which it always takes the specialized path for.
  public static func depthwiseConv3x3(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, channels: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    precondition(
      shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.dilationWidth == 1 && shape.strideWidth <= 2,
      "depthwiseConv3x3 needs a 3×3 kernel, horizontal stride 1 or 2 and horizontal dilation 1")
    depthwiseConv2d(
      shape, input: input, weights: weights, output: output, clamp: clamp, channels: channels, scratch: scratch)
  }

  /// One output row, 3×3 taps in registers. Tap (ky, kx) of output x reads
  /// `rows.row(outputRow, ky) + columnOffsets[kx] + x`.
  @inline(__always)
  private static func depthwiseRow3x3(
    rows: DepthwiseRowRing, outputRow: Int, taps: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp
  ) {
    let (o0, o1, o2) = rows.layout.columnOffsets
    let (r0, r1, r2) = (rows.row(outputRow, 0), rows.row(outputRow, 1), rows.row(outputRow, 2))
    let (w00, w01, w02) = (SIMD8(repeating: taps[0]), SIMD8(repeating: taps[1]), SIMD8(repeating: taps[2]))
    let (w10, w11, w12) = (SIMD8(repeating: taps[3]), SIMD8(repeating: taps[4]), SIMD8(repeating: taps[5]))
    let (w20, w21, w22) = (SIMD8(repeating: taps[6]), SIMD8(repeating: taps[7]), SIMD8(repeating: taps[8]))
    let bias = SIMD8<Float>(repeating: taps[9])
    let bounds = VectorClamp(clamp)
    let width = rows.layout.outputWidth
    var x = 0
    while x < width {
      // One partial sum per kernel row, so the FMAs do not wait on one another.
      var top = bias
      top.addProduct(w00, load8(r0 + (x + o0)))
      top.addProduct(w01, load8(r0 + (x + o1)))
      top.addProduct(w02, load8(r0 + (x + o2)))
      var middle = w10 * load8(r1 + (x + o0))
      middle.addProduct(w11, load8(r1 + (x + o1)))
      middle.addProduct(w12, load8(r1 + (x + o2)))
      var bottom = w20 * load8(r2 + (x + o0))
      bottom.addProduct(w21, load8(r2 + (x + o1)))
      bottom.addProduct(w22, load8(r2 + (x + o2)))
      store(bounds(top + middle + bottom), to: output, at: x, width: width)
      x += 8
    }
  }

  /// One output row, any kernel: sixteen outputs at a time in two accumulators, the taps read
  /// from memory and each tap's position advanced without a division.
  @inline(__always)
  private static func depthwiseRow(
    rows: DepthwiseRowRing, outputRow: Int, taps: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp
  ) {
    let layout = rows.layout
    let bias = SIMD8<Float>(repeating: taps[layout.kernelHeight * layout.kernelWidth])
    let bounds = VectorClamp(clamp)
    let width = layout.outputWidth
    var x = 0
    while x < width {
      var (left, right) = (bias, bias)
      var tap = taps
      for ky in 0..<layout.kernelHeight {
        let base = rows.row(outputRow, ky) + x
        var (phase, offset) = (0, 0)
        for _ in 0..<layout.kernelWidth {
          let weight = SIMD8<Float>(repeating: tap[0])
          let source = base + (phase * layout.phaseFloats + offset)
          left.addProduct(weight, load8(source))
          right.addProduct(weight, load8(source + 8))
          tap += 1
          phase += layout.dilationWidth
          while phase >= layout.strideWidth {
            phase -= layout.strideWidth
            offset += 1
          }
        }
      }
      store(bounds(left), to: output, at: x, width: width)
      store(bounds(right), to: output, at: x + 8, width: width)
      x += 16
    }
  }

  /// Writes the lanes of `value` (outputs x ..< x + 8) that lie before `width`.
  @inline(__always)
  private static func store(_ value: SIMD8<Float>, to output: UnsafeMutablePointer<Float>, at x: Int, width: Int) {
    if x + 8 <= width {
      store8(value, output + x)
    } else if x < width {
      storePartial8(value, output + x, count: width - x)
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

// Note [Depthwise padded rows]
// Output column ox with horizontal stride s reads input column s·ox − padLeft + kx·dW. Each
// input row the kernel needs is copied once into a zero-padded row split into s phases:
//
//     phase φ, index t  =  in[iy, s·t + φ − padLeft]      (0 outside the image)
//
// so tap kx of output column ox is phase (kx·dW) mod s at index ox + ⌊kx·dW / s⌋, and eight
// consecutive outputs read eight consecutive floats of one phase: stride 2 becomes unit stride
// and padding becomes zeros already in the row, for every tap and every column, borders
// included. Rows above or below the image read a shared zero row. The kernel rows of one output
// row span (kH − 1)·dH + 1 input rows; a ring of that many padded rows (rounded up to a power
// of two) holds them, and each input row is copied once per channel. The padding positions are
// the same in every row, so the ring is zeroed once per call and rows write only the image
// part. Each phase is long enough (output width rounded up to 16, plus the largest tap offset)
// that the last, partial vectors read only initialized floats.

/// Sizes of the padded rows of one depthwise shape.
struct DepthwiseRowLayout {
  let height: Int, width: Int, outputWidth: Int
  let kernelHeight: Int, kernelWidth: Int
  let strideHeight: Int, strideWidth: Int
  let dilationHeight: Int, dilationWidth: Int
  let paddingTop: Int, paddingLeft: Int
  /// Floats per phase.
  let phaseFloats: Int
  /// Floats per padded row (all phases).
  let rowFloats: Int
  /// Padded rows in the ring: the input rows one output row reads, rounded up to a power of two
  /// so that a row's slot is `row & ringMask` (a division per row would cost more than the
  /// row's taps).
  let ringRows: Int
  let ringMask: Int
  /// `phase · phaseFloats + offset` of kernel columns 0, 1 and 2 (the 3×3 kernel's taps).
  let columnOffsets: (Int, Int, Int)
  /// Indices of phases 0 and 1 whose column lies in the image (the same for every row).
  let evenInside: Range<Int>
  let oddInside: Range<Int>

  init(_ shape: Conv2DShape) {
    (height, width, outputWidth) = (shape.inputHeight, shape.inputWidth, shape.outputWidth)
    (kernelHeight, kernelWidth) = (shape.kernelHeight, shape.kernelWidth)
    (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    (dilationHeight, dilationWidth) = (shape.dilationHeight, shape.dilationWidth)
    (paddingTop, paddingLeft) = (shape.paddingTop, shape.paddingLeft)
    let phaseFloats = (outputWidth + 15) / 16 * 16 + (kernelWidth - 1) * dilationWidth / strideWidth
    self.phaseFloats = phaseFloats
    rowFloats = strideWidth * phaseFloats
    var ring = 1
    while ring < (kernelHeight - 1) * dilationHeight + 1 { ring *= 2 }
    ringRows = ring
    ringMask = ring - 1
    let (strideWidth, dilationWidth, paddingLeft, width) = (strideWidth, dilationWidth, paddingLeft, width)
    func offset(_ kx: Int) -> Int {
      let (offset, phase) = (kx * dilationWidth).quotientAndRemainder(dividingBy: strideWidth)
      return phase * phaseFloats + offset
    }
    columnOffsets = (offset(0), offset(1), offset(2))
    func inside(_ phase: Int) -> Range<Int> {
      indices(count: phaseFloats, stride: strideWidth, offset: phase - paddingLeft, landingIn: width)
    }
    evenInside = inside(0)
    oddInside = inside(1)
  }

  /// Indices of `phase` whose column lies in the image.
  @inline(__always)
  func inside(_ phase: Int) -> Range<Int> {
    switch phase {
    case 0: evenInside
    case 1: oddInside
    default: indices(count: phaseFloats, stride: strideWidth, offset: phase - paddingLeft, landingIn: width)
    }
  }
}

/// The padded rows of one input plane (Note [Depthwise padded rows]), filled as output rows
/// advance. The rows of the last prepared output row stay valid.
struct DepthwiseRowRing {
  let layout: DepthwiseRowLayout
  let input: UnsafePointer<Float>
  let ring: UnsafeMutablePointer<Float>
  let zero: UnsafeMutablePointer<Float>
  /// Input rows below this one are built (or were skipped as never needed).
  var built = 0

  init(layout: DepthwiseRowLayout, input: UnsafePointer<Float>, ring: UnsafeMutablePointer<Float>, zero: UnsafeMutablePointer<Float>) {
    self.layout = layout
    self.input = input
    self.ring = ring
    self.zero = zero
  }

  /// Builds the padded rows output row `outputRow` reads that are not built yet; output rows
  /// are prepared in increasing order.
  @inline(__always)
  mutating func prepare(outputRow: Int) {
    let firstRow = outputRow * layout.strideHeight - layout.paddingTop
    let lastRow = min(firstRow + (layout.kernelHeight - 1) * layout.dilationHeight, layout.height - 1)
    var row = max(built, firstRow, 0)
    while row <= lastRow {
      build(row)
      row += 1
    }
    built = max(built, lastRow + 1)
  }

  /// The padded row kernel row `ky` of output row `outputRow` reads (the zero row outside the
  /// image).
  @inline(__always)
  func row(_ outputRow: Int, _ ky: Int) -> UnsafePointer<Float> {
    let row = outputRow * layout.strideHeight - layout.paddingTop + ky * layout.dilationHeight
    return UnsafePointer(row < 0 || row >= layout.height ? zero : ring + (row & layout.ringMask) * layout.rowFloats)
  }

  /// Copies input row `row` into its ring slot, split into phases. Only the positions inside
  /// the image are written; the padding stays zero from the ring's initialization.
  private func build(_ row: Int) {
    let source = input + row * layout.width
    let slot = ring + (row & layout.ringMask) * layout.rowFloats
    let (stride, count) = (layout.strideWidth, layout.phaseFloats)
    /// Phase `phase` at indices `range` (all inside the image), one float at a time.
    func copy(_ phase: Int, _ range: Range<Int>) {
      let (target, offset) = (slot + phase * count, phase - layout.paddingLeft)
      for t in range { target[t] = source[t * stride + offset] }
    }
    if stride == 1 {
      let range = layout.evenInside
      let (target, from) = (slot + range.lowerBound, source + (range.lowerBound - layout.paddingLeft))
      var index = 0
      while index + 8 <= range.count {
        store8(load8(from + index), target + index)
        index += 8
      }
      while index < range.count {
        target[index] = from[index]
        index += 1
      }
    } else if stride == 2 {
      // Sixteen consecutive columns split into their even and odd halves fill eight indices of
      // both phases; the ends of each phase go one by one.
      let (even, odd) = (layout.evenInside, layout.oddInside)
      let start = max(even.lowerBound, odd.lowerBound)
      let end = max(start, start + (min(even.upperBound, odd.upperBound) - start) / 8 * 8)
      var t = start
      while t < end {
        let first = source + (2 * t - layout.paddingLeft)
        let columns = SIMD16(lowHalf: load8(first), highHalf: load8(first + 8))
        store8(columns.evenHalf, slot + t)
        store8(columns.oddHalf, slot + count + t)
        t += 8
      }
      copy(0, even.lowerBound..<max(even.lowerBound, min(start, even.upperBound)))
      copy(0, max(end, even.lowerBound)..<max(end, even.upperBound))
      copy(1, odd.lowerBound..<max(odd.lowerBound, min(start, odd.upperBound)))
      copy(1, max(end, odd.lowerBound)..<max(end, odd.upperBound))
    } else {
      for phase in 0..<stride { copy(phase, layout.inside(phase)) }
    }
  }
}
