/// 2-D max, average and adaptive pooling over NCHW float32 buffers (`max_pool2d`,
/// `avg_pool2d`, `adaptive_avg_pool2d`, `adaptive_max_pool2d`).
///
/// Every plane (one channel of one image) pools independently. For output (oy, ox) the window
/// holds rows `oy·sH − pH + ky·dH` (ky < kH) and the matching columns; positions outside the
/// input are padding.
///
/// - Max pooling ignores padding: the result is the largest input element in the window, NaN
///   if the window holds a NaN, and the index (`y·W + x` within the plane, int64) of that
///   element. PyTorch scans the window row-major and takes a value when `v > best || isnan(v)`
///   starting from best = −∞ at the window's first input element, so ties keep the first index
///   and the last NaN wins; we do the same. A dilated ceil-mode window can miss the input
///   entirely: the result is then −∞ with the index of the first non-negative tap on each axis,
///   again as PyTorch reports it.
/// - Average pooling (no dilation) sums the input elements and divides by `divisor_override`,
///   else by the window size: counted with padding (`count_include_pad`) but clipped to the
///   padded input `[−p, in + p)`, or counted over input elements only.
/// - Adaptive pooling uses window `[⌊i·in/out⌋, ⌈(i+1)·in/out⌉)` per output index.
///
/// Buffer contract: input `[planes, H, W]` and output `[planes, OH, OW]` contiguous (the batch
/// and channel dims of NCHW folded into planes); indices, when requested, `[planes, OH, OW]`.
/// Output sizes follow Note [Output size formulas] in `OutputSize.swift`, with ceil mode's rule
/// that the last window must start inside the input or the left padding.
public enum PoolingKernels {}

/// The sizes and settings of a 2-D max or average pooling; the output size is derived.
public struct Pool2DShape: Sendable, Hashable {
  /// Planes pooled independently (N · C).
  public var planes: Int
  /// Input height (H).
  public var inputHeight: Int
  /// Input width (W).
  public var inputWidth: Int
  /// Window height (kH).
  public var kernelHeight: Int
  /// Window width (kW).
  public var kernelWidth: Int
  /// Vertical stride (sH).
  public var strideHeight: Int
  /// Horizontal stride (sW).
  public var strideWidth: Int
  /// Implicit padding rows on the top and bottom (pH).
  public var paddingHeight: Int
  /// Implicit padding columns on the left and right (pW).
  public var paddingWidth: Int
  /// Vertical dilation (dH); 1 for average pooling.
  public var dilationHeight: Int
  /// Horizontal dilation (dW); 1 for average pooling.
  public var dilationWidth: Int
  /// Round the output size up instead of down (see Note [Output size formulas]).
  public var ceilMode: Bool

  /// A pooling shape from `(height, width)` pairs; a nil stride is the kernel size, as in
  /// PyTorch.
  public init(
    planes: Int, inputHeight: Int, inputWidth: Int, kernel: (Int, Int), stride: (Int, Int)? = nil,
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
  ) {
    self.planes = planes
    self.inputHeight = inputHeight
    self.inputWidth = inputWidth
    (kernelHeight, kernelWidth) = kernel
    (strideHeight, strideWidth) = stride ?? kernel
    (paddingHeight, paddingWidth) = padding
    (dilationHeight, dilationWidth) = dilation
    self.ceilMode = ceilMode
  }

  /// Output height (OH).
  public var outputHeight: Int {
    OutputSize.pooling(
      input: inputHeight, kernel: kernelHeight, stride: strideHeight, padding: paddingHeight,
      dilation: dilationHeight, ceilMode: ceilMode)
  }

  /// Output width (OW).
  public var outputWidth: Int {
    OutputSize.pooling(
      input: inputWidth, kernel: kernelWidth, stride: strideWidth, padding: paddingWidth,
      dilation: dilationWidth, ceilMode: ceilMode)
  }

  /// Checks the shape as PyTorch's `pool2d_shape_check` does.
  ///
  /// - Throws: `KernelError` for a non-positive kernel, stride or dilation, negative padding or
  ///   padding above half the kernel size, an empty input plane, or an output below 1×1.
  public func validate(op: String = "max_pool2d") throws(KernelError) {
    try requirePositive(op, "kernel size", [kernelHeight, kernelWidth])
    try requirePositive(op, "stride", [strideHeight, strideWidth])
    try requirePositive(op, "dilation", [dilationHeight, dilationWidth])
    try requireNonNegative(op, "padding", [paddingHeight, paddingWidth])
    try requireNonNegative(op, "planes", [planes])
    guard paddingHeight <= kernelHeight / 2, paddingWidth <= kernelWidth / 2 else {
      throw .invalidParameter(
        op: op, name: "padding", value: [paddingHeight, paddingWidth],
        requirement: "at most half of kernel size \([kernelHeight, kernelWidth])")
    }
    guard inputHeight > 0, inputWidth > 0 else {
      throw .shapeMismatch(op: op, message: "expected input plane \([inputHeight, inputWidth]) to have non-zero size")
    }
    guard outputHeight > 0, outputWidth > 0 else {
      throw .outputTooSmall(op: op, input: [inputHeight, inputWidth], output: [outputHeight, outputWidth])
    }
  }

  /// The shape of `max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)`.
  ///
  /// - Parameters:
  ///   - input: `[N, C, H, W]` or `[C, H, W]`.
  ///   - kernel, padding, dilation: one value or `[height, width]`.
  ///   - stride: empty for the kernel size, one value, or `[height, width]`.
  /// - Throws: `KernelError` for bad ranks or list lengths and everything `validate` rejects.
  public static func maxPool2d(
    input: [Int], kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool
  ) throws(KernelError) -> Pool2DShape {
    try make(
      op: "max_pool2d", input: input, kernel: kernel, stride: stride, padding: padding, dilation: dilation,
      ceilMode: ceilMode)
  }

  /// The shape of `avg_pool2d(input, kernel_size, stride, padding, ceil_mode, ...)`.
  ///
  /// - Throws: as `maxPool2d`.
  public static func avgPool2d(
    input: [Int], kernel: [Int], stride: [Int], padding: [Int], ceilMode: Bool
  ) throws(KernelError) -> Pool2DShape {
    try make(
      op: "avg_pool2d", input: input, kernel: kernel, stride: stride, padding: padding, dilation: [1],
      ceilMode: ceilMode)
  }

  private static func make(
    op: String, input: [Int], kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool
  ) throws(KernelError) -> Pool2DShape {
    let (planes, height, width) = try planarLayout(op, input)
    let kernels = try expandParameter(op, "kernel size", kernel, rank: 2)
    let strides = stride.isEmpty ? kernels : try expandParameter(op, "stride", stride, rank: 2)
    let pads = try expandParameter(op, "padding", padding, rank: 2)
    let dilations = try expandParameter(op, "dilation", dilation, rank: 2)
    let shape = Pool2DShape(
      planes: planes, inputHeight: height, inputWidth: width,
      kernel: (kernels[0], kernels[1]), stride: (strides[0], strides[1]), padding: (pads[0], pads[1]),
      dilation: (dilations[0], dilations[1]), ceilMode: ceilMode)
    try shape.validate(op: op)
    return shape
  }
}

/// The sizes of an adaptive pooling: the output size is given, the windows are derived.
public struct AdaptivePool2DShape: Sendable, Hashable {
  /// Planes pooled independently (N · C).
  public var planes: Int
  /// Input height (H).
  public var inputHeight: Int
  /// Input width (W).
  public var inputWidth: Int
  /// Output height (OH).
  public var outputHeight: Int
  /// Output width (OW).
  public var outputWidth: Int

  /// An adaptive pooling shape.
  public init(planes: Int, inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int) {
    self.planes = planes
    self.inputHeight = inputHeight
    self.inputWidth = inputWidth
    self.outputHeight = outputHeight
    self.outputWidth = outputWidth
  }

  /// The shape of `adaptive_{avg,max}_pool2d(input, output_size)`.
  ///
  /// - Parameters:
  ///   - input: `[N, C, H, W]` or `[C, H, W]` with non-zero H and W.
  ///   - outputSize: one value or `[height, width]`, each ≥ 0 (a `None` entry of PyTorch's
  ///     list is the input size; the caller substitutes it).
  /// - Throws: `KernelError` for bad ranks, an empty input plane or a negative output size.
  public static func make(op: String, input: [Int], outputSize: [Int]) throws(KernelError) -> AdaptivePool2DShape {
    let (planes, height, width) = try planarLayout(op, input)
    let sizes = try expandParameter(op, "output size", outputSize, rank: 2)
    try requireNonNegative(op, "output size", sizes)
    guard height > 0, width > 0 else {
      throw .shapeMismatch(op: op, message: "expected input \(input) to have non-zero size for non-batch dimensions")
    }
    return AdaptivePool2DShape(
      planes: planes, inputHeight: height, inputWidth: width, outputHeight: sizes[0], outputWidth: sizes[1])
  }
}
