extension ConvolutionKernels {
  /// 2-D convolution of NCHW float32 buffers, with bias and a fused output clamp.
  ///
  /// See `ConvolutionKernels` for the math and the layout contract. A 1×1 convolution with
  /// stride 1 and no padding is a matrix product per image and group and runs through
  /// `GEMMKernels.gemmReference`; every other shape runs the direct loop nest described in
  /// Note [Direct convolution loop order].
  ///
  /// - Parameters:
  ///   - shape: a validated shape.
  ///   - input: `shape.inputShape` floats.
  ///   - weight: `shape.weightShape` floats.
  ///   - bias: `outputChannels` floats, or nil for no bias.
  ///   - output: `shape.outputShape` floats; overwritten.
  ///   - clamp: bounds applied after the bias (`.none`, `.relu`, `.relu6`, `.hardtanh(a, b)`).
  public static func conv2dReference(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp = .none
  ) {
    precondition(shape.outputHeight > 0 && shape.outputWidth > 0, "conv2d shape was not validated")
    precondition(shape.inputChannels % shape.groups == 0 && shape.outputChannels % shape.groups == 0)
    let outputPlane = shape.outputHeight * shape.outputWidth
    for image in 0..<shape.batch {
      for channel in 0..<shape.outputChannels {
        (output + (image * shape.outputChannels + channel) * outputPlane)
          .update(repeating: bias?[channel] ?? 0, count: outputPlane)
      }
    }
    let isPointwise =
      shape.kernelHeight == 1 && shape.kernelWidth == 1 && shape.strideHeight == 1 && shape.strideWidth == 1
      && shape.paddingTop == 0 && shape.paddingLeft == 0 && shape.paddingBottom == 0 && shape.paddingRight == 0
    if isPointwise {
      accumulatePointwise(shape, input: input, weight: weight, output: output)
    } else {
      accumulateDirect(shape, input: input, weight: weight, output: output)
    }
    clamp.apply(output, count: shape.batch * shape.outputChannels * outputPlane)
  }

  /// out[n, g] += W[g] · in[n, g] with W[g] a (Cout/g)×(Cin/g) matrix and in[n, g] a
  /// (Cin/g)×(H·W) matrix.
  private static func accumulatePointwise(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>
  ) {
    let plane = shape.inputHeight * shape.inputWidth
    let inputsPerGroup = shape.inputChannelsPerGroup
    let outputsPerGroup = shape.outputChannelsPerGroup
    for image in 0..<shape.batch {
      for group in 0..<shape.groups {
        GEMMKernels.gemmReference(
          m: outputsPerGroup, n: plane, k: inputsPerGroup,
          a: weight + group * outputsPerGroup * inputsPerGroup, aRowStride: inputsPerGroup, aColumnStride: 1,
          b: input + (image * shape.inputChannels + group * inputsPerGroup) * plane, bRowStride: plane,
          bColumnStride: 1,
          beta: 1, c: output + (image * shape.outputChannels + group * outputsPerGroup) * plane, cRowStride: plane)
      }
    }
  }

  // Note [Direct convolution loop order]
  // Loops run image → output channel → input channel of its group → output row → kernel row →
  // kernel column → output column. The innermost loop adds one weight times a run of input
  // pixels to a run of one output row: unit stride on the output (and on the input when the
  // stride is 1), so the compiler vectorizes it, and the output row stays in L1 while the kH·kW
  // taps pass over it. Padding never reaches the inner loop: for each kernel column we
  // precompute the output columns whose input column lies inside the image, and kernel rows
  // that fall in the top or bottom padding are skipped.

  /// out += conv(in, weight) by direct loops; see Note [Direct convolution loop order].
  private static func accumulateDirect(
    _ shape: Conv2DShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let (kernelHeight, kernelWidth) = (shape.kernelHeight, shape.kernelWidth)
    let (strideHeight, strideWidth) = (shape.strideHeight, shape.strideWidth)
    let (dilationHeight, dilationWidth) = (shape.dilationHeight, shape.dilationWidth)
    let inputsPerGroup = shape.inputChannelsPerGroup
    let outputsPerGroup = shape.outputChannelsPerGroup
    // Input column of output column 0 for each kernel column, and the output columns whose
    // input column lies inside the image.
    let columnOffsets = (0..<kernelWidth).map { $0 * dilationWidth - shape.paddingLeft }
    let columnRanges = columnOffsets.map { offset in
      indices(count: outputWidth, stride: strideWidth, offset: offset, landingIn: width)
    }
    for image in 0..<shape.batch {
      for outputChannel in 0..<shape.outputChannels {
        let group = outputChannel / outputsPerGroup
        let outputPlane = output + (image * shape.outputChannels + outputChannel) * outputHeight * outputWidth
        for inputInGroup in 0..<inputsPerGroup {
          let inputChannel = group * inputsPerGroup + inputInGroup
          let inputPlane = input + (image * shape.inputChannels + inputChannel) * height * width
          let taps = weight + (outputChannel * inputsPerGroup + inputInGroup) * kernelHeight * kernelWidth
          for outputRow in 0..<outputHeight {
            let outputLine = outputPlane + outputRow * outputWidth
            for kernelRow in 0..<kernelHeight {
              let inputRow = outputRow * strideHeight - shape.paddingTop + kernelRow * dilationHeight
              if inputRow < 0 || inputRow >= height { continue }
              let inputLine = inputPlane + inputRow * width
              for kernelColumn in 0..<kernelWidth {
                let range = columnRanges[kernelColumn]
                if range.isEmpty { continue }
                let tap = taps[kernelRow * kernelWidth + kernelColumn]
                let source = inputLine + columnOffsets[kernelColumn]
                if strideWidth == 1 {
                  for column in range { outputLine[column] += tap * source[column] }
                } else {
                  for column in range { outputLine[column] += tap * source[column &* strideWidth] }
                }
              }
            }
          }
        }
      }
    }
  }
}
