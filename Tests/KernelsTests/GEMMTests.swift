import Kernels
import Testing

/// One strided matrix operand for the GEMM tests: `values[offset + i·rowStride + j·columnStride]`.
struct TestMatrix {
  var values: [Float]
  var rows: Int
  var columns: Int
  var rowStride: Int
  var columnStride: Int

  /// A random matrix laid out row-major, column-major or with padded rows.
  init(rows: Int, columns: Int, layout: Int, generator: inout SeededGenerator) {
    self.rows = rows
    self.columns = columns
    switch layout {
    case 0: (rowStride, columnStride) = (columns, 1)
    case 1: (rowStride, columnStride) = (1, rows)
    default: (rowStride, columnStride) = (columns * 2 + 1, 2)
    }
    let extent = rows == 0 || columns == 0 ? 1 : (rows - 1) * rowStride + (columns - 1) * columnStride + 1
    values = generator.floats(extent)
  }

  subscript(row: Int, column: Int) -> Float { values[row * rowStride + column * columnStride] }
}

/// Runs `gemmReference` on arrays.
func gemm(_ a: TestMatrix, _ b: TestMatrix, alpha: Float = 1, beta: Float = 0, c: [Float], cRowStride: Int) -> [Float] {
  var c = c
  a.values.withUnsafeBufferPointer { aBuffer in
    b.values.withUnsafeBufferPointer { bBuffer in
      c.withUnsafeMutableBufferPointer { cBuffer in
        GEMMKernels.gemmReference(
          m: a.rows, n: b.columns, k: a.columns, alpha: alpha,
          a: aBuffer.baseAddress!, aRowStride: a.rowStride, aColumnStride: a.columnStride,
          b: bBuffer.baseAddress!, bRowStride: b.rowStride, bColumnStride: b.columnStride,
          beta: beta, c: cBuffer.baseAddress!, cRowStride: cRowStride)
      }
    }
  }
  return c
}

@Suite struct GEMMTests {
  @Test func smallProductByHand() {
    // [[1, 2, 3], [4, 5, 6]] · [[7, 8], [9, 10], [11, 12]] = [[58, 64], [139, 154]]
    var generator = SeededGenerator(seed: 0)
    var a = TestMatrix(rows: 2, columns: 3, layout: 0, generator: &generator)
    a.values = [1, 2, 3, 4, 5, 6]
    var b = TestMatrix(rows: 3, columns: 2, layout: 0, generator: &generator)
    b.values = [7, 8, 9, 10, 11, 12]
    expectClose(gemm(a, b, c: [0, 0, 0, 0], cRowStride: 2), [58, 64, 139, 154] as [Float])
    // alpha 2, beta −1 on C = [1, 1, 1, 1].
    expectClose(gemm(a, b, alpha: 2, beta: -1, c: [1, 1, 1, 1], cRowStride: 2), [115, 127, 277, 307] as [Float])
    // Bᵀ read through swapped strides: B' = [[7, 9, 11], [8, 10, 12]] stored row-major.
    var transposed = TestMatrix(rows: 3, columns: 2, layout: 1, generator: &generator)
    transposed.values = [7, 9, 11, 8, 10, 12]
    expectClose(gemm(a, transposed, c: [0, 0, 0, 0], cRowStride: 2), [58, 64, 139, 154] as [Float])
  }

  @Test func betaZeroAndAlphaZeroDoNotReadTheSkippedOperands() {
    var generator = SeededGenerator(seed: 1)
    var a = TestMatrix(rows: 1, columns: 2, layout: 0, generator: &generator)
    a.values = [1, 2]
    var b = TestMatrix(rows: 2, columns: 1, layout: 0, generator: &generator)
    b.values = [3, 4]
    // NaN in C is ignored when beta is 0 (BLAS and torch.addmm semantics).
    expectClose(gemm(a, b, c: [.nan], cRowStride: 1), [11] as [Float])
    a.values = [.nan, 1]
    expectClose(gemm(a, b, alpha: 0, beta: 2, c: [5], cRowStride: 1), [10] as [Float])
    // k = 0: the product is empty, C becomes beta · C.
    let empty = TestMatrix(rows: 2, columns: 0, layout: 0, generator: &generator)
    let emptyB = TestMatrix(rows: 0, columns: 2, layout: 0, generator: &generator)
    expectClose(gemm(empty, emptyB, beta: 0.5, c: [2, 4, 6, 8], cRowStride: 2), [1, 2, 3, 4] as [Float])
  }

  /// Every loop nest (row panels, dot products, general strides) against the triple loop, with
  /// edge sizes: m, n, k of 1, sizes not multiples of 4 or the block sizes, padded C rows.
  @Test(arguments: 0..<27)
  func matchesTripleLoop(layouts: Int) {
    var generator = SeededGenerator(seed: UInt64(layouts) &+ 100)
    let sizes = [(1, 1, 1), (3, 5, 7), (4, 8, 1), (7, 1, 13), (2, 300, 5), (5, 17, 140), (1, 33, 260)]
    for (m, n, k) in sizes {
      let a = TestMatrix(rows: m, columns: k, layout: layouts % 3, generator: &generator)
      let b = TestMatrix(rows: k, columns: n, layout: (layouts / 3) % 3, generator: &generator)
      let cRowStride = n + (layouts / 9)
      let c = generator.floats(m * cRowStride)
      let (alpha, beta): (Float, Float) = [(1, 0), (0.5, 1), (-2, 0.25)][(layouts + m) % 3]
      var expected = c.map(Double.init)
      for i in 0..<m {
        for j in 0..<n {
          var sum = 0.0
          for p in 0..<k { sum += Double(a[i, p]) * Double(b[p, j]) }
          expected[i * cRowStride + j] = Double(alpha) * sum + (beta == 0 ? 0 : Double(beta) * Double(c[i * cRowStride + j]))
        }
      }
      expectClose(gemm(a, b, alpha: alpha, beta: beta, c: c, cRowStride: cRowStride), expected, tolerance: 1e-5, "m\(m) n\(n) k\(k)")
    }
  }

  @Test func batchedProductsBroadcastAStrideZeroOperand() {
    // Two products sharing one A (batch stride 0): A = [[1, 2]], B_t = [[t], [1]].
    let a: [Float] = [1, 2]
    let b: [Float] = [10, 1, 20, 1]
    var c = [Float](repeating: 0, count: 2)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          GEMMKernels.batchedGEMMReference(
            batch: 2, m: 1, n: 1, k: 2, a: a.baseAddress!, aBatchStride: 0, aRowStride: 2, aColumnStride: 1,
            b: b.baseAddress!, bBatchStride: 2, bRowStride: 1, bColumnStride: 1, c: c.baseAddress!, cBatchStride: 1,
            cRowStride: 1)
        }
      }
    }
    expectClose(c, [12, 22] as [Float])
  }

  @Test func linearIsInputTimesWeightTransposedPlusBias() {
    // x = [[1, 2], [3, 4]], W = [[1, 0], [0, 1], [1, 1]], b = [0.5, −10, 0].
    let x: [Float] = [1, 2, 3, 4]
    let weight: [Float] = [1, 0, 0, 1, 1, 1]
    let bias: [Float] = [0.5, -10, 0]
    var output = [Float](repeating: .nan, count: 6)
    func run(bias: UnsafePointer<Float>?, clamp: OutputClamp) {
      x.withUnsafeBufferPointer { x in
        weight.withUnsafeBufferPointer { weight in
          output.withUnsafeMutableBufferPointer { output in
            GEMMKernels.linearReference(
              rows: 2, inputFeatures: 2, outputFeatures: 3, input: x.baseAddress!, weight: weight.baseAddress!,
              bias: bias, output: output.baseAddress!, clamp: clamp)
          }
        }
      }
    }
    bias.withUnsafeBufferPointer { run(bias: $0.baseAddress!, clamp: .none) }
    expectClose(output, [1.5, -8, 3, 3.5, -6, 7] as [Float])
    bias.withUnsafeBufferPointer { run(bias: $0.baseAddress!, clamp: .relu6) }
    expectClose(output, [1.5, 0, 3, 3.5, 0, 6] as [Float])
    run(bias: nil, clamp: .none)
    expectClose(output, [1, 2, 3, 3, 4, 7] as [Float])
  }

  @Test func matmulShapesFollowTorchMatmul() throws {
    #expect(try GEMMKernels.matmulOutputShape([3], [3]) == [])
    #expect(try GEMMKernels.matmulOutputShape([2, 3], [3]) == [2])
    #expect(try GEMMKernels.matmulOutputShape([3], [3, 4]) == [4])
    #expect(try GEMMKernels.matmulOutputShape([2, 3], [3, 4]) == [2, 4])
    #expect(try GEMMKernels.matmulOutputShape([5, 1, 2, 3], [4, 3, 6]) == [5, 4, 2, 6])
    #expect(try GEMMKernels.matmulOutputShape([3], [2, 3, 4]) == [2, 4])
    #expect(try GEMMKernels.matmulOutputShape([2, 2, 3], [3]) == [2, 2])
    #expect(throws: KernelError.self) { try GEMMKernels.matmulOutputShape([2, 3], [4, 5]) }
    #expect(throws: KernelError.self) { try GEMMKernels.matmulOutputShape([2, 2, 3], [3, 3, 4]) }
    #expect(throws: KernelError.self) { try GEMMKernels.matmulOutputShape([], [3]) }
  }

  /// `matmul` over random ranks (1-D to 4-D), broadcast batches and permuted strides, against
  /// an element-by-element definition.
  @Test(arguments: 0..<24)
  func matmulMatchesDefinition(seed: Int) throws {
    var generator = SeededGenerator(seed: UInt64(seed) &+ 500)
    let (m, k, n) = (Int.random(in: 1...4, using: &generator), Int.random(in: 1...5, using: &generator), Int.random(in: 1...4, using: &generator))
    let rankA = [1, 2, 3, 4][seed % 4]
    let rankB = [1, 2, 3, 4][(seed / 4) % 4]
    func batch(_ rank: Int) -> [Int] { (0..<max(0, rank - 2)).map { _ in [1, 2, 3][Int.random(in: 0..<3, using: &generator)] } }
    var batchA = batch(rankA)
    let batchB = batch(rankB)
    // Make the batches broadcastable: where both have a dim, unequal sizes become 1 on one side.
    for offset in stride(from: 1, through: min(batchA.count, batchB.count), by: 1) {
      let (i, j) = (batchA.count - offset, batchB.count - offset)
      if batchA[i] != batchB[j] { batchA[i] = 1 }
    }
    let shapeA = rankA == 1 ? [k] : batchA + [m, k]
    let shapeB = rankB == 1 ? [k] : batchB + [k, n]
    // A is stored with its last two dims swapped (a transposed view) when seed is odd.
    func layout(_ shape: [Int], transposeLastTwo: Bool) -> [Int] {
      guard transposeLastTwo, shape.count >= 2 else { return rowMajorStrides(shape) }
      var swapped = shape
      swapped.swapAt(shape.count - 1, shape.count - 2)
      var strides = rowMajorStrides(swapped)
      strides.swapAt(shape.count - 1, shape.count - 2)
      return strides
    }
    let stridesA = layout(shapeA, transposeLastTwo: seed % 2 == 1)
    let stridesB = layout(shapeB, transposeLastTwo: seed % 3 == 0)
    let a = generator.floats(shapeA.elementCount)
    let b = generator.floats(shapeB.elementCount)
    let outputShape = try GEMMKernels.matmulOutputShape(shapeA, shapeB)
    var output = [Float](repeating: .nan, count: outputShape.elementCount)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        output.withUnsafeMutableBufferPointer { output in
          GEMMKernels.matmulReference(
            a: a.baseAddress!, aShape: shapeA, aStrides: stridesA, b: b.baseAddress!, bShape: shapeB, bStrides: stridesB,
            output: output.baseAddress!)
        }
      }
    }
    // Definition: promote 1-D operands, broadcast batch indices, sum over k.
    let fullA = rankA == 1 ? [1, k] : shapeA
    let fullB = rankB == 1 ? [k, 1] : shapeB
    let batchShape = Array(outputShape.prefix(outputShape.count - (rankA > 1 ? 1 : 0) - (rankB > 1 ? 1 : 0)))
    let (rows, columns) = (fullA[fullA.count - 2], fullB[fullB.count - 1])
    var expected: [Double] = []
    for linear in 0..<(batchShape.elementCount * rows * columns) {
      let batchIndex = multiIndex(linear / (rows * columns), batchShape)
      let (i, j) = ((linear / columns) % rows, linear % columns)
      func element(_ values: [Float], _ shape: [Int], _ strides: [Int], row: Int, column: Int, isLeft: Bool) -> Double {
        if shape.count == 1 { return Double(values[(isLeft ? column : row) * strides[0]]) }
        let batchDims = shape.count - 2
        var index = [Int](repeating: 0, count: shape.count)
        for d in 0..<batchDims {
          let outerDim = batchShape.count - batchDims + d
          index[d] = shape[d] == 1 ? 0 : batchIndex[outerDim]
        }
        index[batchDims] = row
        index[batchDims + 1] = column
        return Double(values[offset(index, strides)])
      }
      var sum = 0.0
      for p in 0..<k {
        sum += element(a, shapeA, stridesA, row: i, column: p, isLeft: true)
          * element(b, shapeB, stridesB, row: p, column: j, isLeft: false)
      }
      expected.append(sum)
    }
    expectClose(output, expected, tolerance: 1e-5, "\(shapeA) · \(shapeB)")
  }
}
