// Note [Channel-blocked Winograd]
// Winograd F(m×m, 3×3) (Notes [Winograd F(2×2, 3×3)] and [Winograd F(4×4, 3×3)]) on
// channel-blocked activations (Note [Channel-blocked activations]). The NCHW version runs its
// transforms on eight tiles side by side and must split rows into column phases on the way in
// and transpose 4×4 or 8×8 blocks on the way out; here the eight lanes are a block's eight
// channels, so every value of a patch is one vector load of an input pixel and every output
// value one vector store of an output pixel, with the same operations in the same order per
// lane. Per chunk of tile rows:
//   1. V[ξ] = Bᵀ · d · B per input block and tile, stored as a blocked matrix whose "pixels" are
//      the chunk's tiles: V[ξ] at `((ξ · Cin/8 + b) · tiles + t) · 8`. Pixels outside the image
//      (the padding, a last tile row or column past the plane) read as zero.
//   2. M[ξ] = U[ξ] · V[ξ] for each position: a 1×1 convolution on blocked activations
//      (`blockedPointwise`, no bias, no clamp), its output M[ξ] blocked the same way.
//   3. Y = Aᵀ · M · A + bias per output block and tile, clamped, each of the m×m pixels inside
//      the plane stored as one vector.
// The transforms are the NCHW ones' expressions lane for lane, and `blockedPointwise` sums each
// product over the input channels in order from zero, as the NCHW GEMM does for depths of up to
// 256 (one depth block), so the results are the NCHW Winograd's, bit for bit, at those depths.
// Measured alone, operands in cache (2026-11-25, Zen 2 host, one thread, `BlockedWinogradTiming`,
// whole plane in the runtime's chunks): SqueezeNet's 16→64 on 55×55 0.437 → 0.307 ms, 32→128 on
// 27×27 0.478 → 0.295 ms, 48→192 on 13×13 (F(2×2)) 0.359 → 0.228 ms, 64→256 on 13×13 0.573 →
// 0.424 ms; ResNet-18's 64→64 on 56×56 1.164 → 0.866 ms, 128→128 on 28×28 1.042 → 0.788 ms.
// The runtime's activations between these layers are NCHW, so the executor
// (`FastExecutors.blockedWinogradConv2d`) packs the input into blocks (each thread the rows of its
// chunks), and each thread unpacks its chunk's output rows right after computing them, while
// they are in cache. With those two passes it took the layers with at most 64 input channels
// (`takesBlockedWinograd`; 128 now, below): in the models (alternating runs, a noisy phase of the host)
// SqueezeNet 0.924× at one thread (5 of 6 pairs faster) and 0.939× at two (7 of 8), ResNet-18's
// four 64→64 layers 3.57 → 2.86 ms at two threads (per-node profiles), the model 0.96× (4 of 6).
// A plane whose tile rows make fewer chunks than threads (`winogradChunkRows`: at least 128 tiles
// a chunk) is one chunk whose three steps the threads share, as the NCHW path does: the input
// transform by input blocks (packing an NCHW input block by block on the way), the GEMMs by
// positions, the output transform by output blocks (`blockedWinogradInputTransform`,
// `blockedWinogradGEMM`, `blockedWinogradOutputTransform` on one shared V and M). Split
// into chunks of tile rows instead, ResNet-18's 128→128 on 28×28 was about 16% faster than the
// NCHW kernel at one thread but 25% slower at two (seven tile rows split 4 : 3, each chunk's
// GEMMs on 28 or 21 tiles). With the steps shared, and the depth limit raised from 64 to 128
// (2026-11-25, per-node profiles, four alternating runs, a noisy host): ResNet-18's stride-2
// layer into 128 channels (its output now blocked for the next one) and its three 128→128 layers
// 4.80 → 4.41 ms at one thread and 2.50 → 2.17 ms at two; the same floats. SqueezeNet's four
// 13×13 layers, one chunk each, 0.82 → 0.78 ms at two threads (they split 4 : 3 before).
// 256→256 on 14×14 stays on the NCHW kernel: with a limit of 256 ResNet-18's layers on 14×14 took
// 7.01 against 6.54 ms at one thread and the same at two (16 tiles per GEMM against 256×256
// weights per position).

/// A 3×3 convolution's Winograd weights for channel-blocked activations: `U[ξ]` per position ξ
/// as `VectorPanelWeights` (panels of 16 output channels, no bias) and the bias, which the
/// output transform adds. Immutable after `init`.
public final class BlockedWinogradWeights: @unchecked Sendable {
  /// The tile size m: 2 or 4.
  public let tileSize: Int
  /// (m + 2)², the number of matrices.
  public let positions: Int
  /// `U[ξ]` (`[Cout, Cin]`), one per position.
  let matrices: [VectorPanelWeights]
  /// `Cout` values (zero without a bias).
  let bias: UnsafeMutablePointer<Float>
  let outputChannels: Int

  /// - Parameters:
  ///   - tileSize: m, 2 or 4.
  ///   - weight: `[Cout, Cin, 3, 3]` as PyTorch stores it; channels in whole blocks of eight.
  ///   - bias: `Cout` values or nil.
  public init(_ shape: Conv2DShape, tileSize: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    precondition(
      shape.inputChannels % 8 == 0 && shape.outputChannels % 8 == 0, "blocked Winograd takes whole channel blocks")
    self.tileSize = tileSize
    positions = (tileSize + 2) * (tileSize + 2)
    let (outputs, inputs) = (shape.outputChannels, shape.inputChannels)
    outputChannels = outputs
    let transformed = WinogradWeights.transformedMatrices(shape, tileSize: tileSize, weight: weight)
    let positions = positions
    matrices = transformed.withUnsafeBufferPointer { all in
      (0..<positions).map { position in
        VectorPanelWeights(
          rows: outputs, depth: inputs, weights: all.baseAddress! + position * outputs * inputs, rowStride: inputs,
          bias: nil, panelRows: 16)
      }
    }
    self.bias = allocateAligned(outputs)
    if let bias { self.bias.update(from: bias, count: outputs) } else { self.bias.initialize(repeating: 0, count: outputs) }
  }

  deinit { deallocateAligned(bias) }
}

extension ConvolutionKernels {
  /// Whether a Winograd convolution (`prefersWinograd`) runs on the channel-blocked kernel:
  /// channels in whole blocks of eight, and a depth of at most 128 (Note [Channel-blocked
  /// Winograd]).
  public static func takesBlockedWinograd(_ shape: Conv2DShape) -> Bool {
    prefersWinograd(shape) && blockedWinogradSettings(shape)
  }

  /// Everything `takesBlockedWinograd` asks of a convolution but the size of its plane, which
  /// an execution plan does not know when it reads the weights.
  public static func blockedWinogradSettings(_ shape: Conv2DShape) -> Bool {
    winogradSettings(shape) && shape.inputChannels % 8 == 0 && shape.outputChannels % 8 == 0
      && shape.inputChannels <= blockedWinogradDepthLimit
  }

  /// The most input channels `takesBlockedWinograd` takes.
  public static let blockedWinogradDepthLimit = 128

  /// Floats of scratch `blockedWinograd` needs for a chunk of `tileRows` tile rows: V, M and
  /// `blockedPointwise`'s.
  public static func blockedWinogradScratchCount(_ shape: Conv2DShape, tileSize: Int, tileRows: Int) -> Int {
    blockedWinogradStepsCount(shape, tileSize: tileSize, tileRows: tileRows)
      + blockedPointwiseScratchCount(depth: shape.inputChannels)
  }

  /// Floats of V and M for a chunk of `tileRows` tile rows, which the three steps
  /// (`blockedWinogradInputTransform`, `blockedWinogradGEMM`, `blockedWinogradOutputTransform`)
  /// share when threads split them: V first, then M.
  public static func blockedWinogradStepsCount(_ shape: Conv2DShape, tileSize: Int, tileRows: Int) -> Int {
    let layout = WinogradLayout(shape, tileSize: tileSize)
    return layout.positions * (shape.inputChannels + shape.outputChannels) * tileRows * layout.tileColumns
  }

  /// A 3×3 stride-1 convolution on channel-blocked activations by Winograd F(m×m, 3×3) (Note
  /// [Channel-blocked Winograd]): the output rows of tile rows `tileRows` (m each, none past the
  /// plane) of one image, every output channel, clamped or activated as `clamp` says.
  ///
  /// - Parameters:
  ///   - input: one image, blocked `[Cin/8, H, W, 8]`.
  ///   - output: one image, blocked `[Cout/8, OH, OW, 8]`.
  ///   - scratch: `blockedWinogradScratchCount(shape, tileSize:, tileRows: tileRows.count)`
  ///     floats, the calling thread's own.
  public static func blockedWinograd(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: BlockedWinogradWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, tileRows: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    if tileRows.isEmpty { return }
    let steps = scratch
    let gemmScratch = steps + blockedWinogradStepsCount(shape, tileSize: weights.tileSize, tileRows: tileRows.count)
    blockedWinogradInputTransform(
      shape, weights: weights, input: input, steps: steps, blocks: 0..<shape.inputChannels / 8, tileRows: tileRows)
    blockedWinogradGEMM(
      shape, weights: weights, steps: steps, positions: 0..<weights.positions, tileRows: tileRows.count,
      scratch: gemmScratch)
    blockedWinogradOutputTransform(
      shape, weights: weights, steps: UnsafePointer(steps), output: output, clamp: clamp,
      blocks: 0..<shape.outputChannels / 8, tileRows: tileRows)
  }

  /// Checks that `weights` belong to `shape`, a 3×3 stride-1 convolution, and that `tileRows`
  /// lie in its plane.
  private static func checkBlockedWinograd(
    _ shape: Conv2DShape, _ weights: BlockedWinogradWeights, tileRows: Range<Int>
  ) {
    precondition(
      shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.strideHeight == 1 && shape.strideWidth == 1
        && shape.dilationHeight == 1 && shape.dilationWidth == 1 && shape.groups == 1
        && weights.outputChannels == shape.outputChannels && weights.matrices[0].depth == shape.inputChannels,
      "blocked Winograd needs a 3×3 stride-1 convolution and its weights")
    let layout = WinogradLayout(shape, tileSize: weights.tileSize)
    precondition(tileRows.lowerBound >= 0 && tileRows.upperBound <= layout.tileRows, "tile rows out of range")
  }

  /// Step 1 of `blockedWinograd` for the input blocks `blocks`: V of the chunk of tile rows
  /// `tileRows` into `steps` (`blockedWinogradStepsCount` floats, shared by the steps).
  public static func blockedWinogradInputTransform(
    _ shape: Conv2DShape, weights: BlockedWinogradWeights, input: UnsafePointer<Float>,
    steps: UnsafeMutablePointer<Float>, blocks: Range<Int>, tileRows: Range<Int>
  ) {
    checkBlockedWinograd(shape, weights, tileRows: tileRows)
    precondition(blocks.lowerBound >= 0 && blocks.upperBound * 8 <= shape.inputChannels, "input blocks out of range")
    let layout = WinogradLayout(shape, tileSize: weights.tileSize)
    if weights.tileSize == 4 {
      blockedWinogradInput4(shape, layout: layout, input: input, into: steps, blocks: blocks, tileRows: tileRows)
    } else {
      blockedWinogradInput2(shape, layout: layout, input: input, into: steps, blocks: blocks, tileRows: tileRows)
    }
  }

  /// Step 2 of `blockedWinograd` for the positions `positions`: M[ξ] = U[ξ] · V[ξ] over the
  /// chunk's tiles (`tileRows` tile rows), in `steps`. `scratch` holds
  /// `blockedPointwiseScratchCount(depth: Cin)` floats, the calling thread's own.
  public static func blockedWinogradGEMM(
    _ shape: Conv2DShape, weights: BlockedWinogradWeights, steps: UnsafeMutablePointer<Float>, positions: Range<Int>,
    tileRows: Int, scratch: UnsafeMutablePointer<Float>
  ) {
    checkBlockedWinograd(shape, weights, tileRows: 0..<tileRows)
    precondition(positions.lowerBound >= 0 && positions.upperBound <= weights.positions, "positions out of range")
    let tiles = tileRows * WinogradLayout(shape, tileSize: weights.tileSize).tileColumns
    if tiles == 0 { return }
    let (inputBlocks, outputBlocks) = (shape.inputChannels / 8, shape.outputChannels / 8)
    let products = steps + weights.positions * shape.inputChannels * tiles
    for position in positions {
      blockedPointwise(
        weights: weights.matrices[position], input: steps + position * inputBlocks * tiles * 8,
        output: products + position * outputBlocks * tiles * 8, pixelCount: tiles, clamp: .none, pixels: 0..<tiles,
        scratch: scratch)
    }
  }

  /// Step 3 of `blockedWinograd` for the output blocks `blocks`: the output rows of the chunk of
  /// tile rows `tileRows` from M in `steps`, plus the bias, clamped or activated as `clamp`
  /// says.
  public static func blockedWinogradOutputTransform(
    _ shape: Conv2DShape, weights: BlockedWinogradWeights, steps: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, blocks: Range<Int>, tileRows: Range<Int>
  ) {
    checkBlockedWinograd(shape, weights, tileRows: tileRows)
    precondition(blocks.lowerBound >= 0 && blocks.upperBound * 8 <= shape.outputChannels, "output blocks out of range")
    let layout = WinogradLayout(shape, tileSize: weights.tileSize)
    let products = steps + weights.positions * shape.inputChannels * tileRows.count * layout.tileColumns
    func run(_ bounds: some StoreBounds) {
      if weights.tileSize == 4 {
        blockedWinogradOutput4(
          shape, layout: layout, products: products, bias: weights.bias, output: output, bounds: bounds,
          blocks: blocks, tileRows: tileRows)
      } else {
        blockedWinogradOutput2(
          shape, layout: layout, products: products, bias: weights.bias, output: output, bounds: bounds,
          blocks: blocks, tileRows: tileRows)
      }
    }
    if clamp.activation == .hardswish { run(StoreHardswish()) } else { run(VectorClamp(clamp)) }
  }

  /// Each patch of `size`×`size` input pixels that the tiles of `tileRows` read, per input block:
  /// `body` gets where the patch's V[0] goes in `transformed` (V[ξ] of the chunk is blocked over
  /// its tiles, `positionStride` floats apart) and a load of patch pixel (r, c), one vector of
  /// the block's eight channels, zero outside the image. Patches inside the image load without
  /// bound checks.
  @inline(__always)
  private static func forEachPatch(
    _ shape: Conv2DShape, layout: WinogradLayout, size: Int, input: UnsafePointer<Float>,
    into transformed: UnsafeMutablePointer<Float>, blocks: Range<Int>, tileRows: Range<Int>,
    _ body: (_ target: UnsafeMutablePointer<Float>, _ load: (Int, Int) -> SIMD8<Float>) -> Void
  ) {
    let m = layout.tileSize
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let tiles = tileRows.count * layout.tileColumns
    for block in blocks {
      let plane = input + block * height * width * 8
      for tileRow in tileRows {
        let y0 = m * tileRow - shape.paddingTop
        let rowsInside = y0 >= 0 && y0 + size <= height
        for tileColumn in 0..<layout.tileColumns {
          let x0 = m * tileColumn - shape.paddingLeft
          let tile = (tileRow - tileRows.lowerBound) * layout.tileColumns + tileColumn
          let target = transformed + (block * tiles + tile) * 8
          if rowsInside && x0 >= 0 && x0 + size <= width {
            let origin = plane + (y0 * width + x0) * 8
            body(target) { r, c in load8(origin + (r * width + c) * 8) }
          } else {
            body(target) { r, c in
              let (y, x) = (y0 + r, x0 + c)
              return y >= 0 && y < height && x >= 0 && x < width ? load8(plane + (y * width + x) * 8) : SIMD8()
            }
          }
        }
      }
    }
  }

  /// Step 1 for F(4×4): V = Bᵀ · d · B of every 6×6 patch (rows first, then columns, as
  /// `Winograd4Tile.inputTransform` does per lane).
  private static func blockedWinogradInput4(
    _ shape: Conv2DShape, layout: WinogradLayout, input: UnsafePointer<Float>, into transformed: UnsafeMutablePointer<Float>,
    blocks: Range<Int>, tileRows: Range<Int>
  ) {
    let positionStride = shape.inputChannels * tileRows.count * layout.tileColumns
    forEachPatch(
      shape, layout: layout, size: 6, input: input, into: transformed, blocks: blocks, tileRows: tileRows
    ) { target, load in
      @inline(__always)
      func row(_ r: Int) -> Vectors6 {
        Winograd4Tile.inputSix((load(r, 0), load(r, 1), load(r, 2), load(r, 3), load(r, 4), load(r, 5)))
      }
      Winograd4Tile.inputColumns(
        (row(0), row(1), row(2), row(3), row(4), row(5)), into: target, positionStride: positionStride)
    }
  }

  /// Step 1 for F(2×2): V = Bᵀ · d · B of every 4×4 patch (each row's d · B, then
  /// `WinogradTile.columnTransform`, as the NCHW transform does per lane).
  private static func blockedWinogradInput2(
    _ shape: Conv2DShape, layout: WinogradLayout, input: UnsafePointer<Float>, into transformed: UnsafeMutablePointer<Float>,
    blocks: Range<Int>, tileRows: Range<Int>
  ) {
    let positionStride = shape.inputChannels * tileRows.count * layout.tileColumns
    forEachPatch(
      shape, layout: layout, size: 4, input: input, into: transformed, blocks: blocks, tileRows: tileRows
    ) { target, load in
      @inline(__always)
      func row(_ r: Int) -> Vectors4 {
        let (d0, d1, d2, d3) = (load(r, 0), load(r, 1), load(r, 2), load(r, 3))
        return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
      }
      WinogradTile.store(
        WinogradTile.columnTransform(row(0), row(1), row(2), row(3)), target, positionStride: positionStride)
    }
  }

  /// Step 3 for F(4×4): Y = Aᵀ · M · A (rows of M first, as `Winograd4Tile.outputTransform`),
  /// plus the bias, through `bounds`, the pixels inside the plane stored.
  private static func blockedWinogradOutput4(
    _ shape: Conv2DShape, layout: WinogradLayout, products: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, bounds: some StoreBounds, blocks: Range<Int>, tileRows: Range<Int>
  ) {
    let (height, width) = (shape.outputHeight, shape.outputWidth)
    let tiles = tileRows.count * layout.tileColumns
    let positionStride = shape.outputChannels * tiles
    for block in blocks {
      let b = load8(bias + block * 8)
      let plane = output + block * height * width * 8
      for tileRow in tileRows {
        let y0 = 4 * tileRow
        let rows = min(4, height - y0)
        for tileColumn in 0..<layout.tileColumns {
          let tile = (tileRow - tileRows.lowerBound) * layout.tileColumns + tileColumn
          let source = products + (block * tiles + tile) * 8
          @inline(__always)
          func row(_ r: Int) -> Vectors4 {
            let at = source + 6 * r * positionStride
            return Winograd4Tile.outputFour((
              load8(at), load8(at + positionStride), load8(at + 2 * positionStride), load8(at + 3 * positionStride),
              load8(at + 4 * positionStride), load8(at + 5 * positionStride)
            ))
          }
          let (q0, q1, q2, q3, q4, q5) = (row(0), row(1), row(2), row(3), row(4), row(5))
          // Column j of the tile: its four output rows.
          let columns = (
            Winograd4Tile.outputFour((q0.0, q1.0, q2.0, q3.0, q4.0, q5.0)),
            Winograd4Tile.outputFour((q0.1, q1.1, q2.1, q3.1, q4.1, q5.1)),
            Winograd4Tile.outputFour((q0.2, q1.2, q2.2, q3.2, q4.2, q5.2)),
            Winograd4Tile.outputFour((q0.3, q1.3, q2.3, q3.3, q4.3, q5.3))
          )
          let x0 = 4 * tileColumn
          let target = plane + (y0 * width + x0) * 8
          @inline(__always)
          func put(_ j: Int, _ y: Vectors4) {
            let at = target + j * 8
            store8(bounds(y.0 + b), at)
            if rows > 1 { store8(bounds(y.1 + b), at + width * 8) }
            if rows > 2 { store8(bounds(y.2 + b), at + 2 * width * 8) }
            if rows > 3 { store8(bounds(y.3 + b), at + 3 * width * 8) }
          }
          let pixels = min(4, width - x0)
          put(0, columns.0)
          if pixels > 1 { put(1, columns.1) }
          if pixels > 2 { put(2, columns.2) }
          if pixels > 3 { put(3, columns.3) }
        }
      }
    }
  }

  /// Step 3 for F(2×2): Y = Aᵀ · M · A (rows of M first, as `WinogradTile.outputRows`), plus the
  /// bias, through `bounds`, the pixels inside the plane stored.
  private static func blockedWinogradOutput2(
    _ shape: Conv2DShape, layout: WinogradLayout, products: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, bounds: some StoreBounds, blocks: Range<Int>, tileRows: Range<Int>
  ) {
    let (height, width) = (shape.outputHeight, shape.outputWidth)
    let tiles = tileRows.count * layout.tileColumns
    let positionStride = shape.outputChannels * tiles
    for block in blocks {
      let b = load8(bias + block * 8)
      let plane = output + block * height * width * 8
      for tileRow in tileRows {
        let y0 = 2 * tileRow
        let bottom = y0 + 1 < height
        for tileColumn in 0..<layout.tileColumns {
          let tile = (tileRow - tileRows.lowerBound) * layout.tileColumns + tileColumn
          let source = products + (block * tiles + tile) * 8
          @inline(__always)
          func row(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>) {
            let at = source + 4 * r * positionStride
            let (m0, m1, m2, m3) = (
              load8(at), load8(at + positionStride), load8(at + 2 * positionStride), load8(at + 3 * positionStride)
            )
            return (m0 + m1 + m2, m1 - m2 - m3)
          }
          let (u0, v0) = row(0)
          let (u1, v1) = row(1)
          let (u2, v2) = row(2)
          let (u3, v3) = row(3)
          let x0 = 2 * tileColumn
          let right = x0 + 1 < width
          let target = plane + (y0 * width + x0) * 8
          store8(bounds(u0 + u1 + u2 + b), target)
          if right { store8(bounds(v0 + v1 + v2 + b), target + 8) }
          if bottom {
            store8(bounds(u1 - u2 - u3 + b), target + width * 8)
            if right { store8(bounds(v1 - v2 - v3 + b), target + width * 8 + 8) }
          }
        }
      }
    }
  }
}
