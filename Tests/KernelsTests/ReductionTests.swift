import Foundation
import Kernels
import TensorCore
import Testing

/// Runs `ReductionKernels.reduce` over a contiguous (or `strides`-laid-out) array.
func reduce<T, R>(
  _ op: ReductionOperation, _ dtype: DType, _ x: [T], shape: [Int], strides: [Int]? = nil, dims: [Int],
  result: R.Type
) throws -> [R] {
  let normalized = try ReductionKernels.normalizeDims(dims, rank: shape.count, op: "test")
  let outputShape = try ReductionKernels.outputShape(op, inputShape: shape, dims: dims, keepdim: false)
  var output = [UInt8](repeating: 0, count: max(outputShape.elementCount, 1) * MemoryLayout<R>.stride)
  x.withUnsafeBytes { x in
    output.withUnsafeMutableBytes { output in
      ReductionKernels.reduce(
        op, dtype: dtype, input: x.baseAddress!, shape: shape, strides: strides ?? rowMajorStrides(shape),
        dims: normalized, output: output.baseAddress!)
    }
  }
  return output.withUnsafeBytes { Array($0.bindMemory(to: R.self).prefix(outputShape.elementCount)) }
}

/// Runs `ReductionKernels.extremum`, returning (values, indices).
func extremum(
  _ kind: Extremum, _ x: [Float], shape: [Int], strides: [Int]? = nil, dim: Int?
) throws -> ([Float], [Int64]) {
  let outputShape = try ReductionKernels.extremumOutputShape(kind, inputShape: shape, dim: dim, keepdim: false)
  let normalized = try dim.map { try ReductionKernels.normalizeDims([$0], rank: shape.count, op: "test").first ?? 0 }
  var values = [Float](repeating: .nan, count: outputShape.elementCount)
  var indices = [Int64](repeating: -1, count: outputShape.elementCount)
  x.withUnsafeBytes { x in
    values.withUnsafeMutableBytes { values in
      indices.withUnsafeMutableBufferPointer { indices in
        ReductionKernels.extremum(
          kind, dtype: .float32, input: x.baseAddress!, shape: shape, strides: strides ?? rowMajorStrides(shape),
          dim: normalized, values: values.baseAddress!, indices: indices.baseAddress!)
      }
    }
  }
  return (values, indices)
}

@Suite struct ReductionTests {
  // x[i][j][k] = 12i + 4j + k over shape [2, 3, 4].
  let cube = (0..<24).map(Float.init)

  @Test func sumsOverDimSets() throws {
    // Over k: 4·(12i + 4j) + 6.
    expectClose(try reduce(.sum, .float32, cube, shape: [2, 3, 4], dims: [2], result: Float.self), [6, 22, 38, 54, 70, 86] as [Float])
    // Over i and k (dims given out of order and negative): Σ_i Σ_k = 2·(4·4j + 6) + 4·12 = 32j + 60.
    expectClose(try reduce(.sum, .float32, cube, shape: [2, 3, 4], dims: [-1, 0], result: Float.self), [60, 92, 124] as [Float])
    // Empty dim list: everything (PyTorch's dim=[]).
    expectClose(try reduce(.sum, .float32, cube, shape: [2, 3, 4], dims: [], result: Float.self), [276] as [Float])
    expectClose(try reduce(.mean, .float32, cube, shape: [2, 3, 4], dims: [1], result: Float.self), [4, 5, 6, 7, 16, 17, 18, 19] as [Float])
    expectClose(try reduce(.prod, .float32, [1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3], dims: [1], result: Float.self), [6, 120] as [Float])
    // A 0-d input reduces to itself.
    expectClose(try reduce(.sum, .float32, [5] as [Float], shape: [], dims: [0], result: Float.self), [5] as [Float])
  }

  @Test func keepdimOnlyChangesTheShape() throws {
    #expect(try ReductionKernels.outputShape(.sum, inputShape: [2, 3, 4], dims: [1], keepdim: true) == [2, 1, 4])
    #expect(try ReductionKernels.outputShape(.sum, inputShape: [2, 3, 4], dims: [1], keepdim: false) == [2, 4])
    #expect(try ReductionKernels.outputShape(.mean, inputShape: [2, 3], dims: [], keepdim: true) == [1, 1])
    #expect(try ReductionKernels.outputShape(.amax, inputShape: [2, 3], dims: [], keepdim: false) == [])
    #expect(try ReductionKernels.outputShape(.sum, inputShape: [], dims: [-1], keepdim: true) == [])
  }

  @Test func badDimsAndEmptyReductionsAreErrors() throws {
    #expect(throws: KernelError.dimOutOfRange(op: "sum", dim: 3, rank: 3)) {
      try ReductionKernels.outputShape(.sum, inputShape: [2, 3, 4], dims: [3], keepdim: false)
    }
    #expect(throws: KernelError.duplicateDim(op: "sum", dim: 1)) {
      try ReductionKernels.outputShape(.sum, inputShape: [2, 3, 4], dims: [1, -2], keepdim: false)
    }
    #expect(throws: KernelError.emptyReduction(op: "amax", dim: 0)) {
      try ReductionKernels.outputShape(.amax, inputShape: [0, 3], dims: [0], keepdim: false)
    }
    #expect(throws: KernelError.emptyReduction(op: "max", dim: 1)) {
      try ReductionKernels.extremumOutputShape(.max, inputShape: [3, 0], dim: 1, keepdim: false)
    }
    // amax over a non-empty dim of an empty tensor is fine: the result is empty.
    #expect(try ReductionKernels.outputShape(.amax, inputShape: [0, 3], dims: [1], keepdim: false) == [0])
    // Reductions with an identity accept zero elements.
    #expect(try reduce(.sum, .float32, [] as [Float], shape: [0], dims: [0], result: Float.self) == [0])
    #expect(try reduce(.prod, .float32, [] as [Float], shape: [0, 2], dims: [0], result: Float.self) == [1, 1])
    #expect(try reduce(.mean, .float32, [] as [Float], shape: [0], dims: [], result: Float.self)[0].isNaN)
  }

  @Test func resultTypesFollowPyTorch() throws {
    #expect(ReductionOperation.sum.resultType(for: .int32) == .int64)
    #expect(ReductionOperation.prod.resultType(for: .bool) == .int64)
    #expect(ReductionOperation.sum.resultType(for: .float64) == .float64)
    #expect(ReductionOperation.amax.resultType(for: .int8) == .int8)
    #expect(ReductionOperation.mean.resultType(for: .int64) == nil)
    #expect(ReductionOperation.variance(correction: 1).resultType(for: .uint8) == nil)
    // int32 sums to int64 without overflow; bools count; uint8 amax stays uint8.
    #expect(try reduce(.sum, .int32, [Int32.max, Int32.max] as [Int32], shape: [2], dims: [0], result: Int64.self) == [2 * Int64(Int32.max)])
    #expect(try reduce(.sum, .bool, [1, 0, 1, 1] as [UInt8], shape: [4], dims: [0], result: Int64.self) == [3])
    #expect(try reduce(.amax, .uint8, [3, 200, 7] as [UInt8], shape: [3], dims: [0], result: UInt8.self) == [200])
    #expect(try reduce(.amin, .int64, [3, -200, 7] as [Int64], shape: [3], dims: [0], result: Int64.self) == [-200])
    #expect(try reduce(.prod, .int8, [-2, 3, 5] as [Int8], shape: [3], dims: [0], result: Int64.self) == [-30])
  }

  @Test func maxAndMinPropagateNaN() throws {
    let x: [Float] = [1, .nan, 3, 2, 5, 4]
    expectClose(try reduce(.amax, .float32, x, shape: [2, 3], dims: [1], result: Float.self), [Float.nan, 5])
    expectClose(try reduce(.amin, .float32, x, shape: [2, 3], dims: [1], result: Float.self), [Float.nan, 2])
  }

  @Test func varianceAndStandardDeviation() throws {
    // [1, 2, 4]: mean 7/3, Σ(x − mean)² = 14/3; biased 14/9, unbiased 7/3.
    let x: [Float] = [1, 2, 4]
    expectClose(try reduce(.variance(correction: 0), .float32, x, shape: [3], dims: [0], result: Float.self), [14.0 / 9])
    expectClose(try reduce(.variance(correction: 1), .float32, x, shape: [3], dims: [0], result: Float.self), [7.0 / 3])
    expectClose(
      try reduce(.standardDeviation(correction: 1), .float64, [1, 2, 4] as [Double], shape: [3], dims: [0], result: Double.self),
      [(7.0 / 3).squareRoot()])
    // One element with the unbiased correction divides 0 by 0.
    #expect(try reduce(.variance(correction: 1), .float32, [3] as [Float], shape: [1], dims: [0], result: Float.self)[0].isNaN)
  }

  @Test func extremaWithIndices() throws {
    // Ties keep the first index; the first NaN wins and stays.
    let x: [Float] = [1, 3, 3, 0, 2, .nan, 7, .nan]
    let (maxValues, maxIndices) = try extremum(.max, x, shape: [2, 4], dim: 1)
    expectClose(maxValues, [3, Float.nan])
    #expect(maxIndices == [1, 1])
    let (minValues, minIndices) = try extremum(.min, x, shape: [2, 4], dim: -1)
    expectClose(minValues, [0, Float.nan])
    #expect(minIndices == [3, 1])
    // Along dim 0 of the 2×4 view: column-wise.
    let (columnMax, columnArg) = try extremum(.max, [1, 9, 3, 3, 4, 2, 3, 8] as [Float], shape: [2, 4], dim: 0)
    #expect(columnMax == [4, 9, 3, 8] && columnArg == [1, 0, 0, 1])
    // No dim: the index into the row-major flattening (argmax()).
    let (_, flat) = try extremum(.max, [1, 9, 3, 3, 4, 2, 3, 9] as [Float], shape: [2, 4], dim: nil)
    #expect(flat == [1])
    // A transposed view: the index counts along the view's dim, not memory.
    let (_, transposed) = try extremum(.max, [1, 9, 3, 3, 4, 2, 3, 8] as [Float], shape: [4, 2], strides: [1, 4], dim: 1)
    #expect(transposed == [1, 0, 0, 1])
  }

  @Test func integerExtremaAndArgmaxWithoutValues() throws {
    let x: [Int64] = [5, -1, 5, 9]
    var indices = [Int64](repeating: -1, count: 2)
    x.withUnsafeBytes { x in
      indices.withUnsafeMutableBufferPointer { indices in
        ReductionKernels.extremum(
          .min, dtype: .int64, input: x.baseAddress!, shape: [2, 2], strides: [2, 1], dim: 1, values: nil,
          indices: indices.baseAddress!)
      }
    }
    #expect(indices == [1, 0])
  }

  /// Random shapes, dim sets and layouts for every reduction, against a definition that groups
  /// elements by their kept indices.
  @Test(arguments: 0..<30)
  func matchesDefinitionOnRandomShapes(seed: Int) throws {
    var generator = SeededGenerator(seed: UInt64(seed) &+ 31_000)
    let rank = Int.random(in: 0...4, using: &generator)
    let shape = (0..<rank).map { _ in Int.random(in: 1...4, using: &generator) }
    let dims = shape.indices.filter { _ in Bool.random(using: &generator) }
    // A permuted storage order.
    let order = Array(shape.indices).shuffled(using: &generator)
    var strides = [Int](repeating: 0, count: rank)
    var running = 1
    for dim in order.reversed() {
      strides[dim] = running
      running *= shape[dim]
    }
    let x = generator.floats(shape.elementCount, in: -2...2)
    let reduced = dims.isEmpty ? Array(shape.indices) : dims
    let kept = shape.indices.filter { !reduced.contains($0) }
    let keptShape = kept.map { shape[$0] }
    var groups = [[Double]](repeating: [], count: keptShape.elementCount)
    for linear in 0..<shape.elementCount {
      let index = multiIndex(linear, shape)
      let group = kept.isEmpty ? 0 : offset(kept.map { index[$0] }, rowMajorStrides(keptShape))
      groups[group].append(Double(x[offset(index, strides)]))
    }
    func variance(_ values: [Double], _ correction: Int) -> Double {
      let mean = values.reduce(0, +) / Double(values.count)
      return values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(0, values.count - correction))
    }
    let cases: [(ReductionOperation, ([Double]) -> Double)] = [
      (.sum, { $0.reduce(0, +) }), (.mean, { $0.reduce(0, +) / Double($0.count) }), (.prod, { $0.reduce(1, *) }),
      (.amax, { $0.max()! }), (.amin, { $0.min()! }), (.variance(correction: 1), { variance($0, 1) }),
      (.standardDeviation(correction: 0), { variance($0, 0).squareRoot() }),
    ]
    for (op, definition) in cases {
      let result = try reduce(op, .float32, x, shape: shape, strides: strides, dims: dims, result: Float.self)
      expectClose(result, groups.map(definition), tolerance: 1e-5, "\(op) \(shape) dims \(dims)")
    }
    if let dim = dims.first {
      // max/min along one dim: compare values and that the index points at the winner.
      let (values, indices) = try extremum(.max, x, shape: shape, strides: strides, dim: dim)
      let otherDims = shape.indices.filter { $0 != dim }
      for (position, value) in values.enumerated() {
        var index = [Int](repeating: 0, count: rank)
        let outer = multiIndex(position, otherDims.map { shape[$0] })
        for (k, d) in otherDims.enumerated() { index[d] = outer[k] }
        let line = (0..<shape[dim]).map { i -> Float in
          index[dim] = i
          return x[offset(index, strides)]
        }
        #expect(value == line.max()!)
        #expect(Int(indices[position]) == line.firstIndex(of: line.max()!)!)
      }
    }
  }
}

@Suite struct SoftmaxTests {
  func softmax(
    _ x: [Float], shape: [Int], strides: [Int]? = nil, dim: Int, logarithm: Bool = false
  ) -> [Float] {
    var output = [Float](repeating: .nan, count: x.count)
    let strides = strides ?? rowMajorStrides(shape)
    x.withUnsafeBytes { x in
      output.withUnsafeMutableBytes { output in
        SoftmaxKernels.softmax(
          dtype: .float32, input: x.baseAddress!, inputStrides: strides, output: output.baseAddress!,
          outputStrides: strides, shape: shape, dim: dim, logarithm: logarithm)
      }
    }
    return output
  }

  @Test func rowByHand() {
    let sum = exp(1.0) + exp(2.0) + exp(3.0)
    expectClose(softmax([1, 2, 3], shape: [3], dim: 0), [exp(1.0) / sum, exp(2.0) / sum, exp(3.0) / sum])
    expectClose(softmax([1, 2, 3], shape: [3], dim: 0, logarithm: true), [1 - log(sum), 2 - log(sum), 3 - log(sum)])
    // Shifting by a large constant changes nothing and does not overflow.
    expectClose(softmax([1001, 1002, 1003], shape: [3], dim: 0), [exp(1.0) / sum, exp(2.0) / sum, exp(3.0) / sum])
    expectClose(softmax([-1003, -1002, -1001], shape: [3], dim: 0), [exp(1.0) / sum, exp(2.0) / sum, exp(3.0) / sum])
    expectClose(softmax([-1000, 0], shape: [2], dim: 0, logarithm: true), [-1000, 0] as [Float])
  }

  @Test func infinitiesAndNaN() {
    // A line of −∞ is NaN; −∞ next to a finite value gets probability 0 (log −∞).
    #expect(softmax([-.infinity, -.infinity], shape: [2], dim: 0).allSatisfy { $0.isNaN })
    expectClose(softmax([-.infinity, 0], shape: [2], dim: 0, logarithm: true), [-Float.infinity, 0])
    #expect(softmax([1, .nan, 2], shape: [3], dim: 0).allSatisfy { $0.isNaN })
    expectClose(softmax([4], shape: [], dim: 0), [1] as [Float])
  }

  @Test(arguments: [0, 1, 2])
  func alongEachDimOfAStridedTensor(dim: Int) {
    // A [2, 3, 2] view stored as its transpose [2, 3, 2] ← memory order (k, j, i).
    var generator = SeededGenerator(seed: UInt64(dim) &+ 77)
    let shape = [2, 3, 2]
    let strides = [1, 2, 6]
    let x = generator.floats(12, in: -3...3)
    let result = softmax(x, shape: shape, strides: strides, dim: dim)
    let logResult = softmax(x, shape: shape, strides: strides, dim: dim, logarithm: true)
    var expected = [Double](repeating: 0, count: 12)
    var expectedLog = [Double](repeating: 0, count: 12)
    for linear in 0..<12 {
      var index = multiIndex(linear, shape)
      let line = (0..<shape[dim]).map { i -> Double in
        index[dim] = i
        return Double(x[offset(index, strides)])
      }
      index = multiIndex(linear, shape)
      let total = line.map { exp($0) }.reduce(0, +)
      expected[offset(index, strides)] = exp(Double(x[offset(index, strides)])) / total
      expectedLog[offset(index, strides)] = Double(x[offset(index, strides)]) - log(total)
    }
    expectClose(result, expected, tolerance: 1e-6)
    expectClose(logResult, expectedLog, tolerance: 1e-6)
  }
}
