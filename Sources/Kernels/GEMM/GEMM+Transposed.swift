/// The transposed-tile GEMM: `C = clamp(A · B + bias)` computed tile by tile as Cᵀ, with A's
/// rows as the vector lanes and B's columns broadcast (Note [Transposed tiles]).
///
/// Same contract as `packedGEMM` (B `[K, N]` with unit column stride, C `[M, N]`, only the
/// requested sub-block written), except that A is packed as `VectorPanelWeights` and a row
/// range must start at a multiple of its panel height (a thread's share of whole panels).
extension GEMMKernels {
  /// Floats of scratch `transposedGEMM` needs.
  public static func transposedGEMMScratchCount(depth: Int) -> Int {
    TransposedTiling.standard.scratchCount(depth: depth)
  }

  /// `C = clamp(A · B + bias)` over rows `rows` (starting at a multiple of
  /// `weights.panelRows`) and columns `columns` of C.
  public static func transposedGEMM(
    weights: VectorPanelWeights, b: UnsafePointer<Float>, bRowStride: Int, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, clamp: OutputClamp, rows: Range<Int>, columns: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    transposedGEMM(
      weights: weights, b: b, bRowStride: bRowStride, c: c, cRowStride: cRowStride, clamp: clamp, rows: rows,
      columns: columns, scratch: scratch, tiling: .standard)
  }

  static func transposedGEMM(
    weights: VectorPanelWeights, b: UnsafePointer<Float>, bRowStride: Int, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, clamp: OutputClamp, rows: Range<Int>, columns: Range<Int>, scratch: UnsafeMutablePointer<Float>,
    tiling: TransposedTiling
  ) {
    let (pr, tc) = (weights.panelRows, weights.tileColumns)
    precondition(rows.lowerBound % pr == 0 && rows.upperBound <= weights.rows, "transposed GEMM rows out of range")
    if rows.isEmpty || columns.isEmpty { return }
    let depth = weights.depth
    let (depthBlocks, kc) = tiling.blockDepth(depth)
    let cTransposed = scratch
    let edgePanel = scratch + tiling.columnBlock * 24
    let bounds = VectorClamp(clamp)
    // Stores a finished block with the clamp's bounds (Note [Store activations]).
    @inline(__always)
    func store(_ m0: Int, _ j0: Int, _ width: Int) {
      let (rowCount, target) = (min(pr, rows.upperBound - m0), c + (m0 - rows.lowerBound) * cRowStride + (j0 - columns.lowerBound))
      func write(_ bounds: some StoreBounds) {
        storeTransposed(
          cTransposed, panelRows: pr, columns: width, rows: rowCount, c: target, cRowStride: cRowStride, bounds: bounds,
          clamps: !clamp.isNone)
      }
      if clamp.activation == .hardswish { write(StoreHardswish()) } else { write(bounds) }
    }
    for j0 in stride(from: columns.lowerBound, to: columns.upperBound, by: tiling.columnBlock) {
      let blockEnd = min(j0 + tiling.columnBlock, columns.upperBound)
      let width = blockEnd - j0
      let fullTiles = width / tc
      let edge = width - fullTiles * tc
      if edge > 0 {
        // The last columns, fewer than a tile: copied once, for the whole depth, into a
        // zero-padded panel that every row panel reads, so that no read leaves B.
        let source = b + j0 + fullTiles * tc
        for k in 0..<depth {
          for j in 0..<edge { edgePanel[k * tc + j] = source[k * bRowStride + j] }
          for j in edge..<tc { edgePanel[k * tc + j] = 0 }
        }
      }
      for m0 in stride(from: rows.lowerBound, to: rows.upperBound, by: pr) {
        let panel = weights.panel(row: m0)
        let bias = weights.panelBias(row: m0)
        for block in 0..<depthBlocks {
          let k0 = block * kc
          let count = min(kc, depth - k0)
          let w = panel + k0 * pr
          let bBlock = b + k0 * bRowStride + j0
          // Tile t of the block: the panel height's kernel on `columns` (k-th row at
          // `columns + k · stride`), into its columns of Cᵀ.
          @inline(__always)
          func tile(_ t: Int, columns: UnsafePointer<Float>, stride: Int) {
            let (ct, start) = (cTransposed + t * tc * pr, block == 0 ? bias : nil)
            if pr == 16 {
              transposedTile6x16(depth: count, w: w, b: columns, bRowStride: stride, ct: ct, bias: start)
            } else {
              transposedTile4x24(depth: count, w: w, b: columns, bRowStride: stride, ct: ct, bias: start)
            }
          }
          for t in 0..<fullTiles { tile(t, columns: bBlock + t * tc, stride: bRowStride) }
          if edge > 0 { tile(fullTiles, columns: edgePanel + k0 * tc, stride: tc) }
        }
        store(m0, j0, width)
      }
    }
  }

  /// Six columns of B (`b[k · bRowStride + j]`, j < 6) times a 16-row panel of A (`w[16·k + m]`)
  /// over `depth` steps of k, into `ct[16·j + m]`: started from `bias` when given, else added
  /// to what `ct` holds.
  @inline(never)
  static func transposedTile6x16(
    depth: Int, w: UnsafePointer<Float>, b: UnsafePointer<Float>, bRowStride: Int, ct: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?
  ) {
    var (r00, r01, r10, r11, r20, r21): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    var (r30, r31, r40, r41, r50, r51): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    if let bias {
      (r00, r01) = (load8(bias), load8(bias + 8))
      (r10, r11, r20, r21, r30, r31) = (r00, r01, r00, r01, r00, r01)
      (r40, r41, r50, r51) = (r00, r01, r00, r01)
    } else {
      (r00, r01, r10, r11) = (load8(ct), load8(ct + 8), load8(ct + 16), load8(ct + 24))
      (r20, r21, r30, r31) = (load8(ct + 32), load8(ct + 40), load8(ct + 48), load8(ct + 56))
      (r40, r41, r50, r51) = (load8(ct + 64), load8(ct + 72), load8(ct + 80), load8(ct + 88))
    }
    var (w, row) = (w, b)
    for _ in 0..<depth {
      let (w0, w1) = (load8(w), load8(w + 8))
      var s = SIMD8<Float>(repeating: row[0])
      r00.addProduct(s, w0)
      r01.addProduct(s, w1)
      s = SIMD8(repeating: row[1])
      r10.addProduct(s, w0)
      r11.addProduct(s, w1)
      s = SIMD8(repeating: row[2])
      r20.addProduct(s, w0)
      r21.addProduct(s, w1)
      s = SIMD8(repeating: row[3])
      r30.addProduct(s, w0)
      r31.addProduct(s, w1)
      s = SIMD8(repeating: row[4])
      r40.addProduct(s, w0)
      r41.addProduct(s, w1)
      s = SIMD8(repeating: row[5])
      r50.addProduct(s, w0)
      r51.addProduct(s, w1)
      w += 16
      row += bRowStride
    }
    store8(r00, ct)
    store8(r01, ct + 8)
    store8(r10, ct + 16)
    store8(r11, ct + 24)
    store8(r20, ct + 32)
    store8(r21, ct + 40)
    store8(r30, ct + 48)
    store8(r31, ct + 56)
    store8(r40, ct + 64)
    store8(r41, ct + 72)
    store8(r50, ct + 80)
    store8(r51, ct + 88)
  }

  /// Four columns of B (`b[k · bRowStride + j]`, j < 4) times a 24-row panel of A
  /// (`w[24·k + m]`) over `depth` steps of k, into `ct[24·j + m]`: started from `bias` when
  /// given, else added to what `ct` holds.
  @inline(never)
  static func transposedTile4x24(
    depth: Int, w: UnsafePointer<Float>, b: UnsafePointer<Float>, bRowStride: Int, ct: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?
  ) {
    var (r00, r01, r02, r10, r11, r12): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    var (r20, r21, r22, r30, r31, r32): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    if let bias {
      (r00, r01, r02) = (load8(bias), load8(bias + 8), load8(bias + 16))
      (r10, r11, r12, r20, r21, r22) = (r00, r01, r02, r00, r01, r02)
      (r30, r31, r32) = (r00, r01, r02)
    } else {
      (r00, r01, r02, r10, r11, r12) = (load8(ct), load8(ct + 8), load8(ct + 16), load8(ct + 24), load8(ct + 32), load8(ct + 40))
      (r20, r21, r22, r30, r31, r32) = (
        load8(ct + 48), load8(ct + 56), load8(ct + 64), load8(ct + 72), load8(ct + 80), load8(ct + 88)
      )
    }
    var (w, row) = (w, b)
    for _ in 0..<depth {
      let (w0, w1, w2) = (load8(w), load8(w + 8), load8(w + 16))
      var s = SIMD8<Float>(repeating: row[0])
      r00.addProduct(s, w0)
      r01.addProduct(s, w1)
      r02.addProduct(s, w2)
      s = SIMD8(repeating: row[1])
      r10.addProduct(s, w0)
      r11.addProduct(s, w1)
      r12.addProduct(s, w2)
      s = SIMD8(repeating: row[2])
      r20.addProduct(s, w0)
      r21.addProduct(s, w1)
      r22.addProduct(s, w2)
      s = SIMD8(repeating: row[3])
      r30.addProduct(s, w0)
      r31.addProduct(s, w1)
      r32.addProduct(s, w2)
      w += 24
      row += bRowStride
    }
    store8(r00, ct)
    store8(r01, ct + 8)
    store8(r02, ct + 16)
    store8(r10, ct + 24)
    store8(r11, ct + 32)
    store8(r12, ct + 40)
    store8(r20, ct + 48)
    store8(r21, ct + 56)
    store8(r22, ct + 64)
    store8(r30, ct + 72)
    store8(r31, ct + 80)
    store8(r32, ct + 88)
  }

  /// Writes `ct` (`columns` columns of `panelRows` rows, `ct[panelRows·j + m]`) into rows `0..<rows` of C,
  /// clamped: 8×8 blocks transposed in registers, the last columns one by one.
  @inline(never)
  static func storeTransposed(
    _ ct: UnsafePointer<Float>, panelRows pr: Int, columns: Int, rows: Int, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, bounds: some StoreBounds, clamps: Bool
  ) {
    var j = 0
    while j + 8 <= columns {
      for half in 0..<pr / 8 where half * 8 < rows {
        let source = ct + j * pr + half * 8
        var t = transpose8x8(load8Rows(source, stride: pr))
        if clamps {
          t = (bounds(t.0), bounds(t.1), bounds(t.2), bounds(t.3), bounds(t.4), bounds(t.5), bounds(t.6), bounds(t.7))
        }
        let target = c + half * 8 * cRowStride + j
        let count = min(8, rows - half * 8)
        if count == 8 {
          store8Rows(t, target, stride: cRowStride)
        } else {
          withUnsafeBytes(of: t) { raw in
            let vectors = raw.bindMemory(to: SIMD8<Float>.self)
            for m in 0..<count { store8(vectors[m], target + m * cRowStride) }
          }
        }
      }
      j += 8
    }
    while j < columns {
      for m in 0..<rows { c[m * cRowStride + j] = bounds.scalar(ct[j * pr + m]) }
      j += 1
    }
  }
}

/// Block sizes of the transposed-tile GEMM (Note [Transposed tiles]).
struct TransposedTiling {
  /// Most steps of k per pass over a column block.
  var depthBlock: Int
  /// Columns of C per block: a multiple of every tile width (6 and 4).
  var columnBlock: Int

  static let standard = TransposedTiling(depthBlock: 128, columnBlock: 96)

  /// Cᵀ for one column block, then the edge tile's panel of B over the whole depth (for panels
  /// of up to 24 rows and tiles of up to 6 columns).
  func scratchCount(depth: Int) -> Int {
    columnBlock * 24 + depth * 6
  }

  /// The depth blocks of a K-long reduction: as few as `depthBlock` allows, of equal size.
  func blockDepth(_ depth: Int) -> (count: Int, depth: Int) {
    let count = max(1, (depth + depthBlock - 1) / depthBlock)
    return (count, (depth + count - 1) / count)
  }
}

/// A weight matrix (A, `[rows, depth]`) and its bias packed for the transposed-tile GEMM:
/// panels of 16 rows, each stored k by k, so that row m of panel p at step k is
/// `values[p · depth · 16 + k · 16 + m mod 16]` (zero past `rows`). Immutable after `init`.
public final class VectorPanelWeights: @unchecked Sendable {
  /// Rows of A (M: output channels).
  public let rows: Int
  /// Columns of A (K: input channels).
  public let depth: Int
  /// Rows per panel: 16 (two vectors; tiles of 6 columns) or 24 (three; tiles of 4).
  public let panelRows: Int
  /// Columns of C per micro-kernel tile: 6 for panels of 16 rows, 4 for panels of 24.
  public var tileColumns: Int { panelRows == 16 ? 6 : 4 }
  /// The panels.
  let values: UnsafeMutablePointer<Float>
  /// One bias per row, zero where absent and past `rows`.
  let biasValues: UnsafeMutablePointer<Float>

  /// The panel height for a matrix of `rows` rows: 24 (tiles of 4 columns, which divide 14×14
  /// and 28×28 planes) unless panels of 16 leave fewer zero rows (64 rows: three panels of 24
  /// would compute 72).
  public static func panelRows(forRows rows: Int) -> Int {
    (rows + 23) / 24 * 24 <= (rows + 15) / 16 * 16 ? 24 : 16
  }

  /// Packs `rows × depth`, element (m, k) read from `weights[m · rowStride + k]`, and `rows`
  /// bias values (nil for zero).
  public init(
    rows: Int, depth: Int, weights: UnsafePointer<Float>, rowStride: Int, bias: UnsafePointer<Float>?,
    panelRows pr: Int = 16
  ) {
    precondition(pr == 16 || pr == 24, "vector panels hold 16 or 24 rows")
    self.rows = rows
    self.depth = depth
    panelRows = pr
    let panels = (rows + pr - 1) / pr
    values = allocateAligned(panels * depth * pr)
    biasValues = allocateAligned(panels * pr)
    values.initialize(repeating: 0, count: panels * depth * pr)
    biasValues.initialize(repeating: 0, count: panels * pr)
    for m in 0..<rows {
      let target = values + (m / pr) * depth * pr + m % pr
      for k in 0..<depth { target[k * pr] = weights[m * rowStride + k] }
    }
    if let bias { biasValues.update(from: bias, count: rows) }
  }

  deinit {
    deallocateAligned(values)
    deallocateAligned(biasValues)
  }

  /// The panel holding row `row` (a multiple of `panelRows`).
  @inline(__always) func panel(row: Int) -> UnsafePointer<Float> {
    UnsafePointer(values + (row / panelRows) * depth * panelRows)
  }

  /// The `panelRows` bias values of the panel starting at row `row`.
  @inline(__always) func panelBias(row: Int) -> UnsafePointer<Float> { UnsafePointer(biasValues + row) }
}

// Note [Transposed tiles]
// The 6×16 micro-kernel of the packed GEMM holds 6 rows of A (broadcast) against 16 columns of
// B (two vectors) per step of k. A 1×1 projection such as MobileNetV2's 576 → 96 channels on
// 14×14 has few rows and a deep, short-rowed B (576 rows of 196 floats, 450 KB: more than L2
// holds next to everything else), and every 6-row panel of A streams all of B again: 16 passes
// over B, each reading 64 bytes per step of k per tile, from L2 or L3.
// Here the roles swap: C is computed as Cᵀ = Bᵀ · Aᵀ, a panel of rows of A (output channels)
// as the vectors, read from `VectorPanelWeights` (one sequential stream per panel that stays in
// L1 for a depth block of 128), and a few columns of B (output pixels) broadcast. Two kernels,
// both 12 accumulators: 24 rows (three vectors) × 4 columns, and 16 rows × 6 columns. B is
// streamed once per 24 (or 16) rows instead of once per 6, and the loads per multiply-add are
// no more than the 6×16 kernel's. The tile's results are pixel-major (a pixel's channels in
// consecutive vectors), so they collect in a Cᵀ scratch for one column block (96 pixels) over
// the depth blocks, started from the bias, and go to C once, transposed 8×8 in registers and
// clamped. A last tile narrower than the kernel reads a zero-padded copy of its columns, so
// nothing past B is read. Each element's sum runs over k in order in one accumulator, so
// results do not depend on the blocking or on a split into panels or column ranges; they
// differ from the packed GEMM's (which sums the same products in another order when it blocks
// the depth) only by rounding.
// Where it is used (`ConvolutionKernels.prefersTransposedTiles`): 1×1 convolutions, one group,
// depth at least 256 and at least twice the output channels, on planes of 100 to 800 pixels;
// panels of 24 rows unless panels of 16 leave fewer zero rows (64 channels).
// Measured on the Zen 2 host (2026-11-24, one thread, per-node profile in MobileNetV2, four
// alternating runs): 576 → 96 on 14×14 0.28 → 0.26 ms with 16-row panels and → 0.245 ms with
// 24-row ones (196 = 49 tiles of 4; 32 of 6 and one of 4), 384 → 96 0.18 → 0.175 → 0.166 ms,
// 384 → 64 0.125 → 0.115 ms; whole models moved less than the run-to-run drift (0.99–1.01×).
// Not used: on 7×7 planes (49 = 8 tiles of 6 + 1) 960 → 320 went 0.39 → 0.47 ms and
// 320 → 1280 0.52 → 0.66 ms with 16-row panels, and 960 → 160 and 960 → 320 stayed 2–5% slower
// than the packed GEMM with 24-row ones (5–11% with depth blocks of 64 or 40, which keep a
// block's weights and B rows in L1 together); on wide A (SqueezeNet's 512 → 1000 classifier, 63
// panels each streaming B) 1.96 → 2.18 ms; expansions (96 → 576) 7% slower. Depth blocks of 64
// or 288 and column blocks of 48 or 198 measured within ±2% of 128 and 96.
// Widened (2026-11-24, per-node profiles, three alternating pairs of runs) to depth 64 and more
// when the output channels are not a multiple of 6 (the packed GEMM's panels then end in a 2- or
// 4-row one), on planes of up to 4096 pixels: SqueezeNet's squeeze layers 6–11% faster (128 → 16
// on 55×55 0.187 → 0.175 ms, 128 → 32 on 27×27 0.089 → 0.079 ms, 64 → 16 0.103 → 0.097 ms), but
// the 3×3 layers reading their output about 1% slower, SqueezeNet 0.997×; MobileNetV2's 192 → 32
// and 144 → 32 on 28×28 and MobileNetV3-Small's 240 → 40 and 96 → 40 on 14×14 within noise, the
// models unchanged. Not kept.
