import CPrefetch
// Note [Channel-blocked activations]
// In the channel-blocked layout (NCHW8c) an activation of C channels (C a multiple of eight) on
// a plane of P pixels is C/8 blocks, each the block's P pixels one after the other, each pixel
// its eight channels side by side:
//
//     blocked [(c / 8)·P·8 + p·8 + c % 8]  =  NCHW [c·P + p]
//
// A 1×1 convolution then needs neither a copy of its input nor a transposition of its output:
// its micro-kernel holds a panel of 16 (or 24) output channels as two (three) vectors against 6
// (4) pixels, each pixel's input channel k a broadcast of blocked [(k / 8)·P·8 + p·8 + k % 8], and
// the sums of one pixel for output block b are exactly the vector blocked output [b·P·8 + p·8].
// A tile of pixels reads, per eight steps of k, one run of 6·8 floats (192 bytes) of one block.
// The pixels past the last whole tile are copied, for the whole depth, into a zero-padded tile
// the same kernel reads, so no read leaves the input; a single last pixel (7×7 planes: 49 =
// 8·6 + 1) goes through a one-pixel kernel over three panels at once instead of a tile of six.
// Each sum is the bias, then the products in order of k in one accumulator (depth blocks of 128
// past a depth of 256 carry the partial sums through the output, unclamped until the last): the
// same floats as the transposed-tile GEMM's (Note [Transposed tiles]) on the same weights,
// whatever the split, and measured equal to the NCHW kernels' on every MobileNetV2 shape.
// Loop nest: blocks of pixels (B's block about 128 KB), depth blocks, panels of weights, tiles;
// while a panel's tiles run, the next panel's weights for the block are prefetched, a share
// before each tile. In a model the weights come from DRAM (MobileNetV2 streams 14 MB of them
// through L3 every run), and a tile consumes a panel's 64-byte line per 12 multiply-adds, where
// the NCHW kernel reads 24 bytes of A per 12: without the prefetch the first tile over each
// panel waited on DRAM, and the 7×7 layers, whose panels serve only nine tiles, ran 5–15% behind
// the NCHW GEMM in the model though ahead of it alone.
// Measured on the Zen 2 host (2026-11-24, one thread, the layer alone, operands in cache; NCHW
// is the runtime's kernel for the shape): 576→96 on 14×14 0.297 → 0.224 ms (panels of 24),
// 144→24 on 56×56 0.323 → 0.229 ms, 32→16 on 112×112 0.219 → 0.156 ms, 192→32 on 28×28 0.125 →
// 0.100 ms, 96→576 on 14×14 0.274 → 0.226 ms, 960→160 on 7×7 0.194 → 0.162 ms, 16→96 on
// 112×112 0.531 → 0.527 ms (`BlockedTiming`, same floats). Panels of 24 rows win only on
// projections to multiples of 24 (`blockedPanelRows`); blocks of 16K or 64K floats of B instead
// of 32K, and no depth blocks, measured within noise in MobileNetV2.

/// Activations in blocks of eight channels (Note [Channel-blocked activations]).
public enum ChannelBlocks {
  /// Channels per block.
  public static let lanes = 8

  /// NCHW `[channels, pixels]` → blocked, for the channel blocks `blocks` (`channels` a
  /// multiple of eight) and the pixels `pixelRange` (nil for all).
  public static func pack(
    _ input: UnsafePointer<Float>, channels: Int, pixels: Int, into output: UnsafeMutablePointer<Float>,
    blocks: Range<Int>, pixelRange: Range<Int>? = nil
  ) {
    precondition(channels % 8 == 0 && blocks.upperBound * 8 <= channels, "channel blocks out of range")
    let range = pixelRange ?? 0..<pixels
    precondition(range.lowerBound >= 0 && range.upperBound <= pixels, "pixels out of range")
    for block in blocks {
      let (source, target) = (input + block * 8 * pixels, output + block * 8 * pixels)
      var p = range.lowerBound
      while p + 8 <= range.upperBound {
        store8Rows(transpose8x8(load8Rows(source + p, stride: pixels)), target + p * 8, stride: 8)
        p += 8
      }
      while p < range.upperBound {
        for lane in 0..<8 { target[p * 8 + lane] = source[lane * pixels + p] }
        p += 1
      }
    }
  }

  /// Blocked → NCHW `[channels, pixels]`, for the channel blocks `blocks` and the pixels
  /// `pixelRange` (nil for all).
  public static func unpack(
    _ input: UnsafePointer<Float>, channels: Int, pixels: Int, into output: UnsafeMutablePointer<Float>,
    blocks: Range<Int>, pixelRange: Range<Int>? = nil
  ) {
    precondition(channels % 8 == 0 && blocks.upperBound * 8 <= channels, "channel blocks out of range")
    let range = pixelRange ?? 0..<pixels
    precondition(range.lowerBound >= 0 && range.upperBound <= pixels, "pixels out of range")
    for block in blocks {
      let (source, target) = (input + block * 8 * pixels, output + block * 8 * pixels)
      var p = range.lowerBound
      while p + 8 <= range.upperBound {
        store8Rows(transpose8x8(load8Rows(source + p * 8, stride: 8)), target + p, stride: pixels)
        p += 8
      }
      while p < range.upperBound {
        for lane in 0..<8 { target[lane * pixels + p] = source[p * 8 + lane] }
        p += 1
      }
    }
  }
}

extension ConvolutionKernels {
  /// Whether a convolution runs on channel-blocked activations: float channels in whole blocks,
  /// and either a 1×1 convolution (stride 1, no padding, one group) or a depthwise one.
  public static func takesBlocked(_ shape: Conv2DShape) -> Bool {
    shape.inputChannels % 8 == 0 && shape.outputChannels % 8 == 0
      && (isDepthwise(shape) || (isPointwise(shape) && shape.groups == 1))
  }

  /// The panel height of a 1×1 convolution on blocked activations: 24 rows (tiles of four
  /// pixels) for a projection to a multiple of 24 channels, else 16 (tiles of six). Measured
  /// (2026-11-24, one thread, both heights on MobileNetV2's 1×1 shapes): 576→96 on 14×14 0.238
  /// (16) against 0.224 ms (24), 144→24 on 56×56 0.300 against 0.229 ms, 96→24 0.199 against
  /// 0.156 ms; expansions and projections to other counts were faster with 16 (24→144 0.264
  /// against 0.315 ms, 192→32 on 28×28 0.100 against 0.147 ms).
  public static func blockedPanelRows(_ shape: Conv2DShape) -> Int {
    isPointwise(shape) && shape.outputChannels % 24 == 0 && shape.outputChannels < shape.inputChannels ? 24 : 16
  }

  /// Floats of scratch `blockedPointwise` needs for a depth of `depth` input channels.
  public static func blockedPointwiseScratchCount(depth: Int) -> Int { depth * 6 }

  /// A 1×1 convolution on channel-blocked activations (Note [Channel-blocked activations]):
  /// `output` block b, pixel p ← clamp(bias + Σₖ weight[m, k] · input[k, p]) for every output
  /// channel m and every pixel p in `pixels` (of `pixelCount` per plane). Input and output
  /// channels are multiples of eight; `scratch` holds `blockedPointwiseScratchCount` floats.
  public static func blockedPointwise(
    weights: VectorPanelWeights, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pixelCount: Int,
    clamp: OutputClamp, pixels: Range<Int>, rows: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    precondition(weights.depth % 8 == 0 && weights.rows % 8 == 0, "blocked convolutions take whole channel blocks")
    let rows = rows ?? 0..<weights.rows
    precondition(rows.lowerBound % weights.panelRows == 0 && rows.upperBound <= weights.rows, "rows out of range")
    if pixels.isEmpty { return }
    func run(_ bounds: some StoreBounds) {
      blockedPointwise(
        weights: weights, input: input, output: output, pixelCount: pixelCount, bounds: bounds, pixels: pixels,
        rows: rows, scratch: scratch)
    }
    if clamp.activation == .hardswish { run(StoreHardswish()) } else { run(VectorClamp(clamp)) }
  }

  /// `blockedPointwise` with the final stores through `bounds` (Note [Store activations]); the
  /// partial sums of a deep product's earlier depth blocks are stored as they are.
  private static func blockedPointwise<Bounds: StoreBounds>(
    weights: VectorPanelWeights, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pixelCount: Int,
    bounds finalBounds: Bounds, pixels: Range<Int>, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    let (pr, tc) = (weights.panelRows, weights.tileColumns)
    let depthBlocks = weights.depth / 8
    let plane = pixelCount * 8
    let fullTiles = pixels.count / tc
    let edge = pixels.count - fullTiles * tc
    let edgeStart = pixels.lowerBound + fullTiles * tc
    if edge > 0 {
      // The last pixels, fewer than a tile, for every input block, zero-padded to a tile.
      scratch.update(repeating: 0, count: depthBlocks * tc * 8)
      for block in 0..<depthBlocks {
        (scratch + block * tc * 8).update(from: input + block * plane + edgeStart * 8, count: edge * 8)
      }
    }
    // Blocks of pixels; the last one also takes the edge tile, so that each panel of weights
    // is read once per block while it is in cache. Deep products go in depth blocks of 128
    // (Note [Channel-blocked activations]).
    let pixelBlock = max(tc, blockedBlockFloats / weights.depth / tc * tc)
    let depthStep = depthBlocks <= blockedDepthLimit ? depthBlocks : blockedDepthStep
    let prefetchWeights = weights.depth * weights.rows >= 4096
    for p0 in stride(from: pixels.lowerBound, to: max(edgeStart, pixels.lowerBound + 1), by: pixelBlock) {
      let p1 = min(p0 + pixelBlock, edgeStart)
      let last = p0 + pixelBlock >= edgeStart
      for d0 in stride(from: 0, to: depthBlocks, by: depthStep) {
        let count = min(depthStep, depthBlocks - d0)
        let final = d0 + count == depthBlocks
        let xBlock = input + d0 * plane
        for m0 in stride(from: rows.lowerBound, to: rows.upperBound, by: pr) {
          let panel = weights.panel(row: m0) + d0 * 8 * pr
          let bias = d0 == 0 ? weights.panelBias(row: m0) : nil
          let blocks = min(pr, rows.upperBound - m0) / 8
          let target = output + (m0 / 8) * plane
          @inline(__always)
          func tile(_ x: UnsafePointer<Float>, stride: Int, _ out: UnsafeMutablePointer<Float>, pixels: Int) {
            @inline(__always)
            func run(_ bounds: some StoreBounds) {
              if pr == 16 {
                blockedTile6x16(
                  depthBlocks: count, w: panel, x: x, blockStride: stride, bias: bias, out: out, outStride: plane,
                  blocks: blocks, count: pixels, bounds: bounds)
              } else {
                blockedTile4x24(
                  depthBlocks: count, w: panel, x: x, blockStride: stride, bias: bias, out: out, outStride: plane,
                  blocks: blocks, count: pixels, bounds: bounds)
              }
            }
            if final { run(finalBounds) } else { run(VectorClamp.identity) }
          }
          if prefetchWeights && m0 + pr < rows.upperBound {
            // The next panel's weights for this depth block, a share before each tile.
            let next = UnsafeRawPointer(weights.panel(row: m0 + pr) + d0 * 8 * pr)
            let lines = count * 8 * pr / 16
            let tiles = max(1, (p1 - p0) / tc)
            var line = 0
            for p in stride(from: p0, to: p1, by: tc) {
              let end = min(lines, line + (lines + tiles - 1) / tiles)
              while line < end {
                mo_prefetch_read(next + line * 64)
                line += 1
              }
              tile(xBlock + p * 8, stride: plane, target + p * 8, pixels: tc)
            }
          } else {
            for p in stride(from: p0, to: p1, by: tc) { tile(xBlock + p * 8, stride: plane, target + p * 8, pixels: tc) }
          }
          let edgeX = UnsafePointer(scratch + d0 * tc * 8)
          if last && edge > 1 { tile(edgeX, stride: tc * 8, target + edgeStart * 8, pixels: edge) }
          // A single last pixel (7×7 planes: 49 = 8·6 + 1) goes through the one-pixel kernel
          // for a group of panels at a time, after the group's tiles, while its weights are in
          // cache.
          let group = 48 / pr
          if last && edge == 1 && ((m0 - rows.lowerBound) / pr % group == group - 1 || m0 + pr >= rows.upperBound) {
            let first = rows.lowerBound + (m0 - rows.lowerBound) / pr / group * group * pr
            @inline(__always)
            func pixel(_ bounds: some StoreBounds) {
              blockedPixel(
                weights: weights, rows: first..<min(m0 + pr, rows.upperBound), depthBlocks: d0..<d0 + count, x: edgeX,
                blockStride: tc * 8, out: output + edgeStart * 8, outStride: plane, bounds: bounds)
            }
            if final { pixel(finalBounds) } else { pixel(VectorClamp.identity) }
          }
        }
      }
    }
  }

  /// Floats of B (pixels × depth) per block of pixels: about 128 KB, half of L2.
  static let blockedBlockFloats = 32768
  /// Input blocks (of eight channels) up to which the whole depth is one block, and the depth
  /// blocks past that.
  static let (blockedDepthLimit, blockedDepthStep) = (32, 16)

  /// One pixel (`x[b·blockStride + lane]` for input block b) times the panels holding rows
  /// `rows` (at most 48 rows, whole panels from a panel's start), from the bias, clamped into
  /// output blocks `rows / 8` (`out[b·outStride]`): each vector's sum over k in order, the
  /// panels side by side so that six sums proceed at once.
  @inline(never)
  static func blockedPixel(
    weights: VectorPanelWeights, rows: Range<Int>, depthBlocks: Range<Int>, x: UnsafePointer<Float>, blockStride: Int,
    out: UnsafeMutablePointer<Float>, outStride: Int, bounds: some StoreBounds
  ) {
    let pr = weights.panelRows
    let vectors = pr / 8
    let panelFloats = weights.depth * pr
    let first = weights.panel(row: rows.lowerBound) + depthBlocks.lowerBound * 8 * pr
    let bias = weights.panelBias(row: rows.lowerBound)
    let target = out + (rows.lowerBound / 8) * outStride
    // Vectors of the group's panels (zero rows included); the sums past them repeat vector 0
    // and are not stored.
    let available = (rows.count + pr - 1) / pr * vectors
    let stored = rows.count / 8
    // From the bias in the first depth block, else from the sums stored so far.
    @inline(__always)
    func start(_ v: Int) -> SIMD8<Float> {
      if depthBlocks.lowerBound > 0 { return v < stored ? load8(target + v * outStride) : SIMD8() }
      return load8(bias + (v < available ? v * 8 : 0))
    }
    var (s0, s1, s2, s3, s4, s5) = (start(0), start(1), start(2), start(3), start(4), start(5))
    // Vector v of the group: panel v / vectors, vector v % vectors of its row.
    @inline(__always)
    func offset(_ v: Int) -> Int { v < available ? (v / vectors) * panelFloats + (v % vectors) * 8 : 0 }
    let (o0, o1, o2, o3, o4, o5) = (offset(0), offset(1), offset(2), offset(3), offset(4), offset(5))
    var (w, x) = (first, x)
    for _ in depthBlocks {
      for lane in 0..<8 {
        let v = SIMD8<Float>(repeating: x[lane])
        s0.addProduct(v, load8(w + o0))
        s1.addProduct(v, load8(w + o1))
        s2.addProduct(v, load8(w + o2))
        s3.addProduct(v, load8(w + o3))
        s4.addProduct(v, load8(w + o4))
        s5.addProduct(v, load8(w + o5))
        w += pr
      }
      x += blockStride
    }
    let count = stored
    store8(bounds(s0), target)
    if count > 1 { store8(bounds(s1), target + outStride) }
    if count > 2 { store8(bounds(s2), target + 2 * outStride) }
    if count > 3 { store8(bounds(s3), target + 3 * outStride) }
    if count > 4 { store8(bounds(s4), target + 4 * outStride) }
    if count > 5 { store8(bounds(s5), target + 5 * outStride) }
  }


  /// Six pixels (`x[b·blockStride + 8·j + lane]` for input block b) times a 16-row panel
  /// (`w[16·k + m]`), from `bias`, clamped into output blocks 0 and 1 (`out[b·outStride + 8·j]`)
  /// for the first `blocks` blocks and `count` pixels.
  @inline(never)
  static func blockedTile6x16(
    depthBlocks: Int, w: UnsafePointer<Float>, x: UnsafePointer<Float>, blockStride: Int, bias: UnsafePointer<Float>?,
    out: UnsafeMutablePointer<Float>, outStride: Int, blocks: Int, count: Int, bounds: some StoreBounds
  ) {
    var (r00, r01, r10, r11, r20, r21): Vectors6
    var (r30, r31, r40, r41, r50, r51): Vectors6
    if let bias {
      (r00, r01) = (load8(bias), load8(bias + 8))
      (r10, r11, r20, r21, r30, r31) = (r00, r01, r00, r01, r00, r01)
      (r40, r41, r50, r51) = (r00, r01, r00, r01)
    } else {
      (r00, r10, r20, r30, r40, r50) = loadPixels(out, count: count)
      (r01, r11, r21, r31, r41, r51) = blocks > 1 ? loadPixels(out + outStride, count: count) : (r00, r10, r20, r30, r40, r50)
    }
    var (w, x) = (w, x)
    for _ in 0..<depthBlocks {
      @inline(__always)
      func step(_ lane: Int) {
        let (w0, w1) = (load8(w + 16 * lane), load8(w + 16 * lane + 8))
        var s = SIMD8<Float>(repeating: x[lane])
        r00.addProduct(s, w0)
        r01.addProduct(s, w1)
        s = SIMD8(repeating: x[8 + lane])
        r10.addProduct(s, w0)
        r11.addProduct(s, w1)
        s = SIMD8(repeating: x[16 + lane])
        r20.addProduct(s, w0)
        r21.addProduct(s, w1)
        s = SIMD8(repeating: x[24 + lane])
        r30.addProduct(s, w0)
        r31.addProduct(s, w1)
        s = SIMD8(repeating: x[32 + lane])
        r40.addProduct(s, w0)
        r41.addProduct(s, w1)
        s = SIMD8(repeating: x[40 + lane])
        r50.addProduct(s, w0)
        r51.addProduct(s, w1)
      }
      step(0)
      step(1)
      step(2)
      step(3)
      step(4)
      step(5)
      step(6)
      step(7)
      w += 128
      x += blockStride
    }
    let first: Vectors6 = (r00, r10, r20, r30, r40, r50)
    storePixels(first, out, count: count, bounds: bounds)
    if blocks > 1 { storePixels((r01, r11, r21, r31, r41, r51), out + outStride, count: count, bounds: bounds) }
  }

  /// Four pixels times a 24-row panel (`w[24·k + m]`), as `blockedTile6x16`, into output
  /// blocks 0, 1 and 2.
  @inline(never)
  static func blockedTile4x24(
    depthBlocks: Int, w: UnsafePointer<Float>, x: UnsafePointer<Float>, blockStride: Int, bias: UnsafePointer<Float>?,
    out: UnsafeMutablePointer<Float>, outStride: Int, blocks: Int, count: Int, bounds: some StoreBounds
  ) {
    var (r00, r01, r02, r10, r11, r12): Vectors6
    var (r20, r21, r22, r30, r31, r32): Vectors6
    if let bias {
      (r00, r01, r02) = (load8(bias), load8(bias + 8), load8(bias + 16))
      (r10, r11, r12, r20, r21, r22) = (r00, r01, r02, r00, r01, r02)
      (r30, r31, r32) = (r00, r01, r02)
    } else {
      (r00, r10, r20, r30, _, _) = loadPixels(out, count: count)
      (r01, r11, r21, r31, _, _) = blocks > 1 ? loadPixels(out + outStride, count: count) : (r00, r10, r20, r30, r00, r00)
      (r02, r12, r22, r32, _, _) =
        blocks > 2 ? loadPixels(out + 2 * outStride, count: count) : (r00, r10, r20, r30, r00, r00)
    }
    var (w, x) = (w, x)
    for _ in 0..<depthBlocks {
      @inline(__always)
      func step(_ lane: Int) {
        let (w0, w1, w2) = (load8(w + 24 * lane), load8(w + 24 * lane + 8), load8(w + 24 * lane + 16))
        var s = SIMD8<Float>(repeating: x[lane])
        r00.addProduct(s, w0)
        r01.addProduct(s, w1)
        r02.addProduct(s, w2)
        s = SIMD8(repeating: x[8 + lane])
        r10.addProduct(s, w0)
        r11.addProduct(s, w1)
        r12.addProduct(s, w2)
        s = SIMD8(repeating: x[16 + lane])
        r20.addProduct(s, w0)
        r21.addProduct(s, w1)
        r22.addProduct(s, w2)
        s = SIMD8(repeating: x[24 + lane])
        r30.addProduct(s, w0)
        r31.addProduct(s, w1)
        r32.addProduct(s, w2)
      }
      step(0)
      step(1)
      step(2)
      step(3)
      step(4)
      step(5)
      step(6)
      step(7)
      w += 192
      x += blockStride
    }
    let zero = SIMD8<Float>()
    storePixels((r00, r10, r20, r30, zero, zero), out, count: count, bounds: bounds)
    if blocks > 1 { storePixels((r01, r11, r21, r31, zero, zero), out + outStride, count: count, bounds: bounds) }
    if blocks > 2 { storePixels((r02, r12, r22, r32, zero, zero), out + 2 * outStride, count: count, bounds: bounds) }
  }

  /// The first `count` (at most six) pixel vectors of one output block, zero past them.
  @inline(__always)
  static func loadPixels(_ out: UnsafeMutablePointer<Float>, count: Int) -> Vectors6 {
    let zero = SIMD8<Float>()
    if count >= 6 { return (load8(out), load8(out + 8), load8(out + 16), load8(out + 24), load8(out + 32), load8(out + 40)) }
    return (
      count > 0 ? load8(out) : zero, count > 1 ? load8(out + 8) : zero, count > 2 ? load8(out + 16) : zero,
      count > 3 ? load8(out + 24) : zero, count > 4 ? load8(out + 32) : zero, zero
    )
  }

  /// Stores the first `count` (at most six) pixel vectors of one output block, clamped.
  @inline(__always)
  static func storePixels(_ v: Vectors6, _ out: UnsafeMutablePointer<Float>, count: Int, bounds: some StoreBounds) {
    if count >= 6 {
      store8(bounds(v.0), out)
      store8(bounds(v.1), out + 8)
      store8(bounds(v.2), out + 16)
      store8(bounds(v.3), out + 24)
      store8(bounds(v.4), out + 32)
      store8(bounds(v.5), out + 40)
      return
    }
    if count > 0 { store8(bounds(v.0), out) }
    if count > 1 { store8(bounds(v.1), out + 8) }
    if count > 2 { store8(bounds(v.2), out + 16) }
    if count > 3 { store8(bounds(v.3), out + 24) }
    if count > 4 { store8(bounds(v.4), out + 32) }
  }
}

// Note [Channel-blocked depthwise rows]
// A depthwise layer on channel-blocked activations (Note [Channel-blocked activations]) works on
// one block's plane at a time, whose pixels are already the vectors of its eight channels: tap
// (ky, kx) of output (oy, ox) is the vector at input pixel (sH·oy − pH + ky·dH, sW·ox − pW +
// kx·dW) times the tap's eight weights (`DepthwiseWeights.tapMajor`), with no copy, padding or
// transposition. Rows of taps that fall outside the image are skipped (their products are zero);
// the columns where some tap falls outside are computed pixel by pixel with a bound check per
// tap, the others four pixels at a time. For 3×3 kernels without dilation the four pixels'
// taps of one kernel row share their input vectors: six loads (stride 1) or nine (stride 2) serve
// the twelve multiply-adds. Each sum is the bias, then the taps in row-major order, as in the
// other depthwise loops: the same floats. The work splits by output rows. Planes with output
// rows of at most 16 columns (MobileNet's 7×7 and 14×14 layers) instead copy each block's plane
// into the zero-padded tile of Note [Channel-blocked depthwise] (row copies, no transposes), whose
// kernels write the flat output block, which is the blocked output; the work splits by blocks.
// Measured (2026-11-24, one thread, alone, in cache, against the NCHW kernels): 96 channels
// stride 2 on 112×112 0.291 → 0.207 ms, 144 stride 2 on 56×56 0.114 → 0.091 ms, 32 stride 1 on
// 112×112 0.221 → 0.160 ms; tiles: 576 on 14×14 0.068 → 0.057 ms, 960 on 7×7 0.032 → 0.026 ms.
// Tiles for stride-1 planes up to 56 columns were faster alone (144 on 56×56 0.236 → 0.197 ms)
// but slower in the model (0.26 → 0.38–0.41 ms) and with cold caches (0.51 → 0.59 ms, rows 0.42
// ms): each block's 100 KB copy waits on memory before any arithmetic starts, where the row
// loop's reads stream. Prefetching the next band's output lines (Note [Depthwise output
// prefetch]) helped neither path in the model.

extension ConvolutionKernels {
  /// Floats of scratch `blockedDepthwise` needs: one zero input row, or the padded tile of a
  /// small plane.
  public static func blockedDepthwiseScratchCount(_ shape: Conv2DShape) -> Int {
    blockedDepthwiseTiles(shape) ? DepthwiseBlockedLayout(shape).tileFloats : shape.inputWidth * 8
  }

  /// Whether `blockedDepthwise` copies each block into a zero-padded tile (output rows of at
  /// most 16 columns): then a call must cover all output rows.
  public static func blockedDepthwiseTiles(_ shape: Conv2DShape) -> Bool {
    return DepthwiseBlockedLayout.applies(shape)
  }

  /// `blockedDepthwise` on small planes: each block's plane copied row by row into the
  /// zero-padded tile of Note [Channel-blocked depthwise], whose kernels write the flat output
  /// block, which is the blocked output itself.
  static func blockedDepthwiseTiled(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    bounds: some StoreBounds, blocks: Range<Int>, scratch tile: UnsafeMutablePointer<Float>,
    channelMeans: UnsafeMutablePointer<Float>?
  ) {
    let layout = DepthwiseBlockedLayout(shape)
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (pt, pl, wt) = (shape.paddingTop, shape.paddingLeft, layout.tileColumns)
    let (inputPlane, outputPlane) = (height * width * 8, shape.outputHeight * shape.outputWidth * 8)
    let taps = shape.kernelHeight * shape.kernelWidth
    tile.update(repeating: 0, count: layout.tileFloats)
    let copied = max(0, min(width, wt - pl))
    let imageRows = max(0, min(height, layout.tileRows - pt))
    withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { buffer in
      let offsets = buffer.baseAddress!
      layout.tapOffsets(into: offsets)
      for block in blocks {
        let source = input + block * inputPlane
        for y in 0..<imageRows {
          (tile + ((y + pt) * wt + pl) * 8).update(from: source + y * width * 8, count: copied * 8)
        }
        let flat = output + block * outputPlane
        depthwiseBlockTile(
          layout, tile: UnsafePointer(tile), weights: weights.tapMajor + block * 8, channelCount: weights.channels,
          offsets: UnsafePointer(offsets), bounds: bounds, into: flat)
        if let channelMeans {
          depthwiseBlockMeans(UnsafePointer(flat), plane: outputPlane / 8, into: channelMeans + block * 8)
        }
      }
    }
  }

  /// A depthwise convolution on channel-blocked activations (Note [Channel-blocked depthwise
  /// rows]): output rows `rows` of channel blocks `blocks`, clamped or activated as `clamp` says.
  /// Channels are a multiple of eight; `scratch` holds `blockedDepthwiseScratchCount` floats.
  /// With `channelMeans` (only where `blockedDepthwiseTiles`), the blocks' output channel means
  /// go there too, summed from each block's flat output while it is in L1: the same floats as the
  /// NCHW kernel's means (Note [Pooled side output]).
  public static func blockedDepthwise(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, blocks: Range<Int>, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
    channelMeans: UnsafeMutablePointer<Float>? = nil
  ) {
    precondition(weights.channels % 8 == 0 && blocks.upperBound * 8 <= weights.channels, "channel blocks out of range")
    func run(_ bounds: some StoreBounds) {
      blockedDepthwise(
        shape, input: input, weights: weights, output: output, bounds: bounds, blocks: blocks, rows: rows,
        scratch: scratch, channelMeans: channelMeans)
    }
    if clamp.activation == .hardswish { run(StoreHardswish()) } else { run(VectorClamp(clamp)) }
  }

  private static func blockedDepthwise(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    bounds: some StoreBounds, blocks: Range<Int>, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
    channelMeans: UnsafeMutablePointer<Float>?
  ) {
    if blockedDepthwiseTiles(shape) {
      precondition(rows == 0..<shape.outputHeight, "a small plane's blocks are computed whole")
      blockedDepthwiseTiled(
        shape, input: input, weights: weights, output: output, bounds: bounds, blocks: blocks, scratch: scratch,
        channelMeans: channelMeans)
      return
    }
    precondition(channelMeans == nil, "channel means come only with tiles")
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let (kh, kw) = (shape.kernelHeight, shape.kernelWidth)
    let (sh, sw, ph, pw) = (shape.strideHeight, shape.strideWidth, shape.paddingTop, shape.paddingLeft)
    let (dh, dw) = (shape.dilationHeight, shape.dilationWidth)
    let (channels, taps) = (weights.channels, kh * kw)
    let zeros = UnsafePointer(scratch)
    scratch.update(repeating: 0, count: width * 8)
    // Output columns whose taps all fall inside the image.
    let interior = OutputSize.interior(
      input: width, output: outputWidth, kernel: kw, stride: sw, padding: pw, dilation: dw)
    let (first, end) = (interior.lowerBound, interior.upperBound)
    let grouped = kh == 3 && kw == 3 && dh == 1 && dw == 1 && (sw == 1 || sw == 2)
    for block in blocks {
      let source = input + block * height * width * 8
      let target = output + block * outputHeight * outputWidth * 8
      let w = UnsafePointer(weights.tapMajor + block * 8)
      let bias = load8(weights.tapMajor + taps * channels + block * 8)
      for oy in rows {
        let iy0 = oy * sh - ph
        // Input row of kernel row ky, or the zero row outside the image.
        @inline(__always)
        func row(_ ky: Int) -> UnsafePointer<Float> {
          let iy = iy0 + ky * dh
          return iy >= 0 && iy < height ? source + iy * width * 8 : zeros
        }
        let out = target + oy * outputWidth * 8
        @inline(__always)
        func pixel(_ ox: Int) {
          var sum = bias
          let ix0 = ox * sw - pw
          for ky in 0..<kh {
            let r = row(ky)
            for kx in 0..<kw {
              let ix = ix0 + kx * dw
              if ix >= 0 && ix < width { sum.addProduct(load8(w + (ky * kw + kx) * channels), load8(r + ix * 8)) }
            }
          }
          store8(bounds(sum), out + ox * 8)
        }
        var ox = 0
        while ox < first {
          pixel(ox)
          ox += 1
        }
        if grouped && end - ox >= 4 {
          let groups = (end - ox) / 4
          @inline(__always)
          func run(from start: Int, groups: Int) {
            let offset = (sw * start - pw) * 8
            depthwiseRow3x3(
              stride: sw, rows: (row(0) + offset, row(1) + offset, row(2) + offset), w: w, wStride: channels,
              bias: bias, groups: groups, out: out + start * 8, bounds: bounds)
          }
          run(from: ox, groups: groups)
          ox += 4 * groups
          // The last inner pixels as one more group ending at `end`, overlapping the one before
          // (recomputing the same sums) instead of one by one with bound checks.
          if ox < end {
            run(from: end - 4, groups: 1)
            ox = end
          }
        }
        while ox < outputWidth {
          pixel(ox)
          ox += 1
        }
      }
    }
  }

  /// `groups` groups of four output pixels of a 3×3 depthwise kernel at stride 1 or 2 whose
  /// taps all fall inside the image's columns; `rows` are the three input rows at the first
  /// group's first tap.
  @inline(never)
  static func depthwiseRow3x3(
    stride: Int, rows: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>), w: UnsafePointer<Float>,
    wStride: Int, bias: SIMD8<Float>, groups: Int, out: UnsafeMutablePointer<Float>, bounds: some StoreBounds
  ) {
    if stride == 1 {
      depthwiseRow3x3(step: 1, rows: rows, w: w, wStride: wStride, bias: bias, groups: groups, out: out, bounds: bounds)
    } else {
      depthwiseRow3x3(step: 2, rows: rows, w: w, wStride: wStride, bias: bias, groups: groups, out: out, bounds: bounds)
    }
  }

  @inline(__always)
  static func depthwiseRow3x3(
    step: Int, rows: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>), w: UnsafePointer<Float>,
    wStride: Int, bias: SIMD8<Float>, groups: Int, out: UnsafeMutablePointer<Float>, bounds: some StoreBounds
  ) {
    var (r0, r1, r2) = rows
    var out = out
    for _ in 0..<groups {
      var (a0, a1, a2, a3) = (bias, bias, bias, bias)
      @inline(__always)
      func kernelRow(_ row: UnsafePointer<Float>, _ ky: Int) {
        let taps = w + 3 * ky * wStride
        let (w0, w1, w2) = (load8(taps), load8(taps + wStride), load8(taps + 2 * wStride))
        if step == 1 {
          let (v0, v1, v2, v3, v4, v5) = (
            load8(row), load8(row + 8), load8(row + 16), load8(row + 24), load8(row + 32), load8(row + 40)
          )
          a0.addProduct(w0, v0)
          a0.addProduct(w1, v1)
          a0.addProduct(w2, v2)
          a1.addProduct(w0, v1)
          a1.addProduct(w1, v2)
          a1.addProduct(w2, v3)
          a2.addProduct(w0, v2)
          a2.addProduct(w1, v3)
          a2.addProduct(w2, v4)
          a3.addProduct(w0, v3)
          a3.addProduct(w1, v4)
          a3.addProduct(w2, v5)
        } else {
          let (v0, v1, v2, v3, v4) = (load8(row), load8(row + 8), load8(row + 16), load8(row + 24), load8(row + 32))
          let (v5, v6, v7, v8) = (load8(row + 40), load8(row + 48), load8(row + 56), load8(row + 64))
          a0.addProduct(w0, v0)
          a0.addProduct(w1, v1)
          a0.addProduct(w2, v2)
          a1.addProduct(w0, v2)
          a1.addProduct(w1, v3)
          a1.addProduct(w2, v4)
          a2.addProduct(w0, v4)
          a2.addProduct(w1, v5)
          a2.addProduct(w2, v6)
          a3.addProduct(w0, v6)
          a3.addProduct(w1, v7)
          a3.addProduct(w2, v8)
        }
      }
      kernelRow(r0, 0)
      kernelRow(r1, 1)
      kernelRow(r2, 2)
      store8(bounds(a0), out)
      store8(bounds(a1), out + 8)
      store8(bounds(a2), out + 16)
      store8(bounds(a3), out + 24)
      let advance = 32 * step
      r0 += advance
      r1 += advance
      r2 += advance
      out += 32
    }
  }
}

// Note [Channel-blocked phase planes]
// A dense convolution whose input is NCHW (a model's stem: 3 → 32 channels, 3×3, stride 2) can
// still write a channel-blocked output: with its input scattered into phase planes (Note [Phase
// planes]), row k = (ci, ky, kx) of the im2col matrix over the flat index f = oy·Q + ox is the run
// at `offsets[k] + f` (Note [Phase-plane GEMM]), so six consecutive flat indices times a panel of
// 16 output channels is the transposed tile of Note [Transposed tiles] with a per-k row offset,
// and each pixel's two vectors go straight to blocked output pixel oy·OW + ox (the Q − OW junk
// columns are computed and dropped). Each sum is the bias, then k in order: the same floats as
// the phase-plane GEMM's single depth block.

extension ConvolutionKernels {
  /// Whether `blockedPhasePlaneConv2d` takes a convolution: a dense one (one group) read from
  /// its phase planes in place, to whole blocks of output channels.
  public static func takesBlockedPhasePlanes(_ shape: Conv2DShape) -> Bool {
    prefersPhasePlanes(shape) && readsPlanesInPlace(shape) && shape.groups == 1 && shape.outputChannels % 8 == 0
  }

  /// Floats `blockedPhasePlaneConv2d` may read past the phase planes' last float.
  public static let blockedPhasePlanesSlack = 8

  /// Computes blocked output pixels for the flat indices `columns` (starting at a multiple of
  /// six) of one image whose input was scattered into `planes` (`conv2dPhasePlanesScatter`,
  /// followed by `blockedPhasePlanesSlack` readable floats); `weights` are the convolution's
  /// rows over its Cin·kH·kW depth in panels of 16.
  public static func blockedPhasePlaneConv2d(
    _ shape: Conv2DShape, planes: UnsafePointer<Float>, weights: VectorPanelWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, columns: Range<Int>
  ) {
    let layout = PhasePlaneLayout(shape)
    precondition(layout.readsInPlace && weights.panelRows == 16 && columns.lowerBound % 6 == 0, "phase-plane tiles")
    func run(_ bounds: some StoreBounds) {
      blockedPhasePlaneConv2d(
        shape, layout: layout, planes: planes, weights: weights, output: output, bounds: bounds, columns: columns)
    }
    if clamp.activation == .hardswish { run(StoreHardswish()) } else { run(VectorClamp(clamp)) }
  }

  private static func blockedPhasePlaneConv2d(
    _ shape: Conv2DShape, layout: PhasePlaneLayout, planes: UnsafePointer<Float>, weights: VectorPanelWeights,
    output: UnsafeMutablePointer<Float>, bounds: some StoreBounds, columns: Range<Int>
  ) {
    let (q, outputWidth) = (layout.rowLength, shape.outputWidth)
    let plane = shape.outputHeight * outputWidth * 8
    let depth = weights.depth
    withUnsafeTemporaryAllocation(of: Int.self, capacity: depth + 6) { buffer in
      let offsets = buffer.baseAddress!
      let pixels = offsets + depth
      _ = PhasePlaneRows(layout, planes: planes).inPlaceRows(depth: depth, offsets: offsets)
      var (oy, ox) = columns.lowerBound.quotientAndRemainder(dividingBy: q)
      for f0 in stride(from: columns.lowerBound, to: columns.upperBound, by: 6) {
        // Where the tile's six flat indices go: an output pixel, or nowhere (junk or past the end).
        for j in 0..<6 {
          pixels[j] = f0 + j < columns.upperBound && ox < outputWidth ? (oy * outputWidth + ox) * 8 : -1
          ox += 1
          if ox == q { (oy, ox) = (oy + 1, 0) }
        }
        for m0 in stride(from: 0, to: weights.rows, by: 16) {
          phaseTile6x16(
            depth: depth, w: weights.panel(row: m0), b: planes + f0, offsets: UnsafePointer(offsets),
            bias: weights.panelBias(row: m0), out: output + (m0 / 8) * plane, outStride: plane,
            blocks: min(16, weights.rows - m0) / 8, pixels: UnsafePointer(pixels), bounds: bounds)
        }
      }
    }
  }

  /// Six flat indices (`b[offsets[k] + j]`) times a 16-row panel (`w[16·k + m]`) from `bias`,
  /// each index's two vectors clamped into output blocks 0 and 1 at float `pixels[j]` (none
  /// where negative).
  @inline(never)
  static func phaseTile6x16(
    depth: Int, w: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>, bias: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, outStride: Int, blocks: Int, pixels: UnsafePointer<Int>, bounds: some StoreBounds
  ) {
    var (r00, r01) = (load8(bias), load8(bias + 8))
    var (r10, r11, r20, r21, r30, r31) = (r00, r01, r00, r01, r00, r01)
    var (r40, r41, r50, r51) = (r00, r01, r00, r01)
    var w = w
    for k in 0..<depth {
      let row = b + offsets[k]
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
    }
    @inline(__always)
    func put(_ j: Int, _ first: SIMD8<Float>, _ second: SIMD8<Float>) {
      let at = pixels[j]
      if at < 0 { return }
      store8(bounds(first), out + at)
      if blocks > 1 { store8(bounds(second), out + outStride + at) }
    }
    put(0, r00, r01)
    put(1, r10, r11)
    put(2, r20, r21)
    put(3, r30, r31)
    put(4, r40, r41)
    put(5, r50, r51)
  }
}
