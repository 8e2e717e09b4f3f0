import Kernels
import Testing

@Suite struct FastPoolingTests {
  /// Global average pooling against `adaptiveAvgPool2dReference` to 1×1, every plane size up to
  /// 70 (vector and partial tails) and MobileNet's 7×7, with the planes split in two calls.
  @Test func globalAverageMatchesAdaptiveReference() {
    for planeSize in Array(1...70) + [196, 3136] {
      let planes = 3
      var generator = SeededGenerator(seed: UInt64(planeSize))
      let input = generator.floats(planes * planeSize)
      var expected = [Float](repeating: 0, count: planes)
      var output = [Float](repeating: .nan, count: planes)
      input.withUnsafeBufferPointer { input in
        expected.withUnsafeMutableBufferPointer {
          PoolingKernels.adaptiveAvgPool2dReference(
            AdaptivePool2DShape(planes: planes, inputHeight: 1, inputWidth: planeSize, outputHeight: 1, outputWidth: 1),
            input: input.baseAddress!, output: $0.baseAddress!)
        }
        output.withUnsafeMutableBufferPointer {
          PoolingKernels.globalAveragePool(input: input.baseAddress!, planeSize: planeSize, output: $0.baseAddress!, planes: 0..<1)
          PoolingKernels.globalAveragePool(input: input.baseAddress!, planeSize: planeSize, output: $0.baseAddress!, planes: 1..<3)
        }
      }
      expectClose(output, expected, tolerance: 1e-5, "plane \(planeSize)")
    }
  }

  /// Blocked global average pooling gives `globalAveragePool`'s floats bit for bit on the same
  /// channels laid out NCHW, for plane sizes across every tail (and MobileNet's 7×7 and 14×14),
  /// with the blocks split in two calls.
  @Test func blockedGlobalAverageMatchesPlanesExactly() {
    for planeSize in Array(1...70) + [196, 3136] {
      let blocks = 3
      var generator = SeededGenerator(seed: UInt64(1000 + planeSize))
      let planes = generator.floats(blocks * 8 * planeSize)
      var blocked = [Float](repeating: 0, count: planes.count)
      for channel in 0..<blocks * 8 {
        for pixel in 0..<planeSize {
          blocked[((channel / 8) * planeSize + pixel) * 8 + channel % 8] = planes[channel * planeSize + pixel]
        }
      }
      var expected = [Float](repeating: .nan, count: blocks * 8)
      var output = [Float](repeating: .nan, count: blocks * 8)
      planes.withUnsafeBufferPointer { input in
        expected.withUnsafeMutableBufferPointer {
          PoolingKernels.globalAveragePool(
            input: input.baseAddress!, planeSize: planeSize, output: $0.baseAddress!, planes: 0..<blocks * 8)
        }
      }
      blocked.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer {
          PoolingKernels.blockedGlobalAveragePool(
            input: input.baseAddress!, planeSize: planeSize, output: $0.baseAddress!, blocks: 0..<1)
          PoolingKernels.blockedGlobalAveragePool(
            input: input.baseAddress!, planeSize: planeSize, output: $0.baseAddress!, blocks: 1..<blocks)
        }
      }
      #expect(output.map(\.bitPattern) == expected.map(\.bitPattern), "plane \(planeSize)")
    }
  }

  /// 3×3 stride-2 max pooling (vector path) and other shapes (reference path) against
  /// `maxPool2dReference`, widths 1 to 40, padding 0 and 1, both ceil modes, NaN and infinite inputs.
  @Test(arguments: Array(1...40))
  func maxPoolMatchesReference(width: Int) {
    let settings: [(kernel: Int, stride: Int, padding: Int)] = [(3, 2, 1), (3, 2, 0), (2, 2, 0), (3, 1, 1)]
    for (kernel, stride, padding) in settings {
      for ceilMode in [false, true] {
        for height in [1, 2, 3, 6, 9, 12] {
          let shape = Pool2DShape(
            planes: 3, inputHeight: height, inputWidth: width, kernel: (kernel, kernel), stride: (stride, stride),
            padding: (padding, padding), ceilMode: ceilMode)
          guard (try? shape.validate()) != nil else { continue }
          var generator = SeededGenerator(seed: UInt64(width * 100 + height))
          var input = generator.floats(shape.planes * height * width)
          if width % 5 == 0 { input[(width * height) / 2] = .nan }
          // Both infinities in one window: their sum is NaN, the maximum is not.
          if width % 3 == 0 { (input[width + 1], input[width + 2]) = (.infinity, -.infinity) }
          if width % 4 == 0 { (input[2 * width - 3], input[2 * width - 2]) = (-.infinity, -.infinity) }
          let plane = shape.outputHeight * shape.outputWidth
          var expected = [Float](repeating: 0, count: shape.planes * plane)
          var output = [Float](repeating: .nan, count: shape.planes * plane)
          input.withUnsafeBufferPointer { input in
            expected.withUnsafeMutableBufferPointer {
              PoolingKernels.maxPool2dReference(shape, input: input.baseAddress!, output: $0.baseAddress!)
            }
            output.withUnsafeMutableBufferPointer {
              PoolingKernels.maxPool2d(shape, input: input.baseAddress!, output: $0.baseAddress!, planes: 0..<2)
              PoolingKernels.maxPool2d(shape, input: input.baseAddress!, output: $0.baseAddress!, planes: 2..<3)
            }
          }
          expectClose(output, expected, tolerance: 0, "\(shape)")
        }
      }
    }
  }

  /// `blockedMaxPool2d` on two blocks of eight channels against `maxPool2dReference` on the same
  /// planes: widths 1 to 40, several windows, strides, paddings and a dilation, both ceil modes,
  /// NaN and infinities; the blocks in two calls.
  @Test(arguments: Array(1...40))
  func blockedMaxPoolMatchesReference(width: Int) {
    let settings: [(kernel: Int, stride: Int, padding: Int, dilation: Int)] = [
      (3, 2, 1, 1), (3, 2, 0, 1), (2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2),
    ]
    for (kernel, stride, padding, dilation) in settings {
      for ceilMode in [false, true] {
        for height in [1, 2, 3, 6, 9] {
          let shape = Pool2DShape(
            planes: 16, inputHeight: height, inputWidth: width, kernel: (kernel, kernel), stride: (stride, stride),
            padding: (padding, padding), dilation: (dilation, dilation), ceilMode: ceilMode)
          guard (try? shape.validate()) != nil else { continue }
          var generator = SeededGenerator(seed: UInt64(width * 100 + height + 7))
          let pixels = height * width
          var input = generator.floats(shape.planes * pixels)
          if width % 5 == 0 { input[3 * pixels + pixels / 2] = .nan }
          if width % 3 == 0 && pixels > 2 { (input[9 * pixels + 1], input[9 * pixels + 2]) = (.infinity, -.infinity) }
          let plane = shape.outputHeight * shape.outputWidth
          var expected = [Float](repeating: 0, count: shape.planes * plane)
          input.withUnsafeBufferPointer { input in
            expected.withUnsafeMutableBufferPointer {
              PoolingKernels.maxPool2dReference(shape, input: input.baseAddress!, output: $0.baseAddress!)
            }
          }
          var blocked = [Float](repeating: 0, count: input.count)
          input.withUnsafeBufferPointer { source in
            blocked.withUnsafeMutableBufferPointer {
              ChannelBlocks.pack(source.baseAddress!, channels: 16, pixels: pixels, into: $0.baseAddress!, blocks: 0..<2)
            }
          }
          var output = [Float](repeating: .nan, count: shape.planes * plane)
          blocked.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer {
              PoolingKernels.blockedMaxPool2d(shape, input: source.baseAddress!, output: $0.baseAddress!, blocks: 1..<2)
              PoolingKernels.blockedMaxPool2d(shape, input: source.baseAddress!, output: $0.baseAddress!, blocks: 0..<1)
            }
          }
          var unpacked = [Float](repeating: 0, count: output.count)
          output.withUnsafeBufferPointer { source in
            unpacked.withUnsafeMutableBufferPointer {
              ChannelBlocks.unpack(source.baseAddress!, channels: 16, pixels: plane, into: $0.baseAddress!, blocks: 0..<2)
            }
          }
          expectClose(unpacked, expected, tolerance: 0, "blocked \(shape)")
        }
      }
    }
  }
}
