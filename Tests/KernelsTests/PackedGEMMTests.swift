@testable import Kernels
import Testing

/// Checks `packedGEMM` against its reference twin (`gemmReference` + bias + clamp) for one
/// problem, XNNPACK-tester style: set the sizes, call `test()`.
struct PackedGEMMTester {
  var m = 1
  var n = 1
  var k = 1
  var groups = 1
  /// Padding added to B's and C's row strides.
  var bPadding = 0
  var cPadding = 0
  var hasBias = true
  var clamp = OutputClamp.none
  /// Sub-block to compute; nil for all of C.
  var rows: Range<Int>?
  var columns: Range<Int>?
  var tiling = GEMMTiling.standard
  var seed: UInt64 = 1

  /// Runs the kernel on every group and checks the computed sub-block against the reference and
  /// everything outside it against the sentinel it started with.
  func test(sourceLocation: SourceLocation = #_sourceLocation) {
    var generator = SeededGenerator(seed: seed)
    let a = generator.floats(groups * m * k)
    let bias = generator.floats(groups * m)
    let (bRowStride, cRowStride) = (n + bPadding, n + cPadding)
    let b = generator.floats(groups * k * bRowStride)
    let sentinel: Float = -1234.5
    var c = [Float](repeating: sentinel, count: groups * m * cRowStride)
    let weights = a.withUnsafeBufferPointer { a in
      bias.withUnsafeBufferPointer { bias in
        PackedWeights(
          rows: m, depth: k, groups: groups, weights: a.baseAddress!, rowStride: k,
          bias: hasBias ? bias.baseAddress! : nil)
      }
    }
    let scratch = AlignedBuffer(count: tiling.scratchCount(depth: k))
    b.withUnsafeBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in
        for group in 0..<groups {
          GEMMKernels.packedGEMM(
            weights: weights, group: group, b: b.baseAddress! + group * k * bRowStride, bRowStride: bRowStride, n: n,
            c: c.baseAddress! + group * m * cRowStride, cRowStride: cRowStride, clamp: clamp, rows: rows,
            columns: columns, scratch: scratch.pointer, tiling: tiling)
        }
      }
    }
    let expected = Self.reference(
      m: m, n: n, k: k, groups: groups, a: a, b: b, bRowStride: bRowStride, bias: hasBias ? bias : nil, clamp: clamp)
    let (rowRange, columnRange) = (rows ?? 0..<m, columns ?? 0..<n)
    var actual: [Float] = []
    var wanted: [Float] = []
    for group in 0..<groups {
      for i in 0..<m {
        for j in 0..<cRowStride {
          let value = c[(group * m + i) * cRowStride + j]
          let inside = rowRange.contains(i) && columnRange.contains(j)
          actual.append(value)
          wanted.append(inside ? expected[(group * m + i) * n + j] : sentinel)
        }
      }
    }
    expectClose(actual, wanted, tolerance: 1e-5, "\(self)", sourceLocation: sourceLocation)
  }

  /// C = clamp(bias + A·B) per group by the reference kernels, `[groups · m, n]`.
  static func reference(
    m: Int, n: Int, k: Int, groups: Int, a: [Float], b: [Float], bRowStride: Int, bias: [Float]?, clamp: OutputClamp
  ) -> [Float] {
    var c = [Float](repeating: 0, count: groups * m * n)
    for group in 0..<groups {
      for i in 0..<m { for j in 0..<n { c[(group * m + i) * n + j] = bias?[group * m + i] ?? 0 } }
    }
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          for group in 0..<groups {
            GEMMKernels.gemmReference(
              m: m, n: n, k: k, a: a.baseAddress! + group * m * k, aRowStride: k, aColumnStride: 1,
              b: b.baseAddress! + group * k * bRowStride, bRowStride: bRowStride, bColumnStride: 1, beta: 1,
              c: c.baseAddress! + group * m * n, cRowStride: n)
          }
          clamp.apply(c.baseAddress!, count: c.count)
        }
      }
    }
    return c
  }
}

/// Packed random weights with bias for an m×k A, and a random k×n B.
func randomGEMM(m: Int, n: Int, k: Int, seed: UInt64) -> (PackedWeights, [Float]) {
  var generator = SeededGenerator(seed: seed)
  let a = generator.floats(m * k)
  let bias = generator.floats(m)
  let b = generator.floats(k * n)
  let weights = a.withUnsafeBufferPointer { a in
    bias.withUnsafeBufferPointer {
      PackedWeights(rows: m, depth: k, weights: a.baseAddress!, rowStride: k, bias: $0.baseAddress!)
    }
  }
  return (weights, b)
}

/// C (m×n) of a random GEMM (`randomGEMM(seed:)`) computed by one `packedGEMM` call per
/// (rows, columns) part, NaN where no part reaches.
func packedGEMMParts(
  _ parts: [(Range<Int>, Range<Int>)], m: Int, n: Int, k: Int, seed: UInt64, clamp: OutputClamp, tiling: GEMMTiling
) -> [Float] {
  let (weights, b) = randomGEMM(m: m, n: n, k: k, seed: seed)
  let scratch = AlignedBuffer(count: tiling.scratchCount(depth: k))
  var c = [Float](repeating: .nan, count: m * n)
  b.withUnsafeBufferPointer { b in
    c.withUnsafeMutableBufferPointer { c in
      for (rows, columns) in parts {
        GEMMKernels.packedGEMM(
          weights: weights, group: 0, b: b.baseAddress!, bRowStride: n, n: n, c: c.baseAddress!, cRowStride: n,
          clamp: clamp, rows: rows, columns: columns, scratch: scratch.pointer, tiling: tiling)
      }
    }
  }
  return c
}

/// Block sizes small enough that a test-sized problem has several depth and column blocks; B
/// is always packed.
let smallTiling = GEMMTiling(depthBlock: 8, columnBlock: 32)

/// B read in place (Note [Reading B in place]) in blocks of 32 columns.
let smallInPlaceTiling = GEMMTiling(depthBlock: 8, columnBlock: 32, inPlaceColumnBlock: 32)

/// The standard blocks with B always packed.
let packedTiling = GEMMTiling(depthBlock: 256, columnBlock: 256)

/// Tiny depth blocks, but a whole depth packed in one block when it fits 1280 floats.
let smallWholeDepthTiling = GEMMTiling(depthBlock: 8, columnBlock: 32, wholeDepthFloats: 1280)

/// Sizes across and past the 6×16 tile: every value up to 17, then 31, 64, 67.
let edgeSizes = Array(1...17) + [31, 64, 67]

/// Every kind of output clamp, and the activation the kernels apply as they store (Note [Store
/// activations]).
let clamps: [OutputClamp] = [.none, .relu, .relu6, .hardtanh(-0.25, 0.5), .hardswish]

@Suite struct PackedGEMMTests {
  @Test(arguments: edgeSizes)
  func sweepM(m: Int) {
    PackedGEMMTester(m: m, n: 19, k: 9, seed: UInt64(m)).test()
    PackedGEMMTester(m: m, n: 16, k: 3, hasBias: false, seed: UInt64(m) + 100).test()
  }

  @Test(arguments: edgeSizes)
  func sweepN(n: Int) {
    PackedGEMMTester(m: 7, n: n, k: 5, seed: UInt64(n)).test()
    PackedGEMMTester(m: 12, n: n, k: 11, bPadding: 3, cPadding: 5, seed: UInt64(n) + 100).test()
  }

  @Test(arguments: edgeSizes + [257, 300])
  func sweepK(k: Int) {
    // 257 and 300 pass the standard 256 depth block: two accumulating blocks.
    PackedGEMMTester(m: 6, n: 16, k: k, seed: UInt64(k)).test()
    PackedGEMMTester(m: 13, n: 21, k: k, clamp: .relu, seed: UInt64(k) + 100).test()
  }

  /// Several depth and column blocks (tiny blocks) at once, with every clamp.
  @Test(arguments: clamps.indices)
  func smallBlocks(clampIndex: Int) {
    for (m, n, k) in [(1, 1, 1), (5, 33, 9), (6, 32, 8), (7, 65, 17), (13, 40, 24), (19, 97, 31)] {
      PackedGEMMTester(
        m: m, n: n, k: k, cPadding: 1, clamp: clamps[clampIndex], tiling: smallTiling, seed: UInt64(m * n * k)
      ).test()
      PackedGEMMTester(
        m: m, n: n, k: k, hasBias: false, clamp: clamps[clampIndex], tiling: smallTiling, seed: UInt64(m + n + k)
      ).test()
    }
  }

  /// Reading B in place over several column blocks, the last tile narrower than 16, sub-blocks
  /// of rows and columns, every clamp.
  @Test(arguments: clamps.indices)
  func inPlaceBlocks(clampIndex: Int) {
    for (m, n, k) in [(1, 1, 1), (5, 33, 9), (6, 32, 8), (7, 65, 17), (13, 40, 24), (19, 97, 31)] {
      PackedGEMMTester(
        m: m, n: n, k: k, cPadding: 2, clamp: clamps[clampIndex], tiling: smallInPlaceTiling, seed: UInt64(m * n + k)
      ).test()
      PackedGEMMTester(
        m: m, n: n, k: k, bPadding: 3, clamp: clamps[clampIndex], rows: m / 3..<m, columns: n / 4..<n,
        tiling: smallInPlaceTiling, seed: UInt64(m + n * k)
      ).test()
    }
  }

  /// Within one depth block, reading B in place sums every element in the same order as the
  /// packed loop nest: the results are identical, not just close.
  @Test func inPlaceMatchesPackedExactly() {
    let (m, n, k) = (23, 83, 200)
    let (weights, b) = randomGEMM(m: m, n: n, k: k, seed: 91)
    func run(_ tiling: GEMMTiling) -> [Float] {
      var c = [Float](repeating: .nan, count: m * n)
      let scratch = AlignedBuffer(count: tiling.scratchCount(depth: k))
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          GEMMKernels.packedGEMM(
            weights: weights, group: 0, b: b.baseAddress!, bRowStride: n, n: n, c: c.baseAddress!, cRowStride: n,
            clamp: .relu6, rows: nil, columns: nil, scratch: scratch.pointer, tiling: tiling)
        }
      }
      return c
    }
    #expect(GEMMTiling.standard.inPlaceColumnBlock != nil, "the standard blocks read B in place")
    #expect(run(.standard) == run(packedTiling))
  }

  /// A depth packed in one block (Note [Packed GEMM loop nest]) sums every element in the same
  /// order as depth blocks do: the results match the reference and are identical to the
  /// blocked ones. Wide column ranges take narrower column blocks; too deep ones depth blocks.
  @Test func wholeDepthBlocks() {
    #expect(smallWholeDepthTiling.blocks(40, columns: 21) == (1, 40, 32))
    // 41 × 32 floats do not fit, and a column block of 16 is too narrow: depth blocks.
    #expect(smallWholeDepthTiling.blocks(41, columns: 32) == (6, 7, 32))
    // 20 × 80 floats do not fit, but column blocks of 32 do: the whole depth per column block.
    #expect(smallWholeDepthTiling.blocks(20, columns: 70) == (1, 20, 32))
    #expect(GEMMTiling.standard.blocks(960, columns: 49) == (1, 960, 256))
    #expect(GEMMTiling.standard.blocks(512, columns: 169) == (1, 512, 128))
    for (m, n, k, columns) in [(13, 21, 40, 0..<21), (7, 49, 24, 17..<49), (19, 30, 41, 0..<30), (6, 70, 20, 3..<70)] {
      for clamp in clamps {
        PackedGEMMTester(
          m: m, n: n, k: k, bPadding: 1, clamp: clamp, columns: columns, tiling: smallWholeDepthTiling,
          seed: UInt64(m * k + n)
        ).test()
      }
      let whole = packedGEMMParts([(0..<m, columns)], m: m, n: n, k: k, seed: 5, clamp: .relu6, tiling: smallWholeDepthTiling)
      let blocked = packedGEMMParts([(0..<m, columns)], m: m, n: n, k: k, seed: 5, clamp: .relu6, tiling: smallTiling)
      // Columns outside the range stay NaN in both; compare bit patterns.
      #expect(whole.map(\.bitPattern) == blocked.map(\.bitPattern))
    }
  }

  @Test func groupsUseTheirOwnPanelsAndBias() {
    PackedGEMMTester(m: 5, n: 18, k: 7, groups: 3, clamp: .relu).test()
    PackedGEMMTester(m: 8, n: 9, k: 20, groups: 2, tiling: smallTiling).test()
  }

  @Test func subBlocksTouchOnlyTheirElements() {
    for (rows, columns) in [(3..<4, 5..<6), (1..<11, 0..<17), (0..<13, 15..<38), (7..<12, 1..<40), (5..<13, 31..<33)] {
      PackedGEMMTester(m: 13, n: 40, k: 10, clamp: .relu6, rows: rows, columns: columns).test()
      PackedGEMMTester(m: 13, n: 40, k: 10, rows: rows, columns: columns, tiling: smallTiling).test()
    }
  }

  /// Splitting rows and columns at arbitrary points gives bit-identical results to one call:
  /// the split changes which tiles run, never an element's summation order.
  @Test(arguments: [GEMMTiling.standard, smallTiling, smallInPlaceTiling].indices)
  func rangeSplitsCompose(tilingIndex: Int) {
    let tiling = [GEMMTiling.standard, smallTiling, smallInPlaceTiling][tilingIndex]
    let (m, n, k) = (17, 45, 19)
    func run(_ parts: [(Range<Int>, Range<Int>)]) -> [Float] {
      packedGEMMParts(parts, m: m, n: n, k: k, seed: 77, clamp: .hardtanh(-1, 1), tiling: tiling)
    }
    let whole = run([(0..<m, 0..<n)])
    let byRows = run([(0..<4, 0..<n), (4..<11, 0..<n), (11..<m, 0..<n)])
    let byColumns = run([(0..<m, 0..<7), (0..<m, 7..<16), (0..<m, 16..<n)])
    let byTiles = run([(0..<9, 0..<20), (9..<m, 0..<20), (0..<9, 20..<n), (9..<m, 20..<n)])
    // Single columns run the one-column kernel; in `whole` they are lanes of full tiles.
    let singleColumns = run([(0..<m, 0..<1), (0..<m, 1..<17), (0..<m, 17..<18), (0..<m, 18..<n)])
    #expect(singleColumns == whole)
    #expect(byRows == whole)
    #expect(byColumns == whole)
    #expect(byTiles == whole)
  }

  /// A last tile of one column (a 7×7 plane's 49th) runs every row panel at once, eight at a
  /// time: more than eight panels, partial first and last panels, several depth and column
  /// blocks, packed and in place, groups, every clamp; and each element equal to the same
  /// column computed as a lane of a wider tile.
  @Test(arguments: [GEMMTiling.standard, packedTiling, smallTiling, smallInPlaceTiling].indices)
  func singleColumnTiles(tilingIndex: Int) {
    let tiling = [GEMMTiling.standard, packedTiling, smallTiling, smallInPlaceTiling][tilingIndex]
    for (index, clamp) in clamps.enumerated() {
      PackedGEMMTester(m: 59, n: 49, k: 37, clamp: clamp, tiling: tiling, seed: UInt64(index)).test()
      PackedGEMMTester(m: 61, n: 33, k: 19, rows: 5..<58, tiling: tiling, seed: UInt64(index) + 10).test()
      PackedGEMMTester(m: 50, n: 17, k: 12, groups: 2, clamp: clamp, tiling: tiling, seed: UInt64(index) + 20).test()
    }
    let (m, n, k) = (59, 49, 300)
    func run(_ parts: [(Range<Int>, Range<Int>)]) -> [Float] {
      packedGEMMParts(parts, m: m, n: n, k: k, seed: 5, clamp: .relu6, tiling: tiling)
    }
    // Column 48 alone after 48 columns, against column 48 inside an 11-column edge tile.
    #expect(run([(0..<m, 0..<n)]) == run([(0..<m, 0..<38), (0..<m, 38..<n)]))
    #expect(run([(0..<7, 0..<n), (7..<m, 0..<n)]) == run([(0..<m, 0..<38), (0..<m, 38..<n)]))
  }

  /// A last tile of 9 columns (a 13×13 plane's 169 columns end so) is an 8-column tile and a
  /// single column, with the same floats as 9 columns inside wider edge tiles.
  @Test(arguments: 0..<4)
  func nineColumnTiles(tilingIndex: Int) {
    let tiling = [GEMMTiling.standard, packedTiling, smallTiling, smallInPlaceTiling][tilingIndex]
    for (index, clamp) in clamps.enumerated() {
      PackedGEMMTester(m: 59, n: 25, k: 37, clamp: clamp, tiling: tiling, seed: UInt64(index)).test()
      PackedGEMMTester(m: 61, n: 57, k: 19, rows: 5..<58, tiling: tiling, seed: UInt64(index) + 10).test()
      PackedGEMMTester(m: 50, n: 9, k: 12, groups: 2, clamp: clamp, tiling: tiling, seed: UInt64(index) + 20).test()
    }
    let (m, n, k) = (59, 169, 300)
    func run(_ parts: [(Range<Int>, Range<Int>)]) -> [Float] {
      packedGEMMParts(parts, m: m, n: n, k: k, seed: 7, clamp: .relu, tiling: tiling)
    }
    #expect(run([(0..<m, 0..<n)]) == run([(0..<m, 0..<158), (0..<m, 158..<n)]))
    #expect(run([(0..<13, 0..<n), (13..<m, 0..<n)]) == run([(0..<m, 0..<155), (0..<m, 155..<n)]))
  }

  /// An empty reduction (K = 0, e.g. `nn.Linear(0, n)`) gives the bias, then the clamp.
  @Test func zeroDepthGivesTheBias() {
    PackedGEMMTester(m: 7, n: 19, k: 0, clamp: .relu).test()
    PackedGEMMTester(m: 7, n: 19, k: 0, hasBias: false).test()
    let bias: [Float] = [1, -2, 3]
    var output = [Float](repeating: .nan, count: 3)
    let weights = bias.withUnsafeBufferPointer {
      PackedWeights(rows: 3, depth: 0, weights: $0.baseAddress!, rowStride: 0, bias: $0.baseAddress!)
    }
    let input: [Float] = [0]
    let scratch = AlignedBuffer(count: GEMMKernels.linearScratchCount(weights: weights))
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer {
        GEMMKernels.linear(
          weights: weights, input: input.baseAddress!, rowCount: 1, output: $0.baseAddress!, clamp: .relu,
          scratch: scratch.pointer)
      }
    }
    #expect(output == [1, 0, 3])
  }

  /// NaN and infinity in B reach C (the kernel neither skips nor masks them).
  @Test func nonFiniteValuesPropagate() {
    let weights = [Float](repeating: 1, count: 2 * 3).withUnsafeBufferPointer {
      PackedWeights(rows: 2, depth: 3, weights: $0.baseAddress!, rowStride: 3, bias: nil)
    }
    let b: [Float] = [1, .nan, 1, .infinity, 1, 1, 1, 1, 1]
    var c = [Float](repeating: 0, count: 6)
    let scratch = AlignedBuffer(count: GEMMKernels.packedGEMMScratchCount(depth: 3))
    b.withUnsafeBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in
        GEMMKernels.packedGEMM(
          weights: weights, b: b.baseAddress!, bRowStride: 3, n: 3, c: c.baseAddress!, cRowStride: 3,
          scratch: scratch.pointer)
      }
    }
    #expect(c[0] == .infinity && c[1].isNaN && c[2] == 3)
    #expect(c[3] == .infinity && c[4].isNaN && c[5] == 3)
  }

  // MARK: - Linear

  /// `linear` (packed) against `linearReference` for one row (the GEMV path) and several rows
  /// (the transposed GEMM), with feature sub-ranges.
  @Test(arguments: edgeSizes)
  func linearMatchesReference(outputFeatures: Int) {
    for (rowCount, inputFeatures) in [(1, 1), (1, 7), (1, 67), (2, 5), (5, 33), (17, 9)] {
      for (clamp, hasBias) in [(OutputClamp.none, true), (.relu, false), (.hardtanh(-0.5, 0.5), true)] {
        var generator = SeededGenerator(seed: UInt64(outputFeatures * 1000 + rowCount * 100 + inputFeatures))
        let input = generator.floats(rowCount * inputFeatures)
        let weight = generator.floats(outputFeatures * inputFeatures)
        let bias = generator.floats(outputFeatures)
        var expected = [Float](repeating: 0, count: rowCount * outputFeatures)
        input.withUnsafeBufferPointer { input in
          weight.withUnsafeBufferPointer { weight in
            bias.withUnsafeBufferPointer { bias in
              expected.withUnsafeMutableBufferPointer {
                GEMMKernels.linearReference(
                  rows: rowCount, inputFeatures: inputFeatures, outputFeatures: outputFeatures,
                  input: input.baseAddress!, weight: weight.baseAddress!, bias: hasBias ? bias.baseAddress! : nil,
                  output: $0.baseAddress!, clamp: clamp)
              }
            }
          }
        }
        let packed = weight.withUnsafeBufferPointer { weight in
          bias.withUnsafeBufferPointer { bias in
            PackedWeights(
              linearWeight: weight.baseAddress!, outputFeatures: outputFeatures, inputFeatures: inputFeatures,
              bias: hasBias ? bias.baseAddress! : nil)
          }
        }
        let scratch = AlignedBuffer(count: smallTiling.scratchCount(depth: inputFeatures))
        let splits = [0, outputFeatures / 3, outputFeatures / 3 + (outputFeatures + 1) / 2, outputFeatures]
        var output = [Float](repeating: .nan, count: rowCount * outputFeatures)
        input.withUnsafeBufferPointer { input in
          output.withUnsafeMutableBufferPointer { output in
            for part in 0..<3 where splits[part] < splits[part + 1] {
              GEMMKernels.linear(
                weights: packed, input: input.baseAddress!, rowCount: rowCount, output: output.baseAddress!,
                clamp: clamp, outputFeatures: splits[part]..<splits[part + 1], scratch: scratch.pointer,
                tiling: smallTiling)
            }
          }
        }
        expectClose(output, expected, tolerance: 1e-5, "rows \(rowCount) in \(inputFeatures) out \(outputFeatures)")
      }
    }
  }

  /// The GEMV path gives every output the same bits however the features are split between
  /// calls (threads), though a split changes which panels share a pass (Note [GEMV streams]);
  /// and it matches the reference on a classifier-sized matrix.
  @Test func gemvDoesNotDependOnTheSplit() {
    let (outputFeatures, inputFeatures) = (1000, 576)
    var generator = SeededGenerator(seed: 57)
    let input = generator.floats(inputFeatures)
    let weight = generator.floats(outputFeatures * inputFeatures)
    let bias = generator.floats(outputFeatures)
    let packed = weight.withUnsafeBufferPointer { weight in
      bias.withUnsafeBufferPointer { bias in
        PackedWeights(
          linearWeight: weight.baseAddress!, outputFeatures: outputFeatures, inputFeatures: inputFeatures,
          bias: bias.baseAddress!)
      }
    }
    let scratch = AlignedBuffer(count: GEMMKernels.linearScratchCount(weights: packed))
    func run(_ cuts: [Int]) -> [Float] {
      var output = [Float](repeating: .nan, count: outputFeatures)
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          for (start, end) in zip(cuts, cuts.dropFirst()) {
            GEMMKernels.linear(
              weights: packed, input: input.baseAddress!, rowCount: 1, output: output.baseAddress!, clamp: .none,
              outputFeatures: start..<end, scratch: scratch.pointer)
          }
        }
      }
      return output
    }
    let whole = run([0, outputFeatures])
    for cuts in [[0, 500], [0, 7, 31, 500, 503, 997], Array(stride(from: 0, to: outputFeatures, by: 13))] {
      let differing = zip(run(cuts + [outputFeatures]), whole).filter { $0 != $1 }.count
      #expect(differing == 0, "split at \(cuts): \(differing) outputs differ from one call's")
    }
    var expected = [Float](repeating: 0, count: outputFeatures)
    input.withUnsafeBufferPointer { input in
      weight.withUnsafeBufferPointer { weight in
        bias.withUnsafeBufferPointer { bias in
          expected.withUnsafeMutableBufferPointer {
            GEMMKernels.linearReference(
              rows: 1, inputFeatures: inputFeatures, outputFeatures: outputFeatures, input: input.baseAddress!,
              weight: weight.baseAddress!, bias: bias.baseAddress!, output: $0.baseAddress!, clamp: .none)
          }
        }
      }
    }
    expectClose(whole, expected, tolerance: 1e-4, "GEMV 576 → 1000")
  }

  @Test func linearPublicEntryUsesStandardBlocks() {
    var generator = SeededGenerator(seed: 9)
    let (rowCount, inputFeatures, outputFeatures) = (3, 300, 10)
    let input = generator.floats(rowCount * inputFeatures)
    let weight = generator.floats(outputFeatures * inputFeatures)
    var expected = [Float](repeating: 0, count: rowCount * outputFeatures)
    var output = expected
    let packed = weight.withUnsafeBufferPointer {
      PackedWeights(linearWeight: $0.baseAddress!, outputFeatures: outputFeatures, inputFeatures: inputFeatures, bias: nil)
    }
    let scratch = AlignedBuffer(count: GEMMKernels.linearScratchCount(weights: packed))
    input.withUnsafeBufferPointer { input in
      weight.withUnsafeBufferPointer { weight in
        expected.withUnsafeMutableBufferPointer {
          GEMMKernels.linearReference(
            rows: rowCount, inputFeatures: inputFeatures, outputFeatures: outputFeatures, input: input.baseAddress!,
            weight: weight.baseAddress!, bias: nil, output: $0.baseAddress!)
        }
      }
      output.withUnsafeMutableBufferPointer {
        GEMMKernels.linear(
          weights: packed, input: input.baseAddress!, rowCount: rowCount, output: $0.baseAddress!,
          scratch: scratch.pointer)
      }
    }
    expectClose(output, expected, tolerance: 1e-5)
  }
}
