/// 2-D nearest and bilinear resampling of NCHW float32 buffers (`upsample_nearest2d`,
/// `_upsample_nearest_exact2d`, `upsample_bilinear2d`, i.e. `F.interpolate`).
///
/// Each output row and column maps back to a source coordinate, per axis, in Float as PyTorch's
/// CPU kernels compute it. With `scale = 1 / scale_factor` when a scale factor is given and
/// `in / out` otherwise:
///
/// - nearest:        src = min(⌊dst · scale⌋, in − 1)
/// - nearest-exact:  src = min(⌊(dst + ½) · scale⌋, in − 1)
/// - bilinear, align_corners=False: src = max(0, (dst + ½) · scale − ½)
/// - bilinear, align_corners=True:  src = dst · (in − 1) / (out − 1) (0 when out = 1; scale
///   factors are ignored)
///
/// Bilinear blends the two neighbours `⌊src⌋` and `⌊src⌋ + 1` (the same one at the last row or
/// column) with weights `1 − λ` and `λ`, `λ = src − ⌊src⌋`, first along width, then height.
///
/// Buffer contract: input `[planes, H, W]` and output `[planes, OH, OW]` contiguous, planes
/// being the folded N·C.
public enum UpsampleKernels {
  /// Nearest-neighbour resampling; `exact` selects PyTorch's `nearest-exact` mode.
  public static func nearest2dReference(
    _ shape: Upsample2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, exact: Bool = false
  ) {
    let rows = (0..<shape.outputHeight).map {
      nearestSource($0, input: shape.inputHeight, output: shape.outputHeight, scale: shape.scaleHeight, exact: exact)
    }
    let columns = (0..<shape.outputWidth).map {
      nearestSource($0, input: shape.inputWidth, output: shape.outputWidth, scale: shape.scaleWidth, exact: exact)
    }
    let (inputPlane, outputPlane) = (shape.inputHeight * shape.inputWidth, shape.outputHeight * shape.outputWidth)
    for plane in 0..<shape.planes {
      let source = input + plane * inputPlane
      let target = output + plane * outputPlane
      for (outputRow, inputRow) in rows.enumerated() {
        let sourceLine = source + inputRow * shape.inputWidth
        let targetLine = target + outputRow * shape.outputWidth
        for (outputColumn, inputColumn) in columns.enumerated() { targetLine[outputColumn] = sourceLine[inputColumn] }
      }
    }
  }

  /// Bilinear resampling with PyTorch's `align_corners` semantics.
  public static func bilinear2dReference(
    _ shape: Upsample2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, alignCorners: Bool
  ) {
    let rows = (0..<shape.outputHeight).map {
      linearTaps($0, input: shape.inputHeight, output: shape.outputHeight, scale: shape.scaleHeight, alignCorners: alignCorners)
    }
    let columns = (0..<shape.outputWidth).map {
      linearTaps($0, input: shape.inputWidth, output: shape.outputWidth, scale: shape.scaleWidth, alignCorners: alignCorners)
    }
    let width = shape.inputWidth
    let (inputPlane, outputPlane) = (shape.inputHeight * width, shape.outputHeight * shape.outputWidth)
    for plane in 0..<shape.planes {
      let source = input + plane * inputPlane
      let target = output + plane * outputPlane
      for (outputRow, row) in rows.enumerated() {
        let top = source + row.index * width
        let bottom = top + row.offset * width
        for (outputColumn, column) in columns.enumerated() {
          let (left, right) = (column.index, column.index + column.offset)
          let upper = column.weight0 * top[left] + column.weight1 * top[right]
          let lower = column.weight0 * bottom[left] + column.weight1 * bottom[right]
          target[outputRow * shape.outputWidth + outputColumn] = row.weight0 * upper + row.weight1 * lower
        }
      }
    }
  }

  // MARK: - Coordinate mapping

  /// `1 / scale_factor` when one was given, else `in / out` (PyTorch's `compute_scales_value`).
  private static func sourceScale(input: Int, output: Int, scale: Double?) -> Float {
    if let scale, scale > 0 { return Float(1 / scale) }
    return Float(input) / Float(output)
  }

  private static func nearestSource(_ index: Int, input: Int, output: Int, scale: Double?, exact: Bool) -> Int {
    if !exact {
      // PyTorch's shortcuts, exact where the float formula could round the wrong way.
      if output == input { return index }
      if output == 2 * input { return index >> 1 }
    }
    let factor = sourceScale(input: input, output: output, scale: scale)
    let position = exact ? (Float(index) + 0.5) * factor : Float(index) * factor
    return min(Int(position.rounded(.down)), input - 1)
  }

  /// The first neighbour, the distance to the second (0 or 1), and the two weights.
  private static func linearTaps(
    _ index: Int, input: Int, output: Int, scale: Double?, alignCorners: Bool
  ) -> (index: Int, offset: Int, weight0: Float, weight1: Float) {
    let source: Float
    if alignCorners {
      let factor = output > 1 ? Float(input - 1) / Float(output - 1) : 0
      source = factor * Float(index)
    } else {
      let factor = sourceScale(input: input, output: output, scale: scale)
      source = max(0, factor * (Float(index) + 0.5) - 0.5)
    }
    let first = min(Int(source.rounded(.down)), input - 1)
    let weight1 = min(max(source - Float(first), 0), 1)
    return (first, first < input - 1 ? 1 : 0, 1 - weight1, weight1)
  }
}

/// The sizes of one resampling and the scale factors PyTorch hands its kernel.
public struct Upsample2DShape: Sendable, Hashable {
  /// Planes resampled independently (N · C).
  public var planes: Int
  /// Input height (H).
  public var inputHeight: Int
  /// Input width (W).
  public var inputWidth: Int
  /// Output height (OH).
  public var outputHeight: Int
  /// Output width (OW).
  public var outputWidth: Int
  /// The vertical scale factor the caller passed, if any (it changes the coordinate mapping).
  public var scaleHeight: Double?
  /// The horizontal scale factor the caller passed, if any.
  public var scaleWidth: Double?

  /// A resampling shape.
  public init(
    planes: Int, inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int,
    scaleHeight: Double? = nil, scaleWidth: Double? = nil
  ) {
    self.planes = planes
    self.inputHeight = inputHeight
    self.inputWidth = inputWidth
    self.outputHeight = outputHeight
    self.outputWidth = outputWidth
    self.scaleHeight = scaleHeight
    self.scaleWidth = scaleWidth
  }

  /// The shape of `upsample_*2d(input, output_size, scale_factors)`: exactly one of
  /// `outputSize` and `scaleFactors` is given; from scale factors the output size is
  /// `⌊in · scale⌋`.
  ///
  /// - Parameters:
  ///   - input: `[N, C, H, W]` or `[C, H, W]`.
  ///   - outputSize: `[OH, OW]`, or nil.
  ///   - scaleFactors: `[sH, sW]` (or one for both), or nil.
  /// - Throws: `KernelError` for bad ranks or list lengths, both or neither of size and scale,
  ///   or an empty input or output.
  public static func make(
    op: String, input: [Int], outputSize: [Int]?, scaleFactors: [Double]?
  ) throws(KernelError) -> Upsample2DShape {
    let (planes, height, width) = try planarLayout(op, input)
    var shape = Upsample2DShape(
      planes: planes, inputHeight: height, inputWidth: width, outputHeight: 0, outputWidth: 0)
    switch (outputSize, scaleFactors) {
    case (let size?, nil):
      let sizes = try expandParameter(op, "output size", size, rank: 2)
      (shape.outputHeight, shape.outputWidth) = (sizes[0], sizes[1])
    case (nil, let scales?):
      guard scales.count == 1 || scales.count == 2 else {
        throw .shapeMismatch(op: op, message: "expected 1 or 2 scale factors, but got \(scales)")
      }
      let (scaleHeight, scaleWidth) = (scales[0], scales[scales.count - 1])
      (shape.scaleHeight, shape.scaleWidth) = (scaleHeight, scaleWidth)
      shape.outputHeight = OutputSize.upsample(input: height, scale: scaleHeight)
      shape.outputWidth = OutputSize.upsample(input: width, scale: scaleWidth)
    default:
      throw .shapeMismatch(op: op, message: "must specify exactly one of output_size and scale_factors")
    }
    guard height > 0, width > 0, shape.outputHeight > 0, shape.outputWidth > 0 else {
      throw .shapeMismatch(
        op: op,
        message: "input and output sizes should be greater than 0, but got input (H: \(height), W: \(width)) "
          + "output (H: \(shape.outputHeight), W: \(shape.outputWidth))")
    }
    return shape
  }
}
