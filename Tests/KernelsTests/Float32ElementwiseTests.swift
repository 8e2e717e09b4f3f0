import Foundation
import Kernels
import Testing

/// Runs the reference `unary` on a whole contiguous array.
func referenceUnary(_ op: UnaryOperation, _ x: [Float]) -> [Float] {
  var y = [Float](repeating: 0, count: x.count)
  x.withUnsafeBytes { x in
    y.withUnsafeMutableBytes { y in
      ElementwiseKernels.unary(
        op, dtype: .float32, input: x.baseAddress!, inputStrides: [1], output: y.baseAddress!, outputStrides: [1],
        shape: [x.count / 4])
    }
  }
  return y
}

/// Runs the reference `binary` on whole contiguous arrays (`bStrides` [0] broadcasts b[0]).
func referenceBinary(_ op: BinaryOperation, _ a: [Float], _ b: [Float], bStrides: [Int] = [1]) -> [Float] {
  var y = [Float](repeating: 0, count: a.count)
  a.withUnsafeBytes { a in
    b.withUnsafeBytes { b in
      y.withUnsafeMutableBytes { y in
        try! ElementwiseKernels.binary(
          op, dtype: .float32, a: a.baseAddress!, aStrides: [1], b: b.baseAddress!, bStrides: bStrides,
          output: y.baseAddress!, outputStrides: [1], shape: [a.count / 4])
      }
    }
  }
  return y
}

let vectorUnaryOps: [UnaryOperation] = [
  .relu, .relu6, .hardtanh(min: -0.5, max: 2), .clamp(min: .double(-1), max: nil), .clamp(min: nil, max: .int(1)),
  .hardswish, .hardsigmoid, .sigmoid, .silu, .neg, .abs, .square,
  .tanh,  // no vector form: the reference loop on the range
]

let vectorBinaryOps: [BinaryOperation] = [
  .add(), .add(alpha: .double(0.5)), .sub(), .sub(alpha: .int(3)), .mul, .div, .addRelu(), .addRelu(alpha: .double(-2)),
  .maximum, .minimum,
  .pow,  // no vector form
]

/// Values around every op's kinks and saturation points, specials, and random values.
func elementwiseInputs(_ count: Int, seed: UInt64) -> [Float] {
  let specials: [Float] = [
    0, -0.0, 1, -1, 3, -3, 6, -6, 2.9999998, -3.0000002, 87.3, -87.3, 88, -88, 100, -100, 1e30, -1e30,
    .infinity, -.infinity, .nan, 1e-30, -1e-30, .leastNormalMagnitude, -.leastNormalMagnitude,
  ]
  var generator = SeededGenerator(seed: seed)
  let random = generator.floats(count, in: -12...12)
  return (0..<count).map { $0 % 3 == 0 ? specials[($0 / 3) % specials.count] : random[$0] }
}

@Suite struct Float32ElementwiseTests {
  /// Every length up to 40 (four-vector, single-vector and partial tails) and longer ones, each
  /// op against the reference, with the range split in two and an untouched margin around it.
  @Test(arguments: vectorUnaryOps.indices)
  func unaryMatchesReference(opIndex: Int) {
    let op = vectorUnaryOps[opIndex]
    for count in Array(0...40) + [67, 1000] {
      let x = elementwiseInputs(count + 2, seed: UInt64(count))
      let expected = [Float(-7)] + referenceUnary(op, Array(x[1..<count + 1])) + [-7]
      var y = [Float](repeating: -7, count: count + 2)
      let middle = 1 + count / 3
      x.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { y in
          ElementwiseKernels.unaryFloat32(op, input: x.baseAddress!, output: y.baseAddress!, elements: 1..<middle)
          ElementwiseKernels.unaryFloat32(op, input: x.baseAddress!, output: y.baseAddress!, elements: middle..<count + 1)
        }
      }
      expectClose(y, expected, tolerance: 1e-6, "\(op) count \(count)")
    }
  }

  @Test func unaryInPlace() {
    var x = elementwiseInputs(37, seed: 4)
    let expected = referenceUnary(.hardswish, x)
    x.withUnsafeMutableBufferPointer {
      ElementwiseKernels.unaryFloat32(.hardswish, input: $0.baseAddress!, output: $0.baseAddress!, elements: 0..<37)
    }
    expectClose(x, expected, tolerance: 1e-6)
  }

  /// The vector sigmoid against Foundation's exp (in double) on a dense sweep of [−90, 90]:
  /// relative error below 3e-7 (measured 1.7e-7) wherever the result is a normal float, and
  /// silu within 1e-6.
  @Test func sigmoidAndSiluMatchFoundationExp() {
    let x = stride(from: Float(-90), through: 90, by: 0.0137).map { $0 }
    var y = [Float](repeating: 0, count: x.count)
    var z = y
    x.withUnsafeBufferPointer { x in
      y.withUnsafeMutableBufferPointer {
        ElementwiseKernels.unaryFloat32(.sigmoid, input: x.baseAddress!, output: $0.baseAddress!, elements: 0..<x.count)
      }
      z.withUnsafeMutableBufferPointer {
        ElementwiseKernels.unaryFloat32(.silu, input: x.baseAddress!, output: $0.baseAddress!, elements: 0..<x.count)
      }
    }
    var worst = 0.0
    for (index, value) in x.enumerated() {
      let exact = 1 / (1 + Foundation.exp(-Double(value)))
      guard exact >= Double(Float.leastNormalMagnitude) else {
        #expect(Double(y[index]) <= Double(Float.leastNormalMagnitude), "sigmoid(\(value)) = \(y[index])")
        continue
      }
      worst = max(worst, abs(Double(y[index]) - exact) / exact)
      let siluExact = Double(value) * exact
      if siluExact != 0 {
        #expect(abs(Double(z[index]) - siluExact) <= 1e-6 * abs(siluExact), "silu(\(value)) = \(z[index])")
      }
    }
    #expect(worst < 3e-7, "worst relative error \(worst)")
  }

  @Test(arguments: vectorBinaryOps.indices)
  func binaryMatchesReference(opIndex: Int) {
    let op = vectorBinaryOps[opIndex]
    for count in Array(0...40) + [67, 1000] {
      let a = elementwiseInputs(count, seed: UInt64(count) + 10)
      let b = elementwiseInputs(count, seed: UInt64(count) + 20).reversed().map { $0 }
      let expected = referenceBinary(op, a, b)
      var y = [Float](repeating: .nan, count: count)
      let middle = count / 2 + 1
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          y.withUnsafeMutableBufferPointer { y in
            guard count > 0 else { return }
            ElementwiseKernels.binaryFloat32(
              op, a: a.baseAddress!, b: b.baseAddress!, output: y.baseAddress!, elements: 0..<min(middle, count))
            ElementwiseKernels.binaryFloat32(
              op, a: a.baseAddress!, b: b.baseAddress!, output: y.baseAddress!, elements: min(middle, count)..<count)
          }
        }
      }
      expectClose(y, expected, tolerance: 1e-6, "\(op) count \(count)")
    }
  }

  /// SE-block scaling: each plane times (or plus) its own scalar, over plane ranges.
  @Test(arguments: [BinaryOperation.mul, .add(), .sub(), .pow])
  func channelBroadcastMatchesReference(op: BinaryOperation) {
    for planeSize in [1, 3, 7, 8, 9, 16, 49, 196] {
      let planes = 5
      let x = elementwiseInputs(planes * planeSize, seed: UInt64(planeSize))
      var generator = SeededGenerator(seed: 8)
      let scalars = generator.floats(planes, in: 0...2)
      var expected: [Float] = []
      for plane in 0..<planes {
        expected += referenceBinary(
          op, Array(x[plane * planeSize..<(plane + 1) * planeSize]), [scalars[plane]], bStrides: [0])
      }
      var y = [Float](repeating: .nan, count: x.count)
      x.withUnsafeBufferPointer { x in
        scalars.withUnsafeBufferPointer { scalars in
          y.withUnsafeMutableBufferPointer { y in
            for planeRange in [0..<2, 2..<5] {
              ElementwiseKernels.channelBroadcastFloat32(
                op, input: x.baseAddress!, scalars: scalars.baseAddress!, planeSize: planeSize, output: y.baseAddress!,
                planes: planeRange)
            }
          }
        }
      }
      expectClose(y, expected, tolerance: 1e-6, "\(op) plane \(planeSize)")
    }
  }

  /// SE-block scaling on channel-blocked activations: bit for bit the NCHW kernel's products for
  /// the same channels, every pixel tail of the four-pixel loop, the blocks in two calls, and in
  /// place.
  @Test func blockedChannelScaleMatchesPlanes() {
    for planeSize in [1, 2, 3, 4, 5, 7, 8, 49, 196] {
      let blocks = 3
      let channels = blocks * 8
      let x = elementwiseInputs(channels * planeSize, seed: UInt64(planeSize + 50))
      var generator = SeededGenerator(seed: 9)
      let scalars = generator.floats(channels, in: 0...2)
      var expected = [Float](repeating: .nan, count: x.count)
      x.withUnsafeBufferPointer { x in
        scalars.withUnsafeBufferPointer { scalars in
          expected.withUnsafeMutableBufferPointer { y in
            ElementwiseKernels.channelBroadcastFloat32(
              .mul, input: x.baseAddress!, scalars: scalars.baseAddress!, planeSize: planeSize, output: y.baseAddress!,
              planes: 0..<channels)
          }
        }
      }
      // Blocked float (b·P + p)·8 + lane is channel 8b + lane, pixel p.
      func blocked(_ planes: [Float]) -> [Float] {
        var result = [Float](repeating: .nan, count: planes.count)
        for c in 0..<channels {
          for p in 0..<planeSize { result[((c / 8) * planeSize + p) * 8 + c % 8] = planes[c * planeSize + p] }
        }
        return result
      }
      var input = blocked(x)
      var y = [Float](repeating: .nan, count: x.count)
      input.withUnsafeMutableBufferPointer { input in
        scalars.withUnsafeBufferPointer { scalars in
          y.withUnsafeMutableBufferPointer { y in
            for range in [1..<blocks, 0..<1] {
              ElementwiseKernels.blockedChannelScaleFloat32(
                input: input.baseAddress!, scalars: scalars.baseAddress!, planeSize: planeSize, output: y.baseAddress!,
                blocks: range)
            }
          }
          ElementwiseKernels.blockedChannelScaleFloat32(
            input: input.baseAddress!, scalars: scalars.baseAddress!, planeSize: planeSize,
            output: input.baseAddress!, blocks: 0..<blocks)
        }
      }
      let want = blocked(expected).map(\.bitPattern)
      #expect(y.map(\.bitPattern) == want, "plane \(planeSize)")
      #expect(input.map(\.bitPattern) == want, "in place, plane \(planeSize)")
    }
  }
}
