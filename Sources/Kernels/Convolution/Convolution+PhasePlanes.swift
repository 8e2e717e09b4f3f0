// Convolutions on the packed GEMM without im2col: the input is scattered once into phase planes
// (Note [Phase planes]), where every row of the im2col matrix is a contiguous run.
//
// Note [Phase-plane GEMM]
// With each input channel scattered into its sH·sW phase planes of row length Q, tap (ky, kx) of
// output (oy, ox) is the planes' float at `tapOffset(ky, kx) + f`, f = oy·Q + ox. So row (ci, ky, kx) of the im2col matrix, taken over the flat index f instead
// of the output pixel, is the contiguous run
//
//     planes[ci] + tapOffset(ky, kx) + f,        f ∈ 0 ..< OH·Q,
//
// and the packed GEMM reads it like a plain matrix row: no per-output-row index work, which in
// the implicit im2col (`Im2colRows`) costs about a tenth of a 3×3 layer. The GEMM computes the
// Q − OW junk columns of every output row too and drops them as it writes C (`FlatPlaneColumns`:
// a tile inside one output row is stored directly; one crossing the junk is computed into a
// scratch tile whose rows go out as two vector runs, since the output pixels on both sides of
// the junk are adjacent; where each tile goes is found once per column block, not by a division
// per tile and row panel), so C is the output itself. Measured on single layers against storing
// such tiles element by element through an offset table, median thread time: 3→64 3×3 stride 2
// at 224×224 1.64–1.79 → 1.60–1.62 ms, 16→64 3×3 at 55×55 1.66–1.69 → 1.62–1.64 ms, 3→16
// stride 2 at 224×224 0.46 → 0.45 ms. The junk is a fraction (Q − OW) / Q of the work, so the GEMM reads
// the planes this way only when that stays small (`readsPlanesInPlace`: wide outputs, such as
// MobileNet and ResNet stems and ResNet's 56×56 and 28×28 layers). Narrower outputs (ResNet's
// 14×14 and 7×7 layers) run the packed nest over the output pixels instead: row k restricted to
// an output row is still one contiguous run of the planes, OW floats at `oy·Q + ox` past the
// tap's offset (`PhasePlanePixelRows`), copied into the GEMM's panels with no index or padding
// work, which `Im2colRows` spends per output row (a tenth of a 7×7 layer). Either way each
// element's sum runs over the same k in the same order as im2col's, so all paths give identical
// results.
//
// Running the GEMM per output row instead, over only its OW columns when OW is a multiple of
// 16 (no junk, no gap tiles), was slower (2026-11-24, one thread): a 3→16 stride-2 stem at
// 224×224 with hardswish 1.26× (the activation's 256-column chunks then cut rows into partial
// tiles) and MobileNetV2's 3→32 stem 1.05× (a GEMM call per row).
//
// The two steps (scatter per input channel, GEMM per output block) each split across threads;
// the scatter must finish before the GEMM starts.
extension ConvolutionKernels {
  /// True when the phase-plane convolution is the better way to run this convolution: any
  /// convolution that is neither pointwise nor depthwise.
  public static func prefersPhasePlanes(_ shape: Conv2DShape) -> Bool {
    !isPointwise(shape) && !isDepthwise(shape)
  }

  /// True when the GEMM reads the phase planes in place over the flat columns (junk columns at
  /// most 1/10 of the work); else it packs them over the output pixels.
  public static func readsPlanesInPlace(_ shape: Conv2DShape) -> Bool {
    PhasePlaneLayout(shape).readsInPlace
  }

  /// Floats of the phase planes of one image: `conv2dPhasePlanesScatter`'s `planes`.
  public static func phasePlanesCount(_ shape: Conv2DShape) -> Int {
    PhasePlaneLayout(shape).planeFloats * shape.inputChannels
  }

  /// Columns of the GEMM: the flat indices (OH·Q) when it reads the planes in place, else the
  /// output pixels (OH·OW).
  public static func phasePlanesColumns(_ shape: Conv2DShape) -> Int {
    PhasePlaneLayout(shape).gemmColumns
  }

  /// Step 1: scatters the input channels `channels` of one image (`[Cin, H, W]`) into their
  /// phase planes, zeroing the padding.
  public static func conv2dPhasePlanesScatter(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, planes: UnsafeMutablePointer<Float>, channels: Range<Int>
  ) {
    let layout = PhasePlaneLayout(shape)
    let inputPlane = shape.inputHeight * shape.inputWidth
    for channel in channels {
      let target = planes + channel * layout.planeFloats
      layout.zeroPadding(target)
      layout.scatter(input + channel * inputPlane, into: target)
    }
  }

  /// Step 2: the packed GEMM of one image over the phase planes, straight into its output:
  /// `out[oc, oy, ox] = clamp(bias[oc] + Σ_k W[oc, k] · row_k[oy·Q + ox])` for the output channels
  /// in `outputChannels` and the GEMM columns in `columns` (ranges of `0..<Cout` and
  /// `0..<phasePlanesColumns(shape)`: flat indices f = oy·Q + ox, columns with ox ≥ OW dropped,
  /// or output pixels). The output pixels written are `phasePlanesPixels(shape, columns:)`.
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
    let layout = PhasePlaneLayout(shape)
    let width = layout.gemmColumns
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
      let groupPlanes = planes + group * inputsPerGroup * layout.planeFloats
      let c = output + (first + rows.lowerBound) * outputPlane
      if layout.readsInPlace {
        GEMMKernels.runPackedGEMM(
          weights: weights, group: group, source: PhasePlaneRows(layout, planes: groupPlanes), c: c,
          cRowStride: outputPlane, columnMap: map, clamp: clamp, rows: rows, columns: columns, scratch: scratch,
          tiling: .standard)
      } else {
        GEMMKernels.runPackedGEMM(
          weights: weights, group: group, source: PhasePlanePixelRows(layout, planes: groupPlanes),
          c: c + columns.lowerBound, cRowStride: outputPlane, cColumnStride: 1, clamp: clamp, rows: rows,
          columns: columns, scratch: scratch, tiling: .standard)
      }
    }
  }

  /// The output pixels (`oy·OW + ox`) that the flat columns `columns` of step 2 write: a
  /// contiguous range.
  public static func phasePlanesPixels(_ shape: Conv2DShape, columns: Range<Int>) -> Range<Int> {
    let layout = PhasePlaneLayout(shape)
    if !layout.readsInPlace { return columns }
    let rowLength = layout.rowLength
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

  init(_ layout: PhasePlaneLayout, planes: UnsafePointer<Float>) {
    self.planes = planes
    self.planeFloats = layout.planeFloats
    taps = layout.shape.kernelHeight * layout.shape.kernelWidth
    var offsets: [Int] = []
    for ky in 0..<layout.shape.kernelHeight {
      for kx in 0..<layout.shape.kernelWidth { offsets.append(layout.tapOffset(ky, kx)) }
    }
    self.offsets = offsets
  }

  /// Where row k = (channel, tap) starts, from `planes`: the float of flat column 0.
  @inline(__always)
  func rowOffset(_ k: Int) -> Int {
    let (channel, tap) = k.quotientAndRemainder(dividingBy: taps)
    return channel * planeFloats + offsets[tap]
  }

  @inline(__always)
  func row(_ k: Int, columns: Range<Int>, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    planes + rowOffset(k) + columns.lowerBound
  }

  func inPlaceRows(depth: Int, offsets rowOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>? {
    for k in 0..<depth { rowOffsets[k] = rowOffset(k) }
    return planes
  }
}

/// The im2col rows of one group over the phase planes, by output pixel (Note [Phase-plane
/// GEMM]): row (ci, ky, kx) at output pixel oy·OW + ox is the planes' float at
/// `tapOffset(ky, kx) + oy·Q + ox`, so each output row's part of a row is one contiguous run.
struct PhasePlanePixelRows: PackedGEMMSource {
  let rows: PhasePlaneRows
  let rowLength: Int
  let outputWidth: Int

  init(_ layout: PhasePlaneLayout, planes: UnsafePointer<Float>) {
    rows = PhasePlaneRows(layout, planes: planes)
    (rowLength, outputWidth) = (layout.rowLength, layout.shape.outputWidth)
  }

  /// Copies the runs with whole vectors: a run's last vector may write up to 7 floats past it,
  /// which the next run overwrites or which land in the buffer's slack (`PackedGEMMSource`); it
  /// reads up to 7 floats past the run, inside the planes' spare floats.
  @inline(__always)
  func row(_ k: Int, columns: Range<Int>, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    let tapStart = rows.planes + rows.rowOffset(k)
    var (outputRow, outputColumn) = columns.lowerBound.quotientAndRemainder(dividingBy: outputWidth)
    var target = buffer
    var remaining = columns.count
    while remaining > 0 {
      let run = min(outputWidth - outputColumn, remaining)
      let source = tapStart + outputRow * rowLength + outputColumn
      var index = 0
      repeat {
        store8(load8(source + index), target + index)
        index += 8
      } while index < run
      target += run
      remaining -= run
      outputColumn = 0
      outputRow += 1
    }
    return UnsafePointer(buffer)
  }
}

// Note [Phase planes]
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
// every tap of every output a plain load at that offset, so a whole plane is one unit-stride
// run over the flat indices f = oy·Q + ox (the columns ox ≥ OW are computed and dropped):
// strides become unit strides and padding is zeros already in the planes. Pixels that no
// output reads (past the last window) are not scattered; the planes are zeroed first. Each
// plane has spare floats past its last row, so a run of any tap stays inside the planes.

/// The phase-plane layout of one convolution shape (Note [Phase planes]).
struct PhasePlaneLayout {
  let shape: Conv2DShape
  /// Row length Q of every phase plane.
  let rowLength: Int
  /// Rows of every phase plane.
  let planeRows: Int
  /// Floats per phase plane, with spare floats for the last vector's over-read.
  let phaseFloats: Int
  /// Floats of all phase planes of one channel.
  let planeFloats: Int

  init(_ shape: Conv2DShape) {
    self.shape = shape
    rowLength = shape.outputWidth + (shape.kernelWidth - 1) * shape.dilationWidth / shape.strideWidth
    planeRows = shape.outputHeight + (shape.kernelHeight - 1) * shape.dilationHeight / shape.strideHeight
    // The last vector of a tap reads up to Q − OW + 7 floats past the plane's last row.
    phaseFloats = (planeRows * rowLength + rowLength + 16 + 7) / 8 * 8
    planeFloats = shape.strideHeight * shape.strideWidth * phaseFloats
  }

  /// True when the GEMM reads the planes in place over the flat columns: junk columns at most
  /// 1/10 of the work (Note [Phase-plane GEMM]).
  var readsInPlace: Bool { rowLength * 10 <= shape.outputWidth * 11 }

  /// Columns of the GEMM: OH·Q flat indices when it reads in place, else OH·OW output pixels.
  var gemmColumns: Int { shape.outputHeight * (readsInPlace ? rowLength : shape.outputWidth) }

  /// Offset from the planes' start of tap (ky, kx) for flat output index 0.
  @inline(__always)
  func tapOffset(_ ky: Int, _ kx: Int) -> Int {
    let (rowShift, rowPhase) = (ky * shape.dilationHeight).quotientAndRemainder(dividingBy: shape.strideHeight)
    let (columnShift, columnPhase) = (kx * shape.dilationWidth).quotientAndRemainder(dividingBy: shape.strideWidth)
    return (rowPhase * shape.strideWidth + columnPhase) * phaseFloats + rowShift * rowLength + columnShift
  }

  /// Zeroes every float of one channel's phase planes that `scatter` does not write: the
  /// padding rows and columns of each phase and the spare floats after its last row. Writing
  /// zeros only there instead of over the whole planes saves a pass over them (a 224×224 stem's
  /// 620 KB; 1.3% of a MobileNetV3-Small run at one thread).
  func zeroPadding(_ planes: UnsafeMutablePointer<Float>) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    let (paddingTop, paddingLeft) = (shape.paddingTop, shape.paddingLeft)
    let columns = min(width, rowLength * strideWidth - paddingLeft)
    // The plane rows (or columns) of one phase that hold image rows (columns) `0..<count`.
    func written(phase: Int, padding: Int, stride: Int, count: Int, limit: Int) -> Range<Int> {
      // Plane index i holds padded index i·stride + phase, image index i·stride + phase − padding.
      let first = max(0, (padding - phase + stride - 1) / stride)
      let end = count > 0 ? min(limit, (count - 1 + padding - phase) / stride + 1) : 0
      return first..<max(first, end)
    }
    for rowPhase in 0..<strideHeight {
      let rows = written(
        phase: rowPhase, padding: paddingTop, stride: strideHeight, count: height, limit: planeRows)
      for columnPhase in 0..<strideWidth {
        let plane = planes + (rowPhase * strideWidth + columnPhase) * phaseFloats
        let kept = written(
          phase: columnPhase, padding: paddingLeft, stride: strideWidth, count: max(columns, 0), limit: rowLength)
        if rows.isEmpty || kept.isEmpty {
          plane.update(repeating: 0, count: phaseFloats)
          continue
        }
        plane.update(repeating: 0, count: rows.lowerBound * rowLength)
        for row in rows {
          zeroMargins(plane + row * rowLength, kept: kept)
        }
        let tail = rows.upperBound * rowLength
        (plane + tail).update(repeating: 0, count: phaseFloats - tail)
      }
    }
  }

  /// Zeroes the floats of one plane row (`rowLength` floats) outside `kept`, with whole vectors
  /// where the row is at least one vector long: they may also zero image floats inside `kept`,
  /// which `scatter` writes afterwards. (Element loops here became a `memset` call per margin.)
  @inline(__always)
  private func zeroMargins(_ line: UnsafeMutablePointer<Float>, kept: Range<Int>) {
    let zero = SIMD8<Float>()
    if rowLength < 8 {
      for column in 0..<kept.lowerBound { line[column] = 0 }
      for column in kept.upperBound..<rowLength { line[column] = 0 }
      return
    }
    var column = 0
    while column < kept.lowerBound {
      store8(zero, line + min(column, rowLength - 8))
      column += 8
    }
    var end = rowLength
    while end > kept.upperBound {
      store8(zero, line + max(end - 8, 0))
      end -= 8
    }
  }

  /// Scatters one input plane (`[H, W]`) into the phase planes, writing only image pixels that
  /// some output reads.
  @inline(__always)
  func scatter(_ input: UnsafePointer<Float>, into planes: UnsafeMutablePointer<Float>) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    let (paddingTop, paddingLeft) = (shape.paddingTop, shape.paddingLeft)
    // Columns whose plane column lies in 0..<Q, per phase: the image columns the outputs read.
    let columns = min(width, rowLength * strideWidth - paddingLeft)
    let shortRow = leadingLanes(min(max(columns, 0), 8))
    // Image row `row` is padded row row + padTop: plane row ⌊(row + padTop) / sH⌋ of row phase
    // (row + padTop) mod sH, stepped along without a division per row.
    var (planeRow, rowPhase) = paddingTop.quotientAndRemainder(dividingBy: strideHeight)
    for row in 0..<height {
      if planeRow >= planeRows { break }
      let source = input + row * width
      let target = planes + rowPhase * strideWidth * phaseFloats + planeRow * rowLength
      rowPhase += 1
      if rowPhase == strideHeight { (planeRow, rowPhase) = (planeRow + 1, 0) }
      if strideWidth == 1 && columns < 8 && row * width + 8 <= height * width {
        // A short row as one vector, the lanes past it zero: they land in padding, in the next
        // row (copied after this one) or in the planes' spare floats.
        store8(keepingLanes(load8(source), shortRow), target + paddingLeft)
      } else if strideWidth == 1 {
        let line = target + paddingLeft
        if columns >= 8 {
          copyOverlapping(source, to: line, count: columns)
        } else {
          for column in 0..<columns { line[column] = source[column] }
        }
      } else if strideWidth == 2 && columns >= 8 {
        scatterTwoPhases(source, count: columns, paddingLeft: paddingLeft, into: target, phaseStride: phaseFloats)
      } else {
        scatterByPhase(
          source, count: columns, paddingLeft: paddingLeft, stride: strideWidth, into: target, phaseStride: phaseFloats)
      }
    }
  }
}

/// Splits `count` ≥ 8 columns of an image row into two column phases `phaseStride` floats
/// apart: column c goes to phase (c + padLeft) mod 2 at ⌊(c + padLeft) / 2⌋. Sixteen columns
/// (eight when `count` < 16) at a time give their even and odd halves; the last step ends at
/// the row's end, overlapping the one before, so only the row's own columns are written. Rows
/// of 16 or more are `scatterTwoPhasesRows` of one row.
@inline(__always)
func scatterTwoPhases(
  _ source: UnsafePointer<Float>, count: Int, paddingLeft: Int, into target: UnsafeMutablePointer<Float>,
  phaseStride: Int
) {
  // The plane positions of the lanes of a step starting at image column `start`: even lanes
  // (columns start, start + 2, …) and odd lanes.
  @inline(__always)
  func places(_ start: Int) -> (even: UnsafeMutableRawPointer, odd: UnsafeMutableRawPointer) {
    let (even, odd) = (start + paddingLeft, start + paddingLeft + 1)
    return (
      UnsafeMutableRawPointer(target + (even & 1) * phaseStride + even >> 1),
      UnsafeMutableRawPointer(target + (odd & 1) * phaseStride + odd >> 1)
    )
  }
  if count >= 16 {
    scatterTwoPhasesRows(
      source, rows: 1, count: count, sourceStride: count, paddingLeft: paddingLeft, into: target, targetStride: 0,
      phaseStride: phaseStride)
    return
  }
  forEachWindow(count, width: 8) { start in
    let values = load8(source + start)
    let (even, odd) = places(start)
    even.storeBytes(of: values.evenHalf, as: SIMD4<Float>.self)
    odd.storeBytes(of: values.oddHalf, as: SIMD4<Float>.self)
  }
}

/// `scatterTwoPhases` for `rows` image rows of `count` ≥ 16 columns, row r from `source + r ·
/// sourceStride` to `target + r · targetStride`. The windows' places within a row are the same
/// for every row, so they are found once per call: found per row (the pointers, the
/// overlapping last window's places, the overflow checks), they cost more than the three or four
/// windows of a 56-column row (Note [Depthwise row blocks]).
@inline(__always)
func scatterTwoPhasesRows(
  _ source: UnsafePointer<Float>, rows: Int, count: Int, sourceStride: Int, paddingLeft: Int,
  into target: UnsafeMutablePointer<Float>, targetStride: Int, phaseStride: Int
) {
  precondition(count >= 16, "rows of fewer than 16 columns")
  @inline(__always)
  func places(_ start: Int) -> (even: Int, odd: Int) {
    let (even, odd) = (start + paddingLeft, start + paddingLeft + 1)
    return ((even & 1) * phaseStride + even >> 1, (odd & 1) * phaseStride + odd >> 1)
  }
  // The split is `vshufps` and `vpermpd` per half (LLVM's choice for the haswell target, where
  // `vpermpd` is one micro-op; on Zen 2 it is two, with half the throughput, and bounds this
  // loop). Loading the halves as 128-bit pieces so that an in-lane shuffle gives them in order
  // was 1.15× slower: LLVM rebuilt it from 128-bit shuffles, inserts and blends.
  @inline(__always)
  func split(_ from: UnsafePointer<Float>, _ even: UnsafeMutablePointer<Float>, _ odd: UnsafeMutablePointer<Float>) {
    let values = SIMD16(lowHalf: load8(from), highHalf: load8(from + 8))
    store8(values.evenHalf, even)
    store8(values.oddHalf, odd)
  }
  let first = places(0)
  let lastStart = count - 16
  let last = places(lastStart)
  let windows = count / 16
  let overlapping = count % 16 != 0
  var (line, plane) = (source, target)
  for _ in 0..<rows {
    // A window at an even start puts its even lanes in the same phase as the one before, eight
    // floats further on: two pointers stepped along, with no index work per window (which,
    // done per window, made this copy most of a stride-2 depthwise layer's time).
    var (from, even, odd) = (line, plane + first.even, plane + first.odd)
    for _ in 0..<windows {
      split(from, even, odd)
      from += 16
      even += 8
      odd += 8
    }
    if overlapping { split(line + lastStart, plane + last.even, plane + last.odd) }
    line += sourceStride
    plane += targetStride
  }
}

/// Copies `rows` rows of `count` ≥ 8 floats, row r from `source + r · sourceStride` to `target +
/// r · targetStride`, as `copyOverlapping` does each (the rows version of it, for the same
/// reason as `scatterTwoPhasesRows`).
@inline(__always)
func copyRowsOverlapping(
  _ source: UnsafePointer<Float>, rows: Int, count: Int, sourceStride: Int, into target: UnsafeMutablePointer<Float>,
  targetStride: Int
) {
  precondition(count >= 8, "rows of fewer than 8 floats")
  let vectors = count / 8
  let lastStart = count - 8
  let overlapping = count % 8 != 0
  var (line, plane) = (source, target)
  for _ in 0..<rows {
    var offset = 0
    for _ in 0..<vectors {
      store8(load8(line + offset), plane + offset)
      offset += 8
    }
    if overlapping { store8(load8(line + lastStart), plane + lastStart) }
    line += sourceStride
    plane += targetStride
  }
}

/// Scatters `count` columns of an image row into `stride` column phases `phaseStride` floats
/// apart: column c goes to phase (c + padLeft) mod s at ⌊(c + padLeft) / s⌋. Phase by phase (the
/// image columns of phase φ are every s-th from the first one), so no element needs a division.
@inline(__always)
func scatterByPhase(
  _ source: UnsafePointer<Float>, count: Int, paddingLeft: Int, stride: Int, into target: UnsafeMutablePointer<Float>,
  phaseStride: Int
) {
  for phase in 0..<stride {
    var column = ((phase - paddingLeft) % stride + stride) % stride
    var line = target + phase * phaseStride + (column + paddingLeft) / stride
    while column < count {
      line.pointee = source[column]
      line += 1
      column += stride
    }
  }
}
