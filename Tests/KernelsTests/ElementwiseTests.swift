import Foundation
import Kernels
import TensorCore
import Testing

/// Runs `ElementwiseKernels.unary` on a contiguous array.
func unary<T>(_ op: UnaryOperation, _ dtype: DType, _ x: [T]) -> [T] {
  var output = x
  x.withUnsafeBytes { input in
    output.withUnsafeMutableBytes { output in
      ElementwiseKernels.unary(
        op, dtype: dtype, input: input.baseAddress!, inputStrides: [1], output: output.baseAddress!,
        outputStrides: [1], shape: [x.count])
    }
  }
  return output
}

/// Runs `ElementwiseKernels.binary` on contiguous arrays of `aShape` and `bShape`, broadcast.
func binary<T>(
  _ op: BinaryOperation, _ dtype: DType, _ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int]
) throws -> [T] {
  let shape = try Broadcasting.shape(aShape, bShape)
  var output = [T](repeating: a.first ?? b.first!, count: shape.elementCount)
  try a.withUnsafeBytes { a in
    try b.withUnsafeBytes { b in
      try output.withUnsafeMutableBytes { output in
        try ElementwiseKernels.binary(
          op, dtype: dtype, a: a.baseAddress!, aStrides: Broadcasting.strides(rowMajorStrides(aShape), shape: aShape, to: shape),
          b: b.baseAddress!, bStrides: Broadcasting.strides(rowMajorStrides(bShape), shape: bShape, to: shape),
          output: output.baseAddress!, outputStrides: rowMajorStrides(shape), shape: shape)
      }
    }
  }
  return output
}

/// `binary` on two same-shape 1-D arrays.
func binary<T>(_ op: BinaryOperation, _ dtype: DType, _ a: [T], _ b: [T]) throws -> [T] {
  try binary(op, dtype, a, [a.count], b, [b.count])
}

/// Runs `compare` on same-shape 1-D arrays, returning bools.
func compare<T>(_ op: ComparisonOperation, _ dtype: DType, _ a: [T], _ b: [T]) -> [UInt8] {
  let count = a.count
  var output = [UInt8](repeating: 7, count: count)
  a.withUnsafeBytes { a in
    b.withUnsafeBytes { b in
      output.withUnsafeMutableBytes { output in
        ElementwiseKernels.compare(
          op, dtype: dtype, a: a.baseAddress!, aStrides: [1], b: b.baseAddress!, bStrides: [1],
          output: output.baseAddress!, outputStrides: [1], shape: [count])
      }
    }
  }
  return output
}

@Suite struct UnaryTests {
  let nan = Float.nan

  @Test func activationsByHand() {
    let x: [Float] = [-4, -3, -1, 0, 0.5, 1, 3, 7, .nan]
    expectClose(unary(.relu, .float32, x), [0, 0, 0, 0, 0.5, 1, 3, 7, nan] as [Float])
    expectClose(unary(.relu6, .float32, x), [0, 0, 0, 0, 0.5, 1, 3, 6, nan] as [Float])
    expectClose(unary(.hardtanh(min: -1, max: 2), .float32, x), [-1, -1, -1, 0, 0.5, 1, 2, 2, nan] as [Float])
    // hardswish: x·clamp(x + 3, 0, 6)/6 — 0 at −3 and below, x from 3 up, 1·4/6 at 1.
    expectClose(unary(.hardswish, .float32, x), [0, 0, -1.0 / 3, 0, 0.5 * 3.5 / 6, 4.0 / 6, 3, 7, .nan])
    expectClose(unary(.hardsigmoid, .float32, x), [0, 0, 2.0 / 6, 0.5, 3.5 / 6, 4.0 / 6, 1, 1, .nan])
    expectClose(unary(.leakyRelu(negativeSlope: 0.1), .float32, x), [-0.4, -0.3, -0.1, 0, 0.5, 1, 3, 7, nan] as [Float])
  }

  @Test func smoothFunctionsFollowTheirFormulas() {
    let x: [Double] = [-2, -0.5, 0, 0.5, 1, 2]
    let floats = x.map(Float.init)
    let erfHalf = x.map { erf($0 / 2.0.squareRoot()) }
    expectClose(unary(.sigmoid, .float32, floats), x.map { 1 / (1 + exp(-$0)) })
    expectClose(unary(.silu, .float32, floats), x.map { $0 / (1 + exp(-$0)) })
    expectClose(unary(.gelu(.none), .float32, floats), zip(x, erfHalf).map { $0 * 0.5 * (1 + $1) })
    expectClose(
      unary(.gelu(.tanh), .float32, floats),
      x.map { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) })
    expectClose(unary(.tanh, .float32, floats), x.map { tanh($0) })
    expectClose(unary(.elu(alpha: 1.5), .float32, floats), x.map { $0 > 0 ? $0 : 1.5 * (exp($0) - 1) })
    expectClose(unary(.erf, .float32, floats), x.map { erf($0) })
    expectClose(unary(.sin, .float32, floats), x.map { sin($0) })
    expectClose(unary(.cos, .float32, floats), x.map { cos($0) })
    expectClose(unary(.exp, .float32, floats), x.map { exp($0) })
    expectClose(unary(.expm1, .float32, floats), x.map { expm1($0) })
    // Known values: gelu(1) = 0.8413447, gelu_tanh(1) = 0.8411920, sigmoid(0) = ½.
    expectClose(unary(.gelu(.none), .float32, [1] as [Float]), [0.841_344_7] as [Float])
    expectClose(unary(.gelu(.tanh), .float32, [1] as [Float]), [0.841_192_0] as [Float])
    // softplus: log(1 + e^(βx))/β below the threshold, x above it.
    expectClose(
      unary(.softplus(beta: 2, threshold: 20), .float32, [1, 0, 15] as [Float]),
      [log(1 + exp(2.0)) / 2, log(2.0) / 2, 15])
  }

  @Test func logarithmsRootsAndRounding() {
    let x: [Float] = [0.25, 1, 4, 100]
    expectClose(unary(.log, .float32, x), x.map { log(Double($0)) })
    expectClose(unary(.log1p, .float32, x), x.map { log1p(Double($0)) })
    expectClose(unary(.log2, .float32, x), [-2, 0, 2, log2(100.0)])
    expectClose(unary(.log10, .float32, x), [log10(0.25), 0, log10(4.0), 2])
    expectClose(unary(.sqrt, .float32, x), [0.5, 1, 2, 10] as [Float])
    expectClose(unary(.rsqrt, .float32, x), [2, 1, 0.5, 0.1] as [Float])
    expectClose(unary(.reciprocal, .float32, x), [4, 1, 0.25, 0.01] as [Float])
    expectClose(unary(.log, .float32, [0, -1] as [Float]), [-Double.infinity, .nan])
    let r: [Float] = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -1.7, 1.7]
    expectClose(unary(.round, .float32, r), [-2, -2, -0, 0, 2, 2, -2, 2] as [Float])
    expectClose(unary(.floor, .float32, r), [-3, -2, -1, 0, 1, 2, -2, 1] as [Float])
    expectClose(unary(.ceil, .float32, r), [-2, -1, -0, 1, 2, 3, -1, 2] as [Float])
    expectClose(unary(.trunc, .float32, r), [-2, -1, -0, 0, 1, 2, -1, 1] as [Float])
    expectClose(unary(.abs, .float32, r), r.map { Swift.abs($0) })
    expectClose(unary(.neg, .float32, r), r.map { -$0 })
    expectClose(unary(.square, .float32, r), r.map { $0 * $0 })
    // sign is 0 for NaN on PyTorch's CPU.
    let signs = unary(.sign, .float32, [-3, -0.0, 0, 2, .nan] as [Float])
    expectClose(signs, [-1, 0, 0, 1, 0] as [Float])
    #expect(signs[1].sign == .plus && signs[4].sign == .plus)
  }

  @Test func clampBoundsAreOptionalAndNaNPassesThrough() {
    let x: [Float] = [-2, 0, 2, .nan]
    expectClose(unary(.clamp(min: .double(-1), max: .int(1)), .float32, x), [-1, 0, 1, nan] as [Float])
    expectClose(unary(.clamp(min: .int(0), max: nil), .float32, x), [0, 0, 2, nan] as [Float])
    expectClose(unary(.clamp(min: nil, max: .double(0.5)), .float32, x), [-2, 0, 0.5, nan] as [Float])
    // min > max: everything becomes max, as torch.clamp does.
    expectClose(unary(.clamp(min: .int(7), max: .int(2)), .float32, [1, 5, 9] as [Float]), [2, 2, 2] as [Float])
  }

  @Test func doublePrecisionUsesDoubleMath() {
    let x: [Double] = [0.1, 1e-10, 3]
    expectClose(unary(.exp, .float64, x), x.map { exp($0) }, tolerance: 1e-15)
    expectClose(unary(.log1p, .float64, x), x.map { log1p($0) }, tolerance: 1e-15)
    expectClose(unary(.sigmoid, .float64, x), x.map { 1 / (1 + exp(-$0)) }, tolerance: 1e-15)
  }

  @Test func integerOpsWrapLikePyTorch() {
    #expect(unary(.abs, .int8, [-128, -5, 7] as [Int8]) == [-128, 5, 7])
    #expect(unary(.neg, .int8, [-128, -5, 7] as [Int8]) == [-128, 5, -7])
    #expect(unary(.relu, .int64, [-3, 0, 9] as [Int64]) == [0, 0, 9])
    #expect(unary(.relu6, .int32, [-3, 4, 9] as [Int32]) == [0, 4, 6])
    #expect(unary(.sign, .int64, [-3, 0, 9] as [Int64]) == [-1, 0, 1])
    #expect(unary(.clamp(min: .int(2), max: .int(7)), .int64, [1, 5, 9] as [Int64]) == [2, 5, 7])
    #expect(unary(.clamp(min: nil, max: .int(200)), .uint8, [1, 250] as [UInt8]) == [1, 200])
    #expect(unary(.square, .int16, [300, -3] as [Int16]) == [Int16(truncatingIfNeeded: 90_000), 9])
    #expect(unary(.floor, .int32, [-3, 4] as [Int32]) == [-3, 4])
    #expect(unary(.neg, .uint8, [1, 0] as [UInt8]) == [255, 0])
    #expect(UnaryOperation.sigmoid.supports(.int64) == false)
    #expect(UnaryOperation.abs.supports(.bool) == false)
    #expect(UnaryOperation.gelu(.tanh).supports(.float64))
  }

  @Test func stridedInputAndOutput() {
    // Input is the transpose of [[1, 2, 3], [4, 5, 6]] (a 3×2 view); output written with stride 2.
    let x: [Float] = [1, 2, 3, 4, 5, 6]
    var output = [Float](repeating: 0, count: 12)
    x.withUnsafeBytes { x in
      output.withUnsafeMutableBytes { output in
        ElementwiseKernels.unary(
          .neg, dtype: .float32, input: x.baseAddress!, inputStrides: [1, 3], output: output.baseAddress!,
          outputStrides: [4, 2], shape: [3, 2])
      }
    }
    #expect(output == [-1, 0, -4, 0, -2, 0, -5, 0, -3, 0, -6, 0])
  }

  @Test func logicalNotOfAnyType() {
    var output = [UInt8](repeating: 9, count: 4)
    let x: [Float] = [0, -0.0, 2, .nan]
    x.withUnsafeBytes { x in
      output.withUnsafeMutableBytes { output in
        ElementwiseKernels.logicalNot(
          dtype: .float32, input: x.baseAddress!, inputStrides: [1], output: output.baseAddress!, outputStrides: [1],
          shape: [4])
      }
    }
    #expect(output == [1, 1, 0, 0])
  }
}

@Suite struct BinaryTests {
  @Test func arithmeticByHand() throws {
    let a: [Float] = [7, -7, 7.5, -7.5]
    let b: [Float] = [2, 2, -2, -2]
    expectClose(try binary(.add(), .float32, a, b), [9, -5, 5.5, -9.5] as [Float])
    expectClose(try binary(.add(alpha: .double(0.5)), .float32, a, b), [8, -6, 6.5, -8.5] as [Float])
    expectClose(try binary(.sub(alpha: .int(2)), .float32, a, b), [3, -11, 11.5, -3.5] as [Float])
    expectClose(try binary(.mul, .float32, a, b), [14, -14, -15, 15] as [Float])
    expectClose(try binary(.div, .float32, a, b), [3.5, -3.5, -3.75, 3.75] as [Float])
    expectClose(try binary(.divTrunc, .float32, a, b), [3, -3, -3, 3] as [Float])
    expectClose(try binary(.divFloor, .float32, a, b), [3, -4, -4, 3] as [Float])
    expectClose(try binary(.remainder, .float32, a, b), [1, 1, -0.5, -1.5] as [Float])
    expectClose(try binary(.fmod, .float32, a, b), [1, -1, 1.5, -1.5] as [Float])
    expectClose(try binary(.pow, .float32, [2, 4, -2] as [Float], [10, 0.5, 3] as [Float]), [1024, 2, -8] as [Float])
    expectClose(try binary(.addRelu(alpha: .int(2)), .float32, [1, -3] as [Float], [1, 1] as [Float]), [3, 0] as [Float])
  }

  @Test func floatDivisionEdgeCasesFollowPython() throws {
    // −0.0 // 3 = −0.0, 1 // 0 = inf, 5 // −0.0 = −inf; remainder by 0 is NaN.
    let floors = try binary(.divFloor, .float64, [-0.0, 1, 5, -7.5] as [Double], [3, 0, -0.0, 2] as [Double])
    #expect(floors[0] == 0 && floors[0].sign == .minus)
    #expect(floors[1] == .infinity && floors[2] == -.infinity && floors[3] == -4)
    #expect(try binary(.remainder, .float64, [5] as [Double], [0] as [Double])[0].isNaN)
    // Exact where floor(a / b) rounds wrongly: 1 // 0.1 is 9 in Python (0.1 is slightly above 1/10).
    #expect(try binary(.divFloor, .float64, [1] as [Double], [0.1] as [Double]) == [9])
  }

  @Test func maximumAndMinimumPropagateNaN() throws {
    let a: [Float] = [.nan, 1, 3, -0.5]
    let b: [Float] = [1, .nan, 2, 4]
    expectClose(try binary(.maximum, .float32, a, b), [Float.nan, .nan, 3, 4])
    expectClose(try binary(.minimum, .float32, a, b), [Float.nan, .nan, 2, -0.5])
  }

  @Test func integerArithmetic() throws {
    let a: [Int64] = [-7, 7, -7, 7]
    let b: [Int64] = [2, -2, -2, 2]
    #expect(try binary(.divTrunc, .int64, a, b) == [-3, -3, 3, 3])
    #expect(try binary(.divFloor, .int64, a, b) == [-4, -4, 3, 3])
    #expect(try binary(.remainder, .int64, a, b) == [1, -1, -1, 1])
    #expect(try binary(.fmod, .int64, a, b) == [-1, 1, -1, 1])
    #expect(try binary(.add(alpha: .int(3)), .int64, a, b) == [-1, 1, -13, 13])
    #expect(try binary(.sub(), .int64, a, b) == [-9, 9, -5, 5])
    #expect(try binary(.mul, .int64, a, b) == [-14, -14, 14, 14])
    #expect(try binary(.maximum, .int64, a, b) == [2, 7, -2, 7])
    #expect(try binary(.addRelu(), .int64, a, b) == [0, 5, 0, 9])
    // Integer powers: a negative exponent gives 0 unless the base is ±1.
    #expect(try binary(.pow, .int64, [2, 1, -1, 3, 0, -2] as [Int64], [-1, -3, -3, 2, 0, 3] as [Int64]) == [0, 1, -1, 9, 1, -8])
    // Overflow wraps: Int64.min // −1 stays Int64.min, uint8 1 − 2 is 255.
    #expect(try binary(.divFloor, .int64, [Int64.min] as [Int64], [-1] as [Int64]) == [Int64.min])
    #expect(try binary(.sub(), .uint8, [1] as [UInt8], [2] as [UInt8]) == [255])
    #expect(try binary(.remainder, .uint8, [7] as [UInt8], [3] as [UInt8]) == [1])
    #expect(try binary(.bitwiseXor, .int32, [6] as [Int32], [3] as [Int32]) == [5])
    #expect(try binary(.bitwiseAnd, .int8, [-1] as [Int8], [12] as [Int8]) == [12])
  }

  @Test func integerDivisionByZeroIsAnError() throws {
    let ops: [(BinaryOperation, String)] = [
      (.divTrunc, "div(rounding_mode='trunc')"), (.divFloor, "div(rounding_mode='floor')"), (.remainder, "remainder"),
      (.fmod, "fmod"),
    ]
    for (op, name) in ops {
      #expect(throws: KernelError.integerDivisionByZero(op: name)) {
        try binary(op, .int32, [1, 2] as [Int32], [1, 0] as [Int32])
      }
    }
    // A zero divisor broadcast from a scalar is found too.
    #expect(throws: KernelError.self) { try binary(.divTrunc, .int64, [1, 2] as [Int64], [2], [0] as [Int64], []) }
    // Float division by zero is IEEE.
    #expect(try binary(.div, .float32, [1, -1] as [Float], [0, 0] as [Float]) == [.infinity, -.infinity])
  }

  @Test func boolArithmeticIsLogical() throws {
    let a: [UInt8] = [1, 1, 0, 0]
    let b: [UInt8] = [1, 0, 1, 0]
    #expect(try binary(.add(alpha: .bool(true)), .bool, a, b) == [1, 1, 1, 0])
    #expect(try binary(.mul, .bool, a, b) == [1, 0, 0, 0])
    #expect(try binary(.maximum, .bool, a, b) == [1, 1, 1, 0])
    #expect(try binary(.minimum, .bool, a, b) == [1, 0, 0, 0])
    #expect(try binary(.bitwiseXor, .bool, a, b) == [0, 1, 1, 0])
    #expect(BinaryOperation.sub().supports(.bool) == false)
    #expect(BinaryOperation.div.supports(.int64) == false)
    #expect(BinaryOperation.bitwiseOr.supports(.float32) == false)
  }

  @Test func comparisonsAndLogicalOps() {
    let a: [Float] = [1, 2, .nan, 3]
    let b: [Float] = [1, 3, .nan, 2]
    #expect(compare(.equal, .float32, a, b) == [1, 0, 0, 0])
    #expect(compare(.notEqual, .float32, a, b) == [0, 1, 1, 1])
    #expect(compare(.less, .float32, a, b) == [0, 1, 0, 0])
    #expect(compare(.lessOrEqual, .float32, a, b) == [1, 1, 0, 0])
    #expect(compare(.greater, .float32, a, b) == [0, 0, 0, 1])
    #expect(compare(.greaterOrEqual, .float32, a, b) == [1, 0, 0, 1])
    #expect(compare(.less, .int64, [-1, 5] as [Int64], [0, 5] as [Int64]) == [1, 0])
    #expect(compare(.greater, .uint8, [200, 5] as [UInt8], [100, 5] as [UInt8]) == [1, 0])
    for (op, expected) in [(LogicalOperation.and, [UInt8]([0, 0, 1, 0])), (.or, [0, 1, 1, 1]), (.xor, [0, 1, 0, 1])] {
      let x: [Int32] = [0, 0, 3, -1]
      let y: [Int32] = [0, 5, 4, 0]
      var output = [UInt8](repeating: 9, count: 4)
      x.withUnsafeBytes { x in
        y.withUnsafeBytes { y in
          output.withUnsafeMutableBytes { output in
            ElementwiseKernels.logical(
              op, dtype: .int32, a: x.baseAddress!, aStrides: [1], b: y.baseAddress!, bStrides: [1],
              output: output.baseAddress!, outputStrides: [1], shape: [4])
          }
        }
      }
      #expect(output == expected, "\(op)")
    }
  }

  @Test func selectPicksByCondition() {
    // where(condition [2, 1], a [1, 3], b 0-d) → [2, 3].
    let condition: [UInt8] = [1, 0]
    let a: [Int64] = [1, 2, 3]
    let b: [Int64] = [-9]
    var output = [Int64](repeating: 0, count: 6)
    condition.withUnsafeBytes { condition in
      a.withUnsafeBytes { a in
        b.withUnsafeBytes { b in
          output.withUnsafeMutableBytes { output in
            ElementwiseKernels.select(
              elementSize: 8, condition: condition.baseAddress!, conditionStrides: [1, 0], a: a.baseAddress!,
              aStrides: [0, 1], b: b.baseAddress!, bStrides: [0, 0], output: output.baseAddress!, outputStrides: [3, 1],
              shape: [2, 3])
          }
        }
      }
    }
    #expect(output == [1, 2, 3, -9, -9, -9])
  }

  @Test func broadcastingCorners() throws {
    // Row vector over a matrix, outer sum, 0-d scalar, and size-1 dims.
    #expect(try binary(.add(), .float32, [1, 2, 3, 4, 5, 6] as [Float], [2, 3], [10, 20, 30] as [Float], [3])
      == [11, 22, 33, 14, 25, 36])
    #expect(try binary(.mul, .float32, [1, 2] as [Float], [2, 1], [1, 10, 100] as [Float], [1, 3]) == [1, 10, 100, 2, 20, 200])
    #expect(try binary(.sub(), .float32, [5] as [Float], [], [1, 2] as [Float], [2]) == [4, 3])
    #expect(try binary(.sub(), .float32, [5] as [Float], [], [1] as [Float], []) == [4])
    #expect(try binary(.maximum, .int64, [1, 9] as [Int64], [1, 2, 1], [5] as [Int64], [1, 1, 1]) == [5, 9])
    // A zero-size dimension: nothing is read or written.
    var untouched: [Float] = [42]
    let a: [Float] = [1]
    try a.withUnsafeBytes { a in
      try untouched.withUnsafeMutableBytes { output in
        try ElementwiseKernels.binary(
          .add(), dtype: .float32, a: a.baseAddress!, aStrides: [0, 0], b: a.baseAddress!, bStrides: [0, 0],
          output: output.baseAddress!, outputStrides: [0, 1], shape: [0, 3])
      }
    }
    #expect(untouched == [42])
  }

  /// Random shapes with broadcast dims, permuted input layouts and strided output, against an
  /// index-by-index definition.
  @Test(arguments: 0..<40)
  func matchesDefinitionOnRandomLayouts(seed: Int) throws {
    var generator = SeededGenerator(seed: UInt64(seed) &+ 7000)
    let rank = Int.random(in: 0...4, using: &generator)
    let shape = (0..<rank).map { _ in [0, 1, 2, 3, 5][Int.random(in: seed == 0 ? 0..<5 : 1..<5, using: &generator)] }
    // Each operand keeps a random suffix of the dims, with random dims squeezed to 1.
    func operandShape() -> [Int] {
      let kept = Int.random(in: 0...rank, using: &generator)
      return shape.suffix(kept).map { Bool.random(using: &generator) ? $0 : 1 }
    }
    // A random storage order: strides of the shape with its dims permuted.
    func permutedStrides(_ shape: [Int]) -> [Int] {
      let order = Array(shape.indices).shuffled(using: &generator)
      var strides = [Int](repeating: 0, count: shape.count)
      var running = 1
      for dim in order.reversed() {
        strides[dim] = running
        running *= max(shape[dim], 1)
      }
      return strides
    }
    let (aShape, bShape) = (operandShape(), operandShape())
    let outputShape = try Broadcasting.shape(aShape, bShape)
    let (aStrides, bStrides) = (permutedStrides(aShape), permutedStrides(bShape))
    let a = generator.floats(max(aShape.elementCount, 1))
    let b = generator.floats(max(bShape.elementCount, 1), in: 0.5...2)
    // Output strides padded by one element per row to make it non-contiguous.
    var outputStrides = rowMajorStrides(outputShape)
    if let last = outputShape.last { for dim in outputStrides.indices.dropLast() { outputStrides[dim] = outputStrides[dim] / max(last, 1) * (last + 1) } }
    let extent = outputShape.isEmpty ? 1 : zip(outputShape, outputStrides).reduce(1) { $0 + max($1.0 - 1, 0) * $1.1 }
    for (op, definition) in [
      (BinaryOperation.add(alpha: .double(-0.5)), { (x: Double, y: Double) in x - 0.5 * y }),
      (.mul, { $0 * $1 }), (.div, { $0 / $1 }), (.maximum, { max($0, $1) }),
    ] {
      var output = [Float](repeating: -1234, count: extent)
      try a.withUnsafeBytes { a in
        try b.withUnsafeBytes { b in
          try output.withUnsafeMutableBytes { output in
            try ElementwiseKernels.binary(
              op, dtype: .float32, a: a.baseAddress!,
              aStrides: Broadcasting.strides(aStrides, shape: aShape, to: outputShape), b: b.baseAddress!,
              bStrides: Broadcasting.strides(bStrides, shape: bShape, to: outputShape), output: output.baseAddress!,
              outputStrides: outputStrides, shape: outputShape)
          }
        }
      }
      var expected = [Double](repeating: -1234, count: extent)
      for linear in 0..<outputShape.elementCount {
        let index = multiIndex(linear, outputShape)
        func element(_ values: [Float], _ shape: [Int], _ strides: [Int]) -> Double {
          let lead = index.count - shape.count
          let own = shape.indices.map { shape[$0] == 1 ? 0 : index[lead + $0] }
          return Double(values[offset(own, strides)])
        }
        expected[offset(index, outputStrides)] = definition(element(a, aShape, aStrides), element(b, bShape, bStrides))
      }
      expectClose(output, expected, tolerance: 1e-6, "\(op) \(aShape) \(bShape)")
    }
  }
}
