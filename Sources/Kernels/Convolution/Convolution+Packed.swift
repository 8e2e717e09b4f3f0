/// Convolutions on the packed GEMM: pointwise (1×1) convolutions, every other convolution by
/// im2col, and transposed convolutions by GEMM + col2im (the math and NCHW layout are
/// `ConvolutionKernels`'s).
///
/// Per image and group g, a convolution is the matrix product
///
///     out[g] (Cout/g × OH·OW) = W[g] (Cout/g × Cin/g·kH·kW) · X[g] (Cin/g·kH·kW × OH·OW)
///
/// where row (ci, ky, kx) and column (oy, ox) of X, the im2col matrix, is the input pixel
/// `in[g·Cin/g + ci, oy·sH − padTop + ky·dH, ox·sW − padLeft + kx·dW]` (zero outside the image).
/// A 1×1 convolution with stride 1 and no padding has X = the input planes `[Cin/g, H·W]` as
/// they lie in memory. `conv2d` never builds X: the packed GEMM asks for one row segment at a
/// time and `Im2colRows` produces it straight from the image into the GEMM's panel buffer;
/// `im2col` materializes X for callers that want it.
///
/// Weights are packed once (`PackedWeights(convolution:…)` or `(transposedConvolution:…)`),
/// scratch comes from the caller (`…ScratchCount`), and work is split by output channel and
/// pixel ranges, which compose exactly.
extension ConvolutionKernels {
  /// True when the convolution reads its input as a plain matrix: 1×1 kernel, stride 1, no
  /// padding (dilation is then irrelevant).
  public static func isPointwise(_ shape: Conv2DShape) -> Bool {
    shape.kernelHeight == 1 && shape.kernelWidth == 1 && shape.strideHeight == 1 && shape.strideWidth == 1
      && shape.paddingTop == 0 && shape.paddingLeft == 0 && shape.paddingBottom == 0 && shape.paddingRight == 0
  }

  /// True when a 1×1 convolution runs best on the transposed-tile GEMM (Note [Transposed
  /// tiles]): one group, depth at least 256 and at least twice the output channels, and an
  /// output plane of 100 to 800 pixels (a projection to few channels on a 10×10 to 28×28 plane).
  public static func prefersTransposedTiles(_ shape: Conv2DShape) -> Bool {
    let plane = shape.outputHeight * shape.outputWidth
    return isPointwise(shape) && shape.groups == 1 && shape.inputChannels >= 256
      && shape.outputChannels * 2 <= shape.inputChannels && (100...800).contains(plane)
  }

  /// Floats of scratch `conv2d` needs.
  public static func conv2dScratchCount(_ shape: Conv2DShape) -> Int {
    GEMMKernels.packedGEMMScratchCount(depth: shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth)
  }

  /// 2-D convolution with packed weights, fused bias and clamp, over a share of the output.
  ///
  /// Computes `out[n, oc, p]` for every image n, oc ∈ `outputChannels` and flat output pixel
  /// p = oy·OW + ox ∈ `pixels`; nothing else of `output` is touched. A pointwise shape
  /// (`isPointwise`) multiplies the input planes directly; any other shape (stride, padding,
  /// dilation, groups) runs implicit im2col.
  ///
  /// - Parameters:
  ///   - shape: a validated shape.
  ///   - input: `shape.inputShape` floats.
  ///   - weights: `PackedWeights(convolution: shape, …)` (its bias is the conv bias).
  ///   - output: `shape.outputShape` floats.
  ///   - clamp: applied after the bias.
  ///   - outputChannels: a range of `0..<Cout` (may span groups); nil for all.
  ///   - pixels: a range of `0..<OH·OW`; nil for all.
  ///   - scratch: `conv2dScratchCount(shape)` floats.
  public static func conv2d(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: PackedWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, outputChannels: Range<Int>? = nil, pixels: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>
  ) {
    conv2d(
      shape, input: input, weights: weights, output: output, clamp: clamp, outputChannels: outputChannels,
      pixels: pixels, scratch: scratch, tiling: .standard)
  }

  static func conv2d(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weights: PackedWeights, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, outputChannels: Range<Int>?, pixels: Range<Int>?, scratch: UnsafeMutablePointer<Float>,
    tiling: GEMMTiling
  ) {
    let outputPlane = shape.outputHeight * shape.outputWidth
    let inputPlane = shape.inputHeight * shape.inputWidth
    let channels = outputChannels ?? 0..<shape.outputChannels
    let pixels = pixels ?? 0..<outputPlane
    let (inputsPerGroup, outputsPerGroup) = (shape.inputChannelsPerGroup, shape.outputChannelsPerGroup)
    precondition(outputPlane > 0, "conv2d shape was not validated")
    precondition(
      weights.groups == shape.groups && weights.rows == outputsPerGroup
        && weights.depth == inputsPerGroup * shape.kernelHeight * shape.kernelWidth,
      "packed weights do not match the convolution shape")
    precondition(channels.lowerBound >= 0 && channels.upperBound <= shape.outputChannels, "output channels out of range")
    precondition(pixels.lowerBound >= 0 && pixels.upperBound <= outputPlane, "output pixels out of range")
    if channels.isEmpty || pixels.isEmpty { return }
    let pointwise = isPointwise(shape)
    if pointwise && outputPlane == 1 && shape.groups == 1 {
      // One pixel (squeeze-and-excitation's 1×1 convolutions): a matrix-vector product per
      // image, which reads each weight once (it is memory bound) instead of a 16-column tile
      // with one useful column.
      for image in 0..<shape.batch {
        GEMMKernels.packedGEMV(
          weights: weights, x: input + image * shape.inputChannels, y: output + image * shape.outputChannels,
          clamp: clamp, rows: channels)
      }
      return
    }
    for image in 0..<shape.batch {
      for group in channels.lowerBound / outputsPerGroup...(channels.upperBound - 1) / outputsPerGroup {
        let groupInput = input + (image * shape.inputChannels + group * inputsPerGroup) * inputPlane
        let first = group * outputsPerGroup
        let rows = max(channels.lowerBound, first) - first..<min(channels.upperBound, first + outputsPerGroup) - first
        let c = output + (image * shape.outputChannels + first + rows.lowerBound) * outputPlane + pixels.lowerBound
        if pointwise {
          GEMMKernels.runPackedGEMM(
            weights: weights, group: group, source: MatrixRows(b: groupInput, rowStride: inputPlane, columnStride: 1),
            c: c, cRowStride: outputPlane, cColumnStride: 1, clamp: clamp, rows: rows, columns: pixels,
            scratch: scratch, tiling: tiling)
        } else {
          GEMMKernels.runPackedGEMM(
            weights: weights, group: group, source: Im2colRows(shape, groupInput: groupInput), c: c,
            cRowStride: outputPlane, cColumnStride: 1, clamp: clamp, rows: rows, columns: pixels, scratch: scratch,
            tiling: tiling)
        }
      }
    }
  }

  /// Floats `im2col` writes: `Cin/groups · kH · kW · OH · OW`.
  public static func im2colCount(_ shape: Conv2DShape) -> Int {
    shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth * shape.outputHeight * shape.outputWidth
  }

  /// The im2col matrix X of one image and group (see the top of this file): `[Cin/groups · kH ·
  /// kW, OH · OW]`, row-major, zero where a tap falls in the padding.
  ///
  /// `packedGEMM(weights: PackedWeights(convolution:…), group: g, b: columns, bRowStride:
  /// OH·OW, …)` then computes that image's group g output. `conv2d` does the same without the
  /// `im2colCount` floats of memory traffic.
  ///
  /// - Parameters:
  ///   - input: one image, `[Cin, H, W]` floats.
  ///   - columns: `im2colCount(shape)` floats; overwritten.
  ///   - group: the group whose input channels are read.
  public static func im2col(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, group: Int = 0
  ) {
    precondition((0..<shape.groups).contains(group), "im2col group out of range")
    let source = Im2colRows(
      shape, groupInput: input + group * shape.inputChannelsPerGroup * shape.inputHeight * shape.inputWidth)
    let depth = shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth
    let plane = shape.outputHeight * shape.outputWidth
    for k in 0..<depth {
      let row = columns + k * plane
      let produced = source.row(k, columns: 0..<plane, buffer: row)
      if produced != UnsafePointer(row) { row.update(from: produced, count: plane) }
    }
  }
}

/// Row segments of the im2col matrix of one image and group, produced from the image on demand.
struct Im2colRows: PackedGEMMSource {
  let input: UnsafePointer<Float>
  let height: Int, width: Int, outputWidth: Int
  let kernelHeight: Int, kernelWidth: Int
  let strideHeight: Int, strideWidth: Int
  let dilationHeight: Int, dilationWidth: Int
  let paddingTop: Int, paddingLeft: Int

  /// - Parameter groupInput: the group's first input channel of the image.
  init(_ shape: Conv2DShape, groupInput: UnsafePointer<Float>) {
    input = groupInput
    (height, width, outputWidth) = (shape.inputHeight, shape.inputWidth, shape.outputWidth)
    (kernelHeight, kernelWidth) = (shape.kernelHeight, shape.kernelWidth)
    (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    (dilationHeight, dilationWidth) = (shape.dilationHeight, shape.dilationWidth)
    (paddingTop, paddingLeft) = (shape.paddingTop, shape.paddingLeft)
  }

  /// Walks the columns one output row at a time: a row of X restricted to one output row is the
  /// input row `iy` read at `ox·sW + offset`, zero where that leaves the image; the stride-1 runs
  /// are block copies.
  func row(_ k: Int, columns: Range<Int>, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    let taps = kernelHeight * kernelWidth
    let channel = k / taps
    let ky = (k - channel * taps) / kernelWidth
    let kx = k - channel * taps - ky * kernelWidth
    let plane = input + channel * height * width
    let offset = kx * dilationWidth - paddingLeft
    let inside = indices(count: outputWidth, stride: strideWidth, offset: offset, landingIn: width)
    var (outputRow, outputColumn) = columns.lowerBound.quotientAndRemainder(dividingBy: outputWidth)
    var target = buffer
    var remaining = columns.count
    while remaining > 0 {
      let run = min(outputWidth - outputColumn, remaining)
      let end = outputColumn + run
      let inputRow = outputRow * strideHeight - paddingTop + ky * dilationHeight
      if inputRow < 0 || inputRow >= height || inside.isEmpty {
        zeroFloats(target, count: run)
      } else {
        let copyStart = min(max(outputColumn, inside.lowerBound), end)
        let copyEnd = max(min(end, inside.upperBound), copyStart)
        // Input column of output column `copyStart`; every copied column lies in the image.
        let sourceColumn = copyStart * strideWidth + offset
        let source = plane + inputRow * width + sourceColumn
        zeroFloats(target, count: copyStart - outputColumn)
        let copied = target + (copyStart - outputColumn)
        let count = copyEnd - copyStart
        if strideWidth == 1 {
          copyFloats(source, to: copied, count: count)
        } else if strideWidth == 2 {
          // Sixteen input columns give eight outputs (their even lanes), as long as all sixteen
          // lie in this input row.
          let readable = width - sourceColumn
          var index = 0
          while index + 8 <= count && 2 * index + 16 <= readable {
            let pair = SIMD16(lowHalf: load8(source + 2 * index), highHalf: load8(source + 2 * index + 8))
            store8(pair.evenHalf, copied + index)
            index += 8
          }
          while index < count {
            copied[index] = source[2 * index]
            index += 1
          }
        } else {
          for index in 0..<count { copied[index] = source[index * strideWidth] }
        }
        zeroFloats(copied + count, count: end - copyEnd)
      }
      target += run
      remaining -= run
      outputColumn = 0
      outputRow += 1
    }
    return UnsafePointer(buffer)
  }
}

/// Copies `count` floats with vector moves (the runs here are a row of an image or less, where a
/// call to memmove costs more than the copy).
@inline(__always)
private func copyFloats(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
  var index = 0
  while index + 8 <= count {
    store8(load8(source + index), target + index)
    index += 8
  }
  while index < count {
    target[index] = source[index]
    index += 1
  }
}

/// Writes `count` zeros (a padding run: usually a few floats).
@inline(__always)
private func zeroFloats(_ target: UnsafeMutablePointer<Float>, count: Int) {
  var index = 0
  while index + 8 <= count {
    store8(SIMD8(), target + index)
    index += 8
  }
  while index < count {
    target[index] = 0
    index += 1
  }
}

// MARK: - Transposed convolution

extension ConvolutionKernels {
  /// Input pixels per GEMM + col2im step of `convTranspose2d`.
  static let transposedPixelBlock = 256

  /// Output channels per GEMM + col2im step: about 256 GEMM rows, at least one channel.
  static func transposedChannelChunk(_ shape: ConvTranspose2DShape) -> Int {
    max(1, 256 / (shape.kernelHeight * shape.kernelWidth))
  }

  /// Floats of scratch `convTranspose2d` needs.
  public static func convTranspose2dScratchCount(_ shape: ConvTranspose2DShape) -> Int {
    let rows = transposedChannelChunk(shape) * shape.kernelHeight * shape.kernelWidth
    return GEMMKernels.packedGEMMScratchCount(depth: shape.inputChannelsPerGroup) + rows * transposedPixelBlock
  }

  /// 2-D transposed convolution with packed weights, bias and clamp, over a range of output
  /// channels (the math is `ConvolutionKernels`'s).
  ///
  /// For a chunk of output channels and a block of input pixels, the packed GEMM computes every
  /// (channel, tap) row of `Wᵀ · X` for those pixels (`PackedWeights(transposedConvolution:)`),
  /// and col2im adds each value to the output pixel its tap reaches. The output channels start
  /// from the bias and are clamped once all input pixels have been added.
  ///
  /// - Parameters:
  ///   - shape: a validated shape.
  ///   - input: `shape.inputShape` floats.
  ///   - weights: `PackedWeights(transposedConvolution: shape, …)`.
  ///   - bias: `Cout` floats or nil.
  ///   - output: `shape.outputShape` floats; the channels in `outputChannels` are overwritten.
  ///   - outputChannels: a range of `0..<Cout`; nil for all.
  ///   - scratch: `convTranspose2dScratchCount(shape)` floats.
  public static func convTranspose2d(
    _ shape: ConvTranspose2DShape, input: UnsafePointer<Float>, weights: PackedWeights, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp = .none, outputChannels: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let taps = shape.kernelHeight * shape.kernelWidth
    let (inputsPerGroup, outputsPerGroup) = (shape.inputChannelsPerGroup, shape.outputChannelsPerGroup)
    let inputPlane = shape.inputHeight * shape.inputWidth
    let outputPlane = shape.outputHeight * shape.outputWidth
    let channels = outputChannels ?? 0..<shape.outputChannels
    precondition(outputPlane > 0, "conv_transpose2d shape was not validated")
    precondition(
      weights.groups == shape.groups && weights.rows == outputsPerGroup * taps && weights.depth == inputsPerGroup,
      "packed weights do not match the transposed convolution shape")
    precondition(channels.lowerBound >= 0 && channels.upperBound <= shape.outputChannels, "output channels out of range")
    let chunk = transposedChannelChunk(shape)
    let columns = scratch + GEMMKernels.packedGEMMScratchCount(depth: inputsPerGroup)
    for image in 0..<shape.batch {
      var channel = channels.lowerBound
      while channel < channels.upperBound {
        let group = channel / outputsPerGroup
        let chunkEnd = min(min(channel + chunk, channels.upperBound), (group + 1) * outputsPerGroup)
        let outputImage = output + image * shape.outputChannels * outputPlane
        for index in channel..<chunkEnd {
          (outputImage + index * outputPlane).update(repeating: bias?[index] ?? 0, count: outputPlane)
        }
        let groupInput = input + (image * shape.inputChannels + group * inputsPerGroup) * inputPlane
        let rows = (channel - group * outputsPerGroup) * taps..<(chunkEnd - group * outputsPerGroup) * taps
        for pixel in stride(from: 0, to: inputPlane, by: transposedPixelBlock) {
          let blockWidth = min(transposedPixelBlock, inputPlane - pixel)
          GEMMKernels.runPackedGEMM(
            weights: weights, group: group,
            source: MatrixRows(b: groupInput + pixel, rowStride: inputPlane, columnStride: 1),
            c: columns, cRowStride: blockWidth, cColumnStride: 1, clamp: .none, rows: rows, columns: 0..<blockWidth,
            scratch: scratch, tiling: .standard)
          scatterColumns(
            shape, columns: columns, blockWidth: blockWidth, pixels: pixel..<pixel + blockWidth,
            outputChannels: channel..<chunkEnd, output: outputImage)
        }
        clamp.apply(outputImage + channel * outputPlane, count: (chunkEnd - channel) * outputPlane)
        channel = chunkEnd
      }
    }
  }

  /// col2im: adds row (c, ky, kx) of `columns` (for input pixels `pixels`) to output channel c
  /// at `oy = iy·sH − pH + ky·dH`, `ox = ix·sW − pW + kx·dW`, dropping what lands outside.
  private static func scatterColumns(
    _ shape: ConvTranspose2DShape, columns: UnsafePointer<Float>, blockWidth: Int, pixels: Range<Int>,
    outputChannels: Range<Int>, output: UnsafeMutablePointer<Float>
  ) {
    let (width, outputHeight, outputWidth) = (shape.inputWidth, shape.outputHeight, shape.outputWidth)
    let strideWidth = shape.strideWidth
    for (channelIndex, channel) in outputChannels.enumerated() {
      let plane = output + channel * outputHeight * outputWidth
      for ky in 0..<shape.kernelHeight {
        for kx in 0..<shape.kernelWidth {
          let source = columns + ((channelIndex * shape.kernelHeight + ky) * shape.kernelWidth + kx) * blockWidth
          let offset = kx * shape.dilationWidth - shape.paddingWidth
          let inside = indices(count: width, stride: strideWidth, offset: offset, landingIn: outputWidth)
          var (inputRow, inputColumn) = pixels.lowerBound.quotientAndRemainder(dividingBy: width)
          var position = 0
          while position < blockWidth {
            let run = min(width - inputColumn, blockWidth - position)
            let outputRow = inputRow * shape.strideHeight - shape.paddingHeight + ky * shape.dilationHeight
            if outputRow >= 0 && outputRow < outputHeight {
              let lower = max(inputColumn, inside.lowerBound)
              let upper = min(inputColumn + run, inside.upperBound)
              if lower < upper {
                // Output column of input column `lower`, and that column's value.
                let target = plane + outputRow * outputWidth + (lower * strideWidth + offset)
                let from = source + position + (lower - inputColumn)
                if strideWidth == 1 {
                  for index in 0..<upper - lower { target[index] += from[index] }
                } else {
                  for index in 0..<upper - lower { target[index &* strideWidth] += from[index] }
                }
              }
            }
            position += run
            inputColumn = 0
            inputRow += 1
          }
        }
      }
    }
  }
}
