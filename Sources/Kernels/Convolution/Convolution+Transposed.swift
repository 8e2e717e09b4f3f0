extension ConvolutionKernels {
  /// 2-D transposed convolution (`conv_transpose2d`) of NCHW float32 buffers, with bias and a
  /// fused output clamp.
  ///
  /// Each input row scatters into the output rows its kernel rows reach: for every input
  /// element, weight tap and output position `iy·s − p + k·d` inside the output. The innermost
  /// loop runs along an input row and writes every `strideWidth`-th output column. See
  /// `ConvolutionKernels` for the math and layout.
  ///
  /// - Parameters:
  ///   - shape: a validated shape.
  ///   - input: `shape.inputShape` floats.
  ///   - weight: `shape.weightShape` floats, `[Cin, Cout/groups, kH, kW]`.
  ///   - bias: `outputChannels` floats, or nil.
  ///   - output: `shape.outputShape` floats; overwritten.
  ///   - clamp: bounds applied after the bias.
  public static func convTranspose2dReference(
    _ shape: ConvTranspose2DShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp = .none
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    precondition(outputHeight > 0 && outputWidth > 0, "conv_transpose2d shape was not validated")
    let (kernelHeight, kernelWidth) = (shape.kernelHeight, shape.kernelWidth)
    let strideWidth = shape.strideWidth
    let inputsPerGroup = shape.inputChannelsPerGroup
    let outputsPerGroup = shape.outputChannelsPerGroup
    let outputPlaneSize = outputHeight * outputWidth
    // Output column of input column 0 for each kernel column, and the input columns that land
    // inside the output.
    let columnOffsets = (0..<kernelWidth).map { $0 * shape.dilationWidth - shape.paddingWidth }
    let columnRanges = columnOffsets.map { offset in
      indices(count: width, stride: strideWidth, offset: offset, landingIn: outputWidth)
    }
    for image in 0..<shape.batch {
      let outputImage = output + image * shape.outputChannels * outputPlaneSize
      for channel in 0..<shape.outputChannels {
        (outputImage + channel * outputPlaneSize).update(repeating: bias?[channel] ?? 0, count: outputPlaneSize)
      }
      for inputChannel in 0..<shape.inputChannels {
        let group = inputChannel / inputsPerGroup
        let inputPlane = input + (image * shape.inputChannels + inputChannel) * height * width
        for outputInGroup in 0..<outputsPerGroup {
          let outputPlane = outputImage + (group * outputsPerGroup + outputInGroup) * outputPlaneSize
          let taps = weight + (inputChannel * outputsPerGroup + outputInGroup) * kernelHeight * kernelWidth
          for inputRow in 0..<height {
            let inputLine = inputPlane + inputRow * width
            for kernelRow in 0..<kernelHeight {
              let outputRow = inputRow * shape.strideHeight - shape.paddingHeight + kernelRow * shape.dilationHeight
              if outputRow < 0 || outputRow >= outputHeight { continue }
              let outputLine = outputPlane + outputRow * outputWidth
              for kernelColumn in 0..<kernelWidth {
                let tap = taps[kernelRow * kernelWidth + kernelColumn]
                let target = outputLine + columnOffsets[kernelColumn]
                for column in columnRanges[kernelColumn] { target[column &* strideWidth] += tap * inputLine[column] }
              }
            }
          }
        }
      }
      clamp.apply(outputImage, count: shape.outputChannels * outputPlaneSize)
    }
  }
}
