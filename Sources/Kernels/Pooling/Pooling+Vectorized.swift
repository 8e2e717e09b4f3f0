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

  /// `globalAveragePool` of channel-blocked planes: `input` holds blocks of eight channels, each
  /// `planeSize` pixels of eight floats (`[C/8, H·W, 8]`), and `output[8·b + lane]` becomes the
  /// mean of channel `lane` of block `b`, for the blocks in `blocks`.
  ///
  /// Bit for bit the floats `globalAveragePool` gives for the same channels in NCHW planes: each
  /// pixel goes into the partial sum it has there (its lane of the four 32-pixel accumulators,
  /// of the first for the 8-pixel runs after them, of the second for the last partial run), in
  /// the same order, here one vector of eight channels per partial sum; then each channel's 32
  /// partial sums are combined by the same expression, and added up in the order of `sum()`.
  public static func blockedGlobalAveragePool(
    input: UnsafePointer<Float>, planeSize: Int, output: UnsafeMutablePointer<Float>, blocks: Range<Int>
  ) {
    precondition(planeSize > 0, "global average pooling of an empty plane")
    let scale = 1 / Float(planeSize)
    let wholeRuns = planeSize / 32 * 32
    let eightRuns = wholeRuns + (planeSize - wholeRuns) / 8 * 8
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 32) { sums in
      for block in blocks {
        let source = input + block * planeSize * 8
        // The 32-pixel runs a quarter at a time: the eight partial sums of pixels 8q ..< 8q + 8 of
        // every run in registers (all 32 in memory made each add wait on the one before it).
        for quarter in 0..<4 {
          var (a0, a1, a2, a3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
          var (a4, a5, a6, a7) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
          var at = source + quarter * 64
          for _ in 0..<wholeRuns / 32 {
            a0 += load8(at)
            a1 += load8(at + 8)
            a2 += load8(at + 16)
            a3 += load8(at + 24)
            a4 += load8(at + 32)
            a5 += load8(at + 40)
            a6 += load8(at + 48)
            a7 += load8(at + 56)
            at += 256
          }
          let first = quarter * 8
          (sums[first], sums[first + 1], sums[first + 2], sums[first + 3]) = (a0, a1, a2, a3)
          (sums[first + 4], sums[first + 5], sums[first + 6], sums[first + 7]) = (a4, a5, a6, a7)
        }
        for pixel in wholeRuns..<eightRuns { sums[(pixel - wholeRuns) % 8] += load8(source + pixel * 8) }
        if eightRuns < planeSize {
          // `loadPartial8`'s zero lanes are added too, as there.
          for lane in 0..<8 {
            let pixel = eightRuns + lane
            sums[8 + lane] += pixel < planeSize ? load8(source + pixel * 8) : SIMD8()
          }
        }
        // Lane l of `(s0 + s1) + (s2 + s3)` there, for all eight channels at once, then its
        // `sum()`: the lanes added in order to −0.
        var total = SIMD8<Float>(repeating: -0.0)
        for lane in 0..<8 {
          total += (sums[lane] + sums[8 + lane]) + (sums[16 + lane] + sums[24 + lane])
        }
        store8(total * scale, output + block * 8)
      }
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
    // The row of column maxima of `maxPool3x3Stride2`: −∞, the window rows' column maxima from
    // padLeft, then −∞ as far as the last run of eight outputs reads (2·max(OW, 8) + 2 floats).
    let bufferCount = max(shape.paddingWidth + shape.inputWidth, 2 * max(shape.outputWidth, 8) + 2) + 8
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * bufferCount) { buffer in
      let maxima = buffer.baseAddress!
      maxima.initialize(repeating: -.infinity, count: 2 * bufferCount)
      for plane in planes {
        maxPool3x3Stride2(
          shape, input: input + plane * inputPlane, output: output + plane * outputPlane,
          maxima: (maxima, maxima + bufferCount))
      }
    }
  }

  /// One plane of a 3×3 stride-2 max pooling, an output row at a time: first the maximum of its
  /// window rows (those inside the image) for every input column, a vector of eight columns at a
  /// time, into a row of `maxima` at padLeft (its other floats stay −∞: the padding); then output
  /// ox is the maximum of `maxima[2·ox ..< 2·ox + 3]`, eight outputs from two overlapping
  /// 16-float loads split into even and odd halves. The last vector of a row ends at its end,
  /// recomputing a few (same values). The column maxima of row oy + 1 are computed, into the
  /// other buffer, before the outputs of row oy read theirs: loads of floats stored a few
  /// instructions earlier at another offset miss store-to-load forwarding and wait for the
  /// stores to retire (that made this loop three times slower). Planes narrower than eight
  /// columns take the scalar path.
  ///
  /// The vector maximum is the plain `a > b ? a : b` (one instruction on x86), which drops NaN.
  /// The column step also sums everything it loads: the sum is NaN when a window row holds a NaN
  /// (or both infinities), and then the output row takes the scalar path, which propagates NaN
  /// as PyTorch does. NaN-propagating vector maxima cost twice as much per load.
  ///
  /// Prefetching the output rows two or four rows ahead (as the depthwise kernels do, Note
  /// [Depthwise output prefetch]), or the input rows two output rows ahead, left SqueezeNet's
  /// three max pools within ±3% (2026-11-24).
  private static func maxPool3x3Stride2(
    _ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    maxima: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let (padTop, padLeft) = (shape.paddingHeight, shape.paddingWidth)
    @inline(__always)
    func windowRows(_ outputRow: Int) -> Range<Int> {
      let top = outputRow * 2 - padTop
      return max(top, 0)..<min(top + 3, height)
    }
    @inline(__always)
    func scalarRow(_ outputRow: Int) {
      let target = output + outputRow * outputWidth
      for column in 0..<outputWidth {
        target[column] = windowMax(input, width: width, rows: windowRows(outputRow), start: column * 2 - padLeft)
      }
    }
    if width < 8 {
      for outputRow in 0..<outputHeight { scalarRow(outputRow) }
      return
    }
    // Row `outputRow`'s column maxima into `buffer` from padLeft; false when the window rows
    // hold a NaN (or none is in the image), and nothing is stored.
    @inline(__always)
    func columnMaxima(_ outputRow: Int, into buffer: UnsafeMutablePointer<Float>) -> Bool {
      let rows = windowRows(outputRow)
      if rows.isEmpty { return false }
      let columns = buffer + padLeft
      let first = input + rows.lowerBound * width
      var sum = SIMD8<Float>()
      // Three window rows (all but the edges) in straight-line code.
      if rows.count == 3 {
        forEachWindow(width, width: 8) { column in
          let (a, b, c) = (load8(first + column), load8(first + width + column), load8(first + 2 * width + column))
          store8(greaterOf(greaterOf(a, b), c), columns + column)
          sum += (a + b) + c
        }
        return !any(sum .!= sum)
      }
      forEachWindow(width, width: 8) { column in
        var line = first + column
        var best = load8(line)
        sum += best
        for _ in 1..<rows.count {
          line += width
          let value = load8(line)
          best = greaterOf(best, value)
          sum += value
        }
        store8(best, columns + column)
      }
      return !any(sum .!= sum)
    }
    // Outputs ox ..< ox + 8 read buffer[2·ox ..< 2·ox + 18]. The even and odd picks stay within
    // 128-bit halves (outputs 0, 1, 4, 5, then 2, 3, 6, 7), and one permutation of 64-bit pairs
    // puts the three-way maximum in order; done on doubles so that LLVM does not move it back
    // into each pick (three lane-crossing shuffles instead of one).
    @inline(__always)
    func run(_ buffer: UnsafePointer<Float>, _ ox: Int) -> SIMD8<Float> {
      let base = buffer + 2 * ox
      let (a, b, c, d) = (load8(base), load8(base + 8), load8(base + 2), load8(base + 10))
      let even = SIMD8(a[0], a[2], b[0], b[2], a[4], a[6], b[4], b[6])
      let odd = SIMD8(a[1], a[3], b[1], b[3], a[5], a[7], b[5], b[7])
      let next = SIMD8(c[0], c[2], d[0], d[2], c[4], c[6], d[4], d[6])
      let pairs = unsafeBitCast(greaterOf(greaterOf(even, odd), next), to: SIMD4<Double>.self)
      return unsafeBitCast(SIMD4(pairs[0], pairs[2], pairs[1], pairs[3]), to: SIMD8<Float>.self)
    }
    var vectorRow = columnMaxima(0, into: maxima.0)
    for outputRow in 0..<outputHeight {
      let (current, next) = outputRow % 2 == 0 ? (maxima.0, maxima.1) : (maxima.1, maxima.0)
      let currentRow = vectorRow
      if outputRow + 1 < outputHeight { vectorRow = columnMaxima(outputRow + 1, into: next) }
      if !currentRow {
        scalarRow(outputRow)
        continue
      }
      let target = output + outputRow * outputWidth
      if outputWidth < 8 {
        storePartial8(run(current, 0), target, count: outputWidth)
        continue
      }
      forEachWindow(outputWidth, width: 8) { column in store8(run(current, column), target + column) }
    }
  }

  /// `max_pool2d` (values only) of one image's channel-blocked planes (Note [Channel-blocked
  /// activations]): blocks `blocks` of `input` (`[C/8, H, W, 8]`, H and W from `shape`) into
  /// `output` (`[C/8, OH, OW, 8]`). Each lane is the reference's maximum over the window's pixels
  /// inside the image, in the same order, NaN propagating (a window holding a NaN gives NaN).
  public static func blockedMaxPool2d(
    _ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, blocks: Range<Int>
  ) {
    let (height, width) = (shape.inputHeight, shape.inputWidth)
    let (outputHeight, outputWidth) = (shape.outputHeight, shape.outputWidth)
    let (kh, kw, sh, sw) = (shape.kernelHeight, shape.kernelWidth, shape.strideHeight, shape.strideWidth)
    let (ph, pw, dh, dw) = (shape.paddingHeight, shape.paddingWidth, shape.dilationHeight, shape.dilationWidth)
    @inline(__always)
    func greater(_ best: SIMD8<Float>, _ value: SIMD8<Float>) -> SIMD8<Float> {
      best.replacing(with: value, where: (value .> best) .| (value .!= value))
    }
    // Output columns whose window columns all lie inside the image.
    let interior = OutputSize.interior(
      input: width, output: outputWidth, kernel: kw, stride: sw, padding: pw, dilation: dw)
    let (first, end) = (interior.lowerBound, interior.upperBound)
    let plain = kh == 3 && kw == 3 && dh == 1 && dw == 1
    for block in blocks {
      let source = input + block * height * width * 8
      let target = output + block * outputHeight * outputWidth * 8
      for oy in 0..<outputHeight {
        let y0 = oy * sh - ph
        // The window rows inside the image (ky with 0 ≤ y0 + ky·dH < H).
        let rows = (y0 < 0 ? (dh - 1 - y0) / dh : 0)..<(y0 >= height ? 0 : min(kh, (height - 1 - y0) / dh + 1))
        let out = target + oy * outputWidth * 8
        @inline(__always)
        func pixel(_ ox: Int) {
          var best = SIMD8<Float>(repeating: -.infinity)
          let x0 = ox * sw - pw
          for ky in rows {
            let line = source + (y0 + ky * dh) * width * 8
            for kx in 0..<kw {
              let x = x0 + kx * dw
              if x >= 0 && x < width { best = greater(best, load8(line + x * 8)) }
            }
          }
          store8(best, out + ox * 8)
        }
        var ox = 0
        while ox < first {
          pixel(ox)
          ox += 1
        }
        if plain && rows.count == 3 {
          // Three window rows and columns inside the image: nine loads, in the reference's order.
          let (r0, r1, r2) = (source + y0 * width * 8, source + (y0 + 1) * width * 8, source + (y0 + 2) * width * 8)
          while ox < end {
            let at = (ox * sw - pw) * 8
            var best = SIMD8<Float>(repeating: -.infinity)
            best = greater(best, load8(r0 + at))
            best = greater(best, load8(r0 + at + 8))
            best = greater(best, load8(r0 + at + 16))
            best = greater(best, load8(r1 + at))
            best = greater(best, load8(r1 + at + 8))
            best = greater(best, load8(r1 + at + 16))
            best = greater(best, load8(r2 + at))
            best = greater(best, load8(r2 + at + 8))
            best = greater(best, load8(r2 + at + 16))
            store8(best, out + ox * 8)
            ox += 1
          }
        }
        while ox < outputWidth {
          pixel(ox)
          ox += 1
        }
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
