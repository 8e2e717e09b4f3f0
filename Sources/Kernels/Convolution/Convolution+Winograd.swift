/// 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Note [Winograd
/// F(2×2, 3×3)]): 16 multiplications per output tile of 2×2 pixels per input channel instead of
/// 36, the multiplications done as 16 packed GEMMs.
///
/// Per image, three steps, each split across threads by the caller:
/// 1. `winogradInputTransform`: every input channel's 4×4 tiles to `V[ξ][ci][t]`,
/// 2. `winogradGEMM`: `M[ξ] = U[ξ] · V[ξ]` for each of the 16 positions ξ (`U` packed once),
/// 3. `winogradOutputTransform`: `M` to each 2×2 output tile, plus bias, then the clamp.
extension ConvolutionKernels {
  /// True for the shapes the Winograd path computes: 3×3 kernel, stride 1, dilation 1, one
  /// group, at least 8 input and 16 output channels (fewer leave the transforms to dominate)
  /// and an output of at least 4×4 pixels.
  public static func prefersWinograd(_ shape: Conv2DShape) -> Bool {
    shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.strideHeight == 1 && shape.strideWidth == 1
      && shape.dilationHeight == 1 && shape.dilationWidth == 1 && shape.groups == 1 && shape.inputChannels >= 8
      && shape.outputChannels >= 16 && shape.outputHeight >= 4 && shape.outputWidth >= 4
  }

  /// Output tiles of one image: ⌈OH/2⌉ · ⌈OW/2⌉ (columns of each GEMM).
  public static func winogradTiles(_ shape: Conv2DShape) -> Int {
    WinogradLayout(shape).tiles
  }

  /// Floats of one image's transformed input `V` (16 · Cin · tiles).
  public static func winogradInputCount(_ shape: Conv2DShape) -> Int {
    16 * shape.inputChannels * WinogradLayout(shape).tiles
  }

  /// Floats of one image's GEMM results `M` (16 · Cout · tiles).
  public static func winogradProductCount(_ shape: Conv2DShape) -> Int {
    16 * shape.outputChannels * WinogradLayout(shape).tiles
  }

  /// Floats of scratch `winogradInputTransform` needs per thread (one zero-padded plane).
  public static func winogradInputScratchCount(_ shape: Conv2DShape) -> Int {
    let layout = WinogradLayout(shape)
    return layout.paddedRows * layout.paddedWidth
  }

  /// Floats of scratch `winogradGEMM` needs per thread.
  public static func winogradGEMMScratchCount(_ shape: Conv2DShape) -> Int {
    GEMMKernels.packedGEMMScratchCount(depth: shape.inputChannels)
  }

  /// Step 1: `V[ξ][ci][t] = (Bᵀ · d · B)[ξ]` for the input channels `channels` of one image,
  /// where d is tile t's 4×4 input patch (zero outside the image).
  ///
  /// - Parameters:
  ///   - input: one image, `[Cin, H, W]` floats.
  ///   - transformed: `winogradInputCount(shape)` floats (only these channels' rows written).
  ///   - scratch: `winogradInputScratchCount(shape)` floats, the calling thread's own.
  public static func winogradInputTransform(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, transformed: UnsafeMutablePointer<Float>,
    channels: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    let layout = WinogradLayout(shape)
    let (tiles, tileColumns) = (layout.tiles, layout.tileColumns)
    let positionStride = shape.inputChannels * tiles
    let (width, height) = (shape.inputWidth, shape.inputHeight)
    let padded = scratch
    let paddedWidth = layout.paddedWidth
    padded.update(repeating: 0, count: layout.paddedRows * paddedWidth)
    for channel in channels {
      // The plane at row paddingTop, column paddingLeft of the zeroed buffer; rows and columns
      // past the image are never written, so they stay zero from one channel to the next.
      let plane = input + channel * height * width
      for y in 0..<min(height, layout.paddedRows - shape.paddingTop) {
        let row = padded + (y + shape.paddingTop) * paddedWidth + shape.paddingLeft
        row.update(from: plane + y * width, count: min(width, paddedWidth - shape.paddingLeft))
      }
      let target = transformed + channel * tiles
      for tileRow in 0..<layout.tileRows {
        let rows = padded + 2 * tileRow * paddedWidth
        var tileColumn = 0
        while tileColumn < tileColumns {
          let count = min(8, tileColumns - tileColumn)
          // w_r = (d · B) of patch row r, eight tiles per vector; then V = Bᵀ · w.
          let source = rows + 2 * tileColumn
          let w0 = WinogradTile.rowTransform(source)
          let w1 = WinogradTile.rowTransform(source + paddedWidth)
          let w2 = WinogradTile.rowTransform(source + 2 * paddedWidth)
          let w3 = WinogradTile.rowTransform(source + 3 * paddedWidth)
          let column = target + tileRow * tileColumns + tileColumn
          WinogradTile.storeColumn(w0, w1, w2, w3, column, positionStride: positionStride, count: count)
          tileColumn += 8
        }
      }
    }
  }

  /// Step 2: `M[ξ] = U[ξ] · V[ξ]` for the positions `positions` (a range of `0..<16`), over the
  /// output channels `outputChannels` (nil for all).
  ///
  /// - Parameters:
  ///   - transformed: step 1's `V`, every input channel.
  ///   - products: `winogradProductCount(shape)` floats; row (ξ, co) is written.
  ///   - scratch: `winogradGEMMScratchCount(shape)` floats, the calling thread's own.
  public static func winogradGEMM(
    _ shape: Conv2DShape, weights: WinogradWeights, transformed: UnsafePointer<Float>,
    products: UnsafeMutablePointer<Float>, positions: Range<Int>, outputChannels: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let tiles = WinogradLayout(shape).tiles
    let rows = outputChannels ?? 0..<shape.outputChannels
    precondition(positions.lowerBound >= 0 && positions.upperBound <= 16, "Winograd positions out of range")
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
  /// `M[ξ][co][t]`; writes the channels `outputChannels` of one image's output `[Cout, OH, OW]`.
  public static func winogradOutputTransform(
    _ shape: Conv2DShape, products: UnsafePointer<Float>, weights: WinogradWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, outputChannels: Range<Int>
  ) {
    let layout = WinogradLayout(shape)
    let (tiles, tileColumns) = (layout.tiles, layout.tileColumns)
    let positionStride = shape.outputChannels * tiles
    let (width, height) = (shape.outputWidth, shape.outputHeight)
    let bounds = VectorClamp(clamp)
    for channel in outputChannels {
      let bias = SIMD8<Float>(repeating: weights.bias[channel])
      let source = products + channel * tiles
      let plane = output + channel * height * width
      for tileRow in 0..<layout.tileRows {
        var tileColumn = 0
        while tileColumn < tileColumns {
          let count = min(8, tileColumns - tileColumn)
          let column = source + tileRow * tileColumns + tileColumn
          // u[r] = (m · A)[r]: columns 0 and 1 of each transformed row.
          var u = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
          var v = u
          for r in 0..<4 {
            let m0 = WinogradTile.load(column + (4 * r) * positionStride, count: count)
            let m1 = WinogradTile.load(column + (4 * r + 1) * positionStride, count: count)
            let m2 = WinogradTile.load(column + (4 * r + 2) * positionStride, count: count)
            let m3 = WinogradTile.load(column + (4 * r + 3) * positionStride, count: count)
            let (first, second) = (m0 + m1 + m2, m1 - m2 - m3)
            switch r {
            case 0: (u.0, v.0) = (first, second)
            case 1: (u.1, v.1) = (first, second)
            case 2: (u.2, v.2) = (first, second)
            default: (u.3, v.3) = (first, second)
            }
          }
          let y00 = bounds(u.0 + u.1 + u.2 + bias)
          let y01 = bounds(v.0 + v.1 + v.2 + bias)
          let y10 = bounds(u.1 - u.2 - u.3 + bias)
          let y11 = bounds(v.1 - v.2 - v.3 + bias)
          let x = 2 * tileColumn
          let pixels = min(16, width - x)
          let y = 2 * tileRow
          WinogradTile.storeInterleaved(y00, y01, plane + y * width + x, count: pixels)
          if y + 1 < height {
            WinogradTile.storeInterleaved(y10, y11, plane + (y + 1) * width + x, count: pixels)
          }
          tileColumn += 8
        }
      }
    }
  }

  /// The whole convolution of every image on one thread (tests and the reference for the
  /// split the runtime runs).
  ///
  /// - Parameter scratch: `winogradScratchCount(shape)` floats.
  public static func conv2dWinograd(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: WinogradWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, scratch: UnsafeMutablePointer<Float>
  ) {
    let transformed = scratch
    let products = transformed + winogradInputCount(shape)
    let threadScratch = products + winogradProductCount(shape)
    let (inputImage, outputImage) = (shape.inputChannels * shape.inputHeight * shape.inputWidth,
      shape.outputChannels * shape.outputHeight * shape.outputWidth)
    for image in 0..<shape.batch {
      winogradInputTransform(
        shape, input: input + image * inputImage, transformed: transformed, channels: 0..<shape.inputChannels,
        scratch: threadScratch)
      winogradGEMM(
        shape, weights: weights, transformed: transformed, products: products, positions: 0..<16,
        scratch: threadScratch)
      winogradOutputTransform(
        shape, products: products, weights: weights, output: output + image * outputImage, clamp: clamp,
        outputChannels: 0..<shape.outputChannels)
    }
  }

  /// Floats of scratch `conv2dWinograd` needs.
  public static func winogradScratchCount(_ shape: Conv2DShape) -> Int {
    winogradInputCount(shape) + winogradProductCount(shape)
      + max(winogradInputScratchCount(shape), winogradGEMMScratchCount(shape))
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

/// Where the tiles lie for one shape.
struct WinogradLayout {
  /// ⌈OH/2⌉, ⌈OW/2⌉ and their product.
  let tileRows: Int
  let tileColumns: Int
  let tiles: Int
  /// The zero-padded plane the input transform reads: 2 · tile rows + 2 rows, and columns for
  /// whole groups of eight tiles (2 · 8 · ⌈tile columns / 8⌉ + 2).
  let paddedRows: Int
  let paddedWidth: Int

  init(_ shape: Conv2DShape) {
    tileRows = (shape.outputHeight + 1) / 2
    tileColumns = (shape.outputWidth + 1) / 2
    tiles = tileRows * tileColumns
    paddedRows = 2 * tileRows + 2
    paddedWidth = 16 * ((tileColumns + 7) / 8) + 2
  }
}

typealias Vectors4 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

/// The transforms' vector steps on eight tiles side by side, and the partial loads and stores
/// of the last group of a tile row.
enum WinogradTile {
  /// `d · B` of one patch row for eight tiles side by side: `source` holds the row's floats
  /// from the first tile's (two per tile, then two more).
  @inline(__always)
  static func rowTransform(_ source: UnsafePointer<Float>) -> Vectors4 {
    let first = SIMD16<Float>(lowHalf: load8(source), highHalf: load8(source + 8))
    let second = SIMD16<Float>(lowHalf: load8(source + 2), highHalf: load8(source + 10))
    let (d0, d1, d2, d3) = (first.evenHalf, first.oddHalf, second.evenHalf, second.oddHalf)
    return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
  }

  /// `V = Bᵀ · w` for the row transforms w0 … w3: V[4i + j] to `column + (4i + j) ·
  /// positionStride`, `count` tiles each.
  @inline(__always)
  static func storeColumn(
    _ w0: Vectors4, _ w1: Vectors4, _ w2: Vectors4, _ w3: Vectors4, _ column: UnsafeMutablePointer<Float>,
    positionStride: Int, count: Int
  ) {
    @inline(__always)
    func put(_ row: Int, _ v: Vectors4) {
      let target = column + 4 * row * positionStride
      store(v.0, target, count: count)
      store(v.1, target + positionStride, count: count)
      store(v.2, target + 2 * positionStride, count: count)
      store(v.3, target + 3 * positionStride, count: count)
    }
    put(0, (w0.0 - w2.0, w0.1 - w2.1, w0.2 - w2.2, w0.3 - w2.3))
    put(1, (w1.0 + w2.0, w1.1 + w2.1, w1.2 + w2.2, w1.3 + w2.3))
    put(2, (w2.0 - w1.0, w2.1 - w1.1, w2.2 - w1.2, w2.3 - w1.3))
    put(3, (w1.0 - w3.0, w1.1 - w3.1, w1.2 - w3.2, w1.3 - w3.3))
  }

  /// The first `count` (1 ... 8) lanes of `value` to `pointer`.
  @inline(__always)
  static func store(_ value: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>, count: Int) {
    if count == 8 { store8(value, pointer) } else { storePartial8(value, pointer, count: count) }
  }

  /// `count` (1 ... 8) floats at `pointer`, zero in the other lanes.
  @inline(__always)
  static func load(_ pointer: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
    count == 8 ? load8(pointer) : loadPartial8(pointer, count: count)
  }

  /// a[0], b[0], a[1], b[1], …, a[7], b[7]: the first `count` (1 ... 16) of them to `pointer`.
  @inline(__always)
  static func storeInterleaved(
    _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>, count: Int
  ) {
    let low = SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3])
    let high = SIMD8(a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
    if count == 16 {
      store8(low, pointer)
      store8(high, pointer + 8)
    } else if count > 8 {
      store8(low, pointer)
      storePartial8(high, pointer + 8, count: count - 8)
    } else {
      store(low, pointer, count: count)
    }
  }
}

/// A 3×3 convolution's weights transformed for Winograd F(2×2, 3×3) (Note [Winograd F(2×2,
/// 3×3)]) and packed: 16 matrices `U[ξ]` of `[Cout, Cin]` as the groups of one
/// `PackedWeights`, and the bias, which the output transform adds.
///
/// Immutable after `init`, so one instance may be shared by every thread of a runtime.
public final class WinogradWeights: @unchecked Sendable {
  /// `U[ξ] = (G · g · Gᵀ)[ξ]` per (co, ci), as group ξ.
  public let transformed: PackedWeights
  /// `Cout` values (zero without a bias).
  let bias: [Float]

  /// - Parameters:
  ///   - weight: `[Cout, Cin, 3, 3]` as PyTorch stores it.
  ///   - bias: `Cout` values or nil.
  public init(_ shape: Conv2DShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    precondition(
      shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.groups == 1,
      "Winograd weights need a 3×3, one-group convolution")
    let (outputs, inputs) = (shape.outputChannels, shape.inputChannels)
    var matrices = [Float](repeating: 0, count: 16 * outputs * inputs)
    for co in 0..<outputs {
      for ci in 0..<inputs {
        let g = weight + (co * inputs + ci) * 9
        // G · g (4×3), in double so each value is rounded once.
        var left = [Double](repeating: 0, count: 12)
        for column in 0..<3 {
          let (g0, g1, g2) = (Double(g[column]), Double(g[3 + column]), Double(g[6 + column]))
          left[column] = g0
          left[3 + column] = (g0 + g1 + g2) / 2
          left[6 + column] = (g0 - g1 + g2) / 2
          left[9 + column] = g2
        }
        for row in 0..<4 {
          let (t0, t1, t2) = (left[3 * row], left[3 * row + 1], left[3 * row + 2])
          let values = [t0, (t0 + t1 + t2) / 2, (t0 - t1 + t2) / 2, t2]
          for column in 0..<4 {
            matrices[((4 * row + column) * outputs + co) * inputs + ci] = Float(values[column])
          }
        }
      }
    }
    transformed = matrices.withUnsafeBufferPointer {
      PackedWeights(rows: outputs, depth: inputs, groups: 16, weights: $0.baseAddress!, rowStride: inputs, bias: nil)
    }
    self.bias = bias.map { Array(UnsafeBufferPointer(start: $0, count: outputs)) } ?? [Float](repeating: 0, count: outputs)
  }
}
