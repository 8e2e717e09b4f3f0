// Convolutions on the packed GEMM without im2col: the input is scattered once into phase planes
// (Note [Depthwise phase planes]), where every row of the im2col matrix is a contiguous run.
//
// Note [Phase-plane GEMM]
// With each input channel scattered into its sH·sW phase planes of row length Q, tap (ky, kx) of
// output (oy, ox) is the planes' float at `tapOffset(ky, kx) + f`, f = oy·Q + ox (see the
// depthwise note). So row (ci, ky, kx) of the im2col matrix, taken over the flat index f instead
// of the output pixel, is the contiguous run
//
//     planes[ci] + tapOffset(ky, kx) + f,        f ∈ 0 ..< OH·Q,
//
// and the packed GEMM reads it like a plain matrix row: no per-output-row index work, which in
// the implicit im2col (`Im2colRows`) costs about a tenth of a 3×3 layer. The GEMM computes the
// Q − OW junk columns of every output row too and drops them as it writes C (`FlatPlaneColumns`:
// a tile inside one output row is stored directly, one crossing junk goes through the edge tile),
// so C is the output itself. The junk is a fraction (Q − OW) / Q of the work, so `prefersPhasePlanes` takes this path only when that stays small (wide
// outputs: MobileNet and ResNet stems, ResNet's 56×56 and 28×28 layers); narrow ones keep the
// implicit im2col. Each element's sum runs over the same k in the same order as im2col's, so
// both paths give identical results.
//
// The two steps (scatter per input channel, GEMM per output block) each split across threads;
// the scatter must finish before the GEMM starts.
extension ConvolutionKernels {
  /// True when `conv2dPhasePlanes` is the better way to run this (non-pointwise) convolution:
  /// junk columns at most 1/10 of the work.
  public static func prefersPhasePlanes(_ shape: Conv2DShape) -> Bool {
    if isPointwise(shape) || isDepthwise(shape) { return false }
    let layout = DepthwisePlaneLayout(shape)
    return layout.rowLength * 10 <= shape.outputWidth * 11
  }

  /// Floats of the phase planes of one image: `conv2dPhasePlanesScatter`'s `planes`.
  public static func phasePlanesCount(_ shape: Conv2DShape) -> Int {
    DepthwisePlaneLayout(shape).planeFloats * shape.inputChannels
  }

  /// Columns of the GEMM: OH·Q.
  public static func phasePlanesColumns(_ shape: Conv2DShape) -> Int {
    let layout = DepthwisePlaneLayout(shape)
    return layout.outputHeight * layout.rowLength
  }

  /// Step 1: scatters the input channels `channels` of one image (`[Cin, H, W]`) into their
  /// phase planes, zeroing the padding.
  public static func conv2dPhasePlanesScatter(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, planes: UnsafeMutablePointer<Float>, channels: Range<Int>
  ) {
    let layout = DepthwisePlaneLayout(shape)
    let inputPlane = shape.inputHeight * shape.inputWidth
    for channel in channels {
      let target = planes + channel * layout.planeFloats
      target.update(repeating: 0, count: layout.planeFloats)
      layout.scatter(input + channel * inputPlane, into: target)
    }
  }

  /// Step 2: the packed GEMM of one image over the phase planes, straight into its output:
  /// `out[oc, oy, ox] = clamp(bias[oc] + Σ_k W[oc, k] · row_k[oy·Q + ox])` for the output channels
  /// in `outputChannels` and the flat columns f = oy·Q + ox in `columns` (ranges of `0..<Cout`
  /// and `0..<phasePlanesColumns(shape)`; columns with ox ≥ OW are dropped). The output pixels
  /// written are `phasePlanesPixels(shape, columns:)`.
  ///
  /// - Parameters:
  ///   - planes: the image's planes after step 1 (all input channels).
  ///   - weights: `PackedWeights(convolution: shape, …)`.
  ///   - output: one image's output, `[Cout, OH, OW]` floats.
  ///   - scratch: `conv2dScratchCount(shape)` floats, the calling thread's own.
  public static func conv2dPhasePlanesGEMM(
    _ shape: Conv2DShape, planes: UnsafePointer<Float>, weights: PackedWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, outputChannels: Range<Int>? = nil, columns: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let layout = DepthwisePlaneLayout(shape)
    let width = layout.outputHeight * layout.rowLength
    let outputPlane = shape.outputHeight * shape.outputWidth
    let channels = outputChannels ?? 0..<shape.outputChannels
    let columns = columns ?? 0..<width
    precondition(
      weights.groups == shape.groups && weights.rows == shape.outputChannelsPerGroup
        && weights.depth == shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth,
      "packed weights do not match the convolution shape")
    precondition(channels.lowerBound >= 0 && channels.upperBound <= shape.outputChannels, "output channels out of range")
    precondition(columns.lowerBound >= 0 && columns.upperBound <= width, "columns out of range")
    if channels.isEmpty || columns.isEmpty { return }
    let (inputsPerGroup, outputsPerGroup) = (shape.inputChannelsPerGroup, shape.outputChannelsPerGroup)
    let map = FlatPlaneColumns(rowLength: layout.rowLength, width: shape.outputWidth)
    for group in channels.lowerBound / outputsPerGroup...(channels.upperBound - 1) / outputsPerGroup {
      let first = group * outputsPerGroup
      let rows = max(channels.lowerBound, first) - first..<min(channels.upperBound, first + outputsPerGroup) - first
      GEMMKernels.runPackedGEMM(
        weights: weights, group: group,
        source: PhasePlaneRows(
          layout, planes: planes + group * inputsPerGroup * layout.planeFloats,
          taps: shape.kernelHeight * shape.kernelWidth),
        c: output + (first + rows.lowerBound) * outputPlane, cRowStride: outputPlane, columnMap: map, clamp: clamp,
        rows: rows, columns: columns, scratch: scratch, tiling: .standard)
    }
  }

  /// The output pixels (`oy·OW + ox`) that the flat columns `columns` of step 2 write: a
  /// contiguous range.
  public static func phasePlanesPixels(_ shape: Conv2DShape, columns: Range<Int>) -> Range<Int> {
    let rowLength = DepthwisePlaneLayout(shape).rowLength
    func pixel(_ n: Int) -> Int {
      let (y, x) = n.quotientAndRemainder(dividingBy: rowLength)
      return y * shape.outputWidth + min(x, shape.outputWidth)
    }
    return pixel(columns.lowerBound)..<pixel(columns.upperBound)
  }
}

/// The im2col rows of one group over the phase planes (Note [Phase-plane GEMM]).
struct PhasePlaneRows: PackedGEMMSource {
  let planes: UnsafePointer<Float>
  let planeFloats: Int
  let taps: Int
  /// `tapOffset` of each tap, row-major.
  let offsets: [Int]

  init(_ layout: DepthwisePlaneLayout, planes: UnsafePointer<Float>, taps: Int) {
    self.planes = planes
    self.planeFloats = layout.planeFloats
    self.taps = taps
    var offsets: [Int] = []
    for ky in 0..<layout.kernelHeight {
      for kx in 0..<layout.kernelWidth { offsets.append(layout.tapOffset(ky, kx)) }
    }
    self.offsets = offsets
  }

  @inline(__always)
  func row(_ k: Int, columns: Range<Int>, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    let (channel, tap) = k.quotientAndRemainder(dividingBy: taps)
    return planes + channel * planeFloats + offsets[tap] + columns.lowerBound
  }
}
