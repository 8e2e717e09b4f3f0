/// The packed GEMM: `C = clamp(A · B + bias)` with A packed once (`PackedWeights`) and B an
/// activation matrix read in place, register-blocked for AVX2 + FMA (see Note [SIMD8 on x86_64]).
///
///     C[m, n] = clamp( bias[m] + Σ_{k < K} A[m, k] · B[k, n] )        m ∈ rows, n ∈ columns
///
/// Contract (every entry point in this file):
/// - A is one group of a `PackedWeights` (`rows × depth`); `bias` is its packed bias (zero when
///   none was packed). The clamp is `OutputClamp`'s, applied once after the full sum.
/// - B is `[K, N]`: element (k, n) at `b[k · bRowStride + n · bColumnStride]` (column stride 1
///   unless stated). In NCHW a 1×1 convolution's input is exactly `[Cin, H·W]`.
/// - C is `[M, N]`: element (m, n) at `c[m · cRowStride + n]`; it must not overlap A or B. Only
///   the `rows × columns` sub-block is written, and nothing outside it is read or written, so
///   callers split `rows` and/or `columns` across threads and the results compose exactly
///   (each element's summation order does not depend on the split).
/// - `scratch` holds `packedGEMMScratchCount(depth:)` floats owned by the calling thread; its
///   contents are undefined before and after the call. Nothing is allocated.
///
/// Blocking: when every row of B is a contiguous run (unit column stride, and the phase planes)
/// the micro-kernel reads B where it lies, the whole depth at once (Note [Reading B in place]);
/// otherwise (Note [Packed GEMM loop nest]) columns go in blocks of 256 and depth in blocks of at
/// most 256, each (column, depth) block of B is copied into NR-wide panels (`scratch`) that stay
/// in L2, and the 6×16 micro-kernel runs over every MR-row panel of A against them.
extension GEMMKernels {
  /// Rows of C computed together by the micro-kernel (MR); also the panel height of
  /// `PackedWeights`.
  public static let panelRows = 6
  /// Columns of C computed together by the micro-kernel (NR: two 8-float vectors).
  public static let panelColumns = 16

  /// Floats of scratch `packedGEMM` (and the convolutions built on it) need for a matrix of this
  /// depth.
  public static func packedGEMMScratchCount(depth: Int) -> Int {
    GEMMTiling.standard.scratchCount(depth: depth)
  }

  /// `C = clamp(A · B + bias)` over a sub-block of C, with A packed.
  ///
  /// - Parameters:
  ///   - weights, group: A and its bias.
  ///   - b, bRowStride: B (`[weights.depth, n]`, unit column stride).
  ///   - n: columns of B and C; `columns` must lie in `0..<n`.
  ///   - c, cRowStride: C (`[weights.rows, n]`, unit column stride).
  ///   - clamp: applied after the bias.
  ///   - rows: the rows of C to compute, within `0..<weights.rows`; nil for all.
  ///   - columns: the columns of C to compute; nil for all.
  ///   - scratch: `packedGEMMScratchCount(depth: weights.depth)` floats.
  public static func packedGEMM(
    weights: PackedWeights, group: Int = 0, b: UnsafePointer<Float>, bRowStride: Int, n: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, clamp: OutputClamp = .none,
    rows: Range<Int>? = nil, columns: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    packedGEMM(
      weights: weights, group: group, b: b, bRowStride: bRowStride, n: n, c: c, cRowStride: cRowStride,
      clamp: clamp, rows: rows, columns: columns, scratch: scratch, tiling: .standard)
  }

  /// `packedGEMM` with explicit blocking (tests shrink the blocks to reach every edge).
  static func packedGEMM(
    weights: PackedWeights, group: Int, b: UnsafePointer<Float>, bRowStride: Int, n: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, clamp: OutputClamp,
    rows: Range<Int>?, columns: Range<Int>?, scratch: UnsafeMutablePointer<Float>, tiling: GEMMTiling
  ) {
    let rows = rows ?? 0..<weights.rows
    let columns = columns ?? 0..<n
    precondition(rows.lowerBound >= 0 && rows.upperBound <= weights.rows, "packed GEMM rows out of range")
    precondition(columns.lowerBound >= 0 && columns.upperBound <= n, "packed GEMM columns out of range")
    precondition((0..<weights.groups).contains(group), "packed GEMM group out of range")
    runPackedGEMM(
      weights: weights, group: group, source: MatrixRows(b: b, rowStride: bRowStride, columnStride: 1),
      c: c + rows.lowerBound * cRowStride + columns.lowerBound, cRowStride: cRowStride, cColumnStride: 1, clamp: clamp, rows: rows, columns: columns,
      scratch: scratch, tiling: tiling)
  }

  // MARK: - Linear

  /// Floats of scratch `linear` needs.
  public static func linearScratchCount(weights: PackedWeights) -> Int {
    packedGEMMScratchCount(depth: weights.depth)
  }

  /// `linear` with packed weights: `output[r, o] = clamp(bias[o] + Σ_i input[r, i] · W[o, i])`
  /// for the output features in `outputFeatures` (XNNPACK's `linear_clamp_run`).
  ///
  /// One input row (batch 1) runs a vectorized matrix-vector product that reads each weight
  /// once (it is memory bound); more rows run the packed GEMM with the input as Bᵀ.
  ///
  /// - Parameters:
  ///   - weights: `PackedWeights(linearWeight:…)`, one group, `rows` = output features.
  ///   - input: contiguous `[rowCount, weights.depth]`.
  ///   - output: contiguous `[rowCount, weights.rows]`.
  ///   - outputFeatures: the features to compute (a thread's share); nil for all.
  ///   - scratch: `linearScratchCount(weights:)` floats (unused for one row).
  public static func linear(
    weights: PackedWeights, input: UnsafePointer<Float>, rowCount: Int, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp = .none, outputFeatures: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
  ) {
    linear(
      weights: weights, input: input, rowCount: rowCount, output: output, clamp: clamp,
      outputFeatures: outputFeatures, scratch: scratch, tiling: .standard)
  }

  static func linear(
    weights: PackedWeights, input: UnsafePointer<Float>, rowCount: Int, output: UnsafeMutablePointer<Float>,
    clamp: OutputClamp, outputFeatures: Range<Int>?, scratch: UnsafeMutablePointer<Float>, tiling: GEMMTiling
  ) {
    let features = outputFeatures ?? 0..<weights.rows
    precondition(features.lowerBound >= 0 && features.upperBound <= weights.rows, "linear features out of range")
    precondition(weights.groups == 1, "linear weights have one group")
    if rowCount == 1 {
      packedGEMV(weights: weights, x: input, y: output, clamp: clamp, rows: features)
    } else if rowCount > 1 {
      // output[r, o] = C[o, r] with B[k, r] = input[r, k]: a transposed read and write.
      runPackedGEMM(
        weights: weights, group: 0,
        source: MatrixRows(b: input, rowStride: 1, columnStride: weights.depth),
        c: output + features.lowerBound, cRowStride: 1, cColumnStride: weights.rows, clamp: clamp, rows: features,
        columns: 0..<rowCount, scratch: scratch, tiling: tiling)
    }
  }

  /// `y[m] = clamp(bias[m] + Σ_k A[m, k] · x[k])` for m in `rows`, reading the packed panels.
  ///
  /// A panel stores its MR rows' values for one k side by side, so an 8-float load at k covers
  /// all MR rows (and two values of k + 1, whose lanes are ignored); it is multiplied by x[k]
  /// broadcast. The GEMV is bound by reading the weights from memory (Note [GEMV streams]): the
  /// panels are cut into four runs of consecutive panels, and one step reads one k of a panel
  /// from each run, so four long sequential streams are in flight.
  static func packedGEMV(
    weights: PackedWeights, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, clamp: OutputClamp,
    rows: Range<Int>
  ) {
    if rows.isEmpty { return }
    let mr = panelRows
    let depth = weights.depth
    let firstPanel = rows.lowerBound / mr
    let panelCount = (rows.upperBound + mr - 1) / mr - firstPanel
    // Writes panel `p`'s sum plus bias, clamped, to the rows of `rows` it holds.
    @inline(__always)
    func finish(_ sum: SIMD8<Float>, panel p: Int) {
      let m0 = p * mr
      let value = clamp.vector(sum + loadPartial8(weights.panelBias(group: 0, row: m0), count: mr))
      for row in max(m0, rows.lowerBound)..<min(m0 + mr, rows.upperBound) { y[row] = value[row - m0] }
    }
    // Panels p0…p3, one k of each per step, each summed over k in order in its own accumulator.
    @inline(__always)
    func dot(_ p0: Int, _ p1: Int, _ p2: Int, _ p3: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
      var (a0, a1) = (weights.panel(group: 0, row: p0 * mr, column: 0), weights.panel(group: 0, row: p1 * mr, column: 0))
      var (a2, a3) = (weights.panel(group: 0, row: p2 * mr, column: 0), weights.panel(group: 0, row: p3 * mr, column: 0))
      var (s0, s1, s2, s3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
      for k in 0..<depth {
        let value = SIMD8<Float>(repeating: x[k])
        s0.addProduct(load8(a0), value)
        s1.addProduct(load8(a1), value)
        s2.addProduct(load8(a2), value)
        s3.addProduct(load8(a3), value)
        a0 += mr
        a1 += mr
        a2 += mr
        a3 += mr
      }
      return (s0, s1, s2, s3)
    }
    // Runs of `run` or `run + 1` panels (the first `longer` runs are the longer ones).
    let (run, longer) = panelCount.quotientAndRemainder(dividingBy: 4)
    func start(_ j: Int) -> Int { firstPanel + j * run + min(j, longer) }
    let starts = (start(0), start(1), start(2), start(3))
    for i in 0..<run {
      let (p0, p1, p2, p3) = (starts.0 + i, starts.1 + i, starts.2 + i, starts.3 + i)
      let (s0, s1, s2, s3) = dot(p0, p1, p2, p3)
      finish(s0, panel: p0)
      finish(s1, panel: p1)
      finish(s2, panel: p2)
      finish(s3, panel: p3)
    }
    // The last panel of each longer run, all in one pass (the spare slots repeat the first).
    if longer > 0 {
      let last = (starts.0 + run, starts.1 + run, starts.2 + run)
      let (s0, s1, s2, _) = dot(last.0, longer > 1 ? last.1 : last.0, longer > 2 ? last.2 : last.0, last.0)
      finish(s0, panel: last.0)
      if longer > 1 { finish(s1, panel: last.1) }
      if longer > 2 { finish(s2, panel: last.2) }
    }
  }
}

// Note [GEMV streams]
// A matrix-vector product (a linear layer on one row, a 1×1 convolution on one pixel: the
// classifiers and the squeeze-and-excitation layers) reads every weight once, mostly from DRAM
// or L3 (the rest of the model evicts them), so its speed is how fast the weights stream in.
// Reading one panel at a time as four quarters of its depth (four streams in flight, the
// earlier design: one stream was twice as slow after a 16 MB flush) made each stream one
// quarter of a panel long, 864 bytes for a depth of 144 (squeeze-and-excitation's 144→576), so
// the hardware prefetcher kept restarting. Now the panels are cut into four runs of consecutive
// panels and each step reads one k from a panel of each run: still four streams, but each as
// long as a quarter of the matrix. Measured side by side (one thread, alternating runs; ONNX
// Runtime in the same run): ten squeeze-and-excitation pairs 576→144→576 on one pixel 0.417 →
// 0.328 ms (ONNX Runtime 0.282), MobileNetV3's classifier pair 576→1024→1000 0.297 → 0.250 ms
// (ONNX Runtime 0.313); MobileNetV3-Small 5.25 → 5.09 ms at one thread, 3.49 → 3.24 ms at two.
// A run's panel sums each go over k in order in one accumulator, so a row's result does not
// depend on how rows are split between threads or runs; panels left over (fewer than four, or
// one per longer run) go through the same loop together, so every panel's sum is the same
// whatever the split.
// Eight runs instead of four made the classifier pair alone 0.29 → 0.26 ms but MobileNetV3-Small
// 1.01× at one and two threads (alternating runs); four are kept. Eight again, for MobileNetV2's
// 1280→1000 classifier in the model (2026-11-24, three alternating profiles): 0.246 → 0.258 ms.
// Warm weights would be more than twice as fast: MobileNetV2's 1280→1000 classifier alone, its
// 5 MB in L3, takes 0.090 ms at one thread and 0.051 ms at two, against 0.21 and 0.19 ms in the
// model (DRAM bound: about 24 and 27 GB/s). Prefetching the classifier's weights from inside the
// GEMMs before it (32 to 512 lines after each row panel, `prefetcht2` through a C shim, from the
// first 7×7 or the first 14×14 layer on, so that L2's evictions leave them in the victim L3)
// brought the classifier to 0.16–0.20 ms, but the layers that carried the prefetches slowed by
// as much: MobileNetV2 1.005–1.009× at one thread (2026-11-24, six alternating runs); not kept.

// MARK: - Tiling and the loop nest

/// Block sizes of the packed GEMM loop nest (see Note [Packed GEMM loop nest]).
struct GEMMTiling {
  /// Most rows of B (depth) packed per block.
  var depthBlock: Int
  /// Columns of B packed per block; a multiple of `GEMMKernels.panelColumns`.
  var columnBlock: Int
  /// Columns per block when B is read in place (Note [Reading B in place]), a multiple of
  /// `GEMMKernels.panelColumns`; nil to always pack B.
  var inPlaceColumnBlock: Int?
  /// Most floats of packed B (all of its depth, the columns of one column block rounded up to
  /// whole panels) packed in one block whatever the depth (`blocks`, Note [Packed GEMM loop
  /// nest]); 0 to always block the depth.
  var wholeDepthFloats = 0

  static let standard = GEMMTiling(
    depthBlock: 256, columnBlock: 256, inPlaceColumnBlock: 256, wholeDepthFloats: 256 * 256)

  /// The depth blocks of a K-long reduction: as few as `depthBlock` allows, of equal size.
  func blockDepth(_ depth: Int) -> (count: Int, depth: Int) {
    let count = max(1, (depth + depthBlock - 1) / depthBlock)
    return (count, (depth + count - 1) / count)
  }

  /// The depth blocks and the column block of a product over `columns` columns: the whole depth
  /// at once when the packed panels of all the columns fit `wholeDepthFloats`, or of column
  /// blocks of two panels or more; else depth blocks of at most `depthBlock` and column blocks
  /// of `columnBlock` (Note [Packed GEMM loop nest]).
  func blocks(_ depth: Int, columns: Int) -> (count: Int, depth: Int, columnBlock: Int) {
    let nr = GEMMKernels.panelColumns
    if columns <= columnBlock && depth * ((columns + nr - 1) / nr * nr) <= wholeDepthFloats {
      return (1, depth, columnBlock)
    }
    let fit = min(wholeDepthFloats / max(depth, 1) / nr * nr, columnBlock)
    if fit >= 2 * nr { return (1, depth, fit) }
    let (count, blocked) = blockDepth(depth)
    return (count, blocked, columnBlock)
  }

  /// Floats of scratch for packed B: a depth block of a column block, or a whole-depth block.
  func packedCount(depth: Int) -> Int {
    max(blockDepth(depth).depth * columnBlock, min(wholeDepthFloats, depth * columnBlock))
  }

  /// Packed B block (or, in place, the last tile's full-depth panel), one row of source
  /// columns, one C tile.
  func scratchCount(depth: Int) -> Int {
    let panels = max(packedCount(depth: depth), depth * GEMMKernels.panelColumns)
    return panels + columnBlock + Self.rowSlack + GEMMKernels.panelRows * GEMMKernels.panelColumns
  }

  /// Floats past a row buffer's columns that a source's `row` may overwrite.
  static let rowSlack = 8
}

/// A source of B rows for the packed GEMM: the columns of one row, contiguous.
protocol PackedGEMMSource {
  /// B[k, columns] as contiguous floats: a pointer into the source when its row is contiguous,
  /// else `buffer` (`columns.count` floats, then `GEMMTiling.rowSlack` it may overwrite) filled
  /// with the values.
  func row(_ k: Int, columns: Range<Int>, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>

  /// When every row is a contiguous run of memory, `base` with B[k, n] at
  /// `base[offsets[k] + n]` for k < `depth` (`offsets` written here); else nil (the default).
  func inPlaceRows(depth: Int, offsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>?
}

extension PackedGEMMSource {
  func inPlaceRows(depth: Int, offsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>? { nil }
}

/// B stored as a strided matrix.
struct MatrixRows: PackedGEMMSource {
  let b: UnsafePointer<Float>
  let rowStride: Int
  let columnStride: Int

  func inPlaceRows(depth: Int, offsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>? {
    // Deep products, and all but shallow ones over short rows, are packed (Note [Reading B in
    // place]).
    if columnStride != 1 || depth >= 512 || (depth >= 128 && rowStride < 128) { return nil }
    for k in 0..<depth { offsets[k] = k * rowStride }
    return b
  }

  @inline(__always)
  func row(_ k: Int, columns: Range<Int>, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    let start = b + k * rowStride + columns.lowerBound * columnStride
    if columnStride == 1 { return start }
    for index in 0..<columns.count { buffer[index] = start[index * columnStride] }
    return UnsafePointer(buffer)
  }
}

// Note [Packed GEMM loop nest]
// For each block of 256 columns of C, and each depth block [k0, k0 + kc) (kc ≤ 256, blocks of
// equal size):
//   1. copy B[k0 ..< k0+kc, block] into NR-column panels: panel q holds element (k, j) at
//      q·kc·NR + k·NR + j, zero past the last column. kc·256 floats (≤ 256 KB) stay in L2, and
//      the micro-kernel then reads each panel as one sequential stream instead of kc rows a
//      large power-of-two-ish stride apart (a 56×56 plane's rows alias to a few L1 sets).
//   2. for each MR-row panel of A (kc·MR floats, stays in L1) and each NR panel of B: the 6×16
//      micro-kernel. The first depth block starts from the bias, later ones from C; the last
//      applies the clamp. Only then is an element final, so a clamp never sees a partial sum.
// A full-width tile of a partial panel (the last rows of A, or the ends of a thread's row range)
// runs 4-, 2- and 1-row versions of the kernel on just its rows. Edge columns (past the block,
// a transposed C, or a tile crossing columns that `GEMMColumns` drops) run the 6-row kernel on a
// 6×16 scratch tile and copy only their kept elements in and out, so no edge reads or writes
// outside the caller's sub-block. A tile of at most 8 columns runs the 6×8 kernel,
// half the work, and a last tile of 1 or 9 columns leaves its last column to `singleColumn`
// (a 7×7 plane's 49 columns are three full tiles and one of a single column; a 13×13 plane's
// 169 are ten, an 8-column one and a single column, not eleven of 16: 4% fewer FMAs).
// When the caller's columns fit one block and all of B's depth packs into at most 64 K floats
// (256 KB, `GEMMTiling.wholeDepthFloats`; a 7×7 plane's 49 columns are 64 packed, so depth up
// to 1024), the depth is one block: no partial sums go through C, and each row panel of A is
// one sequential stream, which the prefetchers follow better than blocks of a few KB from
// panels 20 KB apart. Measured on the Zen 2 host (2026-11-24, MobileNetV2's per-node profile at one
// thread, six alternating runs of one build with a switch): 960→320 on 7×7 0.377 → 0.342 ms
// (ONNX Runtime 0.330), 960→160 0.204 → 0.186 ms, 576→160 0.128 → 0.115 ms; the model 0.990×.
// When all the columns do not fit that way but column blocks of two panels or more do
// (`GEMMTiling.blocks`), the columns go in such narrower blocks, each with the whole depth:
// SqueezeNet's 512→1000 classifier on 13×13 (blocks of 128 columns instead of 169, rather than
// two depth blocks of 256) 1.924 → 1.864 ms, the model 0.996× (eight alternating runs);
// ResNet-18's phase-plane layers and MobileNetV2 unchanged.
// That classifier is the one layer where ONNX Runtime stays ahead in the model (1.91 against
// 1.72 ms at one thread, 1.01–1.11 against 0.88 ms at two; alone, weights warm, ours 1.78 ms, 97
// GFLOP/s, and the two are even). Tried on it and not kept (2026-11-24, alternating profiles):
// all 169 columns in one block (96 K floats of packed B, A read once) 1.011 → 1.041 ms at two
// threads; prefetching the next row panel's block of A a share before each tile (as
// `blockedPointwise` does) 2.06 → 2.09 ms at one thread; the transposed-tile kernel (Note
// [Transposed tiles]) split by panels, 1.038 → 1.026 ms at two threads and 1.917 → 1.923 at one.

/// Where the columns of C go within a row of C: a strided row, or an output plane that drops
/// some columns (Note [Phase-plane GEMM]).
protocol GEMMColumns {
  /// The offset of column n when columns n ..< n + count are all kept and consecutive in
  /// memory, else nil.
  func run(_ n: Int, count: Int) -> Int?
  /// `offsets[j]` = the offset of column n + j, or −1 when it is dropped, for j < count.
  func offsets(_ n: Int, count: Int, into offsets: UnsafeMutablePointer<Int>)
  /// When columns n ..< n + count are one dropped run of lanes `gap` (0 < its length < count)
  /// and kept columns at consecutive offsets around it, lane j < gap.lowerBound at `offset + j`
  /// and lane j ≥ gap.upperBound at `offset + j − gap.count`: those; else nil.
  func gap(_ n: Int, count: Int) -> (offset: Int, gap: Range<Int>)?
}

/// Column n at `(n − origin) · stride`.
struct StridedColumns: GEMMColumns {
  let origin: Int
  let stride: Int

  @inline(__always) func run(_ n: Int, count: Int) -> Int? { stride == 1 ? n - origin : nil }
  @inline(__always) func offsets(_ n: Int, count: Int, into offsets: UnsafeMutablePointer<Int>) {
    for j in 0..<count { offsets[j] = (n + j - origin) * stride }
  }

  @inline(__always) func gap(_ n: Int, count: Int) -> (offset: Int, gap: Range<Int>)? { nil }
}

/// Flat columns n = y · rowLength + x of which the first `width` of each row are kept, at
/// y · width + x (an output plane; the other rowLength − width columns are dropped).
struct FlatPlaneColumns: GEMMColumns {
  let rowLength: Int
  let width: Int

  @inline(__always) func run(_ n: Int, count: Int) -> Int? {
    let (y, x) = n.quotientAndRemainder(dividingBy: rowLength)
    return x + count <= width ? y * width + x : nil
  }

  @inline(__always) func offsets(_ n: Int, count: Int, into offsets: UnsafeMutablePointer<Int>) {
    var (y, x) = n.quotientAndRemainder(dividingBy: rowLength)
    for j in 0..<count {
      offsets[j] = x < width ? y * width + x : -1
      x += 1
      if x == rowLength { (y, x) = (y + 1, 0) }
    }
  }

  @inline(__always) func gap(_ n: Int, count: Int) -> (offset: Int, gap: Range<Int>)? {
    let (y, x) = n.quotientAndRemainder(dividingBy: rowLength)
    // Kept lanes before the row's dropped columns, then the dropped ones (to the row's end or
    // the tile's); what follows starts the next row, right after the kept lanes in the plane.
    let kept = max(width - x, 0)
    let dropped = min(rowLength - max(x, width), count - kept)
    guard dropped > 0, dropped < count, count - kept - dropped <= width else { return nil }
    return (y * width + min(x, width), kept..<kept + dropped)
  }
}

extension GEMMKernels {
  /// The loop nest of Note [Packed GEMM loop nest] over any B source. `c` points at C's element
  /// (rows.lowerBound, columns.lowerBound); (m, n) is at
  /// `c[(m − rows.lowerBound) · cRowStride + (n − columns.lowerBound) · cColumnStride]`.
  static func runPackedGEMM<Source: PackedGEMMSource>(
    weights: PackedWeights, group: Int, source: Source, c: UnsafeMutablePointer<Float>, cRowStride: Int,
    cColumnStride: Int, clamp: OutputClamp, rows: Range<Int>, columns: Range<Int>,
    scratch: UnsafeMutablePointer<Float>, tiling: GEMMTiling
  ) {
    runPackedGEMM(
      weights: weights, group: group, source: source, c: c, cRowStride: cRowStride,
      columnMap: StridedColumns(origin: columns.lowerBound, stride: cColumnStride), clamp: clamp, rows: rows,
      columns: columns, scratch: scratch, tiling: tiling)
  }

  /// The loop nest with C's columns placed by `columnMap`: `c` points at row rows.lowerBound, and
  /// (m, n) is at `c[(m − rows.lowerBound) · cRowStride + offset of n]` (dropped when the map
  /// drops n).
  static func runPackedGEMM<Source: PackedGEMMSource, Columns: GEMMColumns>(
    weights: PackedWeights, group: Int, source: Source, c: UnsafeMutablePointer<Float>, cRowStride: Int,
    columnMap: Columns, clamp: OutputClamp, rows: Range<Int>, columns: Range<Int>,
    scratch: UnsafeMutablePointer<Float>, tiling: GEMMTiling
  ) {
    if rows.isEmpty || columns.isEmpty { return }
    // One specialized loop nest per kind of store (Note [Store activations]).
    if clamp.activation == .hardswish { nest(StoreHardswish()) } else { nest(VectorClamp(clamp)) }
    func nest(_ bounds: some StoreBounds) {
      withUnsafeTemporaryAllocation(of: Int.self, capacity: panelColumns) { offsets in
        if let block = tiling.inPlaceColumnBlock {
          let done = withUnsafeTemporaryAllocation(of: Int.self, capacity: weights.depth) { rowOffsets in
            guard let base = source.inPlaceRows(depth: weights.depth, offsets: rowOffsets.baseAddress!) else {
              return false
            }
            runInPlaceGEMM(
              weights: weights, group: group, b: base, rowOffsets: UnsafePointer(rowOffsets.baseAddress!), c: c,
              cRowStride: cRowStride, columnMap: columnMap, clamp: clamp, bounds: bounds, rows: rows,
              columns: columns, scratch: scratch, columnBlock: block, offsets: offsets.baseAddress!)
            return true
          }
          if done { return }
        }
        runPackedGEMM(
          weights: weights, group: group, source: source, c: c, cRowStride: cRowStride, columnMap: columnMap,
          clamp: clamp, bounds: bounds, rows: rows, columns: columns, scratch: scratch, tiling: tiling,
          offsets: offsets.baseAddress!)
      }
    }
  }

  /// The loop nest of Note [Reading B in place]: B[k, n] at `b[rowOffsets[k] + n]`, the whole
  /// depth in one pass. Same contract as `runPackedGEMM`.
  private static func runInPlaceGEMM<Columns: GEMMColumns>(
    weights: PackedWeights, group: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, columnMap: Columns, clamp: OutputClamp, bounds: some StoreBounds,
    rows: Range<Int>, columns: Range<Int>, scratch: UnsafeMutablePointer<Float>, columnBlock: Int,
    offsets: UnsafeMutablePointer<Int>
  ) {
    let (mr, nr) = (panelRows, panelColumns)
    let depth = weights.depth
    let lastPanel = scratch
    let tile = scratch + depth * nr
    let finish = !clamp.isNone
    let firstPanelRow = rows.lowerBound - rows.lowerBound % mr
    // The columns whose tiles read B in place: every tile of 16 that ends inside `columns`.
    let inPlaceEnd = columns.lowerBound + columns.count / nr * nr
    let tail = columns.upperBound - inPlaceEnd
    // A last tile of 1 or 9 columns leaves its last column to `singleColumn`, after each group
    // of row panels (9 columns are then an 8-column tile, not a 16-column one).
    let trailingColumn = tail == 1 || tail == 9
    if inPlaceEnd < columns.upperBound {
      // The last, narrower tile is copied once, zero past the end, so no read leaves B's columns.
      let count = columns.upperBound - inPlaceEnd
      for k in 0..<depth {
        let row = b + rowOffsets[k] + inPlaceEnd
        let target = lastPanel + k * nr
        for j in 0..<count { target[j] = row[j] }
        for j in count..<nr { target[j] = 0 }
      }
    }
    // Where each in-place tile of a block goes, found once per block rather than per row panel
    // (a division per tile): its offset in C when its 16 columns are one run, else, when they
    // are two runs around a dropped gap, the offset and the gap, else nothing (`Placement`).
    let blockTiles = (columnBlock + nr - 1) / nr
    withUnsafeTemporaryAllocation(of: Placement.self, capacity: blockTiles) { placementBuffer in
      let placements = placementBuffer.baseAddress!
      for j0 in stride(from: columns.lowerBound, to: columns.upperBound, by: columnBlock) {
        let blockEnd = min(j0 + columnBlock, columns.upperBound)
        let inPlaceTiles = (max(min(blockEnd, inPlaceEnd) - j0, 0)) / nr
        for t in 0..<inPlaceTiles {
          let column = j0 + t * nr
          if let start = columnMap.run(column, count: nr) {
            placements[t] = Placement(offset: start, gapStart: 0, gapLength: 0, run: 1)
          } else if let (offset, gap) = columnMap.gap(column, count: nr) {
            placements[t] = Placement(offset: offset, gapStart: gap.lowerBound, gapLength: gap.count, run: 0)
          } else {
            placements[t] = .elsewhere
          }
        }
        // Each plain tile's run: the plain tiles from it on whose outputs follow one another.
        for t in stride(from: inPlaceTiles - 2, through: 0, by: -1)
        where placements[t].run > 0 && placements[t + 1].run > 0
          && placements[t + 1].offset == placements[t].offset + nr
        {
          placements[t].run = placements[t + 1].run + 1
        }
        // Row panels go in groups of `columnPanels`, and a trailing single column is computed
        // after each group, while the group's A panels are still in cache (Note [Trailing column]).
        for g0 in stride(from: firstPanelRow, to: rows.upperBound, by: columnPanels * mr) {
          let groupEnd = min(g0 + columnPanels * mr, rows.upperBound)
          for m0 in stride(from: g0, to: groupEnd, by: mr) {
            let a = weights.panel(group: group, row: m0, column: 0)
            let bias = weights.panelBias(group: group, row: m0)
            let rowRange = max(m0, rows.lowerBound)..<min(m0 + mr, rows.upperBound)
            let first = rowRange.lowerBound - m0
            let cRows = c + (rowRange.lowerBound - rows.lowerBound) * cRowStride
            var column = j0
            while column < blockEnd {
              let t = (column - j0) / nr
              let placement = t < inPlaceTiles ? placements[t] : .elsewhere
              if placement.run > 0 {
                if rowRange.count == mr {
                  microKernel6x16Run(
                    tiles: placement.run, depth: depth, a: a, base: b + column, offsets: rowOffsets,
                    c: cRows + placement.offset, cRowStride: cRowStride, bias: bias, finish: finish, bounds: bounds)
                  column += placement.run * nr
                  continue
                }
                partialRowsKernel16(
                  rows: rowRange.count, depth: depth, a: a + first, b: InPlacePanel(base: b + column, offsets: rowOffsets),
                  c: cRows + placement.offset, cRowStride: cRowStride, accumulate: false, bias: bias + first,
                  finish: finish, bounds: bounds)
                column += nr
                continue
              }
              defer { column += nr }
              let columnCount = min(nr, blockEnd - column) - (column >= inPlaceEnd && trailingColumn ? 1 : 0)
              if columnCount == 0 { continue }  // after the blocks
              // Edge tile: computed on `tile` (row stride NR), its kept elements copied out: two
              // runs per row around a gap, else element by element.
              if t < inPlaceTiles {
                microKernel6x16(
                  depth: depth, a: a, b: InPlacePanel(base: b + column, offsets: rowOffsets), c: tile, cRowStride: nr,
                  accumulate: false, bias: bias, finish: finish, bounds: bounds)
              } else {
                narrowTileKernel(
                  columns: columnCount, depth: depth, a: a, b: lastPanel, tile: tile, accumulate: false, bias: bias,
                  finish: finish, bounds: bounds)
              }
              if placement.offset >= 0 {
                let (gapStart, gapEnd) = (placement.gapStart, placement.gapStart + placement.gapLength)
                for row in rowRange {
                  let tileRow = tile + (row - m0) * nr
                  let cRow = c + (row - rows.lowerBound) * cRowStride + placement.offset
                  copyShort(tileRow, to: cRow, count: gapStart)
                  copyShort(tileRow + gapEnd, to: cRow + gapStart, count: nr - gapEnd)
                }
                continue
              }
              storeEdgeTile(
                tile, rows: rowRange, panelRow: m0, column: column, columns: columnCount, columnMap: columnMap,
                offsets: offsets, c: cRows, cRowStride: cRowStride)
            }
          }
          if trailingColumn && blockEnd == columns.upperBound {
            let part = max(g0, rows.lowerBound)..<groupEnd
            singleColumn(
              weights: weights, group: group, k0: 0, depth: depth, b: lastPanel + tail - 1,
              column: columns.upperBound - 1, columnMap: columnMap,
              c: c + (part.lowerBound - rows.lowerBound) * cRowStride, cRowStride: cRowStride, rows: part,
              accumulate: false, finish: finish, bounds: bounds, offsets: offsets)
          }
        }
      }
    }
  }

  /// `runPackedGEMM` with `panelColumns` ints of room for an edge tile's column offsets.
  private static func runPackedGEMM<Source: PackedGEMMSource, Columns: GEMMColumns>(
    weights: PackedWeights, group: Int, source: Source, c: UnsafeMutablePointer<Float>, cRowStride: Int,
    columnMap: Columns, clamp: OutputClamp, bounds: some StoreBounds, rows: Range<Int>, columns: Range<Int>,
    scratch: UnsafeMutablePointer<Float>, tiling: GEMMTiling, offsets: UnsafeMutablePointer<Int>
  ) {
    let (mr, nr) = (panelRows, panelColumns)
    let (blockCount, blockDepth, columnBlock) = tiling.blocks(weights.depth, columns: columns.count)
    let packed = scratch
    let rowBuffer = scratch + tiling.packedCount(depth: weights.depth)
    let tile = rowBuffer + tiling.columnBlock + GEMMTiling.rowSlack
    let clamps = !clamp.isNone
    let firstPanelRow = rows.lowerBound - rows.lowerBound % mr
    for j0 in stride(from: columns.lowerBound, to: columns.upperBound, by: columnBlock) {
      let width = min(columnBlock, columns.upperBound - j0)
      // A last tile of 1 or 9 columns leaves its last column to `singleColumn`, after each
      // group of row panels (9 columns are then an 8-column tile, not a 16-column one).
      let trailingColumn = width % nr == 1 || width % nr == 9
      let tiledWidth = trailingColumn ? width - 1 : width
      let tiledPanels = (tiledWidth + nr - 1) / nr
      for block in 0..<blockCount {
        let k0 = block * blockDepth
        let kc = min(blockDepth, weights.depth - k0)
        packPanels(source: source, depth: k0..<k0 + kc, columns: j0..<j0 + width, into: packed, rowBuffer: rowBuffer)
        let accumulate = block > 0
        let finish = clamps && block == blockCount - 1
        // As in `runInPlaceGEMM`: a trailing single column after each group of row panels
        // (Note [Trailing column]).
        for g0 in stride(from: firstPanelRow, to: rows.upperBound, by: columnPanels * mr) {
          let groupEnd = min(g0 + columnPanels * mr, rows.upperBound)
          for m0 in stride(from: g0, to: groupEnd, by: mr) {
            let a = weights.panel(group: group, row: m0, column: k0)
            let bias = weights.panelBias(group: group, row: m0)
            let rowRange = max(m0, rows.lowerBound)..<min(m0 + mr, rows.upperBound)
            let fullRows = rowRange.count == mr
            for q in 0..<tiledPanels {
              let column = j0 + q * nr
              let columnCount = min(nr, j0 + tiledWidth - column)
              let b = UnsafePointer(packed + q * kc * nr)
              if columnCount == nr, let start = columnMap.run(column, count: nr) {
                let tileC = c + (rowRange.lowerBound - rows.lowerBound) * cRowStride + start
                if fullRows {
                  microKernel6x16(
                    depth: kc, a: a, b: PackedPanel(b), c: tileC, cRowStride: cRowStride, accumulate: accumulate, bias: bias,
                    finish: finish, bounds: bounds)
                } else {
                  // A partial panel (the last rows of A, or a thread's split) runs only its rows.
                  let first = rowRange.lowerBound - m0
                  partialRowsKernel16(
                    rows: rowRange.count, depth: kc, a: a + first, b: PackedPanel(b), c: tileC, cRowStride: cRowStride,
                    accumulate: accumulate, bias: bias + first, finish: finish, bounds: bounds)
                }
                continue
              }
              // Edge tile: the kernel runs on `tile` (row stride NR); only the block's elements
              // are copied in (for accumulation) and out (`storeEdgeTile` finds their offsets
              // again when they are not one run).
              if accumulate {
                columnMap.offsets(column, count: columnCount, into: offsets)
                for row in rowRange {
                  let cRow = c + (row - rows.lowerBound) * cRowStride
                  for j in 0..<columnCount { tile[(row - m0) * nr + j] = offsets[j] >= 0 ? cRow[offsets[j]] : 0 }
                }
              }
              narrowTileKernel(
                columns: columnCount, depth: kc, a: a, b: b, tile: tile, accumulate: accumulate, bias: bias,
                finish: finish, bounds: bounds)
              storeEdgeTile(
                tile, rows: rowRange, panelRow: m0, column: column, columns: columnCount, columnMap: columnMap,
                offsets: offsets, c: c + (rowRange.lowerBound - rows.lowerBound) * cRowStride, cRowStride: cRowStride)
            }
          }
          if trailingColumn {
            let part = max(g0, rows.lowerBound)..<groupEnd
            singleColumn(
              weights: weights, group: group, k0: k0, depth: kc,
              b: packed + (width - 1) / nr * kc * nr + (width - 1) % nr, column: j0 + width - 1, columnMap: columnMap,
              c: c + (part.lowerBound - rows.lowerBound) * cRowStride, cRowStride: cRowStride, rows: part,
              accumulate: accumulate, finish: finish, bounds: bounds, offsets: offsets)
          }
        }
      }
    }
  }

  /// The 6×16 scratch `tile` (row stride NR) of an edge tile with `columns` ≤ 16 columns from a
  /// packed panel `b` (16 floats per k): the narrowest kernel that covers them.
  @inline(__always)
  static func narrowTileKernel(
    columns: Int, depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>,
    accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    let nr = panelColumns
    if columns <= 4 {
      microKernel6x4(
        depth: depth, a: a, b: b, c: tile, cRowStride: nr, accumulate: accumulate, bias: bias, finish: finish,
        bounds: bounds)
    } else if columns <= 8 {
      microKernel6x8(
        depth: depth, a: a, b: b, c: tile, cRowStride: nr, accumulate: accumulate, bias: bias, finish: finish,
        bounds: bounds)
    } else {
      microKernel6x16(
        depth: depth, a: a, b: PackedPanel(b), c: tile, cRowStride: nr, accumulate: accumulate, bias: bias,
        finish: finish, bounds: bounds)
    }
  }

  /// Copies the kept elements of an edge tile out of the scratch `tile`: rows `rows` of the
  /// panel starting at row `panelRow`, its first `columns` columns, column j to `offsets[j]`
  /// (none when negative) of C's row; `c` points at the row `rows.lowerBound`.
  /// `storeTile` for the edge tile of columns `column ..< column + columns`: rows copied as
  /// vectors when those columns are one run of C (the last, narrower tile of a plain matrix,
  /// such as a Winograd GEMM's 140 tiles or a 14×14 plane's 196 pixels), else element by
  /// element through `columnMap`'s offsets (written to `offsets`). Out of line: it runs once
  /// per row panel and block at most, and inlined it grew the loop nests around the kernels.
  @inline(never)
  static func storeEdgeTile<Columns: GEMMColumns>(
    _ tile: UnsafePointer<Float>, rows: Range<Int>, panelRow: Int, column: Int, columns: Int, columnMap: Columns,
    offsets: UnsafeMutablePointer<Int>, c: UnsafeMutablePointer<Float>, cRowStride: Int
  ) {
    if let start = columnMap.run(column, count: columns) {
      for row in rows {
        copyShort(tile + (row - panelRow) * panelColumns, to: c + (row - rows.lowerBound) * cRowStride + start, count: columns)
      }
      return
    }
    columnMap.offsets(column, count: columns, into: offsets)
    storeTile(tile, rows: rows, panelRow: panelRow, columns: columns, offsets: offsets, c: c, cRowStride: cRowStride)
  }

  @inline(__always)
  static func storeTile(
    _ tile: UnsafePointer<Float>, rows: Range<Int>, panelRow: Int, columns: Int, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, cRowStride: Int
  ) {
    for row in rows {
      let cRow = c + (row - rows.lowerBound) * cRowStride
      let tileRow = tile + (row - panelRow) * panelColumns
      for j in 0..<columns where offsets[j] >= 0 { cRow[offsets[j]] = tileRow[j] }
    }
  }

  /// Copies B[depth, columns] into NR-column panels at `packed` (see Note [Packed GEMM loop
  /// nest]), zero-filling the last panel past `columns`.
  @inline(__always)
  static func packPanels<Source: PackedGEMMSource>(
    source: Source, depth: Range<Int>, columns: Range<Int>, into packed: UnsafeMutablePointer<Float>,
    rowBuffer: UnsafeMutablePointer<Float>
  ) {
    let nr = panelColumns
    let kc = depth.count
    let width = columns.count
    let fullPanels = width / nr
    let remainder = width - fullPanels * nr
    for k in 0..<kc {
      let row = source.row(depth.lowerBound + k, columns: columns, buffer: rowBuffer)
      var target = packed + k * nr
      var from = row
      for _ in 0..<fullPanels {
        store8(load8(from), target)
        store8(load8(from + 8), target + 8)
        target += kc * nr
        from += nr
      }
      if remainder > 0 {
        for j in 0..<remainder { target[j] = from[j] }
        for j in remainder..<nr { target[j] = 0 }
      }
    }
  }

  /// The 6×16 register tile: C[0..<6, 0..<16] = (accumulate ? C : bias) + Σ_k a[k]ᵀ · b[k],
  /// clamped when `finish`. `a` holds 6 floats per k, `b` 16 floats per k.
  @inline(never)
  static func microKernel6x16<B: PanelReader>(
    depth: Int, a: UnsafePointer<Float>, b: B, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    tile6x16(
      depth: depth, a: a, b: b, c: c, cRowStride: cRowStride, accumulate: accumulate, bias: bias, finish: finish,
      bounds: bounds)
  }

  /// `microKernel6x16` on `tiles` tiles side by side, read in place: tile t reads B at
  /// `base + 16·t + offsets[k]` and writes C at `c + 16·t` (Note [Tile runs]).
  @inline(never)
  static func microKernel6x16Run(
    tiles: Int, depth: Int, a: UnsafePointer<Float>, base: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    for t in 0..<tiles {
      tile6x16(
        depth: depth, a: a, b: InPlacePanel(base: base + 16 * t, offsets: offsets), c: c + 16 * t,
        cRowStride: cRowStride, accumulate: false, bias: bias, finish: finish, bounds: bounds)
    }
  }

  /// The body of `microKernel6x16`, inlined into it and into `microKernel6x16Run`.
  @inline(__always)
  static func tile6x16<B: PanelReader>(
    depth: Int, a: UnsafePointer<Float>, b: B, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    let (c0, c1, c2, c3, c4, c5) = (c, c + cRowStride, c + 2 * cRowStride, c + 3 * cRowStride, c + 4 * cRowStride, c + 5 * cRowStride)
    var (r00, r01, r10, r11, r20, r21): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    var (r30, r31, r40, r41, r50, r51): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    if accumulate {
      (r00, r01) = (load8(c0), load8(c0 + 8))
      (r10, r11) = (load8(c1), load8(c1 + 8))
      (r20, r21) = (load8(c2), load8(c2 + 8))
      (r30, r31) = (load8(c3), load8(c3 + 8))
      (r40, r41) = (load8(c4), load8(c4 + 8))
      (r50, r51) = (load8(c5), load8(c5 + 8))
    } else {
      r00 = SIMD8(repeating: bias[0])
      r10 = SIMD8(repeating: bias[1])
      r20 = SIMD8(repeating: bias[2])
      r30 = SIMD8(repeating: bias[3])
      r40 = SIMD8(repeating: bias[4])
      r50 = SIMD8(repeating: bias[5])
      (r01, r11, r21, r31, r41, r51) = (r00, r10, r20, r30, r40, r50)
    }
    var a = a
    for k in 0..<depth {
      let (b0, b1) = b.columns16(k)
      var s = SIMD8<Float>(repeating: a[0])
      r00.addProduct(s, b0)
      r01.addProduct(s, b1)
      s = SIMD8(repeating: a[1])
      r10.addProduct(s, b0)
      r11.addProduct(s, b1)
      s = SIMD8(repeating: a[2])
      r20.addProduct(s, b0)
      r21.addProduct(s, b1)
      s = SIMD8(repeating: a[3])
      r30.addProduct(s, b0)
      r31.addProduct(s, b1)
      s = SIMD8(repeating: a[4])
      r40.addProduct(s, b0)
      r41.addProduct(s, b1)
      s = SIMD8(repeating: a[5])
      r50.addProduct(s, b0)
      r51.addProduct(s, b1)
      a += 6
    }
    if finish {
      (r00, r01, r10, r11, r20, r21) = (bounds(r00), bounds(r01), bounds(r10), bounds(r11), bounds(r20), bounds(r21))
      (r30, r31, r40, r41, r50, r51) = (bounds(r30), bounds(r31), bounds(r40), bounds(r41), bounds(r50), bounds(r51))
    }
    store8(r00, c0)
    store8(r01, c0 + 8)
    store8(r10, c1)
    store8(r11, c1 + 8)
    store8(r20, c2)
    store8(r21, c2 + 8)
    store8(r30, c3)
    store8(r31, c3 + 8)
    store8(r40, c4)
    store8(r41, c4 + 8)
    store8(r50, c5)
    store8(r51, c5 + 8)
  }

  /// `microKernel6x16` for 1 to 5 rows of a panel: `a` and `bias` point at the first row
  /// (panel rows are still `panelRows` floats apart per k), C at its row. Runs 4-, 2- and
  /// 1-row kernels, so a partial panel costs about its share of a full one.
  static func partialRowsKernel16<B: PanelReader>(
    rows: Int, depth: Int, a: UnsafePointer<Float>, b: B, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    var row = 0
    if rows - row >= 4 {
      microKernel4x16(
        depth: depth, a: a, b: b, c: c, cRowStride: cRowStride, accumulate: accumulate, bias: bias, finish: finish,
        bounds: bounds)
      row += 4
    }
    if rows - row >= 2 {
      microKernel2x16(
        depth: depth, a: a + row, b: b, c: c + row * cRowStride, cRowStride: cRowStride, accumulate: accumulate,
        bias: bias + row, finish: finish, bounds: bounds)
      row += 2
    }
    if rows - row == 1 {
      microKernel1x16(
        depth: depth, a: a + row, b: b, c: c + row * cRowStride, accumulate: accumulate, bias: bias + row,
        finish: finish, bounds: bounds)
    }
  }

  /// The first 4 rows of `microKernel6x16`'s tile.
  @inline(never)
  static func microKernel4x16<B: PanelReader>(
    depth: Int, a: UnsafePointer<Float>, b: B, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    let (c0, c1, c2, c3) = (c, c + cRowStride, c + 2 * cRowStride, c + 3 * cRowStride)
    var (r00, r01, r10, r11): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    var (r20, r21, r30, r31): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    if accumulate {
      (r00, r01, r10, r11) = (load8(c0), load8(c0 + 8), load8(c1), load8(c1 + 8))
      (r20, r21, r30, r31) = (load8(c2), load8(c2 + 8), load8(c3), load8(c3 + 8))
    } else {
      (r00, r10) = (SIMD8(repeating: bias[0]), SIMD8(repeating: bias[1]))
      (r20, r30) = (SIMD8(repeating: bias[2]), SIMD8(repeating: bias[3]))
      (r01, r11, r21, r31) = (r00, r10, r20, r30)
    }
    var a = a
    for k in 0..<depth {
      let (b0, b1) = b.columns16(k)
      var s = SIMD8<Float>(repeating: a[0])
      r00.addProduct(s, b0)
      r01.addProduct(s, b1)
      s = SIMD8(repeating: a[1])
      r10.addProduct(s, b0)
      r11.addProduct(s, b1)
      s = SIMD8(repeating: a[2])
      r20.addProduct(s, b0)
      r21.addProduct(s, b1)
      s = SIMD8(repeating: a[3])
      r30.addProduct(s, b0)
      r31.addProduct(s, b1)
      a += panelRows
    }
    if finish {
      (r00, r01, r10, r11) = (bounds(r00), bounds(r01), bounds(r10), bounds(r11))
      (r20, r21, r30, r31) = (bounds(r20), bounds(r21), bounds(r30), bounds(r31))
    }
    store8(r00, c0)
    store8(r01, c0 + 8)
    store8(r10, c1)
    store8(r11, c1 + 8)
    store8(r20, c2)
    store8(r21, c2 + 8)
    store8(r30, c3)
    store8(r31, c3 + 8)
  }

  /// The first 2 rows of `microKernel6x16`'s tile.
  @inline(never)
  static func microKernel2x16<B: PanelReader>(
    depth: Int, a: UnsafePointer<Float>, b: B, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    let (c0, c1) = (c, c + cRowStride)
    var (r00, r01, r10, r11): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    if accumulate {
      (r00, r01, r10, r11) = (load8(c0), load8(c0 + 8), load8(c1), load8(c1 + 8))
    } else {
      (r00, r10) = (SIMD8(repeating: bias[0]), SIMD8(repeating: bias[1]))
      (r01, r11) = (r00, r10)
    }
    var a = a
    for k in 0..<depth {
      let (b0, b1) = b.columns16(k)
      let s0 = SIMD8<Float>(repeating: a[0])
      let s1 = SIMD8<Float>(repeating: a[1])
      r00.addProduct(s0, b0)
      r01.addProduct(s0, b1)
      r10.addProduct(s1, b0)
      r11.addProduct(s1, b1)
      a += panelRows
    }
    if finish { (r00, r01, r10, r11) = (bounds(r00), bounds(r01), bounds(r10), bounds(r11)) }
    store8(r00, c0)
    store8(r01, c0 + 8)
    store8(r10, c1)
    store8(r11, c1 + 8)
  }

  /// The first row of `microKernel6x16`'s tile.
  @inline(never)
  static func microKernel1x16<B: PanelReader>(
    depth: Int, a: UnsafePointer<Float>, b: B, c: UnsafeMutablePointer<Float>,
    accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    var (r0, r1) = accumulate ? (load8(c), load8(c + 8)) : (SIMD8(repeating: bias[0]), SIMD8(repeating: bias[0]))
    var a = a
    for k in 0..<depth {
      let (b0, b1) = b.columns16(k)
      let s = SIMD8<Float>(repeating: a[0])
      r0.addProduct(s, b0)
      r1.addProduct(s, b1)
      a += panelRows
    }
    if finish { (r0, r1) = (bounds(r0), bounds(r1)) }
    store8(r0, c)
    store8(r1, c + 8)
  }

  /// Column `column` of C, alone, for every row in `rows`: the last column of a block whose last
  /// tile has 1 or 9 columns (a 7×7 plane's 49th, a 13×13 plane's 169th). `b` points at its
  /// column of a packed panel (the column's value of each k at `b[16·k]`), `k0..<k0 + depth` the
  /// depth block; the edge-tile contract otherwise. One
  /// column of one row panel is a single chain of dependent FMAs (its six rows are one vector),
  /// so eight row panels run together (`microKernelColumn`) to keep the FMA unit busy. Each
  /// row's sum is the same sequence of FMAs as in a full tile. The loop nests call it once per
  /// group of `columnPanels` row panels, right after the group's tiles (Note [Trailing column]).
  static func singleColumn<Columns: GEMMColumns>(
    weights: PackedWeights, group: Int, k0: Int, depth: Int, b: UnsafePointer<Float>, column: Int,
    columnMap: Columns, c: UnsafeMutablePointer<Float>, cRowStride: Int, rows: Range<Int>, accumulate: Bool,
    finish: Bool, bounds: some StoreBounds, offsets: UnsafeMutablePointer<Int>
  ) {
    let mr = panelRows
    columnMap.offsets(column, count: 1, into: offsets)
    if offsets[0] < 0 { return }
    // Row r of the column at cColumn[(r − rows.lowerBound) · cRowStride].
    let cColumn = c + offsets[0]
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: columnPanels) { sums in
      let sums = sums.baseAddress!
      var m0 = rows.lowerBound - rows.lowerBound % mr
      while m0 < rows.upperBound {
        let panels = min(columnPanels, (rows.upperBound - m0 + mr - 1) / mr)
        for p in 0..<columnPanels {
          var sum = SIMD8<Float>()
          let bias = weights.panelBias(group: group, row: m0 + min(p, panels - 1) * mr)
          for row in 0..<mr where rows.contains(m0 + p * mr + row) {
            sum[row] = accumulate ? cColumn[(m0 + p * mr + row - rows.lowerBound) * cRowStride] : bias[row]
          }
          sums[p] = sum
        }
        microKernelColumn(
          depth: depth, a: weights.panel(group: group, row: m0, column: k0), panelStride: weights.depth * mr,
          panels: panels, b: b, sums: sums)
        for p in 0..<panels {
          let sum = finish ? bounds(sums[p]) : sums[p]
          for row in 0..<mr where rows.contains(m0 + p * mr + row) {
            cColumn[(m0 + p * mr + row - rows.lowerBound) * cRowStride] = sum[row]
          }
        }
        m0 += panels * mr
      }
    }
  }

  /// Row panels `singleColumn` runs at once; also the loop nests' groups of row panels (Note
  /// [Trailing column]).
  static let columnPanels = 8

  /// `sums[p] += Σ_k panel_p[k] · b[16·k]` for `panels` ≤ 8 row panels `panelStride` floats
  /// apart from `a` (panels past `panels` repeat the last one; their sums are ignored). A
  /// panel's six values of each k are one vector whose last two lanes (the next k's, or the
  /// padding after the last panel) are ignored.
  @inline(never)
  static func microKernelColumn(
    depth: Int, a: UnsafePointer<Float>, panelStride: Int, panels: Int, b: UnsafePointer<Float>,
    sums: UnsafeMutablePointer<SIMD8<Float>>
  ) {
    func panel(_ p: Int) -> UnsafePointer<Float> { a + min(p, panels - 1) * panelStride }
    let (a0, a1, a2, a3) = (panel(0), panel(1), panel(2), panel(3))
    let (a4, a5, a6, a7) = (panel(4), panel(5), panel(6), panel(7))
    var (s0, s1, s2, s3) = (sums[0], sums[1], sums[2], sums[3])
    var (s4, s5, s6, s7) = (sums[4], sums[5], sums[6], sums[7])
    for k in 0..<depth {
      let x = SIMD8<Float>(repeating: b[k &* panelColumns])
      let offset = k &* panelRows
      s0.addProduct(load8(a0 + offset), x)
      s1.addProduct(load8(a1 + offset), x)
      s2.addProduct(load8(a2 + offset), x)
      s3.addProduct(load8(a3 + offset), x)
      s4.addProduct(load8(a4 + offset), x)
      s5.addProduct(load8(a5 + offset), x)
      s6.addProduct(load8(a6 + offset), x)
      s7.addProduct(load8(a7 + offset), x)
    }
    (sums[0], sums[1], sums[2], sums[3]) = (s0, s1, s2, s3)
    (sums[4], sums[5], sums[6], sums[7]) = (s4, s5, s6, s7)
  }

  /// `microKernel6x16` for the first 4 columns only (`b` still holds 16 floats per k), on
  /// 4-float vectors: a 7×7 plane's 49th column costs a quarter of a full tile, not half (on
  /// cores that split 8-float FMAs in two, a 4-float FMA costs half as much).
  @inline(never)
  static func microKernel6x4(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    func load4(_ pointer: UnsafePointer<Float>) -> SIMD4<Float> {
      UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
    }
    func store4(_ value: SIMD4<Float>, _ pointer: UnsafeMutablePointer<Float>) {
      var value = value
      if finish {
        for lane in 0..<4 { value[lane] = bounds.scalar(value[lane]) }
      }
      UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD4<Float>.self)
    }
    let (c0, c1, c2, c3, c4, c5) = (c, c + cRowStride, c + 2 * cRowStride, c + 3 * cRowStride, c + 4 * cRowStride, c + 5 * cRowStride)
    var (r0, r1, r2, r3, r4, r5): (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)
    if accumulate {
      (r0, r1, r2, r3, r4, r5) = (load4(c0), load4(c1), load4(c2), load4(c3), load4(c4), load4(c5))
    } else {
      (r0, r1, r2) = (SIMD4(repeating: bias[0]), SIMD4(repeating: bias[1]), SIMD4(repeating: bias[2]))
      (r3, r4, r5) = (SIMD4(repeating: bias[3]), SIMD4(repeating: bias[4]), SIMD4(repeating: bias[5]))
    }
    var a = a
    var b = b
    for _ in 0..<depth {
      let b0 = load4(b)
      r0.addProduct(SIMD4(repeating: a[0]), b0)
      r1.addProduct(SIMD4(repeating: a[1]), b0)
      r2.addProduct(SIMD4(repeating: a[2]), b0)
      r3.addProduct(SIMD4(repeating: a[3]), b0)
      r4.addProduct(SIMD4(repeating: a[4]), b0)
      r5.addProduct(SIMD4(repeating: a[5]), b0)
      a += 6
      b += 16
    }
    store4(r0, c0)
    store4(r1, c1)
    store4(r2, c2)
    store4(r3, c3)
    store4(r4, c4)
    store4(r5, c5)
  }

  /// `microKernel6x16` for the first 8 columns only (`b` still holds 16 floats per k).
  @inline(never)
  static func microKernel6x8(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
    cRowStride: Int, accumulate: Bool, bias: UnsafePointer<Float>, finish: Bool, bounds: some StoreBounds
  ) {
    let (c0, c1, c2, c3, c4, c5) = (c, c + cRowStride, c + 2 * cRowStride, c + 3 * cRowStride, c + 4 * cRowStride, c + 5 * cRowStride)
    var (r0, r1, r2, r3, r4, r5): (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    if accumulate {
      (r0, r1, r2, r3, r4, r5) = (load8(c0), load8(c1), load8(c2), load8(c3), load8(c4), load8(c5))
    } else {
      r0 = SIMD8(repeating: bias[0])
      r1 = SIMD8(repeating: bias[1])
      r2 = SIMD8(repeating: bias[2])
      r3 = SIMD8(repeating: bias[3])
      r4 = SIMD8(repeating: bias[4])
      r5 = SIMD8(repeating: bias[5])
    }
    var a = a
    var b = b
    for _ in 0..<depth {
      let b0 = load8(b)
      r0.addProduct(SIMD8(repeating: a[0]), b0)
      r1.addProduct(SIMD8(repeating: a[1]), b0)
      r2.addProduct(SIMD8(repeating: a[2]), b0)
      r3.addProduct(SIMD8(repeating: a[3]), b0)
      r4.addProduct(SIMD8(repeating: a[4]), b0)
      r5.addProduct(SIMD8(repeating: a[5]), b0)
      a += 6
      b += 16
    }
    if finish {
      (r0, r1, r2, r3, r4, r5) = (bounds(r0), bounds(r1), bounds(r2), bounds(r3), bounds(r4), bounds(r5))
    }
    store8(r0, c0)
    store8(r1, c1)
    store8(r2, c2)
    store8(r3, c3)
    store8(r4, c4)
    store8(r5, c5)
  }
}

// Note [Reading B in place]
// When every row of B is a contiguous run (a 1×1 convolution's input channels, the rows of a
// plain matrix, the taps of the phase planes), copying B into panels costs more than it saves:
// the copy reads each element from memory once anyway, then writes and re-reads it, and for the
// phase planes it turns the nine taps of a channel, which share a few cache lines, into nine
// separate ones. The micro-kernels then read B[k, n ..< n + 16] at `base + offsets[k] + n`
// straight from the source, the whole depth in one pass (no depth blocks, so an element is
// final when its tile is done and the clamp applies there).
// Loop nest: for each block of 256 columns, for each MR-row panel of A (read once per block
// instead of once per tile), for each 16-column tile of the block: the micro-kernel. A block's
// B rows (K runs of 1 KB, which the hardware prefetchers follow) stay in L2 across all row
// panels. Measured against packing, side by side: 2 to 3.5% faster on MobileNet V2 / V3,
// SqueezeNet and ShuffleNet, no change on ResNet-18; blocks of 64, 128 and 512 columns were
// slower than 256. The exception is a plain matrix B of depth 512 or more with rows of 128
// floats or more (a 1×1 convolution from 512+ channels on a 13×13 or larger plane): there a
// tile's K rows of 64 bytes (two cache lines each when the rows are not line-aligned) no
// longer stay in L1 from one row panel to the next, and packing, which reads them as one
// sequential run per depth block, measured 10 to 15% faster (SqueezeNet's 512→1000 classifier
// 4.9 → 4.3 ms, 576→96 on 14×14 0.60 → 0.52 ms); on 7×7 planes it made no difference, and for
// the phase planes' taps (3×3 layers) packing was slower. Remeasured on the Zen 2 host
// (2026-11-24, per-node profiles, six alternating runs of one build with a switch), 7×7 planes
// now gain too: MobileNetV2's 960→320 0.399 → 0.377 ms and 960→160 0.213 → 0.203 ms at one
// thread (0.231 → 0.210 and 0.140 → 0.130 ms at two), the model 0.992× and 0.990×; V3-Small's
// 576→96 on 7×7 unchanged. Depth 320 (320→1280) gained nothing then, and depth blocks of 64 or
// 128 instead of 256 made the 960-deep layers 5–10% slower. So every matrix B of depth 512 or
// more is packed. With the whole depth packed in one block (Note [Packed GEMM loop nest]),
// shallower products over short rows gain as well (same day and method): 320→1280 on 7×7
// 0.528 → 0.451 ms (ONNX Runtime 0.461), 160→960 on 7×7 0.203 → 0.177 ms; but 192→32 on 28×28
// (rows of 784 floats) went 0.126 → 0.148 ms. So rows shorter than 128 floats are packed from
// depth 128 on. Only the last tile of the
// caller's columns, when narrower than 16, is copied into a zero-filled panel, so no read
// leaves B's columns. Every element's sum runs over k in the same order as in the packed nest
// with one depth block, so the results are the same.
// Software prefetch of the tile 128 columns ahead during the first row panel (through a C
// `__builtin_prefetch` shim), and of the image rows 8 ahead in the depthwise plane copy, made
// single layers faster in the per-node profile (MobileNet V2's 32→16 on 112×112 0.56 → 0.45 ms)
// but no whole model faster, side by side at 1 and 2 threads; it is not used. Neither is
// running, when A is small (A and one tile's B rows within 24 KB: the projections to 16 and 24
// channels), every row panel of a tile before the next tile, so that the tile's B rows are
// reused from L1 instead of L2: single layers 0–7% slower (32→16 at 112×112 0.42 → 0.45 ms).
// Remeasured 2026-11-23 in MobileNetV2's per-node profile, alternating runs: prefetching each B
// row 128 columns ahead in the first row panel (a C `__builtin_prefetch` shim) made every
// large-plane 1×1 layer 14–42% slower (in a noisy phase); in-place column blocks of 64 or 128
// instead of 256 left ten pairs of 1×1 layers (24↔96 at 28×28, 240↔40 and 120↔48 at 14×14,
// 576↔96 at 7×7) within ±3%. Against a plain C loop nest with the same 6×16 kernel, the
// in-place loop itself runs at the same speed (20 such layers 2.01 ms in C, ONNX Runtime
// 2.02 ms); what cost more was the
// per-tile call and per-op overhead (Notes [Tile runs] and [Prepared convolutions]).
// Remeasured 2026-11-23: in-place column blocks scaled with the depth (B's block kept near
// 128 KB, so 2048 columns at depth 16 and 1360 at depth 24: longer runs of C per row) made ten
// 16↔96 pairs on 112×112 8% faster but left MobileNetV2 and V3-Small within ±1% (alternating
// runs); not used. A C loop nest with the same kernel and order runs such large-plane chains
// about 3–5% slower than ONNX Runtime's NCHWc kernels (24↔144 on 56×56: 1.03–1.06 against
// 1.005 ms per pair, side by side), ours 8% slower than that C; the kernel's instructions are
// the same as C's, and neither buffer offsets (4K aliasing) nor the loop order changed the C
// figure.
// Remeasured 2026-11-24 on a Zen 2 host (full-width 256-bit FMAs; alternating runs against
// ONNX Runtime, each change behind a switch). Chains of four 1×1 pairs, one thread: 576↔96 on
// 14×14 1.14× ONNX Runtime, 960↔160 on 7×7 1.18×, 384↔64 on 14×14 1.13×, 16↔96 on 112×112
// 0.97×. A `perf` profile of 576↔96 puts 85% in the 6×16 kernels (about 99 GFLOP/s, ONNX
// Runtime's rate), 6% in packing B, 5.5% in the 4-column edge kernel (196 = 12·16 + 4). Not
// kept: tiles outside the row panels inside groups of 16 panels (BLIS order: B's tile in L1, A
// from L2) 1.01× slower; reading deep B in place 1.04× slower (512→1000 on 13×13 1.17×); packing
// 7×7 layers of depth 300 or more (960↔160 0.95×, 320↔1280 0.92× alone) left MobileNetV2 at
// 1.005× and made V3-Small 1.02–1.12× slower; a strided B reader for 1×1 layers (no offset
// table) 0.97–0.98× on the chains but 1.00–1.02× on MobileNetV2 and V3-Small; the packed nest
// with the whole depth as one block (576 and 512 deep) 0.98× on 576↔96 and 0.97× on 512→1000
// alone, but 0.99–1.02× on SqueezeNet and MobileNetV2 at one and two threads.
// Also not kept (2026-11-24, same host, with huge pages): depth blocks while reading B in place
// (blocks of 64 k, groups of 8 row panels, C accumulated between blocks; same sums), so that a
// block's B rows stay in L1 across the group: chains of four pairs alone 0.90× (320↔1280 on
// 7×7), 0.93× (960↔160), 0.96× (576↔96 on 14×14, read in place instead of packed), 0.975×
// (384↔64), but 1.01–1.07× on MobileNetV2, V3-Small and SqueezeNet, and 1.09× on twelve
// 320↔1280 layers whose 20 MB of weights come from DRAM, since A is then read in 1.5 KB pieces
// 30 KB apart. Prefetching the next piece through a C `__builtin_prefetch` shim made that chain
// 0.915×, yet the models stayed at 0.99–1.04× and the deep 7×7 layers' per-node times moved by
// 1–3% at most. Prefetching the next row panel of A during the full-depth kernel was 1.03–1.07×
// slower. The packed nest's depth block (128 or 512 instead of 256) and column block (64 or
// 128) left SqueezeNet within ±2%, and its tiles outside the row panels of each group (BLIS
// order, as above) made SqueezeNet, whose 512→1000 classifier takes that nest, 1.015× slower.
// Packing the 7×7 layers of depth 300 or more, remeasured after huge pages and the transposed
// tiles (Note [Transposed tiles]), made MobileNetV2 2% slower (320→1280 0.53 → 0.56 ms).

// Note [Trailing column]
// A block whose last tile has 1 or 9 columns (7×7 and 13×13 planes) leaves its last column to
// `singleColumn`, which reads eight row panels of A at once. Called once after all the row
// panels, it read the whole of A a second time, from L3 when A is large (MobileNetV2's 960→320
// on 7×7: 1.2 MB), and cost 1.4% of a MobileNetV2 run for 1/49 of its 7×7 work. Called after
// each group of eight row panels instead, it finds their A panels still in L1/L2. Same sums in
// the same order; only when each column is computed changes. Measured on a Zen 2 host
// (2026-11-24, `perf record` sample shares at one thread, the same run otherwise): the column
// kernel's share of MobileNetV2 1.21% → 0.80%, of SqueezeNet 1.23% → 0.95% (its 13×13 layers),
// MobileNetV3-Small 0.51% → 0.61% (within sampling noise, about 50 samples). Whole-model A/B
// runs could not resolve a change this small (±3% drift on the shared host).

// Note [Tile runs]
// With B read in place, a 1×1 convolution's tiles are 16 columns of C one after the other, and
// so are most of a phase-plane GEMM's. Calling the 6×16 kernel once per tile cost, per call, the
// loop's placement checks and the call itself: about 5% of a MobileNet 1×1 layer of depth 24 to
// 120, more than the kernel's own prologue. So each block's placements also record, for every
// tile whose columns are one run in C, how many tiles from it on continue that run
// (`Placement.run`), and a full row panel sweeps each run with one `microKernel6x16Run` call
// that loops over the tiles inside. Same kernel body, same sums. Measured side by side (one
// thread, alternating runs): ten pairs of 1×1 layers 24↔96 at 28×28 2.30 → 2.20 ms, 120↔48 at
// 14×14 1.44 → 1.39 ms; MobileNetV3-Small 6.18 → 6.02 ms, MobileNetV2 24.6 → 23.9 ms.

// Not kept (2026-11-24, Zen 2 host, one thread): runs of 4×24 and 2×48 tiles for the last,
// partial row panel of 16, 32, 64 or 160 output channels (12 sums in flight instead of the
// 4×16 and 2×16 kernels' 8 and 4; same sums). The layers with such panels ran 3–6% faster in
// MobileNetV2's per-node profile (32→16 on 112×112 0.198 → 0.191 ms, 960→160 on 7×7 0.220 →
// 0.211 ms, 576→160 0.134 → 0.126 ms), but the builds placed `microKernel6x16Run` where the
// large-plane expansions, which have no partial panel, ran 8% slower (16→96 on 112×112 0.52 →
// 0.56 ms; Note [Depthwise row blocks] met the same). Aligning every Kernels function to 4 KB
// (`-Xllvm -align-all-functions=12`) made that layer run at its fast speed in every build, but
// the models were neutral (MobileNetV2 1.007×, V3-Small 1.006×) and the binary 4.4 MB larger.
// Rebuilt once more (2026-11-24, runs of three tiles: a 2×48 kernel for 2 leftover rows, two 4×24
// for 4): the same picture, 32→16 on 112×112 0.217 → 0.202 ms and the stem and 32-channel
// projections 2–5% faster, the 16→96 and 24→144 expansions 4–9% slower, MobileNetV2's per-node
// sum 1.009× (four alternating runs); with every loop aligned to 64 bytes (`-Xllvm
// -align-loops=64`, for both builds) the expansions still slowed. Alone, aligning the loops left
// MobileNetV2 at 0.997× and V3-Small at 0.991× (six alternating runs) for 240 KB more binary.

/// Where an in-place tile's 16 columns go in a row of C (`runInPlaceGEMM`): at `offset` on, with
/// lanes `gapStart ..< gapStart + gapLength` dropped and the lanes after them moved down by
/// `gapLength`; `offset` −1 when the columns are placed some other way.
struct Placement {
  var offset: Int
  var gapStart: Int
  var gapLength: Int
  /// For a tile whose 16 columns are one run (no gap): the tiles from this one on, in the same
  /// block, whose outputs follow one another in C (Note [Tile runs]); 0 otherwise.
  var run: Int

  static let elsewhere = Placement(offset: -1, gapStart: 0, gapLength: 0, run: 0)
}

/// Copies `count` (0 to 16) floats, whole vectors where there are eight or more.
@inline(__always)
func copyShort(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
  if count >= 8 {
    copyOverlapping(source, to: target, count: count)
  } else {
    for j in 0..<count { target[j] = source[j] }
  }
}

/// How a micro-kernel reads B[k, 0 ..< 16] of its tile.
protocol PanelReader {
  func columns16(_ k: Int) -> (SIMD8<Float>, SIMD8<Float>)
}

/// A packed panel: 16 floats per k, one after the other.
struct PackedPanel: PanelReader {
  let b: UnsafePointer<Float>

  @inline(__always) init(_ b: UnsafePointer<Float>) { self.b = b }

  @inline(__always) func columns16(_ k: Int) -> (SIMD8<Float>, SIMD8<Float>) {
    (load8(b + 16 * k), load8(b + 16 * k + 8))
  }
}

/// B read where it lies: row k of the tile at `base + offsets[k]`.
struct InPlacePanel: PanelReader {
  let base: UnsafePointer<Float>
  let offsets: UnsafePointer<Int>

  @inline(__always) func columns16(_ k: Int) -> (SIMD8<Float>, SIMD8<Float>) {
    let row = base + offsets[k]
    return (load8(row), load8(row + 8))
  }
}
