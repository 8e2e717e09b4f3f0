extension PoolingKernels {
  /// `max_pool2d`, optionally with the argmax indices (`max_pool2d_with_indices`).
  ///
  /// - Parameters:
  ///   - shape: a validated shape.
  ///   - input: `[planes, H, W]` floats.
  ///   - output: `[planes, OH, OW]` floats.
  ///   - indices: `[planes, OH, OW]` int64 flat indices into each input plane, or nil.
  public static func maxPool2dReference(
    _ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    indices: UnsafeMutablePointer<Int64>? = nil
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    precondition(outputHeight > 0 && outputWidth > 0, "max_pool2d shape was not validated")
    // Window taps inside the input, per output row and per output column.
    let rowTaps = (0..<outputHeight).map { outputRow in
      WindowTaps(
        start: outputRow * shape.strideHeight - shape.paddingHeight, kernel: shape.kernelHeight,
        dilation: shape.dilationHeight, size: height)
    }
    let columnTaps = (0..<outputWidth).map { outputColumn in
      WindowTaps(
        start: outputColumn * shape.strideWidth - shape.paddingWidth, kernel: shape.kernelWidth,
        dilation: shape.dilationWidth, size: width)
    }
    for plane in 0..<shape.planes {
      let source = input + plane * height * width
      let target = plane * outputHeight * outputWidth
      for outputRow in 0..<outputHeight {
        for outputColumn in 0..<outputWidth {
          let (value, index) = windowMaximum(source, width: width, rows: rowTaps[outputRow], columns: columnTaps[outputColumn])
          output[target + outputRow * outputWidth + outputColumn] = value
          indices?[target + outputRow * outputWidth + outputColumn] = Int64(index)
        }
      }
    }
  }

  /// `avg_pool2d(input, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)`.
  ///
  /// - Parameters:
  ///   - shape: a validated shape with dilation 1.
  ///   - input: `[planes, H, W]` floats.
  ///   - output: `[planes, OH, OW]` floats.
  ///   - countIncludePad: divide by the window size including padding (PyTorch's default).
  ///   - divisorOverride: a non-zero divisor replacing the window size, or nil.
  public static func avgPool2dReference(
    _ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    countIncludePad: Bool = true, divisorOverride: Int? = nil
  ) {
    precondition(shape.dilationHeight == 1 && shape.dilationWidth == 1, "avg_pool2d has no dilation")
    precondition(divisorOverride != 0, "avg_pool2d divisor must be non-zero")
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    precondition(outputHeight > 0 && outputWidth > 0, "avg_pool2d shape was not validated")
    let rowWindows = (0..<outputHeight).map { outputRow in
      averageWindow(
        start: outputRow * shape.strideHeight - shape.paddingHeight, kernel: shape.kernelHeight,
        padding: shape.paddingHeight, size: height)
    }
    let columnWindows = (0..<outputWidth).map { outputColumn in
      averageWindow(
        start: outputColumn * shape.strideWidth - shape.paddingWidth, kernel: shape.kernelWidth,
        padding: shape.paddingWidth, size: width)
    }
    for plane in 0..<shape.planes {
      let source = input + plane * height * width
      let target = output + plane * outputHeight * outputWidth
      for outputRow in 0..<outputHeight {
        let rows = rowWindows[outputRow]
        for outputColumn in 0..<outputWidth {
          let columns = columnWindows[outputColumn]
          var sum: Float = 0
          for row in rows.inside {
            for column in columns.inside { sum += source[row * width + column] }
          }
          let divisor =
            divisorOverride
            ?? (countIncludePad ? rows.paddedCount * columns.paddedCount : rows.inside.count * columns.inside.count)
          target[outputRow * outputWidth + outputColumn] = rows.inside.isEmpty || columns.inside.isEmpty ? 0 : sum / Float(divisor)
        }
      }
    }
  }

  /// `adaptive_avg_pool2d`: the mean of each adaptive window.
  ///
  /// - Parameters:
  ///   - input: `[planes, H, W]` floats.
  ///   - output: `[planes, OH, OW]` floats.
  public static func adaptiveAvgPool2dReference(
    _ shape: AdaptivePool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let rowWindows = (0..<outputHeight).map { OutputSize.adaptiveWindow(index: $0, input: height, output: outputHeight) }
    let columnWindows = (0..<outputWidth).map { OutputSize.adaptiveWindow(index: $0, input: width, output: outputWidth) }
    for plane in 0..<shape.planes {
      let source = input + plane * height * width
      let target = output + plane * outputHeight * outputWidth
      for outputRow in 0..<outputHeight {
        let rows = rowWindows[outputRow]
        for outputColumn in 0..<outputWidth {
          let columns = columnWindows[outputColumn]
          var sum: Float = 0
          for row in rows {
            for column in columns { sum += source[row * width + column] }
          }
          target[outputRow * outputWidth + outputColumn] = sum / Float(rows.count * columns.count)
        }
      }
    }
  }

  /// `adaptive_max_pool2d`: the maximum of each adaptive window and its index.
  ///
  /// - Parameters:
  ///   - input: `[planes, H, W]` floats.
  ///   - output: `[planes, OH, OW]` floats.
  ///   - indices: `[planes, OH, OW]` int64 flat indices into each input plane, or nil.
  public static func adaptiveMaxPool2dReference(
    _ shape: AdaptivePool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    indices: UnsafeMutablePointer<Int64>? = nil
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let rowWindows = (0..<outputHeight).map {
      WindowTaps(range: OutputSize.adaptiveWindow(index: $0, input: height, output: outputHeight))
    }
    let columnWindows = (0..<outputWidth).map {
      WindowTaps(range: OutputSize.adaptiveWindow(index: $0, input: width, output: outputWidth))
    }
    for plane in 0..<shape.planes {
      let source = input + plane * height * width
      let target = plane * outputHeight * outputWidth
      for outputRow in 0..<outputHeight {
        for outputColumn in 0..<outputWidth {
          let (value, index) = windowMaximum(source, width: width, rows: rowWindows[outputRow], columns: columnWindows[outputColumn])
          output[target + outputRow * outputWidth + outputColumn] = value
          indices?[target + outputRow * outputWidth + outputColumn] = Int64(index)
        }
      }
    }
  }

  // MARK: - Windows

  /// The `count` input positions `first, first + step, …` of one window axis.
  struct WindowTaps {
    var first: Int
    var step: Int
    var count: Int

    /// Every position of `range`.
    init(range: Range<Int>) {
      (first, step, count) = (range.lowerBound, 1, range.count)
    }

    /// The taps `start + k·dilation` (k < kernel) that fall inside `0..<size`.
    init(start: Int, kernel: Int, dilation: Int, size: Int) {
      let inside = indices(count: kernel, stride: dilation, offset: start, landingIn: size)
      (first, step, count) = (start + inside.lowerBound * dilation, dilation, inside.count)
    }
  }

  /// One axis of an average-pooling window: the input positions it covers and how many
  /// positions it counts with padding (clipped to the padded input, as PyTorch does).
  static func averageWindow(start: Int, kernel: Int, padding: Int, size: Int) -> (inside: Range<Int>, paddedCount: Int) {
    let end = min(start + kernel, size + padding)
    let inside = max(start, 0)..<max(max(start, 0), min(end, size))
    return (inside, end - start)
  }

  /// The largest element of a window and its flat index, with PyTorch's NaN and tie rules (see
  /// `PoolingKernels`).
  @inline(__always)
  static func windowMaximum(
    _ plane: UnsafePointer<Float>, width: Int, rows: WindowTaps, columns: WindowTaps
  ) -> (Float, Int) {
    var best = -Float.infinity
    var bestIndex = rows.first * width + columns.first
    for rowTap in 0..<rows.count {
      let row = rows.first + rowTap * rows.step
      for columnTap in 0..<columns.count {
        let index = row * width + columns.first + columnTap * columns.step
        let value = plane[index]
        if value > best || value.isNaN {
          best = value
          bestIndex = index
        }
      }
    }
    return (best, bestIndex)
  }
}
