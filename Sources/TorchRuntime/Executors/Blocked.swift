import Kernels
import TensorCore

/// Channel-blocked activations in the runtime (Notes [Channel-blocked activations] and
/// [Channel-blocked plans]): a float32 tensor `[N, C/8, H, W, 8]` standing for NCHW `[N, C, H, W]`.
enum BlockedActivations {
  /// Whether `tensor`, an operand of the instruction running in `context`, holds a blocked
  /// activation: only where the plan expects one.
  static func isBlocked(_ tensor: Tensor, in context: ExecutionContext) -> Bool {
    context.blockedInputsExpected && hasBlockedShape(tensor)
  }

  static func hasBlockedShape(_ tensor: Tensor) -> Bool {
    tensor.rank == 5 && tensor.shape[4] == 8 && tensor.dtype == .float32
  }

  /// The NCHW shape a blocked tensor stands for.
  static func logicalShape(_ tensor: Tensor) -> [Int] {
    guard hasBlockedShape(tensor) else { return tensor.shape }
    let s = tensor.shape
    return [s[0], s[1] * 8, s[2], s[3]]
  }

  /// True when `dims` are the two plane dimensions of a rank-`rank` tensor, each once (a mean
  /// over them is one per channel).
  static func planeDimensions(_ dims: [Int], rank: Int) -> Bool {
    dims.count == 2 && Set(dims.map { $0 < 0 ? $0 + rank : $0 }) == [rank - 2, rank - 1]
  }

  /// The shape `tensor` has for the instruction running in `context`: the NCHW shape it stands
  /// for when it is a blocked activation there, else its own.
  static func shape(of tensor: Tensor, in context: ExecutionContext) -> [Int] {
    isBlocked(tensor, in: context) ? logicalShape(tensor) : tensor.shape
  }

  /// The blocked shape of an NCHW shape.
  static func blockedShape(_ shape: [Int]) -> [Int] {
    [shape[0], shape[1] / 8, shape[2], shape[3], 8]
  }

  /// `tensor` in NCHW: a blocked tensor unpacked into a new one, split across the threads by
  /// channel blocks; anything else as it is.
  static func unblocked(_ context: ExecutionContext, _ tensor: Tensor) -> Tensor {
    guard isBlocked(tensor, in: context) else { return tensor }
    let logical = logicalShape(tensor)
    let output = context.makeTensor(logical)
    convert(context, tensor.contiguous(), into: output, shape: logical)
    return output
  }

  /// `value` with a blocked tensor unpacked.
  static func unblocked(_ context: ExecutionContext, _ value: IValue) -> IValue {
    guard case .tensor(let tensor) = value, isBlocked(tensor, in: context) else { return value }
    return .tensor(unblocked(context, tensor))
  }

  /// Unpacks the blocked `source` into the NCHW `target` of `shape`.
  private static func convert(_ context: ExecutionContext, _ source: Tensor, into target: Tensor, shape: [Int]) {
    let (channels, pixels) = (shape[1], shape[2] * shape[3])
    let blocks = channels / 8
    withExtendedLifetime((source, target)) {
      let (from, to) = (UnsafePointer(source.floatPointer()), target.floatPointer())
      for image in 0..<shape[0] {
        let (a, b) = (from + image * channels * pixels, to + image * channels * pixels)
        context.parallelBlocks(blocks, block: 1, work: channels * pixels, minimumWork: FastExecutors.planePassWork) {
          range in
          ChannelBlocks.unpack(a, channels: channels, pixels: pixels, into: b, blocks: range)
        }
      }
    }
  }
}

extension FastExecutors {
  /// `prepacked::conv2d_clamp_run` where a blocked activation is involved or allowed (Note
  /// [Channel-blocked plans]): where the plan allows a blocked result, 1×1 and depthwise
  /// convolutions of whole channel blocks on a blocked input run on blocked activations and a
  /// dense one on an NCHW input writes a blocked output from its phase planes; anything else
  /// runs on NCHW operands (unpacking a blocked input, which costs less than unpacking the
  /// output on MobileNetV2's last layer, 320 → 1280 channels on 7×7). An NCHW input is never
  /// packed: the pack costs about what the layer gains. An activation epilogue runs on the
  /// blocked output: hardswish after an unclamped convolution in the kernels' stores (Note [Store
  /// activations]), any other afterwards (reported as not applied: elementwise, whatever the
  /// layout).
  static func blockedConv2dApplying(_ context: ExecutionContext, _ a: [IValue], epilogue: ConvEpilogue?)
    throws -> (Tensor, applied: Bool)
  {
    let input = try a.tensor(0)
    let permitted = context.blockedOutputPermitted
    let inputBlocked = BlockedActivations.isBlocked(input, in: context)
    // A residual add runs blocked when the residual is blocked like the output.
    var residual: (op: BinaryOperation, tensor: Tensor)?
    var activation: UnaryOperation?
    switch epilogue {
    case .residual(let op, let tensor)?: residual = (op, tensor)
    case .activation(let op)?: activation = op
    case nil: break
    }
    // The clamp the kernels store with, and whether that applies the epilogue.
    func storing(_ prepared: PreparedConvolution) -> (OutputClamp, applied: Bool) {
      activation.map { storeClamp(prepared.clamp, then: $0) } ?? (prepared.clamp, true)
    }
    if permitted, inputBlocked, case .object(let object) = a[1],
      let prepared = context.preparedConvolution(object, shape: BlockedActivations.logicalShape(input)),
      ConvolutionKernels.takesBlocked(prepared.shape), case .direct(let weights) = prepared.weights
    {
      let outputShape = BlockedActivations.blockedShape(prepared.shape.outputShape)
      let residualFits = residual.map {
        BlockedActivations.isBlocked($0.tensor, in: context) && $0.tensor.isContiguous && $0.tensor.shape == outputShape
      }
      if residual == nil || residualFits == true {
        let (clamp, applied) = storing(prepared)
        let output = runBlocked(
          context, prepared, weights, input.contiguous(), clamp: clamp, residual: residual, meansAllowed: applied)
        return (output, applied)
      }
    }
    // A 3×3 stride-1 convolution on the channel-blocked Winograd kernel (Note [Channel-blocked
    // Winograd]) reads a blocked input as it is and packs an NCHW one.
    if permitted, residual == nil, case .object(let object) = a[1], input.dtype == .float32,
      inputBlocked || input.rank == 4,
      let prepared = context.preparedConvolution(
        object, shape: inputBlocked ? BlockedActivations.logicalShape(input) : input.shape),
      case .blockedWinograd(let weights) = prepared.weights
    {
      let (clamp, applied) = storing(prepared)
      return (runBlockedWinograd(context, prepared, weights, input.contiguous(), inputBlocked: inputBlocked, clamp: clamp), applied)
    }
    // A dense convolution of an NCHW input (a stem) writes a blocked output from its phase
    // planes (Note [Channel-blocked phase planes]).
    if case .object(let object) = a[1], permitted, residual == nil, input.dtype == .float32, input.rank == 4,
      let prepared = context.preparedConvolution(object, shape: input.shape),
      ConvolutionKernels.takesBlockedPhasePlanes(prepared.shape), case .direct(let weights) = prepared.weights,
      case .gemm = weights.layout
    {
      let (clamp, applied) = storing(prepared)
      return (runBlockedPhasePlanes(context, prepared, input.contiguous(), clamp: clamp), applied)
    }
    var plain = a
    plain[0] = .tensor(BlockedActivations.unblocked(context, input))
    var plainEpilogue = epilogue
    if let residual, BlockedActivations.isBlocked(residual.tensor, in: context) {
      plainEpilogue = .residual(residual.op, BlockedActivations.unblocked(context, residual.tensor))
    }
    return try plainConv2dApplying(context, plain, epilogue: plainEpilogue)
  }

  /// A prepared dense convolution of an NCHW input into a new blocked output: per image, the
  /// phase planes scattered by channels, then the tiles split by flat columns.
  private static func runBlockedPhasePlanes(
    _ context: ExecutionContext, _ prepared: PreparedConvolution, _ input: Tensor, clamp: OutputClamp
  ) -> Tensor {
    let shape = prepared.shape
    let output = context.makeTensor(BlockedActivations.blockedShape(shape.outputShape))
    let panels = prepared.blockedPanels
    let columns = ConvolutionKernels.phasePlanesColumns(shape)
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let work = shape.outputChannels * columns * panels.depth
    withExtendedLifetime((input, output, panels)) {
      let (source, target) = (UnsafePointer(input.floatPointer()), output.floatPointer())
      let planesCount = ConvolutionKernels.phasePlanesCount(shape) + ConvolutionKernels.blockedPhasePlanesSlack
      context.withScratch(planesCount) { planes in
        (planes + planesCount - ConvolutionKernels.blockedPhasePlanesSlack).update(
          repeating: 0, count: ConvolutionKernels.blockedPhasePlanesSlack)
        for image in 0..<shape.batch {
          let x = source + image * shape.inputChannels * inputPlane
          let y = target + image * shape.outputChannels * outputPlane
          context.parallelBlocks(shape.inputChannels, block: 1, work: shape.inputChannels * inputPlane) { channels in
            ConvolutionKernels.conv2dPhasePlanesScatter(shape, input: x, planes: planes, channels: channels)
          }
          context.parallelBlocks(columns, block: 6, work: work) { range in
            ConvolutionKernels.blockedPhasePlaneConv2d(
              shape, planes: planes, weights: panels, output: y, clamp: clamp, columns: range)
          }
        }
      }
    }
    return output
  }

  /// A prepared 3×3 stride-1 convolution on the channel-blocked Winograd kernel into a new
  /// blocked output, per image (`blockedWinogradImage`).
  private static func runBlockedWinograd(
    _ context: ExecutionContext, _ prepared: PreparedConvolution, _ weights: BlockedWinogradWeights, _ input: Tensor,
    inputBlocked: Bool, clamp: OutputClamp
  ) -> Tensor {
    let shape = prepared.shape
    let output = context.makeTensor(BlockedActivations.blockedShape(shape.outputShape))
    let (inputImage, outputImage) = (
      shape.inputChannels * shape.inputHeight * shape.inputWidth, shape.outputChannels * shape.outputHeight * shape.outputWidth
    )
    var imageShape = shape
    imageShape.batch = 1
    withExtendedLifetime((input, output, weights)) {
      let (source, target) = (UnsafePointer(input.floatPointer()), output.floatPointer())
      for image in 0..<shape.batch {
        let x = source + image * inputImage
        blockedWinogradImage(
          context, imageShape, weights: weights, input: inputBlocked ? .blocked(x) : .plain(x),
          output: target + image * outputImage, clamp: clamp)
      }
    }
    return output
  }

  /// A prepared 1×1 or depthwise convolution on a blocked input, into a new blocked output
  /// stored through `clamp`, with a blocked residual added; each thread adds the residual to the
  /// part it wrote. A depthwise one on small planes hands a pool its channel means when asked
  /// and `meansAllowed` (no activation pass follows; Note [Pooled side output]).
  private static func runBlocked(
    _ context: ExecutionContext, _ prepared: PreparedConvolution, _ weights: ConvolutionWeights, _ input: Tensor,
    clamp: OutputClamp, residual: (op: BinaryOperation, tensor: Tensor)?, meansAllowed: Bool
  ) -> Tensor {
    let shape = prepared.shape
    let output = context.makeTensor(BlockedActivations.blockedShape(shape.outputShape))
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    let outputBlocks = shape.outputChannels / 8
    var imageShape = shape
    imageShape.batch = 1
    let residualTensor = residual?.tensor
    // The channel means a pool asked for (depthwise on small planes only).
    var means: Tensor?
    defer { if let means { context.answerChannelMeans(means, of: output) } }
    withExtendedLifetime((input, output, residualTensor, weights)) {
      let (source, target) = (UnsafePointer(input.floatPointer()), output.floatPointer())
      let other = residualTensor.map { UnsafePointer($0.floatPointer()) }
      // Adds the residual to output blocks `blocks`, pixels `pixels`, of image `image`.
      func addResidual(image: Int, blocks: Range<Int>, pixels: Range<Int>) {
        guard let residual, let other, !pixels.isEmpty else { return }
        let imageOffset = image * shape.outputChannels * outputPlane
        for block in blocks {
          let start = imageOffset + (block * outputPlane + pixels.lowerBound) * 8
          ElementwiseKernels.binaryFloat32(
            residual.op, a: target + start, b: other + start, output: target + start, elements: 0..<pixels.count * 8)
        }
      }
      for image in 0..<shape.batch {
        let x = source + image * shape.inputChannels * inputPlane
        let y = target + image * shape.outputChannels * outputPlane
        switch weights.layout {
        case .depthwise(let packed):
          let work = shape.outputChannels * outputPlane * shape.kernelHeight * shape.kernelWidth
          let scratchCount = ConvolutionKernels.blockedDepthwiseScratchCount(imageShape)
          if ConvolutionKernels.blockedDepthwiseTiles(imageShape) {
            if image == 0, residual == nil, meansAllowed, ConvolutionKernels.depthwiseAveragesChannels(shape),
              context.takeChannelMeansRequest()
            {
              means = context.makeTensor([shape.batch, shape.outputChannels, 1, 1])
            }
            let meansPointer = means.map { $0.floatPointer() + image * shape.outputChannels }
            context.parallelBlocks(outputBlocks, block: 1, work: work) { blocks in
              context.withScratch(scratchCount) { scratch in
                ConvolutionKernels.blockedDepthwise(
                  imageShape, input: x, weights: packed, output: y, clamp: clamp, blocks: blocks,
                  rows: 0..<shape.outputHeight, scratch: scratch, channelMeans: meansPointer)
              }
              addResidual(image: image, blocks: blocks, pixels: 0..<outputPlane)
            }
          } else {
            context.parallelBlocks(shape.outputHeight, block: 1, work: work) { rows in
              context.withScratch(scratchCount) { scratch in
                ConvolutionKernels.blockedDepthwise(
                  imageShape, input: x, weights: packed, output: y, clamp: clamp, blocks: 0..<outputBlocks,
                  rows: rows, scratch: scratch)
              }
              let pixels = rows.lowerBound * shape.outputWidth..<rows.upperBound * shape.outputWidth
              addResidual(image: image, blocks: 0..<outputBlocks, pixels: pixels)
            }
          }
        default:
          let panels = prepared.blockedPanels
          let work = shape.outputChannels * outputPlane * shape.inputChannels
          let scratchCount = ConvolutionKernels.blockedPointwiseScratchCount(depth: shape.inputChannels)
          // Split by panels when the weights outweigh the input (Note [Splitting 1×1 layers]) or
          // when whole tiles split the pixels much less evenly than whole panels split the
          // output channels (a 7×7 plane's 49 pixels are nine tiles of six); else by pixels.
          // Shares counted in whole tiles and panels (blocks of one), not in pixels and channels.
          let tiles = (outputPlane + panels.tileColumns - 1) / panels.tileColumns
          let panelCount = (shape.outputChannels + panels.panelRows - 1) / panels.panelRows
          let byPanels = largestShare(context, panelCount, block: 1)
          let byPixels = largestShare(context, tiles, block: 1)
          let weightsOutweighInput = shape.outputChannels > outputPlane
          if context.threadCount > 1
            && (byPanels + 0.02 < byPixels || (weightsOutweighInput && byPanels <= byPixels + 0.02))
          {
            context.parallelBlocks(shape.outputChannels, block: panels.panelRows, work: work) { rows in
              context.withScratch(scratchCount) { scratch in
                ConvolutionKernels.blockedPointwise(
                  weights: panels, input: x, output: y, pixelCount: outputPlane, clamp: clamp,
                  pixels: 0..<outputPlane, rows: rows, scratch: scratch)
              }
              addResidual(image: image, blocks: rows.lowerBound / 8..<rows.upperBound / 8, pixels: 0..<outputPlane)
            }
          } else {
            context.parallelBlocks(outputPlane, block: panels.tileColumns, work: work) { pixels in
              context.withScratch(scratchCount) { scratch in
                ConvolutionKernels.blockedPointwise(
                  weights: panels, input: x, output: y, pixelCount: outputPlane, clamp: clamp, pixels: pixels,
                  scratch: scratch)
              }
              addResidual(image: image, blocks: 0..<outputBlocks, pixels: pixels)
            }
          }
        }
      }
    }
    return output
  }
}

extension FastExecutors {
  /// A binary op where a blocked operand is allowed (Note [Channel-blocked plans]): a blocked x
  /// times s `[N, C, 1, 1]` (an SE block's `scale * x`, either order) into a new blocked result
  /// where the plan allows one; anything else on NCHW operands.
  static func blockedBinary(
    _ context: ExecutionContext, _ op: BinaryOperation, _ a: Tensor, _ other: IValue, inPlace: Bool,
    trueDivision: Bool
  ) throws -> Tensor {
    guard case .tensor(let b) = other else {
      return try plainBinary(
        context, op, BlockedActivations.unblocked(context, a), other, inPlace: inPlace, trueDivision: trueDivision)
    }
    let (aBlocked, bBlocked) = (BlockedActivations.isBlocked(a, in: context), BlockedActivations.isBlocked(b, in: context))
    if op == .mul, !inPlace, aBlocked != bBlocked, context.blockedOutputPermitted {
      let (x, s) = aBlocked ? (a, b) : (b, a)
      let logical = BlockedActivations.logicalShape(x)
      if x.isContiguous, s.isContiguous, s.dtype == .float32, s.shape == [logical[0], logical[1], 1, 1] {
        return blockedChannelScale(context, x, s)
      }
    }
    return try plainBinary(
      context, op, BlockedActivations.unblocked(context, a), .tensor(BlockedActivations.unblocked(context, b)),
      inPlace: inPlace, trueDivision: trueDivision)
  }

  /// The blocked `x` times one factor per channel, `s` (`[N, C, 1, 1]`), into a new blocked
  /// tensor, split by channel blocks like the convolution that wrote `x` (Note [Plane passes]).
  private static func blockedChannelScale(_ context: ExecutionContext, _ x: Tensor, _ s: Tensor) -> Tensor {
    let output = context.makeTensor(x.shape)
    let (images, blocks, planeSize) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    withExtendedLifetime((x, s, output)) {
      let (source, scalars, target) = (UnsafePointer(x.floatPointer()), UnsafePointer(s.floatPointer()), output.floatPointer())
      for image in 0..<images {
        let offset = image * blocks * planeSize * 8
        context.parallelBlocks(blocks, block: 1, work: blocks * planeSize * 16, minimumWork: planePassWork) { range in
          ElementwiseKernels.blockedChannelScaleFloat32(
            input: source + offset, scalars: scalars + image * blocks * 8, planeSize: planeSize, output: target + offset,
            blocks: range)
        }
      }
    }
    return output
  }
}
