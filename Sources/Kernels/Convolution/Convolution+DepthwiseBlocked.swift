// Note [Channel-blocked depthwise]
// On small planes (output rows of at most 16 columns: MobileNet's 7×7 and 14×14 layers and the
// stride-2 layers into them) a vector along a row costs more in per-channel setup, short rows
// and scatters than in FMAs. There eight channels at a time are transposed into a zero-padded
// tile whose pixels hold their eight channels side by side:
//
//     tile [(r·Wt + c)·8 + lane]  =  padded input of channel c0 + lane at (r, c)
//
// (Wt padded columns, only the rows and columns some output reads). Tap (ky, kx) of output
// (oy, ox) is then the one vector at ((sH·oy + ky·dH)·Wt + sW·ox + kx·dW)·8 whatever the
// strides, times the tap's eight weights (`DepthwiseWeights.tapMajor`), and an output pixel's
// eight channels are one vector: four pixels of two rows at a time, each tap's weights loaded
// once for the eight. The output pixels go to a second tile in flat order (oy·OW + ox) and are
// transposed back into the eight output planes, eight flat pixels at a time. The transposes are
// three rounds of two-input shuffles (`transpose8x8`); both walk the plane in flat runs of eight
// pixels, the last run ending at the plane's end (overlapping the one before), so rows shorter
// than eight cost nothing extra.
// Each output's sum is the bias, then the taps in row-major order, as in the other depthwise
// loops: the results are the same floats. Channels past the last whole block of eight go
// through the flat kernel (Note [Flat depthwise]).
// Widening `applies` to stride-2 layers with rows of up to 28 columns was measured: single
// layers gained (MobileNetV3-Small's 5×5 stride-2 72-channel layer at 56×56: 0.27 → 0.20 ms;
// MobileNetV2's 144 channels at 56×56: 0.26 → 0.24 ms), whole models did not (MobileNetV2 and
// MobileNetV3-Small at 1 and 2 threads, side by side, within noise); up to 56 columns a tile
// outgrows L2 and the 96-channel 112×112 layer slowed from 0.55 to 0.80 ms. Remeasured
// 2026-11-23 in the models' per-node profiles (alternating runs), stride 2 up to 28 columns:
// MobileNetV3-Small's 72 channels 56→28 0.162 → 0.175 ms, MobileNetV2's 144 channels 56→28
// 0.406 → 0.431 ms; slower in place, so not kept. On a Zen 2 host (2026-11-24, the model's
// per-node profile, alternating runs), stride 2 up to 56 columns: MobileNetV2's 96 channels
// 112→56 0.43–0.46 → 0.58–0.61 ms (the whole-plane tile outgrows L2), 144 channels 56→28
// 0.178 → 0.173 ms; not kept. Remeasured once more after the stride-1 kernels' sliding rows
// (2026-11-24, per-node profiles, four alternating runs), stride 2 up to 28 columns: V3-Small's
// 72 channels 56→28 0.059 → 0.090 ms, MobileNetV2's 144 channels 0.132 → 0.171 ms; not kept. A
// tile of a band of output rows (so that it stays in L2) is untried.

// Note [Sliding depthwise rows]
// `depthwiseBlockCompute` loads, for each tap of each group of four pixels in two output rows, the
// tap's weights and eight tile vectors: 9 loads per 8 multiply-adds, plus the tap's offset. Zen 2
// issues two loads and two multiply-adds per cycle, so that loop waits on loads. At stride 1
// with no dilation, pixel p's tap (ky, kx) reads tile column ox + p + kx, so the taps of one
// kernel row share most of their vectors: walking a tile row once, a window of four vectors at a
// time (one new load per kx), serves all k taps of that row for the four pixels, and tile row
// oy + r serves kernel row r of output row oy and kernel row r − 1 of output row oy + 1. A step
// of two rows by four pixels then loads (k + 1)·(k + 3) tile vectors and 2·k² weight vectors for
// 8·k² multiply-adds (for 5×5, 98 loads for 200 instead of 250), and the multiply-adds bound it.
// Each sum is still the bias, then the taps in row-major order: the same floats. Measured on the
// Zen 2 host (2026-11-24, one thread, per-node profiles, four alternating runs): MobileNetV3-Small's
// 5×5 layers 240×14×14 0.073 → 0.060 ms, 576×7×7 0.051 → 0.043 ms, 144×14×14 0.048 → 0.040 ms;
// MobileNetV2's 3×3 576×14×14 0.119 → 0.106 ms, 384×14×14 0.058 → 0.051 ms; whole models
// (six alternating runs) MobileNetV3-Small 0.972×, MobileNetV2 0.995×, ShuffleNetV2 0.997×.
// Stride 2 keeps the general loop. There pixel p's tap kx reads column 2p + kx, so even and odd
// taps can slide two windows, one along the even and one along the odd columns (16 registers
// with the sums). Measured that way (2026-11-24, same build with a switch, alternating runs):
// MobileNetV2's 192×28×28 0.063 → 0.060 ms, 576×14×14 unchanged, MobileNetV3-Small's 5×5
// 96×28×28 0.047 → 0.045 ms and 288×14×14 0.034 → 0.033 ms. At stride 2 the tile holds four
// input pixels per output, and the transposes in and out take most of the time. Not kept.

/// Four output pixels' sums of one block of eight channels, the channels in each vector.
typealias DepthwiseBlockSums = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

/// Stores four pixels' sums, clamped, one after the other from `target`.
@inline(__always)
func storeFour(_ sums: DepthwiseBlockSums, _ target: UnsafeMutablePointer<Float>, _ bounds: some StoreBounds) {
  store8(bounds(sums.0), target)
  store8(bounds(sums.1), target + 8)
  store8(bounds(sums.2), target + 16)
  store8(bounds(sums.3), target + 24)
}

/// The tiles of the channel-blocked depthwise kernel (Note [Channel-blocked depthwise]).
struct DepthwiseBlockedLayout {
  let shape: Conv2DShape
  /// Padded rows some output reads.
  let tileRows: Int
  /// Padded columns some output reads (Wt).
  let tileColumns: Int

  /// Output rows of at most 16 columns, and input and output planes of at least eight pixels
  /// (one transpose run).
  static func applies(_ shape: Conv2DShape) -> Bool {
    shape.outputWidth <= 16 && shape.inputHeight * shape.inputWidth >= 8
      && shape.outputHeight * shape.outputWidth >= 8
  }

  init(_ shape: Conv2DShape) {
    self.shape = shape
    tileRows = (shape.outputHeight - 1) * shape.strideHeight + (shape.kernelHeight - 1) * shape.dilationHeight + 1
    tileColumns = (shape.outputWidth - 1) * shape.strideWidth + (shape.kernelWidth - 1) * shape.dilationWidth + 1
  }

  /// 3 or 5 for a 3×3 or 5×5 kernel at stride 1 with no dilation on output rows of at least four
  /// pixels, whose taps share the tile vectors they read (Note [Sliding depthwise rows]); else 0.
  var slidingKernel: Int {
    let square = shape.kernelHeight == shape.kernelWidth && (shape.kernelWidth == 3 || shape.kernelWidth == 5)
    let plain =
      shape.strideHeight == 1 && shape.strideWidth == 1 && shape.dilationHeight == 1 && shape.dilationWidth == 1
    return square && plain && shape.outputWidth >= 4 ? shape.kernelWidth : 0
  }

  /// The tile's pixels, then one vector where unread image pixels go.
  var tileFloats: Int { (tileRows * tileColumns + 1) * 8 }
  var outputFloats: Int { shape.outputHeight * shape.outputWidth * 8 }
  /// The input tile, then the output tile.
  var scratchCount: Int { tileFloats + outputFloats }

  /// The float offset of each tap (row-major) from a pixel's vector in the tile, into `offsets`
  /// (kH·kW of them).
  func tapOffsets(into offsets: UnsafeMutablePointer<Int>) {
    for ky in 0..<shape.kernelHeight {
      for kx in 0..<shape.kernelWidth {
        offsets[ky * shape.kernelWidth + kx] = (ky * shape.dilationHeight * tileColumns + kx * shape.dilationWidth) * 8
      }
    }
  }

  /// Where image pixel q = y·W + x of a channel goes in the tile (its float offset): the vector
  /// past the tile's pixels when no output reads it.
  func tileOffset(_ pixel: Int) -> Int {
    let (y, x) = pixel.quotientAndRemainder(dividingBy: shape.inputWidth)
    let (row, column) = (y + shape.paddingTop, x + shape.paddingLeft)
    return (row < tileRows && column < tileColumns ? row * tileColumns + column : tileRows * tileColumns) * 8
  }
}

extension ConvolutionKernels {
  /// `depthwiseConv2d` eight channels at a time (Note [Channel-blocked depthwise]).
  static func depthwiseBlocked(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, channels: Range<Int>, scratch: UnsafeMutablePointer<Float>,
    channelMeans: UnsafeMutablePointer<Float>? = nil
  ) {
    let layout = DepthwiseBlockedLayout(shape)
    let blocks = channels.count / 8
    let rest = channels.lowerBound + 8 * blocks..<channels.upperBound
    if !rest.isEmpty {
      depthwiseFlat(
        shape, input: input, weights: weights, output: output, clamp: clamp, channels: rest,
        scratch: scratch + layout.scratchCount)
    }
    if blocks == 0 { return }
    let (tile, flat) = (scratch, scratch + layout.tileFloats)
    // Only image pixels (and the spare vector) are written into the tile, at the same places for
    // every block.
    tile.update(repeating: 0, count: layout.tileFloats)
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let taps = shape.kernelHeight * shape.kernelWidth
    withUnsafeTemporaryAllocation(of: Int.self, capacity: inputPlane + taps) { buffer in
      let places = buffer.baseAddress!
      let offsets = places + inputPlane
      for pixel in 0..<inputPlane { places[pixel] = layout.tileOffset(pixel) }
      layout.tapOffsets(into: offsets)
      let clampBounds = VectorClamp(clamp)
      for image in 0..<shape.batch {
        for block in 0..<blocks {
          let first = channels.lowerBound + 8 * block
          let source = input + (image * shape.inputChannels + first) * inputPlane
          depthwiseBlockGather(source, plane: inputPlane, places: UnsafePointer(places), into: tile)
          let blockWeights = weights.tapMajor + first
          // The block's sums, by a kernel specialized for the kind of store (Note [Store
          // activations]).
          func compute(_ bounds: some StoreBounds) {
            depthwiseBlockTile(
              layout, tile: UnsafePointer(tile), weights: blockWeights, channelCount: shape.outputChannels,
              offsets: UnsafePointer(offsets), bounds: bounds, into: flat)
          }
          if clamp.activation == .hardswish { compute(StoreHardswish()) } else { compute(clampBounds) }
          let target = output + (image * shape.outputChannels + first) * outputPlane
          depthwiseBlockScatter(UnsafePointer(flat), plane: outputPlane, into: target)
          if let channelMeans {
            depthwiseBlockMeans(UnsafePointer(flat), plane: outputPlane, into: channelMeans + image * shape.outputChannels + first)
          }
        }
      }
    }
  }

  /// One block's outputs in flat order from its tile, by the kernel for the shape: the sliding
  /// kernels at stride 1 (Note [Sliding depthwise rows]), else `depthwiseBlockCompute` with the
  /// taps' `offsets` (`DepthwiseBlockedLayout.tapOffsets`).
  @inline(__always)
  static func depthwiseBlockTile(
    _ layout: DepthwiseBlockedLayout, tile: UnsafePointer<Float>, weights: UnsafePointer<Float>, channelCount: Int,
    offsets: UnsafePointer<Int>, bounds: some StoreBounds, into flat: UnsafeMutablePointer<Float>
  ) {
    let (shape, columns) = (layout.shape, layout.tileColumns)
    switch layout.slidingKernel {
    case 3:
      depthwiseBlockStride1Kernel3(
        shape, tile: tile, tileColumns: columns, weights: weights, channelCount: channelCount, bounds: bounds,
        into: flat)
    case 5:
      depthwiseBlockStride1Kernel5(
        shape, tile: tile, tileColumns: columns, weights: weights, channelCount: channelCount, bounds: bounds,
        into: flat)
    default:
      depthwiseBlockCompute(
        shape, tile: tile, tileColumns: columns, weights: weights, channelCount: channelCount, offsets: offsets,
        taps: shape.kernelHeight * shape.kernelWidth, bounds: bounds, into: flat)
    }
  }

  /// Transposes eight channel planes of `plane` (≥ 8) pixels from `source` into the tile:
  /// pixel q's eight channels go to `tile + places[q]`. Every vector is stored (unread pixels'
  /// in the tile's spare vector): a branch per store made LLVM rebuild the transpose lane by lane
  /// inside the branches.
  @inline(never)
  static func depthwiseBlockGather(
    _ source: UnsafePointer<Float>, plane: Int, places: UnsafePointer<Int>, into tile: UnsafeMutablePointer<Float>
  ) {
    forEachWindow(plane, width: 8) { run in
      let at = source + run
      let columns = transpose8x8(load8Rows(at, stride: plane))
      @inline(__always)
      func put(_ value: SIMD8<Float>, _ index: Int) { store8(value, tile + places[run + index]) }
      put(columns.0, 0)
      put(columns.1, 1)
      put(columns.2, 2)
      put(columns.3, 3)
      put(columns.4, 4)
      put(columns.5, 5)
      put(columns.6, 6)
      put(columns.7, 7)
    }
  }

  /// Transposes `plane` (≥ 8) flat output pixels of eight channels back into their planes at
  /// `target`, `plane` floats apart.
  @inline(never)
  static func depthwiseBlockScatter(_ flat: UnsafePointer<Float>, plane: Int, into target: UnsafeMutablePointer<Float>) {
    forEachWindow(plane, width: 8) { run in
      let at = flat + run * 8
      store8Rows(transpose8x8(load8Rows(at, stride: 8)), target + run, stride: plane)
    }
  }

  /// The mean of each of the block's eight output planes, from its flat tile (`plane` pixels of
  /// eight channels, still in L1): the pixels summed in order in four interleaved sums, then
  /// scaled by 1/plane as `PoolingKernels.globalAveragePool` does (Note [Pooled side output]).
  @inline(never)
  static func depthwiseBlockMeans(_ flat: UnsafePointer<Float>, plane: Int, into means: UnsafeMutablePointer<Float>) {
    var (s0, s1, s2, s3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
    var pixel = 0
    while pixel + 4 <= plane {
      s0 += load8(flat + pixel * 8)
      s1 += load8(flat + pixel * 8 + 8)
      s2 += load8(flat + pixel * 8 + 16)
      s3 += load8(flat + pixel * 8 + 24)
      pixel += 4
    }
    while pixel < plane {
      s0 += load8(flat + pixel * 8)
      pixel += 1
    }
    store8(((s0 + s1) + (s2 + s3)) * SIMD8(repeating: 1 / Float(plane)), means)
  }

  /// One block's outputs in flat order: `flat[(oy·OW + ox)·8 + lane] = clamp(bias + Σ_t w_t ·
  /// tile[(sH·oy·Wt + sW·ox)·8 + offsets[t] + lane])`, `weights` pointing at the block's first
  /// channel of tap 0 in the tap-major weights (`channelCount` floats per tap, the biases after
  /// the last tap). Four pixels of two rows at a time, eight independent sums (four would wait on
  /// the FMA latency); a row of at least four pixels ends with the four that end it (recomputing
  /// some), a shorter one goes pixel by pixel, and an odd last row goes alone.
  @inline(never)
  static func depthwiseBlockCompute(
    _ shape: Conv2DShape, tile: UnsafePointer<Float>, tileColumns: Int, weights: UnsafePointer<Float>,
    channelCount: Int, offsets: UnsafePointer<Int>, taps: Int, bounds: some StoreBounds,
    into flat: UnsafeMutablePointer<Float>
  ) {
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let bias = load8(weights + taps * channelCount)
    let step = shape.strideWidth * 8
    let rowStep = shape.strideHeight * tileColumns * 8
    let flatRow = outputWidth * 8
    if outputWidth < 4 {
      for oy in 0..<outputHeight {
        for ox in 0..<outputWidth {
          let base = tile + oy * rowStep + ox * step
          var sum = bias
          for tap in 0..<taps { sum.addProduct(load8(weights + tap * channelCount), load8(base + offsets[tap])) }
          store8(bounds(sum), flat + oy * flatRow + ox * 8)
        }
      }
      return
    }
    // Four pixels of a row: tap `w` times the vectors at `at`, one pixel step apart.
    @inline(__always)
    func add(_ sums: inout DepthwiseBlockSums, _ w: SIMD8<Float>, _ at: UnsafePointer<Float>) {
      sums.0.addProduct(w, load8(at))
      sums.1.addProduct(w, load8(at + step))
      sums.2.addProduct(w, load8(at + 2 * step))
      sums.3.addProduct(w, load8(at + 3 * step))
    }
    var oy = 0
    while oy < outputHeight {
      let pair = oy + 1 < outputHeight
      forEachWindow(outputWidth, width: 4) { ox in
        let base = tile + oy * rowStep + ox * step
        let target = flat + oy * flatRow + ox * 8
        var first: DepthwiseBlockSums = (bias, bias, bias, bias)
        if pair {
          var second: DepthwiseBlockSums = (bias, bias, bias, bias)
          for tap in 0..<taps {
            let (w, at) = (load8(weights + tap * channelCount), base + offsets[tap])
            add(&first, w, at)
            add(&second, w, at + rowStep)
          }
          storeFour(second, target + flatRow, bounds)
        } else {
          for tap in 0..<taps { add(&first, load8(weights + tap * channelCount), base + offsets[tap]) }
        }
        storeFour(first, target, bounds)
      }
      oy += pair ? 2 : 1
    }
  }

  @inline(never)
  static func depthwiseBlockStride1Kernel5(
    _ shape: Conv2DShape, tile: UnsafePointer<Float>, tileColumns: Int, weights: UnsafePointer<Float>,
    channelCount: Int, bounds: some StoreBounds, into flat: UnsafeMutablePointer<Float>
  ) {
    depthwiseBlockSliding(
      kernel: 5, shape, tile: tile, tileColumns: tileColumns, weights: weights, channelCount: channelCount,
      bounds: bounds, into: flat)
  }

  @inline(never)
  static func depthwiseBlockStride1Kernel3(
    _ shape: Conv2DShape, tile: UnsafePointer<Float>, tileColumns: Int, weights: UnsafePointer<Float>,
    channelCount: Int, bounds: some StoreBounds, into flat: UnsafeMutablePointer<Float>
  ) {
    depthwiseBlockSliding(
      kernel: 3, shape, tile: tile, tileColumns: tileColumns, weights: weights, channelCount: channelCount,
      bounds: bounds, into: flat)
  }

  /// `depthwiseBlockCompute` for a `kernel`×`kernel` kernel (3 or 5) at stride 1 with no dilation,
  /// on output rows of at least four pixels (Note [Sliding depthwise rows]): two output rows of four
  /// pixels per step; each tile row the step reads is loaded once, one vector at a time along a
  /// window of four, and each vector feeds both output rows' taps that read it. Same sums, in the
  /// same order (bias, then the taps row by row), as `depthwiseBlockCompute`.
  @inline(__always)
  static func depthwiseBlockSliding(
    kernel: Int, _ shape: Conv2DShape, tile: UnsafePointer<Float>, tileColumns: Int, weights: UnsafePointer<Float>,
    channelCount: Int, bounds: some StoreBounds, into flat: UnsafeMutablePointer<Float>
  ) {
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let bias = load8(weights + kernel * kernel * channelCount)
    let rowStep = tileColumns * 8
    let flatRow = outputWidth * 8
    @inline(__always)
    func add(_ sums: inout DepthwiseBlockSums, _ w: SIMD8<Float>, _ v: DepthwiseBlockSums) {
      sums.0.addProduct(w, v.0)
      sums.1.addProduct(w, v.1)
      sums.2.addProduct(w, v.2)
      sums.3.addProduct(w, v.3)
    }
    var oy = 0
    while oy < outputHeight {
      let pair = oy + 1 < outputHeight
      forEachWindow(outputWidth, width: 4) { ox in
        let base = tile + oy * rowStep + ox * 8
        let target = flat + oy * flatRow + ox * 8
        var first: DepthwiseBlockSums = (bias, bias, bias, bias)
        var second: DepthwiseBlockSums = (bias, bias, bias, bias)
        // Tile row `oy + r` is kernel row r of the first output row and r − 1 of the second.
        for r in 0..<(pair ? kernel + 1 : kernel) {
          let row = base + r * rowStep
          var window: DepthwiseBlockSums = (load8(row), load8(row + 8), load8(row + 16), SIMD8<Float>())
          for kx in 0..<kernel {
            window.3 = load8(row + (kx + 3) * 8)
            if r < kernel { add(&first, load8(weights + (r * kernel + kx) * channelCount), window) }
            if pair && r > 0 { add(&second, load8(weights + ((r - 1) * kernel + kx) * channelCount), window) }
            window = (window.1, window.2, window.3, window.3)
          }
        }
        storeFour(first, target, bounds)
        if pair { storeFour(second, target + flatRow, bounds) }
      }
      oy += pair ? 2 : 1
    }
  }
}
