/// PyTorch's `padding` argument of a convolution: explicit sizes or one of the strings.
public enum ConvolutionPadding: Sendable, Hashable {
  /// One size for every spatial dimension (`[p]`) or one per dimension (`[pH, pW]`), applied on
  /// both sides.
  case explicit([Int])
  /// `padding='same'`: the output has the input's size; stride must be 1. An odd total padding
  /// puts the extra element after (bottom/right).
  case same
  /// `padding='valid'`: no padding.
  case valid
}

/// The sizes and settings of one 2-D convolution; the output size is derived.
///
/// Build it with `conv2d(input:weight:...)` / `conv1d(input:weight:...)` from tensor shapes and
/// PyTorch's argument lists (which validates), or member by member and call `validate()`.
public struct Conv2DShape: Sendable, Hashable {
  /// Images in the batch (N).
  public var batch: Int
  /// Input channels (Cin).
  public var inputChannels: Int
  /// Output channels (Cout).
  public var outputChannels: Int
  /// Input height (H).
  public var inputHeight: Int
  /// Input width (W).
  public var inputWidth: Int
  /// Kernel height (kH).
  public var kernelHeight: Int
  /// Kernel width (kW).
  public var kernelWidth: Int
  /// Vertical stride (sH).
  public var strideHeight: Int
  /// Horizontal stride (sW).
  public var strideWidth: Int
  /// Zero rows added above the input.
  public var paddingTop: Int
  /// Zero columns added left of the input.
  public var paddingLeft: Int
  /// Zero rows added below the input (equals `paddingTop` except for odd 'same' padding).
  public var paddingBottom: Int
  /// Zero columns added right of the input (equals `paddingLeft` except for odd 'same' padding).
  public var paddingRight: Int
  /// Vertical dilation (dH).
  public var dilationHeight: Int
  /// Horizontal dilation (dW).
  public var dilationWidth: Int
  /// Channel groups; `groups == Cin == Cout` is a depthwise convolution.
  public var groups: Int

  /// A shape with symmetric padding.
  ///
  /// - Parameters:
  ///   - stride, padding, dilation: `(height, width)` pairs.
  public init(
    batch: Int, inputChannels: Int, outputChannels: Int, inputHeight: Int, inputWidth: Int,
    kernelHeight: Int, kernelWidth: Int, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) {
    self.batch = batch
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
    self.inputHeight = inputHeight
    self.inputWidth = inputWidth
    self.kernelHeight = kernelHeight
    self.kernelWidth = kernelWidth
    (strideHeight, strideWidth) = stride
    (paddingTop, paddingLeft) = padding
    (paddingBottom, paddingRight) = padding
    (dilationHeight, dilationWidth) = dilation
    self.groups = groups
  }

  /// Output height (OH); see Note [Output size formulas].
  public var outputHeight: Int {
    OutputSize.convolution(
      input: inputHeight, kernel: kernelHeight, stride: strideHeight, dilation: dilationHeight,
      paddingBefore: paddingTop, paddingAfter: paddingBottom)
  }

  /// Output width (OW); see Note [Output size formulas].
  public var outputWidth: Int {
    OutputSize.convolution(
      input: inputWidth, kernel: kernelWidth, stride: strideWidth, dilation: dilationWidth,
      paddingBefore: paddingLeft, paddingAfter: paddingRight)
  }

  /// Input channels seen by each output channel (Cin / groups).
  public var inputChannelsPerGroup: Int { inputChannels / groups }
  /// Output channels per group (Cout / groups).
  public var outputChannelsPerGroup: Int { outputChannels / groups }
  /// The input tensor shape `[N, Cin, H, W]`.
  public var inputShape: [Int] { [batch, inputChannels, inputHeight, inputWidth] }
  /// The weight tensor shape `[Cout, Cin/groups, kH, kW]`.
  public var weightShape: [Int] { [outputChannels, inputChannelsPerGroup, kernelHeight, kernelWidth] }
  /// The output tensor shape `[N, Cout, OH, OW]`.
  public var outputShape: [Int] { [batch, outputChannels, outputHeight, outputWidth] }

  /// Checks the shape as PyTorch's `conv2d` does.
  ///
  /// - Throws: `KernelError` for a non-positive stride, dilation, kernel or group count, negative
  ///   padding, channels not divisible by groups, an empty input plane, or a kernel larger than
  ///   the padded input.
  public func validate() throws(KernelError) {
    try validate(op: "conv2d")
  }

  func validate(op: String) throws(KernelError) {
    try checkConvolutionSettings(
      op, batch: batch, inputChannels: inputChannels, outputChannels: outputChannels,
      input: (inputHeight, inputWidth), kernel: (kernelHeight, kernelWidth), stride: (strideHeight, strideWidth),
      dilation: (dilationHeight, dilationWidth), groups: groups)
    try requireNonNegative(op, "padding", [paddingTop, paddingLeft, paddingBottom, paddingRight])
    let paddedHeight = inputHeight + paddingTop + paddingBottom
    let paddedWidth = inputWidth + paddingLeft + paddingRight
    let spanHeight = dilationHeight * (kernelHeight - 1) + 1
    let spanWidth = dilationWidth * (kernelWidth - 1) + 1
    guard paddedHeight >= spanHeight, paddedWidth >= spanWidth else {
      throw .shapeMismatch(
        op: op,
        message: "calculated padded input size per channel: (\(paddedHeight) x \(paddedWidth)), "
          + "kernel size: (\(spanHeight) x \(spanWidth)), kernel size can't be greater than actual input size")
    }
  }

  /// The shape of `aten::conv2d(input, weight, bias, stride, padding, dilation, groups)`.
  ///
  /// - Parameters:
  ///   - input: `[N, Cin, H, W]`, or `[Cin, H, W]` unbatched (read as N = 1).
  ///   - weight: `[Cout, Cin/groups, kH, kW]`.
  ///   - stride, dilation: one value for both dimensions or `[height, width]`.
  /// - Throws: `KernelError` for bad ranks, list lengths or channel counts, and everything
  ///   `validate()` rejects.
  public static func conv2d(
    input: [Int], weight: [Int], stride: [Int], padding: ConvolutionPadding, dilation: [Int], groups: Int
  ) throws(KernelError) -> Conv2DShape {
    try make(
      op: "conv2d", spatialRank: 2, input: input, weight: weight, stride: stride, padding: padding,
      dilation: dilation, groups: groups)
  }

  /// The shape of `aten::conv1d`, expressed as a conv2d with H = 1 and kH = 1.
  ///
  /// The input `[N, Cin, L]` (or `[Cin, L]`) and weight `[Cout, Cin/groups, k]` buffers are
  /// passed to `conv2dReference` unchanged; the output `[N, Cout, 1, OL]` is `[N, Cout, OL]`.
  ///
  /// - Throws: as `conv2d(input:weight:stride:padding:dilation:groups:)`.
  public static func conv1d(
    input: [Int], weight: [Int], stride: [Int], padding: ConvolutionPadding, dilation: [Int], groups: Int
  ) throws(KernelError) -> Conv2DShape {
    try make(
      op: "conv1d", spatialRank: 1, input: input, weight: weight, stride: stride, padding: padding,
      dilation: dilation, groups: groups)
  }

  private static func make(
    op: String, spatialRank: Int, input: [Int], weight: [Int], stride: [Int], padding: ConvolutionPadding,
    dilation: [Int], groups: Int
  ) throws(KernelError) -> Conv2DShape {
    guard input.count == spatialRank + 1 || input.count == spatialRank + 2 else {
      throw .shapeMismatch(
        op: op, message: "expected \(spatialRank + 1)-D (unbatched) or \(spatialRank + 2)-D input, but got input of size \(input)")
    }
    guard weight.count == spatialRank + 2 else {
      throw .shapeMismatch(op: op, message: "expected \(spatialRank + 2)-D weight, but got weight of size \(weight)")
    }
    let batched = input.count == spatialRank + 2 ? input : [1] + input
    let strides = try expandParameter(op, "stride", stride, rank: spatialRank)
    let dilations = try expandParameter(op, "dilation", dilation, rank: spatialRank)
    try requirePositive(op, "groups", [groups])
    guard weight[1] * groups == batched[1] else {
      throw .shapeMismatch(
        op: op,
        message: "given groups=\(groups), weight of size \(weight), expected input\(input) to have "
          + "\(weight[1] * groups) channels, but got \(batched[1]) channels instead")
    }
    // A 1-D convolution is the 2-D one with a unit height on every size and setting.
    let spatialInput = spatialRank == 2 ? Array(batched[2...]) : [1, batched[2]]
    let kernel = spatialRank == 2 ? Array(weight[2...]) : [1, weight[2]]
    let strides2 = spatialRank == 2 ? strides : [1, strides[0]]
    let dilations2 = spatialRank == 2 ? dilations : [1, dilations[0]]
    var shape = Conv2DShape(
      batch: batched[0], inputChannels: batched[1], outputChannels: weight[0], inputHeight: spatialInput[0],
      inputWidth: spatialInput[1], kernelHeight: kernel[0], kernelWidth: kernel[1],
      stride: (strides2[0], strides2[1]), dilation: (dilations2[0], dilations2[1]), groups: groups)
    switch padding {
    case .explicit(let values):
      let pads = try expandParameter(op, "padding", values, rank: spatialRank)
      let pads2 = spatialRank == 2 ? pads : [0, pads[0]]
      (shape.paddingTop, shape.paddingBottom) = (pads2[0], pads2[0])
      (shape.paddingLeft, shape.paddingRight) = (pads2[1], pads2[1])
    case .valid:
      break
    case .same:
      guard strides.allSatisfy({ $0 == 1 }) else {
        throw .invalidParameter(
          op: op, name: "stride", value: strides, requirement: "1 with padding='same' (strided convolutions are not supported)")
      }
      let vertical = OutputSize.samePadding(kernel: kernel[0], dilation: dilations2[0])
      let horizontal = OutputSize.samePadding(kernel: kernel[1], dilation: dilations2[1])
      (shape.paddingTop, shape.paddingBottom) = vertical
      (shape.paddingLeft, shape.paddingRight) = horizontal
    }
    try shape.validate(op: op)
    return shape
  }
}

/// The sizes and settings of one 2-D transposed convolution; the output size is derived.
public struct ConvTranspose2DShape: Sendable, Hashable {
  /// Images in the batch (N).
  public var batch: Int
  /// Input channels (Cin).
  public var inputChannels: Int
  /// Output channels (Cout).
  public var outputChannels: Int
  /// Input height (H).
  public var inputHeight: Int
  /// Input width (W).
  public var inputWidth: Int
  /// Kernel height (kH).
  public var kernelHeight: Int
  /// Kernel width (kW).
  public var kernelWidth: Int
  /// Vertical stride (sH).
  public var strideHeight: Int
  /// Horizontal stride (sW).
  public var strideWidth: Int
  /// Rows removed from the top and bottom of the full output (pH).
  public var paddingHeight: Int
  /// Columns removed from the left and right of the full output (pW).
  public var paddingWidth: Int
  /// Extra rows kept at the bottom of the output.
  public var outputPaddingHeight: Int
  /// Extra columns kept at the right of the output.
  public var outputPaddingWidth: Int
  /// Vertical dilation (dH).
  public var dilationHeight: Int
  /// Horizontal dilation (dW).
  public var dilationWidth: Int
  /// Channel groups.
  public var groups: Int

  /// A shape from `(height, width)` pairs.
  public init(
    batch: Int, inputChannels: Int, outputChannels: Int, inputHeight: Int, inputWidth: Int,
    kernelHeight: Int, kernelWidth: Int, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) {
    self.batch = batch
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
    self.inputHeight = inputHeight
    self.inputWidth = inputWidth
    self.kernelHeight = kernelHeight
    self.kernelWidth = kernelWidth
    (strideHeight, strideWidth) = stride
    (paddingHeight, paddingWidth) = padding
    (outputPaddingHeight, outputPaddingWidth) = outputPadding
    (dilationHeight, dilationWidth) = dilation
    self.groups = groups
  }

  /// Output height (OH); see Note [Output size formulas].
  public var outputHeight: Int {
    OutputSize.transposedConvolution(
      input: inputHeight, kernel: kernelHeight, stride: strideHeight, padding: paddingHeight,
      outputPadding: outputPaddingHeight, dilation: dilationHeight)
  }

  /// Output width (OW); see Note [Output size formulas].
  public var outputWidth: Int {
    OutputSize.transposedConvolution(
      input: inputWidth, kernel: kernelWidth, stride: strideWidth, padding: paddingWidth,
      outputPadding: outputPaddingWidth, dilation: dilationWidth)
  }

  /// Input channels per group (Cin / groups).
  public var inputChannelsPerGroup: Int { inputChannels / groups }
  /// Output channels per group (Cout / groups).
  public var outputChannelsPerGroup: Int { outputChannels / groups }
  /// The input tensor shape `[N, Cin, H, W]`.
  public var inputShape: [Int] { [batch, inputChannels, inputHeight, inputWidth] }
  /// The weight tensor shape `[Cin, Cout/groups, kH, kW]`.
  public var weightShape: [Int] { [inputChannels, outputChannelsPerGroup, kernelHeight, kernelWidth] }
  /// The output tensor shape `[N, Cout, OH, OW]`.
  public var outputShape: [Int] { [batch, outputChannels, outputHeight, outputWidth] }

  /// Checks the shape as PyTorch's `conv_transpose2d` does.
  ///
  /// - Throws: `KernelError` for a non-positive stride, dilation, kernel or group count,
  ///   negative padding, an output padding not smaller than stride or dilation, channels not
  ///   divisible by groups, or an empty output.
  public func validate() throws(KernelError) {
    let op = "conv_transpose2d"
    try checkConvolutionSettings(
      op, batch: batch, inputChannels: inputChannels, outputChannels: outputChannels,
      input: (inputHeight, inputWidth), kernel: (kernelHeight, kernelWidth), stride: (strideHeight, strideWidth),
      dilation: (dilationHeight, dilationWidth), groups: groups)
    try requireNonNegative(op, "padding", [paddingHeight, paddingWidth])
    try requireNonNegative(op, "output padding", [outputPaddingHeight, outputPaddingWidth])
    guard outputPaddingHeight < max(strideHeight, dilationHeight),
      outputPaddingWidth < max(strideWidth, dilationWidth)
    else {
      throw .invalidParameter(
        op: op, name: "output padding", value: [outputPaddingHeight, outputPaddingWidth],
        requirement: "smaller than either stride \([strideHeight, strideWidth]) or dilation \([dilationHeight, dilationWidth])")
    }
    guard outputHeight > 0, outputWidth > 0 else {
      throw .outputTooSmall(op: op, input: [inputHeight, inputWidth], output: [outputHeight, outputWidth])
    }
  }

  /// The shape of `aten::conv_transpose2d(input, weight, bias, stride, padding, output_padding,
  /// groups, dilation)`.
  ///
  /// - Parameters:
  ///   - input: `[N, Cin, H, W]`, or `[Cin, H, W]` unbatched (read as N = 1).
  ///   - weight: `[Cin, Cout/groups, kH, kW]`.
  ///   - stride, padding, outputPadding, dilation: one value for both dimensions or
  ///     `[height, width]`.
  /// - Throws: `KernelError` for bad ranks, list lengths or channel counts, and everything
  ///   `validate()` rejects.
  public static func convTranspose2d(
    input: [Int], weight: [Int], stride: [Int], padding: [Int], outputPadding: [Int], dilation: [Int],
    groups: Int
  ) throws(KernelError) -> ConvTranspose2DShape {
    let op = "conv_transpose2d"
    guard input.count == 3 || input.count == 4 else {
      throw .shapeMismatch(op: op, message: "expected 3-D (unbatched) or 4-D input, but got input of size \(input)")
    }
    guard weight.count == 4 else {
      throw .shapeMismatch(op: op, message: "expected 4-D weight, but got weight of size \(weight)")
    }
    let batched = input.count == 4 ? input : [1] + input
    guard weight[0] == batched[1] else {
      throw .shapeMismatch(
        op: op,
        message: "given transposed=1, weight of size \(weight), expected input\(input) to have "
          + "\(weight[0]) channels, but got \(batched[1]) channels instead")
    }
    try requirePositive(op, "groups", [groups])
    let strides = try expandParameter(op, "stride", stride, rank: 2)
    let pads = try expandParameter(op, "padding", padding, rank: 2)
    let outputPads = try expandParameter(op, "output padding", outputPadding, rank: 2)
    let dilations = try expandParameter(op, "dilation", dilation, rank: 2)
    let shape = ConvTranspose2DShape(
      batch: batched[0], inputChannels: batched[1], outputChannels: weight[1] * groups, inputHeight: batched[2],
      inputWidth: batched[3], kernelHeight: weight[2], kernelWidth: weight[3], stride: (strides[0], strides[1]),
      padding: (pads[0], pads[1]), outputPadding: (outputPads[0], outputPads[1]),
      dilation: (dilations[0], dilations[1]), groups: groups)
    try shape.validate()
    return shape
  }
}

/// The checks `conv2d` and `conv_transpose2d` share: positive stride, dilation, kernel, group
/// and channel counts, channels divisible by groups, and a non-empty input plane.
private func checkConvolutionSettings(
  _ op: String, batch: Int, inputChannels: Int, outputChannels: Int, input: (height: Int, width: Int),
  kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int), groups: Int
) throws(KernelError) {
  try requirePositive(op, "stride", [stride.0, stride.1])
  try requirePositive(op, "dilation", [dilation.0, dilation.1])
  try requirePositive(op, "kernel size", [kernel.0, kernel.1])
  try requirePositive(op, "groups", [groups])
  try requirePositive(op, "input channels", [inputChannels])
  try requirePositive(op, "output channels", [outputChannels])
  try requireNonNegative(op, "batch", [batch])
  guard inputChannels % groups == 0, outputChannels % groups == 0 else {
    throw .shapeMismatch(
      op: op,
      message: "groups=\(groups) does not divide input channels \(inputChannels) and output channels \(outputChannels)")
  }
  guard input.height > 0, input.width > 0 else {
    throw .shapeMismatch(
      op: op, message: "expected input \([batch, inputChannels, input.height, input.width]) to have non-zero spatial size")
  }
}
