/// Vectorized pooling over a range of planes (the math and `[planes, H, W]` layout are
/// `PoolingKernels`'s): global average pooling, and 3×3 stride-2 max pooling; other max-pool
/// shapes run the reference on the range. Plane ranges compose exactly, so callers split planes
/// across threads. No indices are produced (the runtime asks for the reference when it needs
/// them).
extension PoolingKernels {
  /// Global average pooling: `output[p] = mean(input[p·planeSize ..< (p+1)·planeSize])` for p in
  /// `planes` (`adaptive_avg_pool2d` to 1×1, `mean` over dims [2, 3]).
  ///
  /// Sums in four vector accumulators, so the result differs from a sequential sum by rounding.
  public static func globalAveragePool(
    input: UnsafePointer<Float>, planeSize: Int, output: UnsafeMutablePointer<Float>, planes: Range<Int>
  ) {
    precondition(planeSize > 0, "global average pooling of an empty plane")
    let scale = 1 / Float(planeSize)
    for plane in planes {
      let source = input + plane * planeSize
      var (s0, s1, s2, s3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
      var index = 0
      while index + 32 <= planeSize {
        s0 += load8(source + index)
        s1 += load8(source + index + 8)
        s2 += load8(source + index + 16)
        s3 += load8(source + index + 24)
        index += 32
      }
      while index + 8 <= planeSize {
        s0 += load8(source + index)
        index += 8
      }
      if index < planeSize { s1 += loadPartial8(source + index, count: planeSize - index) }
      output[plane] = ((s0 + s1) + (s2 + s3)).sum() * scale
    }
  }

  /// True when `maxPool2d` has a vector loop for the shape: 3×3 window, stride 2, no dilation,
  /// padding 0 or 1 (either ceil mode).
  public static func vectorizesMaxPool(_ shape: Pool2DShape) -> Bool {
    shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.strideHeight == 2 && shape.strideWidth == 2
      && shape.dilationHeight == 1 && shape.dilationWidth == 1 && shape.paddingHeight <= 1 && shape.paddingWidth <= 1
  }

  /// `max_pool2d` (values only) for the planes in `planes`.
  ///
  /// Same results as `maxPool2dReference`, NaN included (a window holding a NaN gives NaN).
  ///
  /// - Parameters:
  ///   - shape: a validated shape.
  ///   - input: `[shape.planes, H, W]` floats.
  ///   - output: `[shape.planes, OH, OW]` floats; the planes in `planes` are written.
  public static func maxPool2d(
    _ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, planes: Range<Int>
  ) {
    precondition(planes.lowerBound >= 0 && planes.upperBound <= shape.planes, "pooling planes out of range")
    let inputPlane = shape.inputHeight * shape.inputWidth
    let outputPlane = shape.outputHeight * shape.outputWidth
    guard vectorizesMaxPool(shape) else {
      var part = shape
      part.planes = planes.count
      if !planes.isEmpty {
        maxPool2dReference(
          part, input: input + planes.lowerBound * inputPlane, output: output + planes.lowerBound * outputPlane)
      }
      return
    }
    for plane in planes {
      maxPool3x3Stride2(
        shape, input: input + plane * inputPlane, readable: (shape.planes - plane) * inputPlane,
        output: output + plane * outputPlane)
    }
  }

  /// One plane of a 3×3 stride-2 max pooling. Output column ox covers input columns
  /// c = 2·ox − pW ..< c + 3: a run of eight outputs reads 17 consecutive columns, loaded as two
  /// overlapping 16-column vectors whose even and odd halves give the three taps (the loads touch
  /// an 18th column, whose value is unused: past a row's end it is the next row's first, and
  /// `readable` floats from `input` bound where that is allowed). Rows are reduced first (the
  /// window rows inside the image), then columns, with one even/odd split per run. When fewer
  /// than eight outputs remain, one more run ends at the last output, recomputing a few (same
  /// values), if those windows lie in the image; outputs whose window leaves the image
  /// horizontally take the scalar path.
  ///
  /// The vector maximum is the plain `a > b ? a : b` (one instruction on x86), which drops NaN.
  /// A run also sums everything it loads: the sum is NaN when a window holds a NaN (or both
  /// infinities), and then the run's outputs take the scalar path, which propagates NaN as
  /// PyTorch does. NaN-propagating vector maxima cost twice as much per load.
  private static func maxPool3x3Stride2(
    _ shape: Pool2DShape, input: UnsafePointer<Float>, readable: Int, output: UnsafeMutablePointer<Float>
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let (padTop, padLeft) = (shape.paddingHeight, shape.paddingWidth)
    // Vector runs start at ox with 2·ox − padLeft ≥ 0; their windows lie in the image while
    // 2·ox − padLeft + 3 ≤ width.
    let firstVector = padLeft > 0 ? 1 : 0
    var lastInside = outputWidth
    while lastInside > 0 && (lastInside - 1) * 2 - padLeft + 3 > width { lastInside -= 1 }
    // Rows first: the window rows' maximum for 18 columns, as four vectors (columns 0..<8,
    // 8..<16, 2..<10, 10..<18), then one even/odd split for the columns. False when the run's
    // sum is NaN (nothing stored).
    @inline(__always)
    func run(_ column: Int, _ rows: Range<Int>, _ target: UnsafeMutablePointer<Float>) -> Bool {
      let start = column * 2 - padLeft
      var line = input + rows.lowerBound * width + start
      var (a, b, c, d) = (load8(line), load8(line + 8), load8(line + 2), load8(line + 10))
      // Columns 0..<18 are all in a, b and d.
      var sum = a + b + d
      for _ in 1..<rows.count {
        line += width
        let (a1, b1, c1, d1) = (load8(line), load8(line + 8), load8(line + 2), load8(line + 10))
        a = greaterOf(a, a1)
        b = greaterOf(b, b1)
        c = greaterOf(c, c1)
        d = greaterOf(d, d1)
        sum += (a1 + b1) + d1
      }
      if any(sum .!= sum) { return false }
      let lower = SIMD16(lowHalf: a, highHalf: b)
      let upper = SIMD16(lowHalf: c, highHalf: d)
      store8(greaterOf(greaterOf(lower.evenHalf, lower.oddHalf), upper.evenHalf), target + column)
      return true
    }
    func scalarRun(_ columns: Range<Int>, _ rows: Range<Int>, _ target: UnsafeMutablePointer<Float>) {
      for column in columns { target[column] = windowMax(input, width: width, rows: rows, start: column * 2 - padLeft) }
    }
    for outputRow in 0..<outputHeight {
      let top = outputRow * 2 - padTop
      let rowRange = max(top, 0)..<min(top + 3, height)
      let target = output + outputRow * outputWidth
      // The furthest float a run starting at `column` touches must be readable.
      let lastRow = rowRange.isEmpty ? 0 : rowRange.upperBound - 1
      func fits(_ column: Int) -> Bool {
        !rowRange.isEmpty && column >= firstVector && column + 8 <= lastInside
          && lastRow * width + column * 2 - padLeft + 18 <= readable
      }
      var column = 0
      while column < firstVector && column < outputWidth {
        target[column] = windowMax(input, width: width, rows: rowRange, start: column * 2 - padLeft)
        column += 1
      }
      while fits(column) {
        if !run(column, rowRange, target) { scalarRun(column..<column + 8, rowRange, target) }
        column += 8
      }
      if column < lastInside && fits(lastInside - 8) {
        if !run(lastInside - 8, rowRange, target) { scalarRun(column..<lastInside, rowRange, target) }
        column = lastInside
      }
      while column < outputWidth {
        target[column] = windowMax(input, width: width, rows: rowRange, start: column * 2 - padLeft)
        column += 1
      }
    }
  }

  /// The largest of the window's elements (columns `start ..< start + 3` inside the image), NaN
  /// if one is NaN, −∞ if none is inside.
  @inline(__always)
  private static func windowMax(_ input: UnsafePointer<Float>, width: Int, rows: Range<Int>, start: Int) -> Float {
    var best = -Float.infinity
    for row in rows {
      for column in max(start, 0)..<min(start + 3, width) {
        let value = input[row * width + column]
        if value > best || value.isNaN { best = value }
      }
    }
    return best
  }
}

/// `a` where it is larger, else `b` (x86's `maxps`): no NaN propagation.
@inline(__always)
func greaterOf(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
  b.replacing(with: a, where: a .> b)
}
