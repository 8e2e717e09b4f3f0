/// 3×3 stride-1 convolutions by Winograd's minimal filtering F(m×m, 3×3), m = 2 or 4 (Notes
/// [Winograd F(2×2, 3×3)] and [Winograd F(4×4, 3×3)]): (m + 2)² multiplications per output tile
/// of m×m pixels per input channel instead of 9m², the multiplications done as (m + 2)² packed
/// GEMMs.
///
/// Per image, in chunks of tile rows (`winogradChunkRows`, so that a chunk's V and M stay in
/// L2), three steps:
/// 1. `winogradInputTransform`: every input channel's (m + 2)×(m + 2) patches to `V[ξ][ci][t]`,
/// 2. `winogradGEMM`: `M[ξ] = U[ξ] · V[ξ]` for each position ξ (`U` packed once),
/// 3. `winogradOutputTransform`: `M` to each m×m output tile, plus bias, then the clamp.
/// Threads take whole chunks, or, when a plane has too few, share each step (input channels,
/// positions, output channels).
extension ConvolutionKernels {
  /// True for the shapes the Winograd path computes: 3×3 kernel, stride 1, dilation 1, one
  /// group, at least 8 input and 16 output channels (fewer leave the transforms to dominate)
  /// and an output of at least 4×4 pixels. On a Zen 2 host (2026-11-24, chains of three 3×3 +
  /// 1×1 pairs as in SqueezeNet, one thread, alternating runs) the phase-plane direct
  /// convolution instead was 0.98× on 16→64 at 55×55, 1.11× on 32→128 at 27×27 and 1.32× on
  /// 64→256 at 13×13: the threshold stays.
  public static func prefersWinograd(_ shape: Conv2DShape) -> Bool {
    winogradSettings(shape) && shape.outputHeight >= 4 && shape.outputWidth >= 4
  }

  /// Everything `prefersWinograd` asks of a convolution but the size of its plane.
  static func winogradSettings(_ shape: Conv2DShape) -> Bool {
    shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.strideHeight == 1 && shape.strideWidth == 1
      && shape.dilationHeight == 1 && shape.dilationWidth == 1 && shape.groups == 1 && shape.inputChannels >= 8
      && shape.outputChannels >= 16
  }

  /// The tile size m of F(m×m, 3×3) for a shape the Winograd path takes: 4 on planes of at
  /// least 14×14 (Note [Winograd F(4×4, 3×3)]), else 2.
  public static func winogradTileSize(_ shape: Conv2DShape) -> Int {
    min(shape.outputHeight, shape.outputWidth) >= 14 ? 4 : 2
  }

  /// Rows of output tiles of one image: ⌈OH/m⌉ (a tile is m×m pixels).
  public static func winogradTileRows(_ shape: Conv2DShape, tileSize: Int) -> Int {
    WinogradLayout(shape, tileSize: tileSize).tileRows
  }

  /// Tile rows per chunk: enough for at least 128 tiles (the GEMMs' columns: fewer make each
  /// micro-kernel call too short), and as many more as keep the chunk's V and M within 512 KB
  /// (L2). Measured on ResNet-18's and SqueezeNet's layers against 32 tiles / 256 KB, 256 /
  /// 1 MB and whole planes: within noise of the best everywhere, up to 25% faster than whole
  /// planes on 55×55 and 56×56 and than 32-tile chunks on 13×13. The chunks are then evened
  /// out (F(4×4)'s 14 tile rows of a 55×55 plane: two of 7 rather than 10 and 4, 2026-11-24:
  /// 0.57 → 0.47 ms on SqueezeNet's first 16→64 layer).
  public static func winogradChunkRows(_ shape: Conv2DShape, tileSize: Int) -> Int {
    let layout = WinogradLayout(shape, tileSize: tileSize)
    let rowBytes = 4 * layout.positions * (shape.inputChannels + shape.outputChannels) * layout.tileColumns
    let rows = max((128 + layout.tileColumns - 1) / layout.tileColumns, (512 << 10) / rowBytes)
    // As many chunks as that needs, of equal size.
    let chunks = (layout.tileRows + rows - 1) / rows
    return (layout.tileRows + chunks - 1) / chunks
  }

  /// Floats of the transformed input `V` of `tileRows` tile rows ((m + 2)² · Cin · tiles).
  public static func winogradInputCount(_ shape: Conv2DShape, tileSize: Int, tileRows: Int) -> Int {
    let layout = WinogradLayout(shape, tileSize: tileSize)
    return layout.positions * shape.inputChannels * tileRows * layout.tileColumns
  }

  /// Floats of the GEMM results `M` of `tileRows` tile rows: (m + 2)² · Cout · tiles, and 8 spare
  /// floats that the output transform's last group of tiles may read.
  public static func winogradProductCount(_ shape: Conv2DShape, tileSize: Int, tileRows: Int) -> Int {
    let layout = WinogradLayout(shape, tileSize: tileSize)
    return layout.positions * shape.outputChannels * tileRows * layout.tileColumns + 8
  }

  /// Floats of scratch `winogradInputTransform` needs per thread for up to `tileRows` tile rows
  /// (one zero-padded plane band).
  public static func winogradInputScratchCount(_ shape: Conv2DShape, tileSize: Int, tileRows: Int) -> Int {
    let layout = WinogradLayout(shape, tileSize: tileSize)
    return (tileSize * tileRows + 2) * tileSize * layout.phaseLength
  }

  /// Floats of scratch `winogradGEMM` needs per thread.
  public static func winogradGEMMScratchCount(_ shape: Conv2DShape) -> Int {
    GEMMKernels.packedGEMMScratchCount(depth: shape.inputChannels)
  }

  /// Step 1: `V[ξ][ci][t] = (Bᵀ · d · B)[ξ]` for the input channels `channels` and the tiles of
  /// the tile rows `tileRows` of one image (t counted from the first of them), where d is tile
  /// t's (m + 2)×(m + 2) input patch (zero outside the image).
  ///
  /// - Parameters:
  ///   - input: one image, `[Cin, H, W]` floats.
  ///   - transformed: `winogradInputCount(shape, tileSize: tileSize, tileRows: tileRows.count)`
  ///     floats (only these channels' rows written).
  ///   - scratch: `winogradInputScratchCount(shape, tileSize: tileSize, tileRows:
  ///     tileRows.count)` floats, the calling thread's own.
  public static func winogradInputTransform(
    _ shape: Conv2DShape, tileSize: Int, input: UnsafePointer<Float>, transformed: UnsafeMutablePointer<Float>,
    channels: Range<Int>, tileRows: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    let layout = WinogradLayout(shape, tileSize: tileSize)
    precondition(tileRows.lowerBound >= 0 && tileRows.upperBound <= layout.tileRows, "tile rows out of range")
    let tileColumns = layout.tileColumns
    let tiles = tileRows.count * tileColumns
    let positionStride = shape.inputChannels * tiles
    let (width, height) = (shape.inputWidth, shape.inputHeight)
    let (phase, rowLength) = (layout.phaseLength, tileSize * layout.phaseLength)
    // The offset of a row's next column of the same phase: 1, but not a constant (see
    // `nextColumn`).
    let next = layout.nextColumn
    // The band of padded rows the tiles read: m · first tile row ..< m · last + 2.
    let band = tileSize * tileRows.lowerBound..<tileSize * tileRows.upperBound + 2
    let padded = scratch
    padded.update(repeating: 0, count: band.count * rowLength)
    let imageRows = max(0, band.lowerBound - shape.paddingTop)..<min(height, band.upperBound - shape.paddingTop)
    let fullGroups = tileColumns / 8
    // Room for the last group of a row of fewer than eight 4×4 tiles.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 36 * 8) { buffer in
      let groupScratch = buffer.baseAddress!
      for channel in channels {
        // The band's image rows at column paddingLeft of the zeroed buffer, split into the m
        // column phases; nothing else is written, so the padding stays zero from one channel to
        // the next.
        let plane = input + channel * height * width
        for y in imageRows {
          let row = padded + (y + shape.paddingTop - band.lowerBound) * rowLength
          if tileSize == 2 && width >= 8 {
            scatterTwoPhases(plane + y * width, count: width, paddingLeft: shape.paddingLeft, into: row, phaseStride: phase)
          } else if tileSize == 4 && width >= 16 {
            scatterFourPhases(plane + y * width, count: width, paddingLeft: shape.paddingLeft, into: row, phaseStride: phase)
          } else {
            scatterByPhase(
              plane + y * width, count: width, paddingLeft: shape.paddingLeft, stride: tileSize, into: row,
              phaseStride: phase)
          }
        }
        let target = transformed + channel * tiles
        for tileRow in 0..<tileRows.count {
          let rows = UnsafePointer(padded + tileSize * tileRow * rowLength)
          let column = target + tileRow * tileColumns
          if tileSize == 4 {
            for group in 0..<fullGroups {
              Winograd4Tile.inputTransform(
                rows + 8 * group, rowLength: rowLength, phase: phase, next: next, into: column + 8 * group,
                positionStride: positionStride)
            }
            if fullGroups * 8 < tileColumns {
              // The last tiles: a group ending at the row's last tile when there are eight (it
              // recomputes some, same values), else only their lanes stored.
              if tileColumns >= 8 {
                let tile = tileColumns - 8
                Winograd4Tile.inputTransform(
                  rows + tile, rowLength: rowLength, phase: phase, next: next, into: column + tile,
                  positionStride: positionStride)
              } else {
                Winograd4Tile.inputTransform(
                  rows, rowLength: rowLength, phase: phase, next: next, into: column, positionStride: positionStride,
                  count: tileColumns, scratch: groupScratch)
              }
            }
            continue
          }
          // Columns 2t ..< 2t + 4 of tile t are even[t], odd[t], even[t + 1], odd[t + 1].
          @inline(__always)
          func transform(_ tile: Int) -> (Vectors4, Vectors4, Vectors4, Vectors4) {
            @inline(__always)
            func row(_ r: Int) -> Vectors4 {
              let even = rows + r * rowLength + tile
              let odd = even + phase
              let (d0, d1, d2, d3) = (load8(even), load8(odd), load8(even + next), load8(odd + next))
              return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
            }
            return WinogradTile.columnTransform(row(0), row(1), row(2), row(3))
          }
          for group in 0..<fullGroups {
            let v = transform(8 * group)
            WinogradTile.store(v, column + 8 * group, positionStride: positionStride)
          }
          if fullGroups * 8 < tileColumns {
            // The last few tiles: only their lanes are stored, so nothing past the row of tiles
            // is written.
            let tile = fullGroups * 8
            WinogradTile.store(transform(tile), column + tile, positionStride: positionStride, count: tileColumns - tile)
          }
        }
      }
    }
  }

  /// Step 2: `M[ξ] = U[ξ] · V[ξ]` for the positions `positions` (a range of
  /// `0..<weights.positions`), over the output channels `outputChannels` (nil for all), for the
  /// tiles of `tileRows` tile rows.
  ///
  /// - Parameters:
  ///   - transformed: step 1's `V` of those tile rows, every input channel.
  ///   - products: `winogradProductCount(shape, tileSize: weights.tileSize, tileRows:
  ///     tileRows)` floats; row (ξ, co) is written.
  ///   - scratch: `winogradGEMMScratchCount(shape)` floats, the calling thread's own.
  public static func winogradGEMM(
    _ shape: Conv2DShape, weights: WinogradWeights, transformed: UnsafePointer<Float>,
    products: UnsafeMutablePointer<Float>, positions: Range<Int>, outputChannels: Range<Int>? = nil, tileRows: Int,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let tiles = tileRows * WinogradLayout(shape, tileSize: weights.tileSize).tileColumns
    let rows = outputChannels ?? 0..<shape.outputChannels
    precondition(
      positions.lowerBound >= 0 && positions.upperBound <= weights.positions, "Winograd positions out of range")
    precondition(
      weights.transformed.rows == shape.outputChannels && weights.transformed.depth == shape.inputChannels,
      "Winograd weights do not match the convolution shape")
    for position in positions {
      GEMMKernels.runPackedGEMM(
        weights: weights.transformed, group: position,
        source: MatrixRows(b: transformed + position * shape.inputChannels * tiles, rowStride: tiles, columnStride: 1),
        c: products + (position * shape.outputChannels + rows.lowerBound) * tiles, cRowStride: tiles,
        cColumnStride: 1, clamp: .none, rows: rows, columns: 0..<tiles, scratch: scratch, tiling: .standard)
    }
  }

  /// Step 3: output channel co's tile t is `Aᵀ · m · A + bias[co]`, clamped, with m[ξ] =
  /// `M[ξ][co][t]`; writes the output rows of the tile rows `tileRows` (m per tile row, but
  /// none past the plane) of the channels `outputChannels` of one image's output `[Cout, OH,
  /// OW]`. `products` holds step 2's M of those tile rows.
  public static func winogradOutputTransform(
    _ shape: Conv2DShape, products: UnsafePointer<Float>, weights: WinogradWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, outputChannels: Range<Int>, tileRows: Range<Int>
  ) {
    let tileSize = weights.tileSize
    let layout = WinogradLayout(shape, tileSize: tileSize)
    precondition(tileRows.lowerBound >= 0 && tileRows.upperBound <= layout.tileRows, "tile rows out of range")
    let tileColumns = layout.tileColumns
    let tiles = tileRows.count * tileColumns
    let positionStride = shape.outputChannels * tiles
    let (width, height) = (shape.outputWidth, shape.outputHeight)
    // One specialized transform per kind of store (Note [Store activations]).
    if clamp.activation == .hardswish { transform(StoreHardswish()) } else { transform(VectorClamp(clamp)) }
    func transform(_ bounds: some StoreBounds) {
      // Groups of eight tiles whose 8m output columns all lie inside the plane.
      let fullGroups = width / (8 * tileSize)
      // The 16 result vectors of a group of eight 4×4 tiles (`Winograd4Tile.outputTransform`).
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 32) { buffer in
        let groupScratch = buffer.baseAddress!
        for channel in outputChannels {
          let bias = SIMD8<Float>(repeating: weights.bias[channel])
          let source = products + channel * tiles
          let plane = output + channel * height * width
          for tileRow in tileRows {
            let column = source + (tileRow - tileRows.lowerBound) * tileColumns
            let y = tileSize * tileRow
            if tileSize == 4 {
              let target = plane + y * width
              let rows = min(4, height - y)
              for group in 0..<fullGroups {
                Winograd4Tile.outputTransform(
                  column + 8 * group, positionStride: positionStride, bias: bias, bounds: bounds,
                  into: target + 32 * group, rowStride: width, rows: rows, pixels: 32, block: groupScratch)
              }
              if fullGroups * 8 < tileColumns {
                // The last tiles: a group ending at the row's last tile when there are eight (its
                // first pixels are stored twice, the same values), reading past the row when not.
                let tile = max(tileColumns - 8, 0)
                Winograd4Tile.outputTransform(
                  column + tile, positionStride: positionStride, bias: bias, bounds: bounds,
                  into: target + 4 * tile, rowStride: width, rows: rows, pixels: width - 4 * tile, block: groupScratch)
              }
              continue
            }
            let (top, bottom) = (plane + y * width, y + 1 < height ? plane + (y + 1) * width : nil)
            for group in 0..<fullGroups {
              let (y0, y1) = WinogradTile.outputRows(
                column + 8 * group, positionStride: positionStride, bias: bias, bounds: bounds)
              store8(y0.0, top + 16 * group)
              store8(y0.1, top + 16 * group + 8)
              if let bottom {
                store8(y1.0, bottom + 16 * group)
                store8(y1.1, bottom + 16 * group + 8)
              }
            }
            let tile = fullGroups * 8
            if tile < tileColumns {
              // The last tiles: eight are computed (the loads past the row read the next row, or
              // the products' spare floats), only the pixels inside the plane stored.
              let (y0, y1) = WinogradTile.outputRows(column + tile, positionStride: positionStride, bias: bias, bounds: bounds)
              let pixels = width - 2 * tile
              WinogradTile.store(y0, top + 2 * tile, count: pixels)
              if let bottom { WinogradTile.store(y1, bottom + 2 * tile, count: pixels) }
            }
          }
        }
      }
    }
  }

  /// The whole convolution of every image on one thread, chunk by chunk (tests, and the
  /// reference for the splits the runtime runs).
  ///
  /// - Parameter scratch: `winogradScratchCount(shape, tileSize: weights.tileSize)` floats.
  public static func conv2dWinograd(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: WinogradWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, scratch: UnsafeMutablePointer<Float>
  ) {
    let (inputImage, outputImage) = (shape.inputChannels * shape.inputHeight * shape.inputWidth,
      shape.outputChannels * shape.outputHeight * shape.outputWidth)
    let tileSize = weights.tileSize
    let (chunkRows, tileRows) = (
      winogradChunkRows(shape, tileSize: tileSize), winogradTileRows(shape, tileSize: tileSize)
    )
    for image in 0..<shape.batch {
      for first in stride(from: 0, to: tileRows, by: chunkRows) {
        winogradChunk(
          shape, input: input + image * inputImage, weights: weights, output: output + image * outputImage,
          clamp: clamp, tileRows: first..<min(first + chunkRows, tileRows), scratch: scratch)
      }
    }
  }

  /// The three steps of one chunk of tile rows of one image on one thread.
  ///
  /// - Parameter scratch: `winogradScratchCount(shape, tileSize: weights.tileSize, tileRows:
  ///   tileRows.count)` floats, the calling thread's own.
  public static func winogradChunk(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: WinogradWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, tileRows: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    let tileSize = weights.tileSize
    let transformed = scratch
    let products = transformed + winogradInputCount(shape, tileSize: tileSize, tileRows: tileRows.count)
    let threadScratch = products + winogradProductCount(shape, tileSize: tileSize, tileRows: tileRows.count)
    winogradInputTransform(
      shape, tileSize: tileSize, input: input, transformed: transformed, channels: 0..<shape.inputChannels,
      tileRows: tileRows, scratch: threadScratch)
    winogradGEMM(
      shape, weights: weights, transformed: transformed, products: products, positions: 0..<weights.positions,
      tileRows: tileRows.count, scratch: threadScratch)
    winogradOutputTransform(
      shape, products: products, weights: weights, output: output, clamp: clamp,
      outputChannels: 0..<shape.outputChannels, tileRows: tileRows)
  }

  /// Floats of scratch `conv2dWinograd` needs: `winogradChunk`'s for `winogradChunkRows` rows.
  public static func winogradScratchCount(_ shape: Conv2DShape, tileSize: Int) -> Int {
    winogradScratchCount(shape, tileSize: tileSize, tileRows: winogradChunkRows(shape, tileSize: tileSize))
  }

  /// Floats of scratch `winogradChunk` needs for a chunk of `tileRows` tile rows.
  public static func winogradScratchCount(_ shape: Conv2DShape, tileSize: Int, tileRows: Int) -> Int {
    winogradInputCount(shape, tileSize: tileSize, tileRows: tileRows)
      + winogradProductCount(shape, tileSize: tileSize, tileRows: tileRows)
      + max(winogradInputScratchCount(shape, tileSize: tileSize, tileRows: tileRows), winogradGEMMScratchCount(shape))
  }
}

// Note [Winograd F(2×2, 3×3)]
// Lavin & Gray's minimal filtering algorithm. For a 4×4 input patch d and a 3×3 filter g, the
// 2×2 outputs of the valid correlation are
//
//     Y = Aᵀ · [ (G · g · Gᵀ) ⊙ (Bᵀ · d · B) ] · A
//
//     Bᵀ = | 1  0 −1  0 |     G = |  1    0    0  |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | 1/2  1/2  1/2 |          | 0  1 −1 −1 |
//          | 0 −1  1  0 |         | 1/2 −1/2  1/2 |
//          | 0  1  0 −1 |         |  0    0    1  |
//
// Summed over input channels, the element-wise product at each of the 16 positions ξ becomes
// a matrix product: M[ξ][co][t] = Σ_ci U[ξ][co][ci] · V[ξ][ci][t], with U = G·g·Gᵀ per
// (co, ci), transformed and packed once when the model loads (`WinogradWeights`), and V =
// Bᵀ·d·B per (ci, tile). A 2×2 tile costs 16 multiply-adds per (co, ci) instead of 36: 2.25×
// fewer, at the price of the two transforms (additions only, O(Cin + Cout) per tile against
// the GEMM's O(Cin · Cout)) and of V and M in memory (4× the input and the output).
// Tile t = ty · ⌈OW/2⌉ + tx covers output rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1, and reads
// input rows 2ty − padTop ..< +4 and columns 2tx − padLeft ..< +4; tiles on an odd edge
// compute a row or column that is not stored. The transforms run on eight tiles side by side,
// from a zero-padded copy of the channel, so padding needs no tests.
// The transforms multiply by 0, ±1 and ±1/2 only (exact in binary), so the rounding error is
// that of a few more additions per output: measured against the direct convolution it stays
// within a few float ulps of the sum's magnitude (tests bound it at 1e-5 relative).

/// Where the tiles lie for one shape and tile size.
struct WinogradLayout {
  /// The tile size m: 2 or 4.
  let tileSize: Int
  /// (m + 2)², the transformed positions ξ.
  let positions: Int
  /// ⌈OH/m⌉, ⌈OW/m⌉ and their product.
  let tileRows: Int
  let tileColumns: Int
  let tiles: Int
  /// The zero-padded band the input transform reads (m rows per tile row, and 2 more) holds
  /// each row's columns by phase: padded column c at `(c mod m) · phaseLength + ⌊c / m⌋`. A
  /// group of eight tiles from tile t reads floats t ..< t + 9 of each phase, so a phase holds
  /// whole groups and one more float.
  let phaseLength: Int
  /// 1, the offset from a column to the next one of the same phase, computed from the shape
  /// on purpose: as a constant, LLVM sees the loads at even[t] and even[t + 1] overlap and
  /// builds the second from pieces of the first with shuffles (Note [Depthwise padded planes]
  /// met the same), which measured slower than two plain loads.
  let nextColumn: Int

  init(_ shape: Conv2DShape, tileSize: Int) {
    precondition(tileSize == 2 || tileSize == 4, "Winograd tiles are 2×2 or 4×4")
    self.tileSize = tileSize
    positions = (tileSize + 2) * (tileSize + 2)
    tileRows = (shape.outputHeight + tileSize - 1) / tileSize
    tileColumns = (shape.outputWidth + tileSize - 1) / tileSize
    tiles = tileRows * tileColumns
    phaseLength = 8 * ((tileColumns + 7) / 8) + 8
    nextColumn = shape.kernelWidth - 2
  }
}

typealias Vectors4 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

/// The transforms' vector steps on eight tiles side by side, and the partial loads and stores
/// of the last group of a tile row.
enum WinogradTile {
  /// `V = Bᵀ · w` for the row transforms w0 … w3 of a tile's four patch rows: V[4i + j] is
  /// `result.i.j`.
  @inline(__always)
  static func columnTransform(
    _ w0: Vectors4, _ w1: Vectors4, _ w2: Vectors4, _ w3: Vectors4
  ) -> (Vectors4, Vectors4, Vectors4, Vectors4) {
    (
      (w0.0 - w2.0, w0.1 - w2.1, w0.2 - w2.2, w0.3 - w2.3),
      (w1.0 + w2.0, w1.1 + w2.1, w1.2 + w2.2, w1.3 + w2.3),
      (w2.0 - w1.0, w2.1 - w1.1, w2.2 - w1.2, w2.3 - w1.3),
      (w1.0 - w3.0, w1.1 - w3.1, w1.2 - w3.2, w1.3 - w3.3)
    )
  }

  /// Stores V[ξ] at `column + ξ · positionStride`: eight tiles, or the first `count`.
  @inline(__always)
  static func store(
    _ v: (Vectors4, Vectors4, Vectors4, Vectors4), _ column: UnsafeMutablePointer<Float>, positionStride: Int,
    count: Int = 8
  ) {
    @inline(__always)
    func one(_ value: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
      if count == 8 { store8(value, pointer) } else { storePartial8(value, pointer, count: count) }
    }
    @inline(__always)
    func put(_ row: Int, _ values: Vectors4) {
      let target = column + 4 * row * positionStride
      one(values.0, target)
      one(values.1, target + positionStride)
      one(values.2, target + 2 * positionStride)
      one(values.3, target + 3 * positionStride)
    }
    put(0, v.0)
    put(1, v.1)
    put(2, v.2)
    put(3, v.3)
  }

  /// The first `count` (< 16) pixels of an output row (two vectors) to `pointer`.
  @inline(__always)
  static func store(_ row: (SIMD8<Float>, SIMD8<Float>), _ pointer: UnsafeMutablePointer<Float>, count: Int) {
    if count > 8 {
      store8(row.0, pointer)
      storePartial8(row.1, pointer + 8, count: count - 8)
    } else {
      storePartial8(row.0, pointer, count: count)
    }
  }

  /// The two output rows of eight tiles, `Aᵀ · m · A + bias` clamped, from m[ξ] at `column + ξ ·
  /// positionStride`: each row as its 16 pixels (two vectors), tile t's at 2t and 2t + 1.
  @inline(__always)
  static func outputRows(
    _ column: UnsafePointer<Float>, positionStride: Int, bias: SIMD8<Float>, bounds: some StoreBounds
  ) -> ((SIMD8<Float>, SIMD8<Float>), (SIMD8<Float>, SIMD8<Float>)) {
    // (m · A)[r] for r = 0 … 3: columns 0 and 1 of each transformed row.
    @inline(__always)
    func row(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>) {
      let m = column + 4 * r * positionStride
      let (m0, m1, m2, m3) = (load8(m), load8(m + positionStride), load8(m + 2 * positionStride), load8(m + 3 * positionStride))
      return (m0 + m1 + m2, m1 - m2 - m3)
    }
    let (u0, v0) = row(0)
    let (u1, v1) = row(1)
    let (u2, v2) = row(2)
    let (u3, v3) = row(3)
    let top = separately(bounds(u0 + u1 + u2 + bias), bounds(v0 + v1 + v2 + bias))
    let bottom = separately(bounds(u1 - u2 - u3 + bias), bounds(v1 - v2 - v3 + bias))
    return (top, bottom)
  }

  /// `interleave(a, b)`, out of line on purpose: inlined, LLVM moves its shuffles up through
  /// the transform's additions and clamps (shuffling every operand instead of the two results),
  /// which made the output transform about four times slower.
  @inline(never)
  static func separately(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
    interleave(a, b)
  }
}

/// A 3×3 convolution's weights transformed for Winograd F(m×m, 3×3) (Notes [Winograd F(2×2,
/// 3×3)] and [Winograd F(4×4, 3×3)]) and packed: (m + 2)² matrices `U[ξ]` of `[Cout, Cin]` as
/// the groups of one `PackedWeights`, and the bias, which the output transform adds.
///
/// Immutable after `init`, so one instance may be shared by every thread of a runtime.
public final class WinogradWeights: @unchecked Sendable {
  /// The tile size m: 2 or 4.
  public let tileSize: Int
  /// (m + 2)², the number of matrices.
  public let positions: Int
  /// `U[ξ] = (G · g · Gᵀ)[ξ]` per (co, ci), as group ξ.
  public let transformed: PackedWeights
  /// `Cout` values (zero without a bias).
  let bias: [Float]

  /// G of F(2×2, 3×3) and of F(4×4, 3×3), row by row (m + 2 rows of 3).
  private static let g2: [Double] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1]
  private static let g4: [Double] = [
    1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 12, 1.0 / 6,
    1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1,
  ]

  /// - Parameters:
  ///   - tileSize: m, 2 or 4 (`ConvolutionKernels.winogradTileSize`).
  ///   - weight: `[Cout, Cin, 3, 3]` as PyTorch stores it.
  ///   - bias: `Cout` values or nil.
  public init(_ shape: Conv2DShape, tileSize: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    self.tileSize = tileSize
    positions = (tileSize + 2) * (tileSize + 2)
    let (outputs, inputs) = (shape.outputChannels, shape.inputChannels)
    let matrices = WinogradWeights.transformedMatrices(shape, tileSize: tileSize, weight: weight)
    let positions = positions
    transformed = matrices.withUnsafeBufferPointer {
      PackedWeights(rows: outputs, depth: inputs, groups: positions, weights: $0.baseAddress!, rowStride: inputs, bias: nil)
    }
    self.bias = bias.map { Array(UnsafeBufferPointer(start: $0, count: outputs)) } ?? [Float](repeating: 0, count: outputs)
  }

  /// `U[ξ] = (G · g · Gᵀ)[ξ]` of a 3×3, one-group convolution's `[Cout, Cin, 3, 3]` weight, as
  /// (m + 2)² matrices `[Cout, Cin]` one after the other.
  static func transformedMatrices(_ shape: Conv2DShape, tileSize: Int, weight: UnsafePointer<Float>) -> [Float] {
    precondition(
      shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.groups == 1,
      "Winograd weights need a 3×3, one-group convolution")
    precondition(tileSize == 2 || tileSize == 4, "Winograd tiles are 2×2 or 4×4")
    let n = tileSize + 2
    let positions = n * n
    let g = tileSize == 2 ? Self.g2 : Self.g4
    let (outputs, inputs) = (shape.outputChannels, shape.inputChannels)
    var matrices = [Float](repeating: 0, count: positions * outputs * inputs)
    var left = [Double](repeating: 0, count: 3 * n)
    for co in 0..<outputs {
      for ci in 0..<inputs {
        let kernel = weight + (co * inputs + ci) * 9
        // G · kernel (n×3), then (G · kernel) · Gᵀ, in double so each value is rounded once.
        for row in 0..<n {
          for column in 0..<3 {
            left[3 * row + column] = (0..<3).reduce(0.0) { $0 + g[3 * row + $1] * Double(kernel[3 * $1 + column]) }
          }
        }
        for row in 0..<n {
          for column in 0..<n {
            let value = (0..<3).reduce(0.0) { $0 + left[3 * row + $1] * g[3 * column + $1] }
            matrices[((n * row + column) * outputs + co) * inputs + ci] = Float(value)
          }
        }
      }
    }
    return matrices
  }
}
