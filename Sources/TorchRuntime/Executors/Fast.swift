import Foundation
import Kernels
import TensorCore
import TorchIR

// Note [Fast paths]
// The executors in the other files are the reference: any dtype, layout and broadcast. The
// contextual executors here take over the ops that dominate inference time when their operands
// are float32 and contiguous (what a model's hot path almost always feeds them): convolutions
// and linear layers on weights packed once per weight and cached in the execution context,
// vectorized activations, arithmetic and pooling, split across the context's threads, with
// outputs from its buffer pool. Anything else falls through to the reference executor, so the
// results never depend on which path ran beyond the rounding the kernels document.
//
// Activations are NCHW, except along chains of 1×1 and depthwise convolutions that start at a
// stem, which the plan keeps channel-blocked (Notes [Channel-blocked activations] and
// [Channel-blocked plans]; `Executors/Blocked.swift`). A channels-last (NHWC) layout for MobileNet chains was
// built as kernels and timed against the NCHW ones, layer by layer on one thread (branch
// `experiment/channels-last`, test `FastKernelTiming/channelsLastLayers`): its depthwise
// kernel vectorizes along channels and wins on stride 2 (96 channels at 112×112: 0.69 →
// 0.57 ms; 144 at 56×56: 0.27 → 0.16 ms, ONNX Runtime's speed) but loses on stride 1 (32 at
// 112×112: 0.42 → 0.55 ms; 144 at 56×56: 0.50 → 0.64 ms), and its 1×1 GEMM (pixels as rows,
// 6×16 register tiles) ran 0–15% behind the NCHW GEMM on every MobileNetV2 shape. Summed over
// MobileNetV2 that is a loss, so the layout was not wired in; it would pay only with a
// channels-last GEMM at least as fast as the NCHW one and a stride-1 depthwise kernel that
// reuses loads across neighbouring columns.
// Fusing MobileNet's 1×1 expansion with the depthwise layer after it, in strips of 4 or 8
// output rows whose expanded input rows (all channels, at most 400 KB) stay in L2, rows shared
// by consecutive strips moved rather than recomputed, was built and timed against the two
// layers run one after the other (same results, single thread, median thread time): 16→96 at
// 112×112 + 3×3 stride 2 2.35 → 2.27 ms; 24→144 at 56×56 + 3×3 stride 1 and stride 2 and
// 16→72 at 56×56 + stride 2 within ±4%; 32→192 at 28×28 and 24→88 at 28×28 + stride 1 13–15%
// slower (short GEMM column ranges per strip). The layers are bound by their instructions more
// than by the memory the fusion saves, so it was not wired in. Backing the buffer pool's blocks
// of 256 KB and more with 2 MB pages (`madvise(MADV_HUGEPAGE)`, 34 MB of them on MobileNetV2)
// left MobileNetV2's time within noise (one thread, five alternating runs of each): TLB misses
// are not what limits the GEMM's strided reads.

/// Packed weights the fast kernels reuse across runs, keyed by the storage they were read from.
///
/// Entries pin their source storages, so an identifier is never reused for different memory
/// while its entry lives. Weights are assumed not to change in place between runs (true of
/// parameters and constants in inference). The cache empties itself when it grows past
/// `capacity` entries, which bounds what models computing weights at run time can accumulate.
final class WeightCache: @unchecked Sendable {
  struct Key: Hashable {
    var kind: Int
    var weight: ObjectIdentifier
    var weightOffset: Int
    var weightLayout: [Int]
    var bias: ObjectIdentifier?
    var biasOffset: Int
  }

  private var entries: [Key: (value: AnyObject, pins: [Storage])] = [:]
  private let lock = NSLock()
  private let capacity = 4096

  /// The cached value for `key`, made (under the lock) when missing.
  func value<T: AnyObject>(_ key: Key, pins: [Storage], make: () -> T) -> T {
    lock.lock()
    defer { lock.unlock() }
    if let entry = entries[key], let value = entry.value as? T { return value }
    if entries.count >= capacity { entries.removeAll() }
    let value = make()
    entries[key] = (value, pins)
    return value
  }

  static func key(kind: Int, weight: Tensor, bias: Tensor?) -> Key {
    Key(
      kind: kind, weight: ObjectIdentifier(weight.storage), weightOffset: weight.storageOffset,
      weightLayout: weight.shape + weight.strides, bias: bias.map { ObjectIdentifier($0.storage) },
      biasOffset: bias?.storageOffset ?? 0)
  }
}

// Note [Prepared convolutions]
// Before its kernel runs, a prepacked convolution used to read its context's state (three int
// lists), compute and validate its shape and look its packed weights up by a key holding the
// weight's shape and strides: about a microsecond and a half per call, a quarter of the fixed
// cost of a small layer. The first run of a `prepacked::conv2d_clamp_run` keeps what that
// produced (`PreparedConvolution`) in the execution context under its context object; later
// runs with an input of the same shape, dtype and contiguity go straight to the kernel. The
// entry holds the context object, so the identifier is never reused for another one while the
// entry lives, and the packed weights, so they outlive a cache flush. Context objects are
// never mutated by the models that hold them (their state is the packed op's constants).

// Note [Splitting 1×1 layers]
// A 1×1 layer on the channel-blocked kernels is split between the threads either by pixels (each
// thread reads all the weights and its share of the input) or by weight panels (each reads all
// the input and its share of the weights). Whichever operand is larger should be the one shared
// out: by panels when the layer has more output channels than pixels (its weights, outputs ×
// inputs floats, outweigh its input, inputs × pixels), as long as whole panels split about as
// evenly as whole tiles. That is the expansions of the deep inverted residual blocks (96→576 on
// 14×14, 160→960 on 7×7) and the layer before the classifier; projections (576→96 on 14×14)
// stay split by pixels, which measured 20–35% faster for them on the transposed-tile kernel
// (`transposedConv2d`). Measured at two threads (2026-11-24, MobileNetV2, alternating runs):
// 0.971× in a slow phase of the host (5.97 → 5.79 ms, every one of eight pairs faster), 0.999× in
// a calm one, where its three 96→576 layers each went 0.124 → 0.119 ms.

/// A convolution's shape, clamp and packed weights for inputs of one shape (Note [Prepared
/// convolutions]).
final class PreparedConvolution: @unchecked Sendable {
  enum Weights {
    case winograd(WinogradWeights)
    case blockedWinograd(BlockedWinogradWeights)
    case direct(ConvolutionWeights)
  }

  let inputShape: [Int]
  let shape: Conv2DShape
  let clamp: OutputClamp
  let weights: Weights
  /// The contiguous weight and bias the packed forms were made from.
  let source: (weight: Tensor, bias: Tensor?)
  /// A 1×1 convolution's weights for channel-blocked activations, made on first use (Note
  /// [Channel-blocked plans]).
  private var panels: VectorPanelWeights?
  private let panelsLock = NSLock()

  init(inputShape: [Int], shape: Conv2DShape, clamp: OutputClamp, weights: Weights, source: (Tensor, Tensor?)) {
    (self.inputShape, self.shape, self.clamp, self.weights) = (inputShape, shape, clamp, weights)
    self.source = source
  }

  /// The weights of `blockedPointwise` (or of `blockedPhasePlaneConv2d`: rows over the whole
  /// Cin·kH·kW depth), packed once.
  var blockedPanels: VectorPanelWeights {
    panelsLock.lock()
    defer { panelsLock.unlock() }
    if let panels { return panels }
    let depth = shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth
    let made = withExtendedLifetime(source) {
      VectorPanelWeights(
        rows: shape.outputChannels, depth: depth, weights: source.weight.floatPointer(), rowStride: depth,
        bias: source.bias.map { UnsafePointer($0.floatPointer()) }, panelRows: ConvolutionKernels.blockedPanelRows(shape))
    }
    panels = made
    return made
  }

  /// Whether the fast kernels take `input`: float32, with 3 or 4 dimensions.
  static func takes(_ input: Tensor) -> Bool {
    input.dtype == .float32 && (input.rank == 4 || input.rank == 3)
  }
}

/// A convolution's weights in the layout its kernel reads.
final class ConvolutionWeights: @unchecked Sendable {
  enum Layout {
    case gemm(PackedWeights)
    case depthwise(DepthwiseWeights)
    /// A 1×1 convolution for the transposed-tile GEMM (Note [Transposed tiles]).
    case transposed(VectorPanelWeights)
  }

  let layout: Layout

  init(_ shape: Conv2DShape, weight: Tensor, bias: Tensor?) {
    layout = withExtendedLifetime((weight, bias)) {
      let w = weight.floatPointer()
      let b = bias.map { UnsafePointer($0.floatPointer()) }
      if ConvolutionKernels.isDepthwise(shape) {
        return .depthwise(DepthwiseWeights(shape, weight: w, bias: b))
      }
      if ConvolutionKernels.prefersTransposedTiles(shape) {
        return .transposed(
          VectorPanelWeights(
            rows: shape.outputChannels, depth: shape.inputChannels, weights: w, rowStride: shape.inputChannels, bias: b,
            panelRows: VectorPanelWeights.panelRows(forRows: shape.outputChannels)))
      }
      return .gemm(PackedWeights(convolution: shape, weight: w, bias: b))
    }
  }
}

extension ExecutionContext {
  /// Runs `body` with `count` floats of scratch from the pool.
  func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let bytes = max(count, 1) * MemoryLayout<Float>.stride
    let raw = pool.take(bytes)
    defer { pool.give(raw, byteCount: bytes) }
    return body(raw.bindMemory(to: Float.self, capacity: max(count, 1)))
  }

  /// Splits `0..<count` into ranges of whole `block`s, one per thread, when there is enough
  /// work (`work` multiply-adds or element operations in all, at least `minimumWork`) to pay for
  /// waking threads.
  func parallelBlocks(
    _ count: Int, block: Int, work: Int, minimumWork: Int = FastExecutors.parallelWork, _ body: (Range<Int>) -> Void
  ) {
    let blocks = (count + block - 1) / block
    guard threadCount > 1, blocks > 1, work >= minimumWork else {
      body(0..<count)
      return
    }
    parallelFor(blocks) { range in
      body(range.lowerBound * block..<min(range.upperBound * block, count))
    }
  }
}

enum FastExecutors {
  /// Below about this many operations, a second thread costs more than it saves. (32K left
  /// MobileNetV2 and V3-Small unchanged at two threads; 256K made V3-Small 1.03× slower and 1M
  /// 1.2×, 2026-11-24.)
  static let parallelWork = 1 << 16

  // Note [Plane passes]
  // MobileNetV3's squeeze-and-excitation blocks average each channel of a convolution's output
  // (`adaptive_avg_pool2d` to 1×1) and later scale each channel by a factor (`mul` with a
  // [C, 1, 1] operand): passes over a few thousand to 50 000 floats, below `parallelWork`, so
  // they ran on one thread. But the convolution before them split its channels between the
  // threads, and half of what a serial pass reads was then in the other core's cache: at two
  // threads these passes took two to three times their one-thread time (240×14×14 averaged in
  // 0.005 ms at one thread, 0.011 ms at two). Split by channels like the convolution, from an
  // eighth of `parallelWork` on, each thread reads what its core wrote. Measured (2026-11-24,
  // one build with a switch, alternating runs, a slow phase of the host): MobileNetV3-Small at
  // two threads 2.22–2.24 → 2.10–2.13 ms; in a calm phase 1.533 → 1.513 ms, ShuffleNetV2 0.996×,
  // MobileNetV2 and SqueezeNet unchanged. The convolutions next to the passes got faster too
  // (48 → 144 on 14×14 0.048 → 0.033 ms), probably because the worker no longer idles through
  // a serial gap of several microseconds.
  /// The least work for splitting a pass over whole planes (Note [Plane passes]).
  static let planePassWork = parallelWork / 8

  static var entries: [(String, ContextualOpExecutor)] {
    convolutionEntries + linearEntries + unaryEntries + binaryEntries + poolingEntries
      + [("aten::cat", cat), ("aten::contiguous", contiguous)]
  }

  /// `aten::contiguous` of a float32 view that is not contiguous (a channel shuffle's transpose):
  /// the copy goes into a tensor from the pool and is split across the threads by runs
  /// (`Tensor.copyRuns`, which the reference's copy runs whole). Anything else is the
  /// reference's.
  private static func contiguous(_ context: ExecutionContext, _ a: [IValue]) throws -> [IValue] {
    let input = try a.tensor(0)
    guard input.dtype == .float32, !input.isContiguous, input.count > 0 else {
      return try OperatorTable.reference.executor(for: "aten::contiguous")!(a)
    }
    let run = input.contiguousRun
    let output = context.makeTensor(input.shape)
    withExtendedLifetime(output) {
      let target = UnsafeMutableRawPointer(output.floatPointer())
      // Runs of at least 1K floats go one per block; shorter ones in blocks of about that much.
      context.parallelBlocks(input.count / run, block: max(1, 1024 / run), work: input.count) { runs in
        input.copyRuns(runs, into: target)
      }
    }
    return [.tensor(output)]
  }

  /// One image's blocked max pooling of a blocked input `[N, C/8, H, W, 8]` into a new blocked
  /// output, split across the threads by blocks.
  private static func blockedMaxPool2d(_ context: ExecutionContext, _ input: Tensor, _ shape: Pool2DShape) -> Tensor {
    let (batch, blocks) = (input.shape[0], input.shape[1])
    let output = context.makeTensor([batch, blocks, shape.outputHeight, shape.outputWidth, 8])
    let (inputImage, outputImage) = (input.count / max(batch, 1), output.count / max(batch, 1))
    let work = blocks * 8 * shape.outputHeight * shape.outputWidth * shape.kernelHeight * shape.kernelWidth
    withExtendedLifetime((input, output)) {
      let (source, target) = (UnsafePointer(input.floatPointer()), output.floatPointer())
      for image in 0..<batch {
        context.parallelBlocks(blocks, block: 1, work: work) { range in
          PoolingKernels.blockedMaxPool2d(
            shape, input: source + image * inputImage, output: target + image * outputImage, blocks: range)
        }
      }
    }
    return output
  }

  /// `aten::cat` of contiguous float32 tensors: the output from the pool (the reference zero-fills
  /// a fresh allocation first), each input's slice of every outer index one block copy. Anything
  /// else (other dtypes, mixed dtypes, views, the legacy empty inputs) is the reference's.
  /// Channel-blocked inputs (Note [Channel-blocked plans]) joined along the channels are joined
  /// along their blocks, into a blocked result where the plan allows one; otherwise they are
  /// unpacked first.
  private static func cat(_ context: ExecutionContext, _ a: [IValue]) throws -> [IValue] {
    var tensors = try a.tensorList(0)
    let rawDim = try a.int(1)
    if tensors.contains(where: { BlockedActivations.isBlocked($0, in: context) }) {
      let allBlocked = tensors.allSatisfy { BlockedActivations.isBlocked($0, in: context) }
      if !(allBlocked && rawDim == 1 && context.blockedOutputPermitted) {
        tensors = tensors.map { BlockedActivations.unblocked(context, $0) }
      }
    }
    guard let first = tensors.first, first.rank > 0,
      tensors.allSatisfy({ $0.dtype == .float32 && $0.rank == first.rank && $0.isContiguous && $0.count > 0 })
    else {
      return try OperatorTable.reference.executor(for: "aten::cat")!(a)
    }
    let layout: (shape: [Int], dim: Int)
    do {
      layout = try DataMovementKernels.catOutputShape(tensors.map(\.shape), dim: rawDim)
    } catch {
      throw error.opError
    }
    let output = context.makeTensor(layout.shape)
    let inner = layout.shape[(layout.dim + 1)...].reduce(1, *)
    let outputRow = layout.shape[layout.dim] * inner
    // Input t fills floats starts[t] ..< starts[t + 1] of each output row.
    var starts = [0]
    for tensor in tensors { starts.append(starts[starts.count - 1] + tensor.shape[layout.dim] * inner) }
    withExtendedLifetime((tensors, output)) {
      let target = output.floatPointer()
      let sources = tensors.map { UnsafePointer($0.floatPointer()) }
      // Split by output floats: a thread copies the pieces of the inputs its range covers. Counted
      // as one operation per float (64K floats and up split): the inputs usually come from
      // convolutions the threads shared, so half of each is in the other core's cache, and one
      // thread pulling it all across was the slow part (SqueezeNet's eight cats at 2 threads:
      // 0.77 ms with 1 MB and up split, 0.58 ms with 256 KB, against 0.38 ms on one thread).
      context.parallelBlocks(output.count, block: 4096, work: output.count) { range in
        var position = range.lowerBound
        var input = 0
        while position < range.upperBound {
          let (index, column) = position.quotientAndRemainder(dividingBy: outputRow)
          if column < starts[input] { input = 0 }
          while starts[input + 1] <= column { input += 1 }
          let count = min(starts[input + 1] - column, range.upperBound - position)
          let row = starts[input + 1] - starts[input]
          (target + position).update(from: sources[input] + index * row + column - starts[input], count: count)
          position += count
        }
      }
    }
    return [.tensor(output)]
  }

  /// The concatenation of `list` along `dim` as a view of `buffer`, when the list's tensors are
  /// float32, contiguous and exactly `buffer`'s floats back to back, with nothing but size-1
  /// dimensions before `dim` (Note [Concatenation in place]); else nil.
  static func joinedCat(_ list: IValue, _ dim: IValue, buffer: Tensor) -> Tensor? {
    guard let tensors = try? [list].tensorList(0), let rawDim = try? [dim].int(0), let first = tensors.first,
      let layout = try? DataMovementKernels.catOutputShape(tensors.map(\.shape), dim: rawDim),
      layout.shape[..<layout.dim].allSatisfy({ $0 == 1 })
    else { return nil }
    var offset = buffer.storageOffset
    for tensor in tensors {
      guard tensor.dtype == .float32, tensor.isContiguous, tensor.rank == first.rank, tensor.storage === buffer.storage,
        tensor.storageOffset == offset
      else { return nil }
      offset += tensor.count
    }
    guard offset == buffer.storageOffset + buffer.count else { return nil }
    return Tensor(
      storage: buffer.storage, dtype: .float32, shape: layout.shape, strides: Tensor.contiguousStrides(layout.shape),
      storageOffset: buffer.storageOffset)
  }

  // Note [Epilogue fusion]
  // MobileNetV3 follows most convolutions with `hardswish_` (and its SE blocks with
  // `hardsigmoid`), which XNNPACK's prepacked ops cannot fuse (they clamp only) and which then
  // re-reads the whole activation from memory. The execution plan runs such a pair as one
  // instruction (`PlanBuilder.fuse`: the second op takes the first's only result, which nothing
  // else uses), and the convolution applies the activation to each part of the output right
  // after computing it, while it is still in cache. The numbers are the unfused ones: the same
  // kernels on the same values. The instruction reports (errors, profile) as the convolution.
  // Hardswish after an unclamped convolution no longer takes this pass: the kernels apply it as
  // they store (Note [Store activations]); hardsigmoid and the other activations still do.
  // Activating GEMM outputs in chunks of four or eight row panels instead of 256 columns (to stay
  // in L1) was 1.5–3.5% slower (more GEMM calls).
  // Not kept either (2026-11-24, Zen 2 host): a 1×1 expansion fused with the depthwise
  // convolution that reads it (a plan-time condition on the two prepacked contexts), run band
  // by band (output rows of the depthwise layer, the expansion computed for their input rows,
  // recomputing the rows bands share, in chunks of channels that fit about 192 KB of L2), so
  // that the expansion's output (4.8 MB for MobileNetV2's 16 → 96 on 112×112) never goes to
  // memory. Same floats. In MobileNetV2's per-node profile the pairs were 15–26% slower with
  // bands of 4 (stride 2) or 16 (stride 1) output rows (16 → 96 and its stride-2 depthwise
  // layer 0.97 → 1.16 ms) and at best even with bands four times as tall (1.01 ms; 24 → 144 on
  // 56×56 and its depthwise layer 0.61 → 0.60 ms): the expansion GEMM on a band's short column
  // range and the depthwise copy of each band into its padded plane cost what the memory
  // traffic saved.
  // Nor (2026-11-24) SqueezeNet's stem fused with the 3×3 stride-2 max pooling that is its only
  // reader: the phase-plane GEMM in bands of output rows into a buffer of 128–1024 KB, each band
  // pooled at once (the row two bands share copied, not recomputed), so that the 3.2 MB
  // convolution output never went to memory. Same floats; the pair took 0.845 ms against 0.839
  // at one thread (six alternating profiles) and no less at two: the pooling's 0.19 ms was not
  // its reading from L3.

  /// Convolutions followed by an activation (Note [Epilogue fusion]).
  static var fusions: [(first: String, second: String, executor: ContextualOpExecutor)] {
    let activations: [(String, UnaryOperation)] = [
      ("hardswish", .hardswish), ("hardsigmoid", .hardsigmoid), ("sigmoid", .sigmoid), ("silu", .silu),
    ]
    var result: [(first: String, second: String, executor: ContextualOpExecutor)] = []
    for (name, activation) in activations {
      for second in ["aten::\(name)", "aten::\(name)_"] {
        result.append(("prepacked::conv2d_clamp_run", second, { context, a in
          let output = try prepackedConv2d(context, a, epilogue: .activation(activation))
          return [.tensor(output), .tensor(output)]
        }))
        result.append(("aten::conv2d", second, { context, a in
          let output = try atenConv2d(context, a, epilogue: .activation(activation))
          return [.tensor(output), .tensor(output)]
        }))
      }
    }
    // A residual added to the convolution's output (Note [Residual fusion]): `x + conv(…)`
    // and `conv(…) + x` (add and _add_relu), and `conv(…).add_(x)`; the fused kernel gets the
    // convolution's arguments, then the other operand and alpha.
    let residualOps: [(String, @Sendable (Scalar) -> BinaryOperation)] = [
      ("add", { .add(alpha: $0) }), ("_add_relu", { .addRelu(alpha: $0) }),
    ]
    for (name, make) in residualOps {
      for (second, position, inPlace) in [
        ("aten::\(name).Tensor", 0, false), ("aten::\(name).Tensor", 1, false), ("aten::\(name)_.Tensor", 0, true),
      ] {
        for (first, arity) in [("prepacked::conv2d_clamp_run", 2), ("aten::conv2d", 7)] {
          result.append((first, "\(second)@\(position)", { context, a in
            let output = try residualConv2d(
              context, Array(a.prefix(arity)), other: a[arity], alpha: a.count > arity + 1 ? a[arity + 1] : .int(1),
              name: second, make: make, position: position, inPlace: inPlace, aten: arity == 7)
            return [.tensor(output.convolution), .tensor(output.sum)]
          }))
        }
      }
    }
    return result
  }

  // Note [Residual fusion]
  // MobileNetV2's inverted residual blocks end in `x + conv(…)`, MobileNetV3's in
  // `conv(…).add_(x)`, ResNet's in `_add_relu(conv(…), x)`: a separate pass that reads the
  // convolution's output back from memory with the block input. Fused (`PlanBuilder.fuse`), the
  // convolution adds the residual to each part of its output right after computing it, while in
  // cache, with the same kernel as the separate op: `conv + alpha·x` as written, and `x + conv`
  // as `conv + x` (alpha 1 only: x + 1·y and y + 1·x are the same float), so the results are
  // the same. Anything else (`x + alpha·conv` with another alpha, a residual of another shape,
  // dtype or layout) runs the convolution and then the op as written. The convolution's own
  // output register gets the sum too; nothing else reads it.

  /// `conv(…) ∘ other` or `other ∘ conv(…)` (position 1) for an add-like `make(alpha)` (Note
  /// [Residual fusion]); `inPlace` for `conv(…).add_(other)`. Returns the convolution's result
  /// and the op's (the same tensor when fused). The instruction reports as the convolution, so
  /// the op's own errors name it (`name`).
  private static func residualConv2d(
    _ context: ExecutionContext, _ convolution: [IValue], other: IValue, alpha: IValue, name: String,
    make: (Scalar) -> BinaryOperation, position: Int, inPlace: Bool, aten: Bool
  ) throws -> (convolution: Tensor, sum: Tensor) {
    func naming<T>(_ body: () throws -> T) throws -> T {
      do {
        return try body()
      } catch let error as OpError {
        throw OpError("\(name) on the convolution's result: \(error.message)")
      } catch let error as ShapeError {
        throw OpError("\(name) on the convolution's result: \(error.message)")
      }
    }
    guard let scalar = alpha.kernelScalar else { throw OpError("\(name): alpha must be a number") }
    let op = make(scalar)
    // `conv ∘ (alpha·x)` is the op as written; `x ∘ (alpha·conv)` equals it only for alpha 1.
    let exact = position == 0 || scalar == .int(1) || scalar == .double(1)
    var epilogue: ConvEpilogue?
    if exact, case .tensor(let residual) = other, residual.dtype == .float32 {
      epilogue = .residual(op, residual)
    }
    var (output, applied) = try aten
      ? atenConv2dApplying(context, convolution, epilogue: epilogue)
      : prepackedConv2dApplying(context, convolution, epilogue: epilogue)
    if applied && epilogue != nil { return (output, output) }
    // Unfused, the op runs on NCHW operands (Note [Channel-blocked plans]).
    output = BlockedActivations.unblocked(context, output)
    let other = BlockedActivations.unblocked(context, other)
    if position == 0 {
      return (output, try naming { try binary(context, op, output, other, inPlace: inPlace) })
    }
    guard case .tensor(let first) = other else { throw OpError("\(name): expected a tensor") }
    return (output, try naming { try binary(context, op, first, .tensor(output), inPlace: inPlace) })
  }

  /// What a convolution applies to its output, part by part, right after computing it (Notes
  /// [Epilogue fusion] and [Residual fusion]).
  enum ConvEpilogue {
    /// An elementwise activation.
    case activation(UnaryOperation)
    /// `output ∘ residual` elementwise; it applies only to an output of the residual's shape
    /// (float32 and contiguous), otherwise the convolution leaves it to its caller.
    case residual(BinaryOperation, Tensor)

    /// The epilogue bound to a convolution's `output`, nil when it cannot apply there (a
    /// residual of another shape or layout).
    func bind(_ output: Tensor) -> Bound? {
      switch self {
      case .activation(let op): return .activation(op)
      case .residual(let op, let residual):
        guard residual.shape == output.shape, residual.isContiguous, residual.storage !== output.storage else {
          return nil
        }
        return .residual(op, UnsafePointer(residual.floatPointer()), output.floatPointer())
      }
    }

    var vectorizes: Bool {
      switch self {
      case .activation(let op): ElementwiseKernels.vectorizes(op)
      case .residual(let op, _): ElementwiseKernels.vectorizes(op)
      }
    }

    /// An epilogue with its pointers.
    enum Bound {
      case activation(UnaryOperation)
      /// The residual's and the output's first floats.
      case residual(BinaryOperation, UnsafePointer<Float>, UnsafeMutablePointer<Float>)

      /// Applies in place to `elements` of the floats at `start` (within the output).
      func apply(_ start: UnsafeMutablePointer<Float>, elements: Range<Int>) {
        switch self {
        case .activation(let op):
          ElementwiseKernels.unaryFloat32(op, input: start, output: start, elements: elements)
        case .residual(let op, let residual, let output):
          ElementwiseKernels.binaryFloat32(
            op, a: start, b: residual + (start - output), output: start, elements: elements)
        }
      }
    }
  }

  // MARK: - Convolution

  private static var convolutionEntries: [(String, ContextualOpExecutor)] {
    [
      ("prepacked::conv2d_clamp_run", { context, a in [.tensor(try prepackedConv2d(context, a, epilogue: nil))] }),
      ("aten::conv2d", { context, a in [.tensor(try atenConv2d(context, a, epilogue: nil))] }),
      ("aten::conv2d.padding", { context, a in
        [.tensor(try conv2d(
          context, try a.tensor(0), try a.tensor(1), try a.optionalTensor(2), stride: try a.intList(3),
          padding: try ConvolutionExecutors.stringPadding(try a.string(4)), dilation: try a.intList(5),
          groups: try a.int(6), clamp: .none))]
      }),
      ("prepacked::conv2d_transpose_clamp_run", { context, a in
        let state = try ConvolutionExecutors.contextState(a[1], count: 9)
        return [.tensor(try convTranspose2d(
          context, try a.tensor(0), try state.tensor(0), try state.optionalTensor(1), stride: try state.intList(2),
          padding: try state.intList(3), outputPadding: try state.intList(4), groups: try state.int(6),
          dilation: try state.intList(5), clamp: try ConvolutionExecutors.clamp(state[7], state[8])))]
      }),
      ("aten::conv_transpose2d.input", { context, a in
        [.tensor(try convTranspose2d(
          context, try a.tensor(0), try a.tensor(1), try a.optionalTensor(2), stride: try a.intList(3),
          padding: try a.intList(4), outputPadding: try a.intList(5), groups: try a.int(6), dilation: try a.intList(7),
          clamp: .none))]
      }),
    ]
  }

  /// `prepacked::conv2d_clamp_run(input, context)`, then `epilogue`.
  private static func prepackedConv2d(_ context: ExecutionContext, _ a: [IValue], epilogue: ConvEpilogue?) throws
    -> Tensor
  {
    try activatingUnfused(prepackedConv2dApplying(context, a, epilogue: epilogue), epilogue)
  }

  /// `aten::conv2d(input, weight, bias, stride, padding, dilation, groups)`, then `epilogue`.
  private static func atenConv2d(_ context: ExecutionContext, _ a: [IValue], epilogue: ConvEpilogue?) throws
    -> Tensor
  {
    try activatingUnfused(atenConv2dApplying(context, a, epilogue: epilogue), epilogue)
  }

  /// A convolution's output, with an activation epilogue the kernels did not apply applied.
  private static func activatingUnfused(_ result: (Tensor, applied: Bool), _ epilogue: ConvEpilogue?) throws -> Tensor {
    guard !result.applied, case .activation(let op)? = epilogue else { return result.0 }
    return try ElementwiseExecutors.unary(op, result.0, inPlace: true)
  }

  /// `prepacked::conv2d_clamp_run(input, context)` and whether it applied `epilogue`; on
  /// channel-blocked activations where the plan allows them (Note [Channel-blocked plans]).
  private static func prepackedConv2dApplying(_ context: ExecutionContext, _ a: [IValue], epilogue: ConvEpilogue?)
    throws -> (Tensor, applied: Bool)
  {
    if context.blockedOutputPermitted || context.blockedInputsExpected {
      return try blockedConv2dApplying(context, a, epilogue: epilogue)
    }
    return try plainConv2dApplying(context, a, epilogue: epilogue)
  }

  /// `prepackedConv2dApplying` on NCHW activations.
  static func plainConv2dApplying(_ context: ExecutionContext, _ a: [IValue], epilogue: ConvEpilogue?)
    throws -> (Tensor, applied: Bool)
  {
    let input = try a.tensor(0)
    if case .object(let object) = a[1], epilogue?.vectorizes ?? true,
      let prepared = context.preparedConvolution(object, input: input)
    {
      return runConv2d(context, prepared, input, epilogue: epilogue)
    }
    let state = try ConvolutionExecutors.contextState(a[1], count: 8)
    let weight = try state.tensor(0)
    let bias = try state.optionalTensor(1)
    let (stride, padding) = (try state.intList(2), ConvolutionPadding.explicit(try state.intList(3)))
    let (dilation, groups) = (try state.intList(4), try state.int(5))
    let clamp = try ConvolutionExecutors.clamp(state[6], state[7])
    return try conv2dApplying(
      context, input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
      clamp: clamp, epilogue: epilogue, keepingFor: a[1].object)
  }

  /// `aten::conv2d(input, weight, bias, stride, padding, dilation, groups)` and whether it
  /// applied `epilogue`.
  private static func atenConv2dApplying(_ context: ExecutionContext, _ a: [IValue], epilogue: ConvEpilogue?)
    throws -> (Tensor, applied: Bool)
  {
    try conv2dApplying(
      context, try a.tensor(0), try a.tensor(1), try a.optionalTensor(2), stride: try a.intList(3),
      padding: .explicit(try a.intList(4)), dilation: try a.intList(5), groups: try a.int(6), clamp: .none,
      epilogue: epilogue)
  }

  /// A 2-D convolution with fused bias and clamp, and then `epilogue` on the result (Notes
  /// [Epilogue fusion] and [Residual fusion]).
  static func conv2d(
    _ context: ExecutionContext, _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int],
    padding: ConvolutionPadding, dilation: [Int], groups: Int, clamp: OutputClamp, epilogue: ConvEpilogue? = nil
  ) throws -> Tensor {
    try activatingUnfused(
      conv2dApplying(
        context, input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
        clamp: clamp, epilogue: epilogue),
      epilogue)
  }

  /// `conv2d`, and whether it applied `epilogue` (a residual of another shape or layout, or an
  /// input the fast kernels do not take, leaves it to the caller). With `object` (a prepacked
  /// context), the prepared convolution is kept for it (Note [Prepared convolutions]).
  private static func conv2dApplying(
    _ context: ExecutionContext, _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int],
    padding: ConvolutionPadding, dilation: [Int], groups: Int, clamp: OutputClamp, epilogue: ConvEpilogue?,
    keepingFor object: ScriptObject? = nil
  ) throws -> (Tensor, applied: Bool) {
    guard let prepared = try prepareConv2d(
      context, input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
      clamp: clamp, epilogue: epilogue)
    else {
      let output = try ConvolutionExecutors.conv2d(
        input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups, clamp: clamp)
      return (output, epilogue == nil)
    }
    if let object { context.keepPreparedConvolution(prepared, for: object) }
    return runConv2d(context, prepared, input, epilogue: epilogue)
  }

  /// The shape and packed weights of a convolution of `input`, or nil when the fast kernels do
  /// not take it (Note [Prepared convolutions]).
  private static func prepareConv2d(
    _ context: ExecutionContext, _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int],
    padding: ConvolutionPadding, dilation: [Int], groups: Int, clamp: OutputClamp, epilogue: ConvEpilogue?
  ) throws -> PreparedConvolution? {
    guard PreparedConvolution.takes(input), epilogue?.vectorizes ?? true, weight.dtype == .float32,
      bias.map({ $0.dtype == .float32 }) ?? true, weight.rank == 4
    else { return nil }
    let shape = try ConvolutionExecutors.conv2dShape(
      input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    let pins = [weight.storage] + (bias.map { [$0.storage] } ?? [])
    let source = (weight.contiguous(), bias?.contiguous())
    let weights: PreparedConvolution.Weights
    // Winograd weights of either layout, cached under `kind` (one per layout and tile size).
    func winograd<W: AnyObject>(
      kind: Int, _ make: (Int, UnsafePointer<Float>, UnsafePointer<Float>?) -> W
    ) -> W {
      let tileSize = ConvolutionKernels.winogradTileSize(shape)
      return context.weights.value(WeightCache.key(kind: kind + (tileSize == 2 ? 0 : 1), weight: weight, bias: bias), pins: pins) {
        withExtendedLifetime(source) { weight, bias in
          make(tileSize, weight.floatPointer(), bias.map { UnsafePointer($0.floatPointer()) })
        }
      }
    }
    if ConvolutionKernels.takesBlockedWinograd(shape) {
      weights = .blockedWinograd(winograd(kind: 6) { BlockedWinogradWeights(shape, tileSize: $0, weight: $1, bias: $2) })
    } else if ConvolutionKernels.prefersWinograd(shape) {
      weights = .winograd(winograd(kind: 4) { WinogradWeights(shape, tileSize: $0, weight: $1, bias: $2) })
    } else {
      weights = .direct(
        context.weights.value(WeightCache.key(kind: 1, weight: weight, bias: bias), pins: pins) {
          ConvolutionWeights(shape, weight: source.0, bias: source.1)
        })
    }
    return PreparedConvolution(inputShape: input.shape, shape: shape, clamp: clamp, weights: weights, source: source)
  }

  /// The clamp a convolution's kernels store with when `activation` follows it, and whether
  /// those stores apply the activation: hardswish after an unclamped convolution goes into the
  /// stores (Note [Store activations]); anything else runs after them.
  static func storeClamp(_ clamp: OutputClamp, then activation: UnaryOperation) -> (OutputClamp, applied: Bool) {
    activation == .hardswish && clamp.isNone ? (.hardswish, true) : (clamp, false)
  }

  /// Runs a prepared convolution on `input` (of the shape it was prepared for) and reports
  /// whether it applied `epilogue`.
  private static func runConv2d(
    _ context: ExecutionContext, _ prepared: PreparedConvolution, _ input: Tensor, epilogue: ConvEpilogue?
  ) -> (Tensor, applied: Bool) {
    let shape = prepared.shape
    var clamp = prepared.clamp
    let x = input.contiguous()
    let output = context.makeTensor(input.rank == 3 ? Array(shape.outputShape.dropFirst()) : shape.outputShape)
    var bound = epilogue?.bind(output)
    let applied = epilogue == nil || bound != nil
    if case .activation(let op)? = bound, case let (stored, true) = storeClamp(clamp, then: op) {
      clamp = stored
      bound = nil
    }
    let weights: ConvolutionWeights
    switch prepared.weights {
    case .winograd(let winograd):
      withExtendedLifetime((x, output, winograd, epilogue)) {
        winogradConv2d(
          context, shape, input: x.floatPointer(), weights: winograd, output: output.floatPointer(), clamp: clamp,
          epilogue: bound)
      }
      return (output, applied)
    case .blockedWinograd(let winograd):
      withExtendedLifetime((x, output, winograd, epilogue)) {
        blockedWinogradConv2d(
          context, shape, input: x.floatPointer(), weights: winograd, output: output.floatPointer(), clamp: clamp,
          epilogue: bound)
      }
      return (output, applied)
    case .direct(let direct):
      weights = direct
    }
    let pixels = shape.outputHeight * shape.outputWidth
    let taps = shape.kernelHeight * shape.kernelWidth
    withExtendedLifetime((x, output, weights, epilogue)) {
      let (source, target) = (UnsafePointer(x.floatPointer()), output.floatPointer())
      switch weights.layout {
      case .depthwise(let packed):
        let work = shape.batch * shape.outputChannels * pixels * taps
        // The channel means a pool asked for, computed from the stored values (Note [Pooled side
        // output]): only when no activation pass follows.
        let means =
          bound == nil && ConvolutionKernels.depthwiseAveragesChannels(shape) && context.takeChannelMeansRequest()
          ? context.makeTensor(Array(output.shape.dropLast(2)) + [1, 1]) : nil
        let meansPointer = means?.floatPointer()
        // With an activation, channels go in chunks of about 16K floats, activated while in cache;
        // chunks and thread shares are whole multiples of the kernel's channel block. (Chunks of
        // 4K or 2K floats made MobileNetV3-Small 2–5% slower, 64K no different; 2026-11-23.)
        let grain = ConvolutionKernels.depthwiseChannelGrain(shape)
        let chunk = bound == nil ? shape.outputChannels : max(1, 16384 / max(pixels, 1) / grain) * grain
        context.parallelBlocks(shape.outputChannels, block: grain, work: work) { channels in
          context.withScratch(ConvolutionKernels.depthwiseScratchCount(shape)) { scratch in
            for start in Swift.stride(from: channels.lowerBound, to: channels.upperBound, by: chunk) {
              let part = start..<min(start + chunk, channels.upperBound)
              ConvolutionKernels.depthwiseConv2d(
                shape, input: source, weights: packed, output: target, clamp: clamp, channels: part, scratch: scratch,
                channelMeans: meansPointer)
              applyActivation(bound, shape, target, channels: part, pixels: 0..<pixels)
            }
          }
        }
        if let means { context.answerChannelMeans(means, of: output) }
      case .transposed(let packed):
        transposedConv2d(context, shape, input: source, weights: packed, output: target, clamp: clamp, activation: bound)
      case .gemm(let packed) where ConvolutionKernels.prefersPhasePlanes(shape):
        phasePlaneConv2d(
          context, shape, input: source, weights: packed, output: target, clamp: clamp, activation: bound)
      case .gemm(let packed):
        let work = shape.batch * shape.outputChannels * pixels * shape.inputChannelsPerGroup * taps
        splitGEMM(context, shape, columns: pixels, work: work, output: target, activation: bound, pixels: { $0 }) {
          channels, columns, scratch in
          ConvolutionKernels.conv2d(
            shape, input: source, weights: packed, output: target, clamp: clamp, outputChannels: channels,
            pixels: columns, scratch: scratch)
        }
      }
    }
    return (output, applied)
  }

  /// A 1×1 convolution on the transposed-tile GEMM (Note [Transposed tiles]), per image split
  /// across the threads by whole tiles (6 or 4 pixels); a thread activates what it wrote.
  ///
  /// Split by whole weight panels instead (16 or 24 channels, when there were at least two per
  /// thread), each thread read all of B: at two threads (2026-11-24, per-node profiles,
  /// alternating runs, a slow phase of the host) MobileNetV2's 576 → 96 on 14×14 took 0.27 ms
  /// against 0.205 ms split by pixels, 384 → 96 0.19 against 0.13 ms, 384 → 64 0.135 against
  /// 0.112 ms, SqueezeNet's 512 → 64 on 13×13 0.235 against 0.15 ms; whole models 0.944×
  /// (MobileNetV2) and 0.96× (SqueezeNet) in that phase, 1.003× and 0.994× in a calm one. The
  /// shapes this kernel takes (depth at least twice the output channels, 100 to 800 pixels)
  /// have their input outweigh their weights, so Note [Splitting 1×1 layers] splits them by
  /// pixels too.
  private static func transposedConv2d(
    _ context: ExecutionContext, _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: VectorPanelWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, activation: ConvEpilogue.Bound?
  ) {
    let pixels = shape.outputHeight * shape.outputWidth
    let (inputs, outputs) = (shape.inputChannels, shape.outputChannels)
    let work = outputs * pixels * inputs
    let scratchCount = GEMMKernels.transposedGEMMScratchCount(depth: inputs)
    var imageShape = shape
    imageShape.batch = 1
    for image in 0..<shape.batch {
      let (b, c) = (input + image * inputs * pixels, output + image * outputs * pixels)
      context.parallelBlocks(pixels, block: weights.tileColumns, work: work) { range in
        context.withScratch(scratchCount) { scratch in
          GEMMKernels.transposedGEMM(
            weights: weights, b: b, bRowStride: pixels, c: c + range.lowerBound, cRowStride: pixels, clamp: clamp,
            rows: 0..<outputs, columns: range, scratch: scratch)
        }
        applyActivation(activation, imageShape, c, channels: 0..<outputs, pixels: range)
      }
    }
  }

  /// Runs a convolution's GEMM over `columns` output columns and every output channel, split
  /// across the threads by whole 16-column tiles when there are enough columns and that split is
  /// about as even as one by 6-channel panels (a 13×13 plane's 169 columns are 11 tiles, which
  /// two threads share 96 : 73, while 1000 channels split 504 : 496), else by panels. With an
  /// activation, a column share runs in blocks of 256 columns (the GEMM's own)
  /// and each thread activates what it has just written, while in cache; `pixels` maps a range
  /// of columns to the output pixels it writes.
  private static func splitGEMM(
    _ context: ExecutionContext, _ shape: Conv2DShape, columns: Int, work: Int, output: UnsafeMutablePointer<Float>,
    activation: ConvEpilogue.Bound?, pixels: (Range<Int>) -> Range<Int>,
    _ gemm: (_ channels: Range<Int>?, _ columns: Range<Int>?, _ scratch: UnsafeMutablePointer<Float>) -> Void
  ) {
    let scratchCount = ConvolutionKernels.conv2dScratchCount(shape)
    let byColumns = largestShare(context, columns, block: GEMMKernels.panelColumns)
    let byChannels = largestShare(context, shape.outputChannels, block: GEMMKernels.panelRows)
    if columns >= context.threadCount * 4 * GEMMKernels.panelColumns && byColumns <= byChannels + 0.02 {
      context.parallelBlocks(columns, block: GEMMKernels.panelColumns, work: work) { range in
        context.withScratch(scratchCount) { scratch in
          let chunk = activation == nil ? range.count : 256
          for start in Swift.stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let part = start..<min(start + chunk, range.upperBound)
            gemm(nil, part, scratch)
            applyActivation(activation, shape, output, channels: 0..<shape.outputChannels, pixels: pixels(part))
          }
        }
      }
    } else {
      // Whole row panels per thread. Shares cut at any even row instead (equal shares for 64 or
      // 40 channels, at the cost of partial panels) made 100 layers of 64→64 on 7×7 3% faster at
      // two threads but left MobileNetV2 and V3-Small unchanged (2026-11-23). Splitting by
      // columns instead when the GEMM packs B (depth 512 or more), so that each thread packs
      // only its own columns rather than all of B, left MobileNetV2, SqueezeNet and ResNet-18
      // within 1% at two threads (2026-11-24).
      context.parallelBlocks(shape.outputChannels, block: GEMMKernels.panelRows, work: work) { range in
        context.withScratch(scratchCount) { scratch in gemm(range, nil, scratch) }
        applyActivation(activation, shape, output, channels: range, pixels: pixels(0..<columns))
      }
    }
  }

  /// The largest thread's share of `count` items split in whole blocks of `block`, as a fraction
  /// of `count`.
  static func largestShare(_ context: ExecutionContext, _ count: Int, block: Int) -> Double {
    let blocks = (count + block - 1) / block
    let perThread = (blocks + context.threadCount - 1) / context.threadCount
    return Double(min(perThread * block, count)) / Double(max(count, 1))
  }

  /// Applies the epilogue `activation` in place to the output pixels `pixels` of channels
  /// `channels` of every image (the part of a convolution's output one thread just wrote).
  private static func applyActivation(
    _ activation: ConvEpilogue.Bound?, _ shape: Conv2DShape, _ output: UnsafeMutablePointer<Float>,
    channels: Range<Int>, pixels: Range<Int>
  ) {
    guard let activation, !channels.isEmpty, !pixels.isEmpty else { return }
    let plane = shape.outputHeight * shape.outputWidth
    for image in 0..<shape.batch {
      let first = output + (image * shape.outputChannels + channels.lowerBound) * plane
      if pixels.count == plane {
        activation.apply(first, elements: 0..<channels.count * plane)
        continue
      }
      for channel in 0..<channels.count {
        activation.apply(first + channel * plane, elements: pixels)
      }
    }
  }

  /// A convolution by Note [Phase-plane GEMM]: per image, scatter, then GEMM into the output,
  /// each split across the threads; a thread activates what it wrote.
  private static func phasePlaneConv2d(
    _ context: ExecutionContext, _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: PackedWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, activation: ConvEpilogue.Bound?
  ) {
    let columns = ConvolutionKernels.phasePlanesColumns(shape)
    let taps = shape.kernelHeight * shape.kernelWidth
    let work = shape.outputChannels * columns * shape.inputChannelsPerGroup * taps
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    var imageShape = shape
    imageShape.batch = 1
    context.withScratch(ConvolutionKernels.phasePlanesCount(shape)) { planes in
      for image in 0..<shape.batch {
        let imageInput = input + image * shape.inputChannels * inputPlane
        let imageOutput = output + image * shape.outputChannels * outputPlane
        context.parallelBlocks(shape.inputChannels, block: 1, work: shape.inputChannels * inputPlane) { channels in
          ConvolutionKernels.conv2dPhasePlanesScatter(shape, input: imageInput, planes: planes, channels: channels)
        }
        splitGEMM(
          context, imageShape, columns: columns, work: work, output: imageOutput, activation: activation,
          pixels: { ConvolutionKernels.phasePlanesPixels(shape, columns: $0) }
        ) { channels, columns, scratch in
          ConvolutionKernels.conv2dPhasePlanesGEMM(
            shape, planes: planes, weights: weights, output: imageOutput, clamp: clamp, outputChannels: channels,
            columns: columns, scratch: scratch)
        }
      }
    }
  }

  /// A 3×3 stride-1 convolution by Notes [Winograd F(2×2, 3×3)] and [Winograd F(4×4, 3×3)]: per
  /// image, the threads take whole chunks of tile rows when there are enough of them, else
  /// share each step of one chunk (the input transform by input channels, the GEMMs by position, the output
  /// transform by output channels); each thread activates the output it wrote.
  private static func winogradConv2d(
    _ context: ExecutionContext, _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: WinogradWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, epilogue activation: ConvEpilogue.Bound?
  ) {
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let tileSize = weights.tileSize
    let tileRows = ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
    var chunkRows = ConvolutionKernels.winogradChunkRows(shape, tileSize: tileSize)
    var chunks = (tileRows + chunkRows - 1) / chunkRows
    if context.threadCount > 1 && chunks >= context.threadCount {
      // A whole number of chunks per thread, of about equal size.
      chunks = (chunks + context.threadCount - 1) / context.threadCount * context.threadCount
      chunkRows = (tileRows + chunks - 1) / chunks
      chunks = (tileRows + chunkRows - 1) / chunkRows
    }
    let work = 4 * shape.outputChannels * shape.inputChannels * outputPlane
    // Activates the output rows of tile rows `rows` of channels `channels`.
    func activate(_ imageOutput: UnsafeMutablePointer<Float>, channels: Range<Int>, rows: Range<Int>) {
      guard let activation else { return }
      let pixels = tileSize * rows.lowerBound * shape.outputWidth..<min(tileSize * rows.upperBound, shape.outputHeight)
        * shape.outputWidth
      if pixels.count == outputPlane {
        activation.apply(imageOutput + channels.lowerBound * outputPlane, elements: 0..<channels.count * outputPlane)
        return
      }
      for channel in channels {
        activation.apply(imageOutput + channel * outputPlane, elements: pixels)
      }
    }
    for image in 0..<shape.batch {
      let imageInput = input + image * shape.inputChannels * inputPlane
      let imageOutput = output + image * shape.outputChannels * outputPlane
      if context.threadCount == 1 || chunks >= context.threadCount {
        context.parallelBlocks(chunks, block: 1, work: work) { range in
          context.withScratch(ConvolutionKernels.winogradScratchCount(shape, tileSize: tileSize, tileRows: chunkRows)) { scratch in
            for chunk in range {
              let rows = chunk * chunkRows..<min((chunk + 1) * chunkRows, tileRows)
              ConvolutionKernels.winogradChunk(
                shape, input: imageInput, weights: weights, output: imageOutput, clamp: clamp, tileRows: rows,
                scratch: scratch)
              activate(imageOutput, channels: 0..<shape.outputChannels, rows: rows)
            }
          }
        }
        continue
      }
      // One chunk (the whole plane), each step split.
      let rows = 0..<tileRows
      let transformedCount = ConvolutionKernels.winogradInputCount(shape, tileSize: tileSize, tileRows: tileRows)
      context.withScratch(transformedCount + ConvolutionKernels.winogradProductCount(shape, tileSize: tileSize, tileRows: tileRows)) {
        transformed in
        let products = transformed + transformedCount
        context.parallelBlocks(shape.inputChannels, block: 1, work: work) { channels in
          context.withScratch(ConvolutionKernels.winogradInputScratchCount(shape, tileSize: tileSize, tileRows: tileRows)) { scratch in
            ConvolutionKernels.winogradInputTransform(
              shape, tileSize: tileSize, input: imageInput, transformed: transformed, channels: channels, tileRows: rows, scratch: scratch)
          }
        }
        context.parallelBlocks(weights.positions, block: 1, work: work) { positions in
          context.withScratch(ConvolutionKernels.winogradGEMMScratchCount(shape)) { scratch in
            ConvolutionKernels.winogradGEMM(
              shape, weights: weights, transformed: transformed, products: products, positions: positions,
              tileRows: tileRows, scratch: scratch)
          }
        }
        context.parallelBlocks(shape.outputChannels, block: 1, work: work) { channels in
          ConvolutionKernels.winogradOutputTransform(
            shape, products: products, weights: weights, output: imageOutput, clamp: clamp, outputChannels: channels,
            tileRows: rows)
          activate(imageOutput, channels: channels, rows: rows)
        }
      }
    }
  }

  /// A 3×3 stride-1 convolution of NCHW tensors on the channel-blocked Winograd kernel (Note
  /// [Channel-blocked Winograd]): per image, the input packed and the chunks computed
  /// (`blockedWinogradImage`), each chunk's output rows unpacked to NCHW and activated by the
  /// thread that computed them, while in cache.
  private static func blockedWinogradConv2d(
    _ context: ExecutionContext, _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: BlockedWinogradWeights,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp, epilogue activation: ConvEpilogue.Bound?
  ) {
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    var imageShape = shape
    imageShape.batch = 1
    context.withScratch(shape.outputChannels * outputPlane) { blockedOutput in
      for image in 0..<shape.batch {
        let imageOutput = output + image * shape.outputChannels * outputPlane
        blockedWinogradImage(
          context, imageShape, weights: weights, input: .plain(input + image * shape.inputChannels * inputPlane),
          output: blockedOutput, clamp: clamp
        ) { blocks, pixels in
          ChannelBlocks.unpack(
            blockedOutput, channels: shape.outputChannels, pixels: outputPlane, into: imageOutput, blocks: blocks,
            pixelRange: pixels)
          applyActivation(
            activation, imageShape, imageOutput, channels: blocks.lowerBound * 8..<blocks.upperBound * 8, pixels: pixels)
        }
      }
    }
  }

  /// Where `blockedWinogradImage` reads its input: one NCHW image, packed into blocks on the way,
  /// or one already blocked.
  enum WinogradInput {
    case plain(UnsafePointer<Float>)
    case blocked(UnsafePointer<Float>)
  }

  /// One image of a 3×3 stride-1 convolution on the channel-blocked Winograd kernel into the
  /// blocked `output`. With enough chunks of tile rows for every thread, the threads take whole
  /// chunks; else the whole plane is one chunk whose steps they share (the input transform by
  /// input blocks, the GEMMs by positions, the output transform by output blocks), as
  /// `winogradConv2d` does. An NCHW input is packed on the way: each chunk's share of rows by the
  /// thread that computes the chunk, or each input block by the thread that transforms it.
  /// `finished` gets the output blocks and pixels a thread just computed, on that thread.
  static func blockedWinogradImage(
    _ context: ExecutionContext, _ shape: Conv2DShape, weights: BlockedWinogradWeights, input: WinogradInput,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp,
    finished: (_ blocks: Range<Int>, _ pixels: Range<Int>) -> Void = { _, _ in }
  ) {
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let (inputBlocks, outputBlocks) = (shape.inputChannels / 8, shape.outputChannels / 8)
    let tileSize = weights.tileSize
    let tileRows = ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
    var chunkRows = ConvolutionKernels.winogradChunkRows(shape, tileSize: tileSize)
    var chunks = (tileRows + chunkRows - 1) / chunkRows
    let work = 4 * shape.outputChannels * shape.inputChannels * outputPlane
    if context.threadCount > 1 && chunks < context.threadCount {
      let rows = 0..<tileRows
      context.withScratch(ConvolutionKernels.blockedWinogradStepsCount(shape, tileSize: tileSize, tileRows: tileRows)) {
        steps in
        func transform(_ blockedInput: UnsafePointer<Float>, blocks: Range<Int>) {
          ConvolutionKernels.blockedWinogradInputTransform(
            shape, weights: weights, input: blockedInput, steps: steps, blocks: blocks, tileRows: rows)
        }
        switch input {
        case .blocked(let blocked):
          context.parallelBlocks(inputBlocks, block: 1, work: work) { blocks in transform(blocked, blocks: blocks) }
        case .plain(let image):
          context.withScratch(shape.inputChannels * inputPlane) { blockedInput in
            context.parallelBlocks(inputBlocks, block: 1, work: work) { blocks in
              ChannelBlocks.pack(
                image, channels: shape.inputChannels, pixels: inputPlane, into: blockedInput, blocks: blocks)
              transform(blockedInput, blocks: blocks)
            }
          }
        }
        context.parallelBlocks(weights.positions, block: 1, work: work) { positions in
          context.withScratch(ConvolutionKernels.blockedPointwiseScratchCount(depth: shape.inputChannels)) { scratch in
            ConvolutionKernels.blockedWinogradGEMM(
              shape, weights: weights, steps: steps, positions: positions, tileRows: tileRows, scratch: scratch)
          }
        }
        context.parallelBlocks(outputBlocks, block: 1, work: work) { blocks in
          ConvolutionKernels.blockedWinogradOutputTransform(
            shape, weights: weights, steps: UnsafePointer(steps), output: output, clamp: clamp, blocks: blocks,
            tileRows: rows)
          finished(blocks, 0..<outputPlane)
        }
      }
      return
    }
    if context.threadCount > 1 {
      // A whole number of chunks per thread, of about equal size.
      chunks = min(tileRows, (chunks + context.threadCount - 1) / context.threadCount * context.threadCount)
      chunkRows = (tileRows + chunks - 1) / chunks
      chunks = (tileRows + chunkRows - 1) / chunkRows
    }
    func run(_ blockedInput: UnsafePointer<Float>) {
      context.parallelBlocks(chunks, block: 1, work: work) { range in
        context.withScratch(
          ConvolutionKernels.blockedWinogradScratchCount(shape, tileSize: tileSize, tileRows: chunkRows)
        ) { scratch in
          for chunk in range {
            let rows = chunk * chunkRows..<min((chunk + 1) * chunkRows, tileRows)
            ConvolutionKernels.blockedWinograd(
              shape, input: blockedInput, weights: weights, output: output, clamp: clamp, tileRows: rows,
              scratch: scratch)
            finished(
              0..<outputBlocks,
              tileSize * rows.lowerBound * shape.outputWidth..<min(tileSize * rows.upperBound, shape.outputHeight)
                * shape.outputWidth)
          }
        }
      }
    }
    switch input {
    case .blocked(let blocked):
      run(blocked)
    case .plain(let image):
      context.withScratch(shape.inputChannels * inputPlane) { blockedInput in
        // Chunk c packs the input rows from the first one its tiles read up to chunk c + 1's, so
        // that each thread mostly packs what it reads next.
        func firstRow(_ chunk: Int) -> Int {
          chunk >= chunks
            ? shape.inputHeight : min(max(tileSize * chunk * chunkRows - shape.paddingTop, 0), shape.inputHeight)
        }
        context.parallelBlocks(chunks, block: 1, work: shape.inputChannels * inputPlane) { range in
          ChannelBlocks.pack(
            image, channels: shape.inputChannels, pixels: inputPlane, into: blockedInput,
            blocks: 0..<inputBlocks,
            pixelRange: firstRow(range.lowerBound) * shape.inputWidth..<firstRow(range.upperBound) * shape.inputWidth)
        }
        run(blockedInput)
      }
    }
  }

  static func convTranspose2d(
    _ context: ExecutionContext, _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int], padding: [Int],
    outputPadding: [Int], groups: Int, dilation: [Int], clamp: OutputClamp
  ) throws -> Tensor {
    guard input.dtype == .float32, weight.dtype == .float32, bias.map({ $0.dtype == .float32 }) ?? true,
      input.rank == 4 || input.rank == 3, weight.rank == 4
    else {
      return try ConvolutionExecutors.convTranspose2d(
        input, weight, bias, stride: stride, padding: padding, outputPadding: outputPadding, groups: groups,
        dilation: dilation, clamp: clamp)
    }
    let shape: ConvTranspose2DShape
    do {
      shape = try ConvTranspose2DShape.convTranspose2d(
        input: input.shape, weight: weight.shape, stride: stride, padding: padding, outputPadding: outputPadding,
        dilation: dilation, groups: groups)
    } catch {
      throw error.opError
    }
    if let bias, bias.count != shape.outputChannels {
      throw OpError("conv_transpose2d bias has \(bias.count) elements, expected \(shape.outputChannels)")
    }
    let packed = context.weights.value(WeightCache.key(kind: 2, weight: weight, bias: nil), pins: [weight.storage]) {
      let w = weight.contiguous()
      return withExtendedLifetime(w) { PackedWeights(transposedConvolution: shape, weight: w.floatPointer()) }
    }
    let x = input.contiguous()
    let b = bias?.contiguous()
    let outputShape = [shape.batch, shape.outputChannels, shape.outputHeight, shape.outputWidth]
    let output = context.makeTensor(input.rank == 3 ? Array(outputShape.dropFirst()) : outputShape)
    let work =
      shape.batch * shape.inputHeight * shape.inputWidth * shape.outputChannels * shape.inputChannelsPerGroup
      * shape.kernelHeight * shape.kernelWidth
    withExtendedLifetime((x, b, output, packed)) {
      let (source, target) = (UnsafePointer(x.floatPointer()), output.floatPointer())
      let biasPointer = b.map { UnsafePointer($0.floatPointer()) }
      context.parallelBlocks(shape.outputChannels, block: 1, work: work) { channels in
        context.withScratch(ConvolutionKernels.convTranspose2dScratchCount(shape)) { scratch in
          ConvolutionKernels.convTranspose2d(
            shape, input: source, weights: packed, bias: biasPointer, output: target, clamp: clamp,
            outputChannels: channels, scratch: scratch)
        }
      }
    }
    return output
  }

  // MARK: - Linear

  private static var linearEntries: [(String, ContextualOpExecutor)] {
    [
      ("prepacked::linear_clamp_run", { context, a in
        let state = try ConvolutionExecutors.contextState(a[1], count: 4)
        return [.tensor(try linear(
          context, try a.tensor(0), try state.tensor(0), try state.optionalTensor(1),
          clamp: try ConvolutionExecutors.clamp(state[2], state[3])))]
      }),
      ("aten::linear", { context, a in
        [.tensor(try linear(context, try a.tensor(0), try a.tensor(1), try a.optionalTensor(2), clamp: .none))]
      }),
    ]
  }

  static func linear(_ context: ExecutionContext, _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, clamp: OutputClamp)
    throws -> Tensor
  {
    guard input.dtype == .float32, weight.dtype == .float32, bias.map({ $0.dtype == .float32 }) ?? true,
      weight.rank == 2, input.rank >= 1, weight.shape[0] > 0, weight.shape[1] > 0
    else {
      return try LinearExecutors.linear(input, weight, bias, clamp: clamp)
    }
    let (outputFeatures, inputFeatures) = (weight.shape[0], weight.shape[1])
    guard let last = input.shape.last, last == inputFeatures else {
      throw OpError("mat1 and mat2 shapes cannot be multiplied (input \(input.shape), weight \(weight.shape))")
    }
    if let bias, bias.count != outputFeatures {
      throw OpError("linear bias has \(bias.count) elements, expected \(outputFeatures)")
    }
    let packed = context.weights.value(
      WeightCache.key(kind: 3, weight: weight, bias: bias), pins: [weight.storage] + (bias.map { [$0.storage] } ?? [])
    ) {
      let (w, b) = (weight.contiguous(), bias?.contiguous())
      return withExtendedLifetime((w, b)) {
        PackedWeights(
          linearWeight: w.floatPointer(), outputFeatures: outputFeatures, inputFeatures: inputFeatures,
          bias: b.map { UnsafePointer($0.floatPointer()) })
      }
    }
    let x = input.contiguous()
    let rows = x.count / inputFeatures
    let output = context.makeTensor(Array(input.shape.dropLast()) + [outputFeatures])
    if rows == 0 { return output }
    withExtendedLifetime((x, output, packed)) {
      let (source, target) = (UnsafePointer(x.floatPointer()), output.floatPointer())
      context.parallelBlocks(outputFeatures, block: GEMMKernels.panelRows, work: rows * outputFeatures * inputFeatures) {
        features in
        context.withScratch(GEMMKernels.linearScratchCount(weights: packed)) { scratch in
          GEMMKernels.linear(
            weights: packed, input: source, rowCount: rows, output: target, clamp: clamp, outputFeatures: features,
            scratch: scratch)
        }
      }
    }
    return output
  }

  // MARK: - Elementwise

  private static var unaryEntries: [(String, ContextualOpExecutor)] {
    var result: [(String, ContextualOpExecutor)] = []
    func pair(_ name: String, _ make: @escaping @Sendable ([IValue]) throws -> UnaryOperation) {
      result.append(("aten::\(name)", { context, a in [.tensor(try unary(context, try make(a), try a.tensor(0), inPlace: false))] }))
      result.append(("aten::\(name)_", { context, a in [.tensor(try unary(context, try make(a), try a.tensor(0), inPlace: true))] }))
    }
    pair("relu") { _ in .relu }
    pair("relu6") { _ in .relu6 }
    pair("hardswish") { _ in .hardswish }
    pair("hardsigmoid") { _ in .hardsigmoid }
    pair("sigmoid") { _ in .sigmoid }
    pair("silu") { _ in .silu }
    pair("hardtanh") { a in .hardtanh(min: try a.double(1), max: try a.double(2)) }
    return result
  }

  static func unary(_ context: ExecutionContext, _ op: UnaryOperation, _ input: Tensor, inPlace: Bool) throws -> Tensor {
    guard input.dtype == .float32, input.isContiguous, ElementwiseKernels.vectorizes(op) else {
      return try ElementwiseExecutors.unary(op, input, inPlace: inPlace)
    }
    let output = inPlace ? input : context.makeTensor(input.shape)
    let count = input.count
    withExtendedLifetime((input, output)) {
      let (source, target) = (UnsafePointer(input.floatPointer()), output.floatPointer())
      context.parallelBlocks(count, block: 4096, work: count * 4) { range in
        ElementwiseKernels.unaryFloat32(op, input: source, output: target, elements: range)
      }
    }
    return output
  }

  private static var binaryEntries: [(String, ContextualOpExecutor)] {
    var result: [(String, ContextualOpExecutor)] = []
    func family(
      _ name: String, trueDivision: Bool = false, _ make: @escaping @Sendable ([IValue]) throws -> BinaryOperation
    ) {
      result.append(("aten::\(name).Tensor", { context, a in
        [.tensor(try binary(context, try make(a), try a.tensor(0), a[1], inPlace: false, trueDivision: trueDivision))]
      }))
      result.append(("aten::\(name)_.Tensor", { context, a in
        [.tensor(try binary(context, try make(a), try a.tensor(0), a[1], inPlace: true, trueDivision: trueDivision))]
      }))
    }
    family("add") { a in .add(alpha: try alpha(a)) }
    family("sub") { a in .sub(alpha: try alpha(a)) }
    family("mul") { _ in .mul }
    family("div", trueDivision: true) { _ in .div }
    family("_add_relu") { a in .addRelu(alpha: try alpha(a)) }
    return result
  }

  private static func alpha(_ a: [IValue]) throws -> Scalar {
    guard a.count > 2 else { return .int(1) }
    guard let scalar = a[2].kernelScalar else { throw OpError("alpha must be a number") }
    return scalar
  }

  static func binary(
    _ context: ExecutionContext, _ op: BinaryOperation, _ a: Tensor, _ other: IValue, inPlace: Bool,
    trueDivision: Bool = false
  ) throws -> Tensor {
    if context.blockedInputsExpected || context.blockedOutputPermitted {
      return try blockedBinary(context, op, a, other, inPlace: inPlace, trueDivision: trueDivision)
    }
    return try plainBinary(context, op, a, other, inPlace: inPlace, trueDivision: trueDivision)
  }

  /// `binary` on NCHW operands.
  static func plainBinary(
    _ context: ExecutionContext, _ op: BinaryOperation, _ a: Tensor, _ other: IValue, inPlace: Bool,
    trueDivision: Bool = false
  ) throws -> Tensor {
    let reference = { () throws -> Tensor in
      try ElementwiseExecutors.binary(
        op, .tensor(a), try Operand(other), inPlaceTarget: inPlace ? a : nil, trueDivision: trueDivision)
    }
    guard case .tensor(let b) = other, a.dtype == .float32, b.dtype == .float32, a.isContiguous, b.isContiguous,
      ElementwiseKernels.vectorizes(op)
    else { return try reference() }
    if a.shape == b.shape {
      // In place, `a` is the output; a `b` sharing its memory at another offset would be read
      // after being written.
      if inPlace, a.storage === b.storage, a.storageOffset != b.storageOffset { return try reference() }
      let output = inPlace ? a : context.makeTensor(a.shape)
      let count = a.count
      withExtendedLifetime((a, b, output)) {
        let (x, y, target) = (UnsafePointer(a.floatPointer()), UnsafePointer(b.floatPointer()), output.floatPointer())
        context.parallelBlocks(count, block: 4096, work: count * 2) { range in
          ElementwiseKernels.binaryFloat32(op, a: x, b: y, output: target, elements: range)
        }
      }
      return output
    }
    // x ∘ s with s one value per channel of an NCHW x (squeeze-and-excitation's `x * s`), and
    // s · x (torchvision's `scale * input`: multiplication commutes exactly).
    let swapped = !inPlace && op == .mul && b.rank == 4 && a.shape == [b.shape[0], b.shape[1], 1, 1]
    let (x, s) = swapped ? (b, a) : (a, b)
    if x.rank == 4, s.rank == 4, s.shape == [x.shape[0], x.shape[1], 1, 1], x.storage !== s.storage {
      let output = inPlace ? x : context.makeTensor(x.shape)
      let planes = x.shape[0] * x.shape[1]
      let planeSize = x.shape[2] * x.shape[3]
      withExtendedLifetime((x, s, output)) {
        let (x, s, target) = (UnsafePointer(x.floatPointer()), UnsafePointer(s.floatPointer()), output.floatPointer())
        context.parallelBlocks(planes, block: 1, work: planes * planeSize * 2, minimumWork: planePassWork) { range in
          ElementwiseKernels.channelBroadcastFloat32(
            op, input: x, scalars: s, planeSize: planeSize, output: target, planes: range)
        }
      }
      return output
    }
    return try reference()
  }

  // MARK: - Pooling

  private static var poolingEntries: [(String, ContextualOpExecutor)] {
    [
      ("aten::max_pool2d", { context, a in
        var input = try a.tensor(0)
        let kernel = try a.intList(1)
        let stride = try a.intList(2)
        let (padding, dilation, ceilMode) = (try a.intList(3), try a.intList(4), try a.bool(5))
        let shape: Pool2DShape
        do throws(KernelError) {
          shape = try Pool2DShape.maxPool2d(
            input: BlockedActivations.shape(of: input, in: context), kernel: kernel,
            stride: stride.isEmpty ? kernel : stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        } catch {
          throw error.opError
        }
        if BlockedActivations.isBlocked(input, in: context) {
          // A blocked input pools into a blocked output where the plan allows one (Note
          // [Channel-blocked plans]), else is unpacked first.
          if context.blockedOutputPermitted {
            return [.tensor(blockedMaxPool2d(context, input.contiguous(), shape))]
          }
          input = BlockedActivations.unblocked(context, input)
        }
        let x = try input.contiguousFloat32()
        let output = context.makeTensor(Array(input.shape.dropLast(2)) + [shape.outputHeight, shape.outputWidth])
        let work = shape.planes * shape.outputHeight * shape.outputWidth * shape.kernelHeight * shape.kernelWidth
        withExtendedLifetime((x, output)) {
          let (source, target) = (UnsafePointer(x.floatPointer()), output.floatPointer())
          context.parallelBlocks(shape.planes, block: 1, work: work) { planes in
            PoolingKernels.maxPool2d(shape, input: source, output: target, planes: planes)
          }
        }
        return [.tensor(output)]
      }),
      // A channel-blocked input reports the NCHW shape it stands for (Note [Channel-blocked plans]).
      ("aten::size", { context, a in
        let shape = BlockedActivations.shape(of: try a.tensor(0), in: context)
        return [.list(ListValue(shape.map { .int($0) }, elementType: .int))]
      }),
      ("aten::size.int", { context, a in
        let shape = BlockedActivations.shape(of: try a.tensor(0), in: context)
        return [.int(shape[try Tensor.wrapDimension(try a.int(1), rank: shape.count)])]
      }),
      ("aten::adaptive_avg_pool2d", { context, a in
        let blocked = try a.tensor(0)
        let size = try a.intList(1)
        if size == [1, 1], BlockedActivations.isBlocked(blocked, in: context), blocked.shape[2] * blocked.shape[3] > 0 {
          return [.tensor(blockedGlobalAverage(context, blocked, keepShape: true))]
        }
        // Any other pool of a blocked input runs on NCHW (Note [Channel-blocked plans]).
        let input = BlockedActivations.unblocked(context, blocked)
        var plain = a
        plain[0] = .tensor(input)
        guard size == [1, 1], input.dtype == .float32, input.rank >= 3, input.shape.suffix(2).reduce(1, *) > 0 else {
          return try OperatorTable.reference.executor(for: "aten::adaptive_avg_pool2d")!(plain)
        }
        return [.tensor(globalAverage(context, input, keepShape: Array(input.shape.dropLast(2)) + [1, 1]))]
      }),
      ("aten::mean.dim", { context, a in
        let blocked = try a.tensor(0)
        let dims = try a.optionalIntList(1) ?? []
        let keepdim = try a.bool(2)
        if BlockedActivations.isBlocked(blocked, in: context), BlockedActivations.planeDimensions(dims, rank: 4), a[3].isNone,
          blocked.shape[2] * blocked.shape[3] > 0
        {
          return [.tensor(blockedGlobalAverage(context, blocked, keepShape: keepdim))]
        }
        let input = BlockedActivations.unblocked(context, blocked)
        var plain = a
        plain[0] = .tensor(input)
        let spatial = Set(dims.map { $0 < 0 ? $0 + input.rank : $0 })
        guard input.dtype == .float32, input.rank == 4, spatial == [2, 3], dims.count == 2, a[3].isNone,
          input.shape[2] * input.shape[3] > 0
        else {
          return try OperatorTable.reference.executor(for: "aten::mean.dim")!(plain)
        }
        let shape = keepdim ? [input.shape[0], input.shape[1], 1, 1] : [input.shape[0], input.shape[1]]
        return [.tensor(globalAverage(context, input, keepShape: shape))]
      }),
    ]
  }

  /// The mean of each channel of a channel-blocked `input` (`[N, C/8, H, W, 8]`), as NCHW
  /// `[N, C, 1, 1]` (`keepShape`) or `[N, C]`: the floats `globalAverage` gives for the NCHW
  /// tensor it stands for.
  private static func blockedGlobalAverage(_ context: ExecutionContext, _ input: Tensor, keepShape: Bool) -> Tensor {
    let x = input.contiguous()
    let (batch, channels) = (input.shape[0], input.shape[1] * 8)
    let planeSize = input.shape[2] * input.shape[3]
    let output = context.makeTensor(keepShape ? [batch, channels, 1, 1] : [batch, channels])
    let blocks = batch * input.shape[1]
    withExtendedLifetime((x, output)) {
      let (source, target) = (UnsafePointer(x.floatPointer()), output.floatPointer())
      context.parallelBlocks(blocks, block: 1, work: blocks * 8 * planeSize, minimumWork: planePassWork) { range in
        PoolingKernels.blockedGlobalAveragePool(input: source, planeSize: planeSize, output: target, blocks: range)
      }
    }
    return output
  }

  /// The mean of each `[H, W]` plane of `input`, shaped `shape`.
  private static func globalAverage(_ context: ExecutionContext, _ input: Tensor, keepShape shape: [Int]) -> Tensor {
    let x = input.contiguous()
    let planeSize = input.shape.suffix(2).reduce(1, *)
    let planes = input.count / max(planeSize, 1)
    let output = context.makeTensor(shape)
    guard planeSize > 0 else { return output }
    withExtendedLifetime((x, output)) {
      let (source, target) = (UnsafePointer(x.floatPointer()), output.floatPointer())
      context.parallelBlocks(planes, block: 1, work: planes * planeSize, minimumWork: planePassWork) { range in
        PoolingKernels.globalAveragePool(input: source, planeSize: planeSize, output: target, planes: range)
      }
    }
    return output
  }
}
