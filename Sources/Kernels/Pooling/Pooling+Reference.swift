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
    precondition(shape.outputHeight > 0 && shape.outputWidth > 0, "max_pool2d shape was not validated")
    let rows = (0..<shape.outputHeight).map { outputRow in
      WindowTaps(
        start: outputRow * shape.strideHeight - shape.paddingHeight, kernel: shape.kernelHeight,
        dilation: shape.dilationHeight, size: shape.inputHeight)
    }
    let columns = (0..<shape.outputWidth).map { outputColumn in
      WindowTaps(
        start: outputColumn * shape.strideWidth - shape.paddingWidth, kernel: shape.kernelWidth,
        dilation: shape.dilationWidth, size: shape.inputWidth)
    }
    maximize(
      planes: shape.planes, input: input, height: shape.inputHeight, width: shape.inputWidth, rows: rows,
      columns: columns, output: output, indices: indices)
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
    precondition(shape.outputHeight > 0 && shape.outputWidth > 0, "avg_pool2d shape was not validated")
    let rows = (0..<shape.outputHeight).map { outputRow in
      AverageWindow(
        start: outputRow * shape.strideHeight - shape.paddingHeight, kernel: shape.kernelHeight,
        padding: shape.paddingHeight, size: shape.inputHeight, countIncludePad: countIncludePad)
    }
    let columns = (0..<shape.outputWidth).map { outputColumn in
      AverageWindow(
        start: outputColumn * shape.strideWidth - shape.paddingWidth, kernel: shape.kernelWidth,
        padding: shape.paddingWidth, size: shape.inputWidth, countIncludePad: countIncludePad)
    }
    average(
      planes: shape.planes, input: input, height: shape.inputHeight, width: shape.inputWidth, rows: rows,
      columns: columns, output: output, divisorOverride: divisorOverride)
  }

  /// `adaptive_avg_pool2d`: the mean of each adaptive window.
  ///
  /// - Parameters:
  ///   - input: `[planes, H, W]` floats.
  ///   - output: `[planes, OH, OW]` floats.
  public static func adaptiveAvgPool2dReference(
    _ shape: AdaptivePool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
  ) {
    let rows = (0..<shape.outputHeight).map {
      AverageWindow(OutputSize.adaptiveWindow(index: $0, input: shape.inputHeight, output: shape.outputHeight))
    }
    let columns = (0..<shape.outputWidth).map {
      AverageWindow(OutputSize.adaptiveWindow(index: $0, input: shape.inputWidth, output: shape.outputWidth))
    }
    average(
      planes: shape.planes, input: input, height: shape.inputHeight, width: shape.inputWidth, rows: rows,
      columns: columns, output: output, divisorOverride: nil)
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
    let rows = (0..<shape.outputHeight).map {
      WindowTaps(OutputSize.adaptiveWindow(index: $0, input: shape.inputHeight, output: shape.outputHeight))
    }
    let columns = (0..<shape.outputWidth).map {
      WindowTaps(OutputSize.adaptiveWindow(index: $0, input: shape.inputWidth, output: shape.outputWidth))
    }
    maximize(
      planes: shape.planes, input: input, height: shape.inputHeight, width: shape.inputWidth, rows: rows,
      columns: columns, output: output, indices: indices)
  }

  // MARK: - Windows and the loops over them

  /// The `count` input positions `first, first + step, …` of one max-pooling window axis.
  struct WindowTaps {
    var first: Int
    var step: Int
    var count: Int

    /// Every position of `range`.
    init(_ range: Range<Int>) {
      (first, step, count) = (range.lowerBound, 1, range.count)
    }

    /// The taps `start + k·dilation` (k < kernel) that fall inside `0..<size`. `first` is the
    /// first non-negative tap even when no tap is inside (PyTorch's index for such windows).
    init(start: Int, kernel: Int, dilation: Int, size: Int) {
      let inside = indices(count: kernel, stride: dilation, offset: start, landingIn: size)
      (first, step, count) = (start + inside.lowerBound * dilation, dilation, inside.count)
    }
  }

  /// One axis of an average-pooling window: the input positions it sums and how many positions
  /// its divisor counts.
  struct AverageWindow {
    var inside: Range<Int>
    var counted: Int

    /// Every position of `range`, each counted once.
    init(_ range: Range<Int>) {
      (inside, counted) = (range, range.count)
    }

    /// The window `start..<start + kernel` on an input of `size` padded by `padding`. With
    /// `countIncludePad` the divisor counts padding too, but only up to the padded input's end,
    /// as PyTorch does (a ceil-mode window may reach beyond it).
    init(start: Int, kernel: Int, padding: Int, size: Int, countIncludePad: Bool) {
      let end = min(start + kernel, size + padding)
      let lower = max(start, 0)
      inside = lower..<max(lower, min(end, size))
      counted = countIncludePad ? end - start : inside.count
    }
  }

  /// Writes each window's largest element and its flat index, with PyTorch's NaN and tie rules
  /// (see `PoolingKernels`).
  private static func maximize(
    planes: Int, input: UnsafePointer<Float>, height: Int, width: Int, rows: [WindowTaps], columns: [WindowTaps],
    output: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int64>?
  ) {
    var target = 0
    for plane in 0..<planes {
      let source = input + plane * height * width
      for rowWindow in rows {
        for columnWindow in columns {
          var best = -Float.infinity
          var bestIndex = rowWindow.first * width + columnWindow.first
          for rowTap in 0..<rowWindow.count {
            let row = rowWindow.first + rowTap * rowWindow.step
            for columnTap in 0..<columnWindow.count {
              let index = row * width + columnWindow.first + columnTap * columnWindow.step
              let value = source[index]
              if value > best || value.isNaN {
                best = value
                bestIndex = index
              }
            }
          }
          output[target] = best
          indices?[target] = Int64(bestIndex)
          target += 1
        }
      }
    }
  }

  /// Writes each window's sum divided by `divisorOverride` or the counted window size; a window
  /// with no input element gives 0.
  private static func average(
    planes: Int, input: UnsafePointer<Float>, height: Int, width: Int, rows: [AverageWindow],
    columns: [AverageWindow], output: UnsafeMutablePointer<Float>, divisorOverride: Int?
  ) {
    var target = 0
    for plane in 0..<planes {
      let source = input + plane * height * width
      for rowWindow in rows {
        for columnWindow in columns {
          var sum: Float = 0
          for row in rowWindow.inside {
            for column in columnWindow.inside { sum += source[row * width + column] }
          }
          let divisor = divisorOverride ?? rowWindow.counted * columnWindow.counted
          output[target] = rowWindow.inside.isEmpty || columnWindow.inside.isEmpty ? 0 : sum / Float(divisor)
          target += 1
        }
      }
    }
  }
}
