// Note [Winograd F(4×4, 3×3)]
// The same algorithm as Note [Winograd F(2×2, 3×3)] with 4×4 output tiles from 6×6 input
// patches (Lavin & Gray, interpolation points 0, ±1, ±2 and ∞):
//
//     Bᵀ = | 4  0 −5  0  1  0 |    G = |  1/4     0     0  |    Aᵀ = | 1  1  1  1  1  0 |
//          | 0 −4 −4  1  1  0 |        | −1/6  −1/6  −1/6  |         | 0  1 −1  2 −2  0 |
//          | 0  4 −4 −1  1  0 |        | −1/6   1/6  −1/6  |         | 0  1  1  4  4  0 |
//          | 0 −2 −1  2  1  0 |        | 1/24  1/12   1/6  |         | 0  1 −1  8 −8  1 |
//          | 0  2 −1 −2  1  0 |        | 1/24 −1/12   1/6  |
//          | 0  4  0 −5  0  1 |        |   0     0     1   |
//
// 36 positions ξ, so a 4×4 tile costs 36 multiply-adds per (co, ci) instead of the direct
// convolution's 144 (F(2×2)'s 16 per 2×2 tile are 64 per 16 pixels): the GEMMs do 1.78× less
// work than F(2×2)'s. The transforms cost about the same per pixel (the 6×6 ones take more
// operations per tile, but a tile has four times the pixels), and V and M hold 36/16 floats per
// pixel instead of 4, so the output transform reads 44% less. The price is rounding: the
// transforms multiply by 2, 4 and 8, and U's entries hold 1/6 and 1/24 (not exact in binary),
// so the error is about ten times F(2×2)'s: a few 1e-5 of 1 + |output| on unscaled random
// layers (the kernel tests' bounds), and on the real models it left the end-to-end error where
// it was (SqueezeNet 2.9e-7 and ResNet-18 5.8e-7 of the largest output, against PyTorch).
// Tile t covers output rows 4ty ..< 4ty + 4 and columns 4tx ..< 4tx + 4, reading padded input
// rows 4ty ..< 4ty + 6 and columns 4tx ..< 4tx + 6. Each padded row is split into four column
// phases, so patch column j of eight consecutive tiles is one vector load: phase j mod 4 from
// tile t + ⌊j / 4⌋. The output transform's four columns of eight tiles become each output row's
// 32 pixels by a 4×4 transpose within each 128-bit half, stored as eight half vectors.
// Three things LLVM does to this code made it slower than F(2×2) at first (each measured on
// SqueezeNet's 16→64 layer on 55×55, one thread): `addingProduct`, which Swift implements lane
// by lane, came back from the vectorizer as vectors rebuilt from single lanes; so did the
// lane-by-lane clamp of `VectorClamp` among the output transform's 36 loads; and shuffles that
// LLVM can see the arithmetic of get moved up into it. So the transforms use `*` and `+` only,
// and the output transform stores its 16 vectors to a small block that an out-of-line function
// adds the bias to, clamps and transposes. Also, a last group of fewer than eight tiles
// recomputes the group ending at the row's last tile instead of storing lanes one by one.
// Measured side by side on the Zen 2 host (2026-11-24, one thread, per-node profile): the
// 16→64 layer 0.64 → 0.46 ms (ONNX Runtime 0.55 ms); whole models, alternating runs:
// SqueezeNet 0.91× at one thread and 0.93× at two, ResNet-18 0.88× and 0.90×.
// Where it is used (`ConvolutionKernels.winogradTileSize`): planes of at least 14×14. On 7×7
// (ResNet-18's 512→512: 1.96 → 4.0 ms) and 13×13 (SqueezeNet's 48→192 and 64→256: 0.27 →
// 0.35 ms and 0.42 → 0.52 ms) the partial tiles waste more than F(4×4) saves; on 14×14
// (ResNet-18's 256→256) it was 5% faster (1.58 → 1.50 ms).

/// Writes `count` (at least 16) floats of an image row into the four column phases of a padded
/// row: padded column c = `paddingLeft` + i at `target + (c mod 4) · phaseStride + ⌊c / 4⌋`
/// (Note [Winograd F(4×4, 3×3)]).
func scatterFourPhases(
  _ source: UnsafePointer<Float>, count: Int, paddingLeft: Int, into target: UnsafeMutablePointer<Float>,
  phaseStride: Int
) {
  forEachWindow(count, width: 16) { start in
    let values = SIMD16(lowHalf: load8(source + start), highHalf: load8(source + start + 8))
    let (even, odd) = (values.evenHalf, values.oddHalf)
    // Lanes k, k + 4, k + 8, k + 12 for k = 0 … 3.
    let lanes = (even.evenHalf, odd.evenHalf, even.oddHalf, odd.oddHalf)
    let first = start + paddingLeft
    @inline(__always)
    func put(_ k: Int, _ value: SIMD4<Float>) {
      let column = first + k
      UnsafeMutableRawPointer(target + (column & 3) * phaseStride + column >> 2).storeBytes(
        of: value, as: SIMD4<Float>.self)
    }
    put(0, lanes.0)
    put(1, lanes.1)
    put(2, lanes.2)
    put(3, lanes.3)
  }
}

typealias Vectors6 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

/// The F(4×4, 3×3) transforms on eight tiles side by side (lane t is tile t of the group).
enum Winograd4Tile {
  /// Bᵀ · x for the six values x of one patch row or column.
  ///
  /// Multiplies only by powers of two (exact), as (x₄ − x₂) + 4(x₀ − x₂) for 4x₀ − 5x₂ + x₄ and
  /// so on; and with `*` and `+`, not `addingProduct`, which Swift implements lane by lane: in
  /// a function this size LLVM then rebuilt the vectors from single lanes (three times slower).
  @inline(__always)
  static func inputSix(_ x: Vectors6) -> Vectors6 {
    let (x0, x1, x2, x3, x4, x5) = x
    let (two, four) = (SIMD8<Float>(repeating: 2), SIMD8<Float>(repeating: 4))
    let (a, b) = (x4 - x2, x3 - x1)
    return (
      a + four * (x0 - x2),
      (x3 + x4) - four * (x1 + x2),
      (x4 - x3) + four * (x1 - x2),
      a + two * b,
      a - two * b,
      (x5 - x3) + four * (x1 - x3)
    )
  }

  /// Aᵀ · x for the six values x of one row or column of M.
  @inline(__always)
  static func outputFour(_ x: Vectors6) -> Vectors4 {
    let (x0, x1, x2, x3, x4, x5) = x
    let (sum12, difference12, sum34, difference34) = (x1 + x2, x1 - x2, x3 + x4, x3 - x4)
    return (
      x0 + sum12 + sum34,
      difference12 + SIMD8(repeating: 2) * difference34,
      sum12 + SIMD8(repeating: 4) * sum34,
      (difference12 + x5) + SIMD8(repeating: 8) * difference34
    )
  }

  /// `V = Bᵀ · d · B` of eight tiles, d read from the phase-split padded rows at `rows` (the
  /// group's first tile), stored at `column + ξ · positionStride`.
  @inline(__always)
  static func inputTransform(
    _ rows: UnsafePointer<Float>, rowLength: Int, phase: Int, next: Int, into column: UnsafeMutablePointer<Float>,
    positionStride: Int
  ) {
    @inline(__always)
    func row(_ r: Int) -> Vectors6 {
      let line = rows + r * rowLength
      return inputSix((
        load8(line), load8(line + phase), load8(line + 2 * phase), load8(line + 3 * phase), load8(line + next),
        load8(line + phase + next)
      ))
    }
    inputColumns((row(0), row(1), row(2), row(3), row(4), row(5)), into: column, positionStride: positionStride)
  }

  /// The second half of `V = Bᵀ · d · B`: `Bᵀ` applied to each column j of the six row
  /// transforms `w` (each `inputSix` of a patch row), V[6i + j] stored at `column + (6i + j) ·
  /// positionStride`.
  @inline(__always)
  static func inputColumns(
    _ w: (Vectors6, Vectors6, Vectors6, Vectors6, Vectors6, Vectors6), into column: UnsafeMutablePointer<Float>,
    positionStride: Int
  ) {
    let (w0, w1, w2, w3, w4, w5) = w
    @inline(__always)
    func put(_ j: Int, _ v: Vectors6) {
      let target = column + j * positionStride
      let step = 6 * positionStride
      store8(v.0, target)
      store8(v.1, target + step)
      store8(v.2, target + 2 * step)
      store8(v.3, target + 3 * step)
      store8(v.4, target + 4 * step)
      store8(v.5, target + 5 * step)
    }
    put(0, inputSix((w0.0, w1.0, w2.0, w3.0, w4.0, w5.0)))
    put(1, inputSix((w0.1, w1.1, w2.1, w3.1, w4.1, w5.1)))
    put(2, inputSix((w0.2, w1.2, w2.2, w3.2, w4.2, w5.2)))
    put(3, inputSix((w0.3, w1.3, w2.3, w3.3, w4.3, w5.3)))
    put(4, inputSix((w0.4, w1.4, w2.4, w3.4, w4.4, w5.4)))
    put(5, inputSix((w0.5, w1.5, w2.5, w3.5, w4.5, w5.5)))
  }

  /// `inputTransform` of fewer than eight tiles: only the first `count` lanes of each position
  /// stored (through `scratch`, 36 · 8 floats), so nothing past the row of tiles is written.
  static func inputTransform(
    _ rows: UnsafePointer<Float>, rowLength: Int, phase: Int, next: Int, into column: UnsafeMutablePointer<Float>,
    positionStride: Int, count: Int, scratch: UnsafeMutablePointer<Float>
  ) {
    inputTransform(rows, rowLength: rowLength, phase: phase, next: next, into: scratch, positionStride: 8)
    for position in 0..<36 {
      (column + position * positionStride).update(from: scratch + 8 * position, count: count)
    }
  }

  /// `Aᵀ · m · A + bias`, clamped, of eight tiles, m[ξ] at `column + ξ · positionStride`: output
  /// row i (of the first `rows`) at `target + i · rowStride`, its first `pixels` (≤ 32) pixels,
  /// tile t's at 4t ..< 4t + 4. `block` (128 floats) holds the 16 result vectors on their way to
  /// `transposeRows`.
  @inline(__always)
  static func outputTransform(
    _ column: UnsafePointer<Float>, positionStride: Int, bias: SIMD8<Float>, bounds: some StoreBounds,
    into target: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, pixels: Int,
    block: UnsafeMutablePointer<Float>
  ) {
    @inline(__always)
    func row(_ r: Int) -> Vectors4 {
      let m = column + 6 * r * positionStride
      return outputFour((
        load8(m), load8(m + positionStride), load8(m + 2 * positionStride), load8(m + 3 * positionStride),
        load8(m + 4 * positionStride), load8(m + 5 * positionStride)
      ))
    }
    let (q0, q1, q2, q3, q4, q5) = (row(0), row(1), row(2), row(3), row(4), row(5))
    @inline(__always)
    func put(_ j: Int, _ y: Vectors4) {
      store8(y.0, block + 8 * j)
      store8(y.1, block + 32 + 8 * j)
      store8(y.2, block + 64 + 8 * j)
      store8(y.3, block + 96 + 8 * j)
    }
    put(0, outputFour((q0.0, q1.0, q2.0, q3.0, q4.0, q5.0)))
    put(1, outputFour((q0.1, q1.1, q2.1, q3.1, q4.1, q5.1)))
    put(2, outputFour((q0.2, q1.2, q2.2, q3.2, q4.2, q5.2)))
    put(3, outputFour((q0.3, q1.3, q2.3, q3.3, q4.3, q5.3)))
    transposeRows(block, bias: bias, bounds: bounds, into: target, rowStride: rowStride, rows: rows, pixels: pixels)
  }

  /// Output rows from `block`, plus `bias`, clamped: row i's four vectors at `block + 32i + 8j`
  /// hold column j of eight tiles, and pixel 4t + j of the row is lane t of vector j; the first
  /// `pixels` of each of the first `rows` rows go to `target + i · rowStride`.
  ///
  /// Out of line, and fed through memory, on purpose: where LLVM sees the arithmetic that
  /// computes the vectors, it moves the shuffles up into it (as it does with
  /// `WinogradTile.separately`), and the lane-by-lane clamp (`VectorClamp`) among the
  /// transform's 36 loads made it rebuild vectors from single lanes; and SIMD8 arguments of an
  /// out-of-line function travel as pairs of 128-bit registers.
  @inline(never)
  static func transposeRows(
    _ block: UnsafePointer<Float>, bias: SIMD8<Float>, bounds: some StoreBounds, into target: UnsafeMutablePointer<Float>,
    rowStride: Int, rows: Int, pixels: Int
  ) {
    for i in 0..<rows {
      let vectors = block + 32 * i
      let t = transposeFour(
        bounds(load8(vectors) + bias), bounds(load8(vectors + 8) + bias), bounds(load8(vectors + 16) + bias),
        bounds(load8(vectors + 24) + bias))
      let line = target + i * rowStride
      // Halves in pixel order: tiles 0 … 3 from the low halves, 4 … 7 from the high ones.
      @inline(__always)
      func put(_ h: Int, _ half: SIMD4<Float>) {
        if 4 * h + 4 <= pixels {
          UnsafeMutableRawPointer(line + 4 * h).storeBytes(of: half, as: SIMD4<Float>.self)
        } else {
          for lane in 0..<max(pixels - 4 * h, 0) { line[4 * h + lane] = half[lane] }
        }
      }
      put(0, t.0.lowHalf)
      put(1, t.1.lowHalf)
      put(2, t.2.lowHalf)
      put(3, t.3.lowHalf)
      put(4, t.0.highHalf)
      put(5, t.1.highHalf)
      put(6, t.2.highHalf)
      put(7, t.3.highHalf)
    }
  }

  /// Four vectors a, b, c, d of eight tiles each, transposed within each 128-bit half: result k
  /// holds tiles k and k + 4 as aₖ bₖ cₖ dₖ | aₖ₊₄ bₖ₊₄ cₖ₊₄ dₖ₊₄, so its halves are the pixels
  /// 4k ..< 4k + 4 and 4k + 16 ..< 4k + 20 of the row. Only in-lane shuffles (unpack of floats,
  /// then of float pairs), and the halves are stored as they are instead of moved across lanes.
  @inline(__always)
  static func transposeFour(
    _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>
  ) -> Vectors4 {
    let abLow = unsafeBitCast(SIMD8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]), to: SIMD4<Double>.self)
    let abHigh = unsafeBitCast(SIMD8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]), to: SIMD4<Double>.self)
    let cdLow = unsafeBitCast(SIMD8(c[0], d[0], c[1], d[1], c[4], d[4], c[5], d[5]), to: SIMD4<Double>.self)
    let cdHigh = unsafeBitCast(SIMD8(c[2], d[2], c[3], d[3], c[6], d[6], c[7], d[7]), to: SIMD4<Double>.self)
    return (
      unsafeBitCast(SIMD4(abLow[0], cdLow[0], abLow[2], cdLow[2]), to: SIMD8<Float>.self),
      unsafeBitCast(SIMD4(abLow[1], cdLow[1], abLow[3], cdLow[3]), to: SIMD8<Float>.self),
      unsafeBitCast(SIMD4(abHigh[0], cdHigh[0], abHigh[2], cdHigh[2]), to: SIMD8<Float>.self),
      unsafeBitCast(SIMD4(abHigh[1], cdHigh[1], abHigh[3], cdHigh[3]), to: SIMD8<Float>.self)
    )
  }
}
