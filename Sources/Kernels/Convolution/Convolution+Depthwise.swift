import CPrefetch

/// Depthwise convolution (groups == Cin == Cout), vectorized along output rows, with fused bias
/// and clamp (the math and NCHW layout are `ConvolutionKernels`'s):
///
///     out[n, c, oy, ox] = clamp( bias[c] + Σ_{ky, kx} w[c, ky, kx] ·
///                                in[n, c, oy·sH − padTop + ky·dH, ox·sW − padLeft + kx·dW] )
///
/// Each channel is copied once into a zero-padded plane whose rows hold their columns split by
/// phase (Note [Depthwise padded planes]), so every tap of a vector of outputs is one plain
/// load. 3×3 and 5×5 kernels with equal strides 1 or 2 and no dilation (MobileNet's and
/// ShuffleNet's) run loops with the taps in registers that compute several output rows per
/// step (Note [Depthwise row blocks]); any other kernel, stride, padding or dilation runs a
/// general loop over the taps. Work splits by channel range; each call needs its own scratch.
extension ConvolutionKernels {
  /// True when the convolution is depthwise with one output channel per input channel.
  public static func isDepthwise(_ shape: Conv2DShape) -> Bool {
    shape.groups == shape.inputChannels && shape.outputChannels == shape.inputChannels
  }

  /// Channels the kernel computes together (8 on small planes, Note [Channel-blocked
  /// depthwise], else 1): callers that split the channels do best in multiples of it.
  public static func depthwiseChannelGrain(_ shape: Conv2DShape) -> Int {
    DepthwiseBlockedLayout.applies(shape) ? 8 : 1
  }

  /// True when `depthwiseConv2d` can also average each output plane (Note [Pooled side output]):
  /// the channel-blocked kernel, with whole blocks of eight channels.
  public static func depthwiseAveragesChannels(_ shape: Conv2DShape) -> Bool {
    DepthwiseBlockedLayout.applies(shape) && shape.outputChannels % 8 == 0
  }

  /// Floats of scratch `depthwiseConv2d` needs.
  public static func depthwiseScratchCount(_ shape: Conv2DShape) -> Int {
    if DepthwiseBlockedLayout.applies(shape) {
      // Channels past the last whole block of eight go through the flat kernel.
      return DepthwiseBlockedLayout(shape).scratchCount + DepthwiseFlatLayout(shape).scratchCount
    }
    return DepthwiseFlatLayout.applies(shape) ? DepthwiseFlatLayout(shape).scratchCount : DepthwisePlaneLayout(shape).scratchCount
  }

  /// Depthwise convolution with packed weights over a range of channels.
  ///
  /// - Parameters:
  ///   - shape: a validated depthwise shape (`isDepthwise`).
  ///   - input: `shape.inputShape` floats; nothing outside them is read.
  ///   - weights: `DepthwiseWeights(shape, …)`.
  ///   - output: `shape.outputShape` floats; only the planes of `channels` (every image) are
  ///     written.
  ///   - clamp: applied after the bias.
  ///   - channels: a range of `0..<C`; nil for all. The result does not depend on how the
  ///     channels are split between calls.
  ///   - scratch: `depthwiseScratchCount(shape)` floats.
  ///   - channelMeans: when not nil, also receives the mean of each output plane written
  ///     (`channelMeans[image · C + channel]`, Note [Pooled side output]); only for shapes where
  ///     `depthwiseAveragesChannels` holds.
  public static func depthwiseConv2d(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, channels: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>,
    channelMeans: UnsafeMutablePointer<Float>? = nil
  ) {
    precondition(isDepthwise(shape), "depthwise convolution needs groups == input channels == output channels")
    precondition(
      weights.channels == shape.outputChannels && weights.kernelHeight == shape.kernelHeight
        && weights.kernelWidth == shape.kernelWidth, "depthwise weights do not match the shape")
    precondition(shape.outputHeight > 0 && shape.outputWidth > 0, "depthwise shape was not validated")
    let channels = channels ?? 0..<shape.outputChannels
    precondition(channels.lowerBound >= 0 && channels.upperBound <= shape.outputChannels, "channels out of range")
    if channels.isEmpty { return }
    precondition(channelMeans == nil || depthwiseAveragesChannels(shape), "this shape has no channel means")
    if DepthwiseBlockedLayout.applies(shape) {
      depthwiseBlocked(
        shape, input: input, weights: weights, output: output, clamp: clamp, channels: channels, scratch: scratch,
        channelMeans: channelMeans)
      return
    }
    if DepthwiseFlatLayout.applies(shape) {
      depthwiseFlat(shape, input: input, weights: weights, output: output, clamp: clamp, channels: channels, scratch: scratch)
      return
    }
    let layout = DepthwisePlaneLayout(shape)
    // Padding positions are the same for every channel, and a channel's copy writes only image
    // pixels: zeroing the padded planes once makes the padding zero for all channels.
    scratch.update(repeating: 0, count: layout.scratchCount)
    let spare = scratch + layout.planeCount * layout.planeFloats
    // One specialized sweep per kind of store (Note [Store activations]).
    if clamp.activation == .hardswish { sweep(StoreHardswish()) } else { sweep(VectorClamp(clamp)) }
    func sweep<Bounds: StoreBounds>(_ bounds: Bounds) {
      // The second sweep is used only when channels are copied ahead (two planes).
      let sweeps = (
        DepthwiseSweep(layout: layout, plane: scratch, spare: spare, clamp: bounds),
        DepthwiseSweep(layout: layout, plane: scratch + layout.planeFloats, spare: spare, clamp: bounds)
      )
      let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
      let channelCount = channels.count
      let planeCount = shape.batch * channelCount
      // Small planes are copied a whole channel ahead, into the other plane (Note [Depthwise
      // padded planes]); large ones a block of rows ahead, in their channel's own run.
      let ahead = layout.copiesChannelsAhead
      @inline(__always)
      func channel(_ index: Int) -> DepthwiseChannel {
        let (image, offset) = index.quotientAndRemainder(dividingBy: channelCount)
        let plane = image * shape.inputChannels + channels.lowerBound + offset
        return DepthwiseChannel(
          source: input + plane * inputPlane, target: output + plane * outputPlane,
          taps: weights.taps(channels.lowerBound + offset), copiedRows: ahead ? shape.inputHeight : 0)
      }
      @inline(__always)
      func forEachPlane(_ body: (DepthwiseSweep<Bounds>, DepthwiseChannel) -> Void) {
        if !ahead {
          for index in 0..<planeCount { body(sweeps.0, channel(index)) }
          return
        }
        _ = layout.copyRows(channel(0).source, into: sweeps.0.plane, from: 0, to: shape.inputHeight, mask: sweeps.0.mask)
        for index in 0..<planeCount {
          let (current, next) = index % 2 == 0 ? (sweeps.0, sweeps.1) : (sweeps.1, sweeps.0)
          if index + 1 < planeCount {
            _ = layout.copyRows(channel(index + 1).source, into: next.plane, from: 0, to: shape.inputHeight, mask: next.mask)
          }
          body(current, channel(index))
        }
      }
      switch (layout.blockedKernel, layout.strideWidth) {
      case (3, 1): forEachPlane { $0.run3x3Stride1($1) }
      case (3, 2): forEachPlane { $0.run3x3Stride2($1) }
      case (5, 1): forEachPlane { $0.run5x5Stride1($1) }
      case (5, 2): forEachPlane { $0.run5x5Stride2($1) }
      default:
        withUnsafeTemporaryAllocation(of: Int.self, capacity: shape.kernelHeight * shape.kernelWidth) { offsets in
          for ky in 0..<shape.kernelHeight {
            for kx in 0..<shape.kernelWidth {
              offsets[ky * shape.kernelWidth + kx] = layout.tapOffset(ky, kx)
            }
          }
          forEachPlane { $0.runGeneral(offsets: UnsafePointer(offsets.baseAddress!), $1) }
        }
      }
    }
  }

  /// `depthwiseConv2d` for 3×3 kernels (MobileNet's depthwise layers).
  public static func depthwiseConv3x3(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, channels: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    precondition(shape.kernelHeight == 3 && shape.kernelWidth == 3, "depthwiseConv3x3 needs a 3×3 kernel")
    depthwiseConv2d(
      shape, input: input, weights: weights, output: output, clamp: clamp, channels: channels, scratch: scratch)
  }
}

/// Depthwise weights packed once: per channel its kH·kW taps (row-major) and then its bias,
/// `channelStride` floats apart, 64-byte aligned; and the same values tap-major (every channel's
/// tap t, then every channel's bias: `tapMajor[t·C + c]`) for the channel-blocked kernel.
/// Immutable after `init`.
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
  /// (kH·kW + 1)·C floats: tap t of channel c at t·C + c, the biases last.
  let tapMajor: UnsafeMutablePointer<Float>

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
    tapMajor = allocateAligned((taps + 1) * channels)
    for channel in 0..<channels {
      let target = values + channel * channelStride
      target.update(from: weight + channel * taps, count: taps)
      target[taps] = bias?[channel] ?? 0
      for tap in 0...taps { tapMajor[tap * channels + channel] = target[tap] }
    }
  }

  deinit {
    deallocateAligned(values)
    deallocateAligned(tapMajor)
  }

  /// The taps of `channel` followed by its bias.
  @inline(__always)
  func taps(_ channel: Int) -> UnsafePointer<Float> { UnsafePointer(values + channel * channelStride) }
}

// Note [Depthwise padded planes]
// With strides sH, sW, output (oy, ox) and tap (ky, kx) read the zero-padded input at row
// sH·oy + ky·dH and column sW·ox + kx·dW. Each channel's input is first copied into one padded
// plane whose rows (row r = padded input row r) hold the sW column phases side by side, each
// Q floats long:
//
//     plane [r·sW·Q + φ·Q + c]  =  padded input [r, sW·c + φ]        (0 in the padding)
//
// so tap (ky, kx) of output (oy, ox) is at
//
//     (sH·oy + ky·dH)·sW·Q  +  ((kx·dW) mod sW)·Q + ⌊kx·dW / sW⌋  +  ox:
//
// consecutive outputs of a row read consecutive floats, whatever the stride, and the padding
// is zeros already in the plane. Stride 1 is a plain copy at column padLeft; stride 2 splits
// sixteen (or, in rows of 8 to 15, eight) input columns at a time into their even and odd
// halves. Q ≥ max(OW, 8) plus the
// largest column shift, so the vector of any 8 outputs of a row starting at ox ≤ max(OW − 8, 0)
// stays inside its plane row. A row of outputs is computed at ox = 0, 8, … and, when OW is not
// a multiple of 8, once more at OW − 8 (recomputing a few outputs to the same values): every
// store is a whole vector. When OW < 8 the vector of row oy runs into row oy + 1, which is
// written afterwards; only the rows whose vector would pass the plane's end (the last one, or
// the last few when OW < 4) go through a spare vector, so nothing past the channel's plane is
// written. Image rows are copied one block of output rows before the block that first reads
// them, while they are still in L1. Only image pixels are written, at the same positions
// for every channel, so the plane is zeroed once per call. (Skipping that zeroing altogether, as an
// upper bound for zeroing only the padding, left MobileNetV2 and V3-Small unchanged.)
// A small plane is different: there a block of rows is most of the plane, and loads of a row
// stored a few instructions earlier, at another offset, miss store-to-load forwarding and wait
// for the stores to retire (this made 7×7 and 14×14 layers three to four times slower than
// their FMAs). Planes of at most 4096 floats are therefore copied a whole channel ahead: two
// planes alternate, and channel c + 1 is copied into one while channel c is computed from the
// other.

// Note [Depthwise row blocks]
// A k×k kernel (k = 3 or 5, stride s = 1 or 2, no dilation) computes R output rows of one
// vector of columns per step, all taps in registers or (5×5) spilled to the stack. Output row
// oy + j reads plane rows s·(oy + j) + ky, so the R rows read s·(R − 1) + k plane rows and each
// plane-row vector is loaded once per step and feeds every output row that uses it: 3×3 at
// stride 1 with R = 4 is 18 loads for 36 FMAs instead of 36. On Zen 1 a 256-bit load and a
// 256-bit FMA each issue about once per cycle, so loads, not FMAs, bound the one-row loop.
// 3×3 uses R = 4, 5×5 R = 2 (its 25 taps already overflow the 16 registers). Rows past the
// last whole block run one at a time.
// Stride 2 without the padded copy was prototyped twice (2026-11-23), reading each input row in
// place and splitting it with in-register shuffles whose lanes stay permuted until the store
// (three `vshufps` and four loads per row and vector): once with four output rows per step and
// once one input row at a time into two partial output rows. Both ran at 45–60 cycles per
// output vector on cached data, against about 40 for this copy-then-compute loop: LLVM narrows
// the loads whose odd lanes go unused into scalar inserts and keeps one pointer per row and tap
// on the stack. ONNX Runtime's NCHWc depthwise needs no shuffles (eight channels per vector), and
// MobileNetV2's two large stride-2 blocks are where it stays ahead: 16→96→(3×3/2)→24 and
// 24→144→(3×3/2)→32 at 112×112 took 3.35 ms here and 2.83 ms in ONNX Runtime at one thread,
// while chains of stride-1 inverted residual blocks ran at parity. Splitting large planes
// between threads by bands of output rows instead of channels (so that a projection's thread
// share reads the pixels its own core just wrote) left MobileNetV2 and V3-Small within 1.5% at
// two threads; not used.
// Stride 2 with two output rows per step instead of four (fewer live row pointers: LLVM keeps
// most of the 27 tap addresses on the stack) was 1.04× slower on 96×112×112 (2026-11-24), and
// prefetching the image rows 4, 8 or 16 ahead of the copy 1.03–1.04× slower. The layer is not
// waiting for memory: 96 channels of 112×112 (4.8 MB, from L3) take less time per channel
// than 8 (400 KB, from L2), and since the copy's per-window index work is gone
// (`scatterTwoPhases`) the copy reads at about 44 GB/s, 41% of the layer's samples. On small
// planes (copied a channel ahead), copying the next channel a share of rows after each step of
// the current one, so that its loads overlap the multiply-adds, left 144×56×56 at stride 2
// unchanged (0.153–0.154 ms); and clearing the scratch once per layer instead of once per
// channel chunk (the chunks of an activation epilogue) left MobileNetV3-Small unchanged.
// With the plane's row length a run-time value, the four-row 3×3 step needs a register per plane
// row and tap column (27 addresses at stride 2), and LLVM kept most of them on the stack,
// reloading one before nearly every multiply-add. MobileNet's row lengths (64 and 128 at stride
// 2; 32, 64 and 120 at stride 1) therefore get their own copy of the loop with the length a
// constant: three base registers and constant displacements, no reloads. Measured on the Zen 2
// host (2026-11-24, one thread, the models' per-node profiles, four alternating runs): stride 2
// 96×112×112 0.302 → 0.283 ms, 144×56×56 0.177 → 0.161 ms, MobileNetV3-Small's 72×56×56 0.080 →
// 0.072 ms; stride 1 144×56×56 0.267 → 0.256 ms, 192×28×28 0.119 → 0.110 ms, 32×112×112 0.222 →
// 0.216 ms. Whole models 0.996–1.000× (six alternating runs each step). One build of the stride-1
// copies made MobileNetV2's large-plane 1×1 layers 5–9% slower (16→96 on 112×112 0.53 → 0.57
// ms): it had moved `microKernel6x16Run` to a 64-byte boundary, and the builds with that function
// 16 or 32 bytes past one ran those layers at the same speed. Code placement alone can move the
// in-place GEMM by that much; compare per-node profiles before and after a kernel change.
// Running an inverted residual block (1×1 expansion, 3×3 depthwise, 1×1 projection) band by
// band, so that the expanded rows stay in L2 between the three kernels, was sized before building
// it (2026-11-24, one thread): the three layers on a band of 8 output rows (17 or 10 input rows,
// scaled to the whole plane) took 0.94 ms against 0.894 ms unbanded for 16→96→(3×3/2)→24 on
// 112×112, and 0.77 against 0.73 ms for 24→144→144→24 on 56×56. The expansion and the depthwise
// layer are no faster on data in L2 than streaming, and the per-call edges cost more; not built.

// Two more shapes of the stride-2 step were measured and not kept (2026-11-24, eight 144×56×56
// stride-2 layers side by side, 0.95 ms as kept): computing every column of a one-phase plane at
// stride 1 (a plain copy, then 18 multiply-adds per eight outputs) and keeping the even lanes,
// 1.23–1.28 ms (LLVM first narrowed the loads feeding the dropped lanes into scalar inserts,
// 1.74 ms, until an empty inline-assembly barrier hid the lanes' use); and two vectors of
// columns per step (eight independent sums instead of four, against the multiply-add latency),
// 0.99–1.00 ms, since the eight sums and nine taps no longer fit the 16 registers. `perf` puts
// 43% of those layers' time in the multiply-adds, 36% in the copy, 7% in the residual add.

// The copy itself was mostly per-row setup: a 56-column row is three or four windows of 16,
// and `scatterTwoPhases` found each row's pointers and last-window places anew, with overflow
// checks, about 60 instructions around 40 (2026-11-24, `perf` on eight 144×56×56 stride-2
// layers: the copy 47% of their time, 7 cycles per window). `scatterTwoPhasesRows` and
// `copyRowsOverlapping` find the places once per call: 144×56×56 at stride 2 0.149 → 0.125 ms
// in MobileNetV2's per-node profile (ONNX Runtime 0.082), MobileNetV2 0.991× and V3-Small
// 0.993× (one thread, seven alternating runs). The window's split (`vshufps` and `vpermpd`,
// two micro-ops on Zen 2) is what bounds the copy now.

// Note [Depthwise output prefetch]
// A layer's output buffer is usually cold: the pool hands back the block a layer of that size used
// in the previous run, and a MobileNet run streams about 14 MB of weights through the 16 MB L3
// after it. A store to a line that is in no cache waits for the line to arrive from DRAM (read for
// ownership) and stalls the store buffer; the depthwise kernel computes a 3×3 output faster than
// DRAM delivers lines (about 6 µs per 112×112 plane), so it waited on them. Measured on the Zen 2
// host (2026-11-24, one thread): four 3×3 layers of 32 channels on 112×112, the first two writing
// cold buffers and the last two the first two's (warm) ones, 0.34 / 0.31 / 0.195 / 0.19 ms; ONNX
// Runtime 0.28–0.30 ms each. Before each block of output rows the kernel now prefetches the lines
// of the next block (`mo_prefetch_write`, a C shim over `__builtin_prefetch`; `prefetcht0` for the
// haswell target): the cold layers 0.30–0.32 / 0.24–0.25 ms, the warm ones within noise. In
// MobileNetV2 the 32-channel 112×112 layer went 0.35 → 0.25 ms and the 144-channel 56×56 one 0.33 →
// 0.30 ms; 28×28 planes (192 channels) were 0.01 ms slower with it, so planes below 56×56 do
// without. Reading one float per line instead of the prefetch helped the cold layers less and
// slowed the warm ones by 5%. The same prefetch of the next row panel's C lines in the in-place
// GEMM made every MobileNetV2 1×1 layer slower (the expansion to 96 channels on 112×112 by 13%):
// those layers stream their output at about DRAM speed already, and the extra requests competed
// with B's. Prefetching the input plane of the channel after next on small planes (copied a
// channel ahead), all at once or a share before each block of rows, made MobileNetV3-Small's
// 72-channel stride-2 layer on 56×56 slower, 0.079 → 0.086–0.089 ms; prefetching the next channel's output rows in the Winograd output transform left
// SqueezeNet's 3×3 layers within ±3%.
// The models' stems (3×3, stride 2, from three channels: phase-plane GEMMs) run about 10%
// slower in the models than alone (SqueezeNet's 0.63 against 0.58 ms, MobileNetV3-Small's 0.29
// against 0.245 ms, 2026-11-24), their large outputs being cold there; asking for the next
// 256 (or 128, or 512) output columns' lines of every channel before each chunk of the GEMM
// made them slower still (0.66 → 0.70–0.78 ms, 0.30 → 0.29–0.36 ms).
// The channel-blocked depthwise row path (Note [Channel-blocked depthwise]) does without both
// prefetches (2026-11-25, one thread, MobileNetV2's six blocked depthwise layers on 112×112 to
// 28×28, six alternating per-node profiles): before each output row, the next output row's lines
// made every layer slower (0.80 → 0.88 ms in sum), and the input rows only the next output row
// reads helped the stride-2 layer on 112×112 alone (0.236 → 0.211 ms) and slowed the others
// (0.80 → 0.83 ms in sum).

/// The padded-plane layout of one depthwise shape (Note [Depthwise padded planes]).
struct DepthwisePlaneLayout {
  let height: Int, width: Int, outputHeight: Int, outputWidth: Int
  let kernelHeight: Int, kernelWidth: Int
  let strideHeight: Int, strideWidth: Int
  let dilationHeight: Int, dilationWidth: Int
  let paddingTop: Int, paddingLeft: Int
  /// Floats of one column phase of a plane row (Q).
  let phaseLength: Int
  /// Floats of one plane row: sW phases.
  let rowLength: Int
  /// Rows of the plane: padded input rows 0 through the last one an output reads.
  let planeRows: Int
  /// Floats of the plane.
  let planeFloats: Int
  /// 3 or 5 for a square kernel of that size with equal strides 1 or 2 and no dilation (Note
  /// [Depthwise row blocks]); 0 for the general loop.
  let blockedKernel: Int
  /// The planes (`planeCount`), then one spare vector for a short last row.
  var scratchCount: Int { planeCount * planeFloats + 8 }
  /// Planes in the scratch: two that alternate when channels are copied ahead, else one.
  var planeCount: Int { copiesChannelsAhead ? 2 : 1 }
  /// True when each channel is copied into its plane while the channel before is computed
  /// (Note [Depthwise padded planes]): planes of at most 4096 floats.
  var copiesChannelsAhead: Bool { planeFloats <= 4096 }

  init(_ shape: Conv2DShape) {
    (height, width) = (shape.inputHeight, shape.inputWidth)
    (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    (kernelHeight, kernelWidth) = (shape.kernelHeight, shape.kernelWidth)
    (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    (dilationHeight, dilationWidth) = (shape.dilationHeight, shape.dilationWidth)
    (paddingTop, paddingLeft) = (shape.paddingTop, shape.paddingLeft)
    let shift = (kernelWidth - 1) * dilationWidth / strideWidth
    let imageColumns = (paddingLeft + width + strideWidth - 1) / strideWidth
    // A short stride-1 row is copied as one vector at column padLeft.
    let shortRow = strideWidth == 1 ? paddingLeft + 8 : 0
    phaseLength = (max(max(outputWidth, 8) + shift, imageColumns, shortRow) + 7) / 8 * 8
    rowLength = strideWidth * phaseLength
    planeRows = (outputHeight - 1) * strideHeight + (kernelHeight - 1) * dilationHeight + 1
    planeFloats = planeRows * rowLength
    let square = kernelHeight == kernelWidth && (kernelHeight == 3 || kernelHeight == 5)
    let blocked =
      square && strideHeight == strideWidth && (strideWidth == 1 || strideWidth == 2) && dilationHeight == 1
      && dilationWidth == 1
    blockedKernel = blocked ? kernelHeight : 0
  }

  /// Offset of tap (ky, kx) of output (0, 0) from the plane's start.
  func tapOffset(_ ky: Int, _ kx: Int) -> Int {
    let (shift, phase) = (kx * dilationWidth).quotientAndRemainder(dividingBy: strideWidth)
    return ky * dilationHeight * rowLength + phase * phaseLength + shift
  }

  /// The lanes of a short stride-1 row (`W` < 8) that hold its pixels: all ones, the others 0.
  var shortRowMask: SIMD8<UInt32> {
    leadingLanes(min(width, 8))
  }

  /// Copies image rows `first..<end` of one input plane (`[H, W]`), but none past the image or
  /// past the plane's last row, into their plane rows, writing only image pixels (and, for a
  /// short stride-1 row, zeros in its row's right padding); returns the row after the last one
  /// copied. `mask` is `shortRowMask`.
  @inline(__always)
  func copyRows(
    _ input: UnsafePointer<Float>, into plane: UnsafeMutablePointer<Float>, from first: Int, to end: Int,
    mask: SIMD8<UInt32>
  ) -> Int {
    // Two-argument `min`s: the three-argument one is variadic and built an array on every call
    // (once per block of rows and channel; 4–7% of MobileNetV2's depthwise layers).
    let end = min(min(end, height), planeRows - paddingTop)
    if end <= first { return first }
    if strideWidth == 1 && width >= 8 {
      copyRowsOverlapping(
        input + first * width, rows: end - first, count: width, sourceStride: width,
        into: plane + (first + paddingTop) * rowLength + paddingLeft, targetStride: rowLength)
      return end
    }
    if strideWidth == 2 && width >= 16 {
      scatterTwoPhasesRows(
        input + first * width, rows: end - first, count: width, sourceStride: width, paddingLeft: paddingLeft,
        into: plane + (first + paddingTop) * rowLength, targetStride: rowLength, phaseStride: phaseLength)
      return end
    }
    for row in first..<end {
      let source = input + row * width
      let target = plane + (row + paddingTop) * rowLength
      if strideWidth == 1 {
        // Rows of 8 or more went through `copyRowsOverlapping` above.
        let line = target + paddingLeft
        if row * width + 8 <= height * width {
          // Eight floats still inside the input plane: the lanes past the row become zeros.
          store8(keepingLanes(load8(source), mask), line)
        } else {
          store8(loadPartial8(source, count: width), line)
        }
      } else if strideWidth == 2 && width >= 8 {
        // 8 to 15 columns (16 or more went through `scatterTwoPhasesRows` above).
        scatterTwoPhases(source, count: width, paddingLeft: paddingLeft, into: target, phaseStride: phaseLength)
      } else {
        scatterByPhase(
          source, count: width, paddingLeft: paddingLeft, stride: strideWidth, into: target, phaseStride: phaseLength)
      }
    }
    return end
  }
}

/// The taps of one kernel row, broadcast.
struct DepthwiseKernelRow3 {
  let a: SIMD8<Float>, b: SIMD8<Float>, c: SIMD8<Float>

  @inline(__always)
  init(_ taps: UnsafePointer<Float>) {
    (a, b, c) = (SIMD8(repeating: taps[0]), SIMD8(repeating: taps[1]), SIMD8(repeating: taps[2]))
  }
}

/// The taps of one kernel row, broadcast.
struct DepthwiseKernelRow5 {
  let a: SIMD8<Float>, b: SIMD8<Float>, c: SIMD8<Float>, d: SIMD8<Float>, e: SIMD8<Float>

  @inline(__always)
  init(_ taps: UnsafePointer<Float>) {
    (a, b, c) = (SIMD8(repeating: taps[0]), SIMD8(repeating: taps[1]), SIMD8(repeating: taps[2]))
    (d, e) = (SIMD8(repeating: taps[3]), SIMD8(repeating: taps[4]))
  }
}

/// One plane of one image's channel: its input and output planes, and its taps and bias.
struct DepthwiseChannel {
  let source: UnsafePointer<Float>
  let target: UnsafeMutablePointer<Float>
  let taps: UnsafePointer<Float>
  /// Image rows already in the padded plane: 0, or all of them when copied ahead.
  let copiedRows: Int
}

/// One call's layout, padded plane, spare vector and clamp; runs the channels' loops.
struct DepthwiseSweep<Bounds: StoreBounds> {
  let layout: DepthwisePlaneLayout
  let plane: UnsafeMutablePointer<Float>
  let spare: UnsafeMutablePointer<Float>
  let clamp: Bounds
  /// Plane offsets of the taps (0, 1) through (0, 4): (kx mod sW)·Q + ⌊kx / sW⌋.
  ///
  /// Computed at run time on purpose: with the stride-1 offsets 1, 2, … as constants LLVM
  /// sees the loads overlap and rebuilds them from 128-bit pieces with shuffles, which made the
  /// 3×3 loop twice as slow as with plain unaligned loads.
  let columns: (Int, Int, Int, Int)
  /// `layout.shortRowMask`.
  let mask: SIMD8<UInt32>

  init(
    layout: DepthwisePlaneLayout, plane: UnsafeMutablePointer<Float>, spare: UnsafeMutablePointer<Float>,
    clamp: Bounds
  ) {
    (self.layout, self.plane, self.spare, self.clamp) = (layout, plane, spare, clamp)
    columns = (layout.tapOffset(0, 1), layout.tapOffset(0, 2), layout.tapOffset(0, 3), layout.tapOffset(0, 4))
    mask = layout.shortRowMask
  }

  /// Computes one channel's output plane and runs `block` (`rows` output rows) or `single`
  /// (one) at every vector of columns. Both get the plane at the block's first row and column,
  /// and the output at the same place. Image rows are copied one block of output rows before the
  /// block that first reads them.
  @inline(__always)
  func run(
    _ channel: DepthwiseChannel, rows: Int,
    block: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
    single: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) {
    let (outputHeight, outputWidth) = (layout.outputHeight, layout.outputWidth)
    let rowStep = layout.strideHeight * layout.rowLength
    let reach = (layout.kernelHeight - 1) * layout.dilationHeight + 1 - layout.paddingTop
    let lastColumn = max(outputWidth - 8, 0)
    // Rows whose vector would pass the plane's end (only when OW < 8) go through `spare`.
    let planeCount = outputHeight * outputWidth
    let wholeRows = planeCount >= 8 ? (planeCount - 8) / outputWidth + 1 : 0
    let (source, target) = (channel.source, channel.target)
    var copied = channel.copiedRows
    @inline(__always)
    func forEachVector(_ body: (Int) -> Void) {
      var column = 0
      while column < lastColumn {
        body(column)
        column += 8
      }
      body(lastColumn)
    }
    var row = 0
    // Output planes of 56×56 and more are written a block of rows after their lines were asked
    // for (Note [Depthwise output prefetch]).
    let prefetches = planeCount >= 3136
    while row + rows <= wholeRows {
      let ahead = (row + 2 * rows - 1) * layout.strideHeight + reach
      copied = layout.copyRows(source, into: plane, from: copied, to: ahead, mask: mask)
      if prefetches {
        var offset = (row + rows) * outputWidth
        let end = min(offset + rows * outputWidth, planeCount)
        while offset < end {
          mo_prefetch_write(target + offset)
          offset += 16
        }
      }
      let (input, output) = (UnsafePointer(plane + row * rowStep), target + row * outputWidth)
      forEachVector { block(input + $0, output + $0) }
      row += rows
    }
    while row < outputHeight {
      let ahead = (row + 1) * layout.strideHeight + reach
      copied = layout.copyRows(source, into: plane, from: copied, to: ahead, mask: mask)
      let input = UnsafePointer(plane + row * rowStep)
      let output = row < wholeRows ? target + row * outputWidth : spare
      forEachVector { single(input + $0, output + $0) }
      if row >= wholeRows { (target + row * outputWidth).update(from: spare, count: outputWidth) }
      row += 1
    }
  }

  // One function per kernel and stride, each with its loops inlined and the stride a constant:
  // all of them inlined into one function would pass the optimizer's size limits, and it would
  // leave loads and stores as calls. MobileNet's 3×3 row lengths get a function each, with the
  // length a constant too (Note [Depthwise row blocks]).
  @inline(never)
  func run3x3Stride1(_ channel: DepthwiseChannel) {
    switch layout.rowLength {
    case 32: run3x3Stride1Rows32(channel)
    case 64: run3x3Stride1Rows64(channel)
    case 120: run3x3Stride1Rows120(channel)
    default: run3x3(stride: 1, rowLength: layout.rowLength, channel)
    }
  }

  @inline(never)
  func run3x3Stride1Rows32(_ channel: DepthwiseChannel) { run3x3(stride: 1, rowLength: 32, channel) }

  @inline(never)
  func run3x3Stride1Rows64(_ channel: DepthwiseChannel) { run3x3(stride: 1, rowLength: 64, channel) }

  @inline(never)
  func run3x3Stride1Rows120(_ channel: DepthwiseChannel) { run3x3(stride: 1, rowLength: 120, channel) }

  @inline(never)
  func run3x3Stride2(_ channel: DepthwiseChannel) {
    switch layout.rowLength {
    case 64: run3x3Stride2Rows64(channel)
    case 128: run3x3Stride2Rows128(channel)
    default: run3x3(stride: 2, rowLength: layout.rowLength, channel)
    }
  }

  @inline(never)
  func run3x3Stride2Rows64(_ channel: DepthwiseChannel) { run3x3(stride: 2, rowLength: 64, channel) }

  @inline(never)
  func run3x3Stride2Rows128(_ channel: DepthwiseChannel) { run3x3(stride: 2, rowLength: 128, channel) }

  @inline(never)
  func run5x5Stride1(_ channel: DepthwiseChannel) {
    run5x5(stride: 1, channel)
  }

  @inline(never)
  func run5x5Stride2(_ channel: DepthwiseChannel) {
    run5x5(stride: 2, channel)
  }

  /// One channel of a 3×3 kernel at stride `stride` (1 or 2) in both directions, four output
  /// rows per step (Note [Depthwise row blocks]).
  @inline(__always)
  func run3x3(stride: Int, rowLength: Int? = nil, _ channel: DepthwiseChannel) {
    let taps = channel.taps
    let (top, middle) = (DepthwiseKernelRow3(taps), DepthwiseKernelRow3(taps + 3))
    let bottom = DepthwiseKernelRow3(taps + 6)
    let bias = SIMD8<Float>(repeating: taps[9])
    let (rowLength, outputWidth) = (rowLength ?? layout.rowLength, layout.outputWidth)
    let (second, third) = (columns.0, columns.1)
    @inline(__always)
    func add(_ sum: inout SIMD8<Float>, _ taps: DepthwiseKernelRow3, _ row: UnsafePointer<Float>) {
      sum.addProduct(taps.a, load8(row))
      sum.addProduct(taps.b, load8(row + second))
      sum.addProduct(taps.c, load8(row + third))
    }
    // The vector of outputs whose top kernel row is plane row `first` from `input`.
    @inline(__always)
    func vector(_ input: UnsafePointer<Float>, _ first: Int) -> SIMD8<Float> {
      var sum = bias
      add(&sum, top, input + first * rowLength)
      add(&sum, middle, input + (first + 1) * rowLength)
      add(&sum, bottom, input + (first + 2) * rowLength)
      return clamp(sum)
    }
    run(
      channel, rows: 4,
      block: { input, output in
        // All four before any store, so that the shared plane rows are loaded once.
        let (row0, row1) = (vector(input, 0), vector(input, stride))
        let (row2, row3) = (vector(input, 2 * stride), vector(input, 3 * stride))
        store8(row0, output)
        store8(row1, output + outputWidth)
        store8(row2, output + 2 * outputWidth)
        store8(row3, output + 3 * outputWidth)
      },
      single: { input, output in store8(vector(input, 0), output) })
  }

  /// One channel of a 5×5 kernel at stride `stride` (1 or 2) in both directions, two output
  /// rows per step (Note [Depthwise row blocks]).
  @inline(__always)
  func run5x5(stride: Int, _ channel: DepthwiseChannel) {
    let taps = channel.taps
    let kernel = (
      DepthwiseKernelRow5(taps), DepthwiseKernelRow5(taps + 5), DepthwiseKernelRow5(taps + 10),
      DepthwiseKernelRow5(taps + 15), DepthwiseKernelRow5(taps + 20)
    )
    let bias = SIMD8<Float>(repeating: taps[25])
    let (rowLength, outputWidth) = (layout.rowLength, layout.outputWidth)
    let (second, third, fourth, fifth) = columns
    @inline(__always)
    func add(_ sum: inout SIMD8<Float>, _ taps: DepthwiseKernelRow5, _ row: UnsafePointer<Float>) {
      sum.addProduct(taps.a, load8(row))
      sum.addProduct(taps.b, load8(row + second))
      sum.addProduct(taps.c, load8(row + third))
      sum.addProduct(taps.d, load8(row + fourth))
      sum.addProduct(taps.e, load8(row + fifth))
    }
    @inline(__always)
    func vector(_ input: UnsafePointer<Float>, _ first: Int) -> SIMD8<Float> {
      var sum = bias
      add(&sum, kernel.0, input + first * rowLength)
      add(&sum, kernel.1, input + (first + 1) * rowLength)
      add(&sum, kernel.2, input + (first + 2) * rowLength)
      add(&sum, kernel.3, input + (first + 3) * rowLength)
      add(&sum, kernel.4, input + (first + 4) * rowLength)
      return clamp(sum)
    }
    run(
      channel, rows: 2,
      block: { input, output in
        let (row0, row1) = (vector(input, 0), vector(input, stride))
        store8(row0, output)
        store8(row1, output + outputWidth)
      },
      single: { input, output in store8(vector(input, 0), output) })
  }

  /// One channel of any kernel, stride, padding and dilation: one output row at a time, the
  /// taps at `offsets` (`layout.tapOffset`, row-major) added in two alternating sums.
  @inline(never)
  func runGeneral(offsets: UnsafePointer<Int>, _ channel: DepthwiseChannel) {
    let taps = channel.taps
    let count = layout.kernelHeight * layout.kernelWidth
    let bias = SIMD8<Float>(repeating: taps[count])
    @inline(__always)
    func vector(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
      var (even, odd) = (bias, SIMD8<Float>())
      var tap = 0
      while tap + 1 < count {
        even.addProduct(SIMD8(repeating: taps[tap]), load8(input + offsets[tap]))
        odd.addProduct(SIMD8(repeating: taps[tap + 1]), load8(input + offsets[tap + 1]))
        tap += 2
      }
      if tap < count { even.addProduct(SIMD8(repeating: taps[tap]), load8(input + offsets[tap])) }
      store8(clamp(even + odd), output)
    }
    run(channel, rows: 1, block: vector, single: vector)
  }
}

// Note [Flat depthwise]
// On small planes (7×7, 14×14) the row loops of Note [Depthwise row blocks] spend more time per
// channel on setup, short rows and spills than on FMAs. There each channel goes through the
// phase planes of Note [Phase planes] instead: tap (ky, kx) of flat output f = oy·Q + ox is the
// planes' float at `tapOffset(ky, kx) + f`, so the whole output plane is ⌈OH·Q / 8⌉ vectors,
// each a sum of one broadcast tap times one plain load per tap, four independent sums at a
// time. The Q − OW junk columns of each row are computed too (Q = OW + ⌊(kW − 1)·dW / sW⌋) and
// dropped when the vectors are copied out row by row.
// The three steps are staggered by channel: channel c + 1 is scattered into one set of planes
// and channel c − 1 copied out of one flat buffer while channel c is computed from the others,
// so no load reads a store a few instructions old (those miss store-to-load forwarding). Each
// element's sum is bias, then the taps in row-major order, as in the row loops.

/// The phase-plane layout of a small depthwise plane and the flat buffers (Note [Flat
/// depthwise]).
struct DepthwiseFlatLayout {
  let planes: PhasePlaneLayout
  /// Flat outputs OH·Q, rounded up to whole vectors.
  let flatFloats: Int

  /// Depthwise layers with output rows of at most 16 columns.
  static func applies(_ shape: Conv2DShape) -> Bool {
    shape.outputWidth <= 16
  }

  init(_ shape: Conv2DShape) {
    planes = PhasePlaneLayout(shape)
    flatFloats = (shape.outputHeight * planes.rowLength + 7) / 8 * 8
  }

  /// Two sets of planes, then two flat buffers.
  var scratchCount: Int { 2 * planes.planeFloats + 2 * flatFloats }
}

extension ConvolutionKernels {
  /// `depthwiseConv2d` on the flat phase planes (Note [Flat depthwise]).
  static func depthwiseFlat(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: DepthwiseWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, channels: Range<Int>, scratch: UnsafeMutablePointer<Float>
  ) {
    let layout = DepthwiseFlatLayout(shape)
    let planeFloats = layout.planes.planeFloats
    // Only image pixels are scattered, at the same places for every channel: zero once.
    scratch.update(repeating: 0, count: 2 * planeFloats)
    let planes = (scratch, scratch + planeFloats)
    let flats = (scratch + 2 * planeFloats, scratch + 2 * planeFloats + layout.flatFloats)
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let (outputHeight, outputWidth, rowLength) = (shape.outputHeight, shape.outputWidth, layout.planes.rowLength)
    let taps = shape.kernelHeight * shape.kernelWidth
    let vectors = layout.flatFloats / 8
    let bounds = VectorClamp(clamp)
    // One channel's flat vectors, with a kernel specialized for the kind of store (Note [Store
    // activations]).
    @inline(__always)
    func compute(
      _ source: UnsafePointer<Float>, taps tapValues: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
      into flat: UnsafeMutablePointer<Float>
    ) {
      func run(_ bounds: some StoreBounds) {
        depthwiseFlatChannel(
          source, taps: tapValues, count: taps, offsets: offsets, vectors: vectors, into: flat, bounds: bounds)
      }
      if clamp.activation == .hardswish { run(StoreHardswish()) } else { run(bounds) }
    }
    let channelCount = channels.count
    let count = shape.batch * channelCount
    // The image and channel of the index-th plane; a division only past the first image (a
    // division per plane, three per channel, was a tenth of a 7×7 layer's time).
    @inline(__always)
    func plane(_ index: Int) -> (image: Int, channel: Int) {
      if index < channelCount { return (0, channels.lowerBound + index) }
      let (image, offset) = index.quotientAndRemainder(dividingBy: channelCount)
      return (image, channels.lowerBound + offset)
    }
    @inline(__always)
    func scatter(_ index: Int, into target: UnsafeMutablePointer<Float>) {
      let (image, channel) = plane(index)
      layout.planes.scatter(input + (image * shape.inputChannels + channel) * inputPlane, into: target)
    }
    @inline(__always)
    func copyOut(_ index: Int, from flat: UnsafePointer<Float>) {
      let (image, channel) = plane(index)
      let target = output + (image * shape.outputChannels + channel) * outputPlane
      for row in 0..<outputHeight {
        let (source, line) = (flat + row * rowLength, target + row * outputWidth)
        if outputWidth >= 8 {
          copyOverlapping(source, to: line, count: outputWidth)
        } else if (row + 1) * outputWidth + 8 - outputWidth <= outputPlane {
          // The lanes past the row land on the next rows, which are written after it.
          store8(load8(source), line)
        } else {
          for column in 0..<outputWidth { line[column] = source[column] }
        }
      }
    }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { offsets in
      let offsets = offsets.baseAddress!
      for ky in 0..<shape.kernelHeight {
        for kx in 0..<shape.kernelWidth { offsets[ky * shape.kernelWidth + kx] = layout.planes.tapOffset(ky, kx) }
      }
      scatter(0, into: planes.0)
      for index in 0..<count {
        let even = index % 2 == 0
        let (source, flat) = even ? (planes.0, flats.0) : (planes.1, flats.1)
        if index + 1 < count { scatter(index + 1, into: even ? planes.1 : planes.0) }
        let tapValues = weights.taps(plane(index).channel)
        compute(UnsafePointer(source), taps: tapValues, offsets: UnsafePointer(offsets), into: flat)
        if index > 0 { copyOut(index - 1, from: even ? flats.1 : flats.0) }
      }
      copyOut(count - 1, from: (count - 1) % 2 == 0 ? flats.0 : flats.1)
    }
  }

  /// One channel's flat output vectors: `flat[f] = clamp(bias + Σ_t taps[t] · planes[offsets[t] + f])`
  /// for f < 8·`vectors`, four vectors at a time. `taps` holds `count` taps, then the bias.
  @inline(never)
  static func depthwiseFlatChannel(
    _ planes: UnsafePointer<Float>, taps: UnsafePointer<Float>, count: Int, offsets: UnsafePointer<Int>, vectors: Int,
    into flat: UnsafeMutablePointer<Float>, bounds: some StoreBounds
  ) {
    let bias = SIMD8<Float>(repeating: taps[count])
    var vector = 0
    while vector + 4 <= vectors {
      let base = planes + 8 * vector
      var (s0, s1, s2, s3) = (bias, bias, bias, bias)
      for tap in 0..<count {
        let (w, row) = (SIMD8<Float>(repeating: taps[tap]), base + offsets[tap])
        s0.addProduct(w, load8(row))
        s1.addProduct(w, load8(row + 8))
        s2.addProduct(w, load8(row + 16))
        s3.addProduct(w, load8(row + 24))
      }
      let out = flat + 8 * vector
      store8(bounds(s0), out)
      store8(bounds(s1), out + 8)
      store8(bounds(s2), out + 16)
      store8(bounds(s3), out + 24)
      vector += 4
    }
    while vector < vectors {
      let base = planes + 8 * vector
      var sum = bias
      for tap in 0..<count { sum.addProduct(SIMD8(repeating: taps[tap]), load8(base + offsets[tap])) }
      store8(bounds(sum), flat + 8 * vector)
      vector += 1
    }
  }
}
