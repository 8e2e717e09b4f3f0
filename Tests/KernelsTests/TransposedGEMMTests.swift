@testable import Kernels
import Testing

/// Checks `transposedGEMM` against the reference twin (`gemmReference` + bias + clamp) for one
/// problem: set the sizes, call `test()`.
struct TransposedGEMMTester {
  var m = 1
  var n = 1
  var k = 1
  /// Padding added to B's and C's row strides.
  var bPadding = 0
  var cPadding = 0
  var hasBias = true
  var clamp = OutputClamp.none
  /// Sub-block to compute (rows from a multiple of 16); nil for all of C.
  var rows: Range<Int>?
  var columns: Range<Int>?
  var tiling = TransposedTiling.standard
  /// Rows per weight panel: 16 (6-column tiles) or 24 (4-column tiles).
  var panelRows = 16
  var seed: UInt64 = 1

  /// Runs the kernel and checks the computed sub-block against the reference and everything
  /// outside it against the sentinel it started with.
  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    var generator = SeededGenerator(seed: seed)
    let a = generator.floats(m * k)
    let bias = generator.floats(m)
    let (bRowStride, cRowStride) = (n + bPadding, n + cPadding)
    let b = generator.floats(k * bRowStride)
    let sentinel: Float = -1234.5
    var c = [Float](repeating: sentinel, count: m * cRowStride)
    let weights = a.withUnsafeBufferPointer { a in
      bias.withUnsafeBufferPointer { bias in
        VectorPanelWeights(
          rows: m, depth: k, weights: a.baseAddress!, rowStride: k, bias: hasBias ? bias.baseAddress! : nil,
          panelRows: panelRows)
      }
    }
    let (rowRange, columnRange) = (rows ?? 0..<m, columns ?? 0..<n)
    let scratch = AlignedBuffer(count: tiling.scratchCount(depth: k))
    b.withUnsafeBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in
        GEMMKernels.transposedGEMM(
          weights: weights, b: b.baseAddress!, bRowStride: bRowStride,
          c: c.baseAddress! + rowRange.lowerBound * cRowStride + columnRange.lowerBound, cRowStride: cRowStride,
          clamp: clamp, rows: rowRange, columns: columnRange, scratch: scratch.pointer, tiling: tiling)
      }
    }
    let expected = PackedGEMMTester.reference(
      m: m, n: n, k: k, groups: 1, a: a, b: b, bRowStride: bRowStride, bias: hasBias ? bias : nil, clamp: clamp)
    var (actual, wanted): ([Float], [Float]) = ([], [])
    for i in 0..<m {
      for j in 0..<cRowStride {
        actual.append(c[i * cRowStride + j])
        wanted.append(rowRange.contains(i) && columnRange.contains(j) ? expected[i * n + j] : sentinel)
      }
    }
    expectClose(actual, wanted, tolerance: 1e-5, "\(self)", sourceLocation: sourceLocation)
  }
}

/// Blocks small enough that a test-sized problem has several depth and column blocks.
let smallTransposedTiling = TransposedTiling(depthBlock: 8, columnBlock: 12)

@Suite struct TransposedGEMMTests {
  /// Rows across and past the 16- and 24-row panels (a partial last panel is computed on zero
  /// weights and dropped).
  @Test(arguments: Array(1...17) + [23, 24, 25, 31, 32, 33, 48, 49, 96])
  func sweepM(m: Int) {
    for panelRows in [16, 24] {
      TransposedGEMMTester(m: m, n: 19, k: 9, panelRows: panelRows, seed: UInt64(m)).test()
      TransposedGEMMTester(
        m: m, n: 27, k: 21, clamp: .relu6, tiling: smallTransposedTiling, panelRows: panelRows, seed: UInt64(m) + 100
      ).test()
    }
  }

  /// Columns across the 6- and 4-column tiles, the 8-column transposed store and the column
  /// block.
  @Test(arguments: Array(1...17) + [95, 96, 97, 169, 196])
  func sweepN(n: Int) {
    for panelRows in [16, 24] {
      TransposedGEMMTester(m: 20, n: n, k: 7, panelRows: panelRows, seed: UInt64(n)).test()
      TransposedGEMMTester(
        m: 20, n: n, k: 13, tiling: smallTransposedTiling, panelRows: panelRows, seed: UInt64(n) + 100
      ).test()
    }
  }

  /// Depths across one and several depth blocks (the Cᵀ scratch accumulates between them).
  @Test(arguments: [1, 2, 7, 8, 9, 16, 17, 127, 128, 129, 300, 576])
  func sweepK(k: Int) {
    for panelRows in [16, 24] {
      TransposedGEMMTester(m: 24, n: 23, k: k, panelRows: panelRows, seed: UInt64(k)).test()
      TransposedGEMMTester(
        m: 24, n: 23, k: k, tiling: smallTransposedTiling, panelRows: panelRows, seed: UInt64(k) + 100
      ).test()
    }
  }

  @Test(arguments: clamps.indices)
  func clampsAndBias(index: Int) {
    for panelRows in [16, 24] {
      TransposedGEMMTester(m: 40, n: 50, k: 30, clamp: clamps[index], panelRows: panelRows, seed: UInt64(index)).test()
      TransposedGEMMTester(
        m: 40, n: 50, k: 30, hasBias: false, clamp: clamps[index], panelRows: panelRows, seed: UInt64(index) + 9
      ).test()
    }
  }

  @Test func stridesAndSubBlocksTouchOnlyTheirElements() {
    TransposedGEMMTester(m: 33, n: 29, k: 11, bPadding: 3, cPadding: 5, clamp: .relu).test()
    TransposedGEMMTester(m: 33, n: 29, k: 11, bPadding: 3, cPadding: 5, clamp: .relu, panelRows: 24).test()
    for (rows, columns) in [(16..<33, 0..<29), (0..<16, 4..<5), (0..<33, 7..<22), (32..<33, 28..<29)] {
      TransposedGEMMTester(m: 33, n: 29, k: 11, cPadding: 2, rows: rows, columns: columns).test()
      TransposedGEMMTester(m: 33, n: 29, k: 11, rows: rows, columns: columns, tiling: smallTransposedTiling).test()
    }
    for (rows, columns) in [(24..<33, 0..<29), (0..<24, 4..<5), (0..<33, 7..<22), (24..<33, 28..<29)] {
      TransposedGEMMTester(m: 33, n: 29, k: 11, cPadding: 2, rows: rows, columns: columns, panelRows: 24).test()
    }
  }

  /// Panels of 24 rows unless panels of 16 leave fewer zero rows.
  @Test func panelHeights() {
    #expect(VectorPanelWeights.panelRows(forRows: 96) == 24)
    #expect(VectorPanelWeights.panelRows(forRows: 48) == 24)
    #expect(VectorPanelWeights.panelRows(forRows: 20) == 24)
    #expect(VectorPanelWeights.panelRows(forRows: 64) == 16)
    #expect(VectorPanelWeights.panelRows(forRows: 32) == 16)
    #expect(VectorPanelWeights.panelRows(forRows: 160) == 16)
  }

  /// Splitting rows by panels or columns anywhere gives the same floats as one call: each
  /// element's sum runs over k in order whatever tile it falls in.
  @Test(arguments: [(0, 16), (1, 16), (0, 24), (1, 24)])
  func splitsCompose(tilingIndex: Int, panelRows: Int) {
    let tiling = [TransposedTiling.standard, smallTransposedTiling][tilingIndex]
    let (m, n, k) = (45, 61, 150)
    var generator = SeededGenerator(seed: 3)
    let (a, bias, b) = (generator.floats(m * k), generator.floats(m), generator.floats(k * n))
    let weights = a.withUnsafeBufferPointer { a in
      bias.withUnsafeBufferPointer {
        VectorPanelWeights(
          rows: m, depth: k, weights: a.baseAddress!, rowStride: k, bias: $0.baseAddress!, panelRows: panelRows)
      }
    }
    let scratch = AlignedBuffer(count: tiling.scratchCount(depth: k))
    func run(_ parts: [(Range<Int>, Range<Int>)]) -> [Float] {
      var c = [Float](repeating: .nan, count: m * n)
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          for (rows, columns) in parts {
            GEMMKernels.transposedGEMM(
              weights: weights, b: b.baseAddress!, bRowStride: n,
              c: c.baseAddress! + rows.lowerBound * n + columns.lowerBound, cRowStride: n, clamp: .hardtanh(-2, 2),
              rows: rows, columns: columns, scratch: scratch.pointer, tiling: tiling)
          }
        }
      }
      return c
    }
    let whole = run([(0..<m, 0..<n)])
    #expect(!whole.contains { $0.isNaN })
    let p = panelRows
    #expect(run([(0..<p, 0..<n), (p..<m, 0..<n)]) == whole)
    #expect(run([(0..<m, 0..<5), (0..<m, 5..<30), (0..<m, 30..<n)]) == whole)
    #expect(run([(0..<p, 0..<13), (p..<m, 0..<13), (0..<p, 13..<n), (p..<m, 13..<n)]) == whole)
  }

  @Test func prefersTransposedTilesOnlyForDeepNarrowProjections() throws {
    func shape(_ cin: Int, _ cout: Int, _ side: Int, kernel: Int = 1, groups: Int = 1) throws -> Conv2DShape {
      try Conv2DShape.conv2d(
        input: [1, cin, side, side], weight: [cout, cin / groups, kernel, kernel], stride: [1, 1], padding: .explicit([0, 0]),
        dilation: [1, 1], groups: groups)
    }
    #expect(ConvolutionKernels.prefersTransposedTiles(try shape(576, 96, 14)))
    #expect(ConvolutionKernels.prefersTransposedTiles(try shape(256, 32, 27)))
    #expect(!ConvolutionKernels.prefersTransposedTiles(try shape(960, 320, 7)))  // 7×7 plane
    #expect(!ConvolutionKernels.prefersTransposedTiles(try shape(144, 24, 56)))  // shallow, large plane
    #expect(!ConvolutionKernels.prefersTransposedTiles(try shape(512, 1000, 13)))  // wide A
    #expect(!ConvolutionKernels.prefersTransposedTiles(try shape(576, 96, 14, kernel: 3)))
    #expect(!ConvolutionKernels.prefersTransposedTiles(try shape(576, 96, 14, groups: 2)))
  }
}
