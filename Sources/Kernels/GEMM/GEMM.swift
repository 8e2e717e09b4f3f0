/// Dense matrix products over float32 buffers: GEMM, batched GEMM, `matmul` and `linear`.
///
///     C[i, j] ← alpha · Σ_{p < k} A[i, p] · B[p, j] + beta · C[i, j]      (i < m, j < n)
///
/// Matrix contract (every kernel in this family):
/// - A matrix is a base pointer and two strides in elements: element (i, p) of A is
///   `a[i · aRowStride + p · aColumnStride]`, likewise for B. A transposed operand is the same
///   buffer with its strides swapped, so `op(A)` needs no flag and any strided 2-D view (a
///   `transpose`, a column slice) is read in place.
/// - C has unit column stride: element (i, j) is `c[i · cRowStride + j]`. It must not overlap A
///   or B.
/// - `beta == 0` means C is not read, so NaN or garbage in it does not propagate; `alpha == 0`
///   means A and B are not read (BLAS semantics, which `torch.addmm` documents for beta).
/// - Batched forms add a batch stride per operand; a stride of 0 broadcasts that operand.
///
/// `torch.addmm(input, mat1, mat2, beta, alpha)` is: broadcast-copy `input` into the output
/// (`DataMovementKernels.copy` with stride-0 dims), then `gemmReference` with that beta and alpha.
/// `torch.mm` and `torch.bmm` are `gemmReference` / `batchedGEMMReference` with alpha 1, beta 0.
public enum GEMMKernels {
  /// Columns of C updated together: a 1 KB slice of a C row stays in L1 while k streams by.
  static let columnBlock = 256
  /// Rows of B per pass: with `columnBlock` columns, a 128 KB block of B stays in L2.
  static let depthBlock = 128

  /// C ← alpha · A · B + beta · C for one m×k by k×n product.
  ///
  /// - Parameters:
  ///   - m, n, k: the sizes (any may be 0; with k = 0 the product is zero and C ← beta · C).
  ///   - a, aRowStride, aColumnStride: A (m×k); element (i, p) at `a[i·aRowStride + p·aColumnStride]`.
  ///   - b, bRowStride, bColumnStride: B (k×n); element (p, j) at `b[p·bRowStride + j·bColumnStride]`.
  ///   - c, cRowStride: C (m×n); element (i, j) at `c[i·cRowStride + j]`.
  public static func gemmReference(
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int, bColumnStride: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, cRowStride: Int
  ) {
    precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM size")
    if m == 0 || n == 0 { return }
    scale(c, rows: m, columns: n, rowStride: cRowStride, by: beta)
    if k == 0 || alpha == 0 { return }
    if bColumnStride == 1 {
      accumulateRowPanels(
        m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
        b: b, bRowStride: bRowStride, c: c, cRowStride: cRowStride)
    } else if aColumnStride == 1 && bRowStride == 1 {
      accumulateDotProducts(
        m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: aRowStride, b: b, bColumnStride: bColumnStride,
        c: c, cRowStride: cRowStride)
    } else {
      for i in 0..<m {
        let cRow = c + i * cRowStride
        for p in 0..<k {
          let scaled = alpha * a[i * aRowStride + p * aColumnStride]
          let bRow = b + p * bRowStride
          for j in 0..<n { cRow[j] += scaled * bRow[j * bColumnStride] }
        }
      }
    }
  }

  /// `gemmReference` for `batch` independent products; operand `x` of product `t` starts at
  /// `x + t · xBatchStride` (a stride of 0 reuses one matrix for every product).
  public static func batchedGEMMReference(
    batch: Int, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, aBatchStride: Int, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bBatchStride: Int, bRowStride: Int, bColumnStride: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, cBatchStride: Int, cRowStride: Int
  ) {
    for index in 0..<batch {
      gemmReference(
        m: m, n: n, k: k, alpha: alpha,
        a: a + index * aBatchStride, aRowStride: aRowStride, aColumnStride: aColumnStride,
        b: b + index * bBatchStride, bRowStride: bRowStride, bColumnStride: bColumnStride,
        beta: beta, c: c + index * cBatchStride, cRowStride: cRowStride)
    }
  }

  /// `linear`: `output = input · weightᵀ + bias`, then the clamp (XNNPACK's `linear_clamp_run`).
  ///
  /// - Parameters:
  ///   - rows: the product of the input's leading dimensions.
  ///   - input: contiguous `[rows, inputFeatures]`.
  ///   - weight: contiguous `[outputFeatures, inputFeatures]`, as `nn.Linear` stores it.
  ///   - bias: `outputFeatures` values, or nil.
  ///   - output: contiguous `[rows, outputFeatures]`.
  public static func linearReference(
    rows: Int, inputFeatures: Int, outputFeatures: Int,
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>, clamp: OutputClamp = .none
  ) {
    if let bias {
      for row in 0..<rows { (output + row * outputFeatures).update(from: bias, count: outputFeatures) }
    }
    gemmReference(
      m: rows, n: outputFeatures, k: inputFeatures,
      a: input, aRowStride: inputFeatures, aColumnStride: 1,
      b: weight, bRowStride: 1, bColumnStride: inputFeatures,
      beta: bias == nil ? 0 : 1, c: output, cRowStride: outputFeatures)
    clamp.apply(output, count: rows * outputFeatures)
  }

  // MARK: - Loop nests

  /// C ← beta · C, writing zeros without reading when beta is 0.
  private static func scale(
    _ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, rowStride: Int, by beta: Float
  ) {
    if beta == 1 { return }
    for i in 0..<rows {
      let row = c + i * rowStride
      if beta == 0 {
        row.update(repeating: 0, count: columns)
      } else {
        for j in 0..<columns { row[j] *= beta }
      }
    }
  }

  /// C += alpha · A · B when B's rows are contiguous: each step adds a scaled row of B to a row
  /// of C, a unit-stride loop the compiler vectorizes. Blocking over columns and depth keeps the
  /// C slice in L1 and the B block in L2 while every row of A passes over it.
  private static func accumulateRowPanels(
    m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int
  ) {
    for j0 in stride(from: 0, to: n, by: columnBlock) {
      let width = min(columnBlock, n - j0)
      for p0 in stride(from: 0, to: k, by: depthBlock) {
        let depth = min(depthBlock, k - p0)
        for i in 0..<m {
          let cRow = c + i * cRowStride + j0
          let aRow = a + i * aRowStride + p0 * aColumnStride
          let bBlock = b + p0 * bRowStride + j0
          for p in 0..<depth {
            let scaled = alpha * aRow[p * aColumnStride]
            let bRow = bBlock + p * bRowStride
            for j in 0..<width { cRow[j] += scaled * bRow[j] }
          }
        }
      }
    }
  }

  /// C += alpha · A · B when A's rows and B's columns are contiguous (B is a transposed
  /// row-major matrix, as in `linear`): each C element is a dot product. Four partial sums let
  /// the additions overlap instead of waiting on one another.
  private static func accumulateDotProducts(
    m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, aRowStride: Int,
    b: UnsafePointer<Float>, bColumnStride: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int
  ) {
    let k4 = k & ~3
    for i in 0..<m {
      let aRow = a + i * aRowStride
      let cRow = c + i * cRowStride
      for j in 0..<n {
        let bColumn = b + j * bColumnStride
        var (s0, s1, s2, s3): (Float, Float, Float, Float) = (0, 0, 0, 0)
        var p = 0
        while p < k4 {
          s0 += aRow[p] * bColumn[p]
          s1 += aRow[p + 1] * bColumn[p + 1]
          s2 += aRow[p + 2] * bColumn[p + 2]
          s3 += aRow[p + 3] * bColumn[p + 3]
          p += 4
        }
        while p < k {
          s0 += aRow[p] * bColumn[p]
          p += 1
        }
        cRow[j] += alpha * ((s0 + s1) + (s2 + s3))
      }
    }
  }
}
