/// A weight matrix (or one per group) packed once into the panel layout the packed GEMM
/// micro-kernel reads, with its bias.
///
/// The matrix is A in `C = A · B`: `[rows, depth]` per group, as a conv weight
/// `[Cout/groups, Cin/groups · kH · kW]` or a linear weight `[outputFeatures, inputFeatures]`
/// stores it. See Note [Packed weight layout] for the layout; it depends on nothing but the
/// micro-kernel's row count (`GEMMKernels.panelRows`), so one packing serves every problem
/// size, K block and thread split.
///
/// Immutable after `init`, so one instance may be shared by every thread of a runtime.
public final class PackedWeights: @unchecked Sendable {
  /// Rows of A per group (M: output channels or features per group).
  public let rows: Int
  /// Columns of A (K: the reduction depth).
  public let depth: Int
  /// Independent matrices, one per convolution group.
  public let groups: Int
  /// True when a bias was packed; without one the bias reads as zero.
  public let hasBias: Bool

  /// MR-row panels per group (the last one zero-padded).
  let panelsPerGroup: Int
  /// Floats between one group's panels and the next's.
  let groupStride: Int
  /// The panels of every group, then `GEMMKernels.panelRows + 2` floats of zero padding so a
  /// vector load of a panel's last row stays inside the allocation.
  let values: UnsafeMutablePointer<Float>
  /// `groups · panelsPerGroup · panelRows` bias values, zero where absent or padding.
  let biasValues: UnsafeMutablePointer<Float>

  // Note [Packed weight layout]
  // Rows are cut into panels of MR = `GEMMKernels.panelRows` rows. Panel p of group g holds rows
  // p·MR ..< p·MR + MR, stored column by column: element (m, k) of the group's matrix is at
  //
  //     values[g · groupStride + (m / MR) · depth · MR + k · MR + m % MR]
  //
  // so the micro-kernel reads MR consecutive floats per step of k, and a K block starting at k0
  // is the same panel offset by k0 · MR. Rows past `rows` in the last panel are zero; a zero
  // row computes a zero (ignored) output, so edge panels need no special reading code.

  /// Packs `groups` matrices of `rows × depth`, element (g, m, k) read from
  /// `weights[g · groupStride + m · rowStride + k · columnStride]`.
  ///
  /// - Parameters:
  ///   - bias: `groups · rows` values (group-major, i.e. output channel order), or nil.
  ///   - groupStride: defaults to `rows · rowStride` (groups stacked along rows, as conv
  ///     weights are).
  public init(
    rows: Int, depth: Int, groups: Int = 1, weights: UnsafePointer<Float>, rowStride: Int, columnStride: Int = 1,
    groupStride: Int? = nil, bias: UnsafePointer<Float>?
  ) {
    precondition(rows >= 0 && depth >= 0 && groups > 0, "negative packed weight size")
    let mr = GEMMKernels.panelRows
    self.rows = rows
    self.depth = depth
    self.groups = groups
    hasBias = bias != nil
    panelsPerGroup = (rows + mr - 1) / mr
    self.groupStride = panelsPerGroup * depth * mr
    values = allocateAligned(groups * self.groupStride + mr + 2)
    biasValues = allocateAligned(groups * panelsPerGroup * mr)
    let sourceGroupStride = groupStride ?? rows * rowStride
    for group in 0..<groups {
      let source = weights + group * sourceGroupStride
      let target = values + group * self.groupStride
      for row in 0..<rows {
        let panel = target + (row / mr) * depth * mr + row % mr
        let sourceRow = source + row * rowStride
        for column in 0..<depth { panel[column * mr] = sourceRow[column * columnStride] }
      }
      if let bias {
        (biasValues + group * panelsPerGroup * mr).update(from: bias + group * rows, count: rows)
      }
    }
  }

  /// Weights of `nn.Linear` / `aten::linear`: `[outputFeatures, inputFeatures]` row-major.
  public convenience init(linearWeight: UnsafePointer<Float>, outputFeatures: Int, inputFeatures: Int, bias: UnsafePointer<Float>?) {
    self.init(rows: outputFeatures, depth: inputFeatures, weights: linearWeight, rowStride: inputFeatures, bias: bias)
  }

  /// Weights of a convolution: `shape.weightShape` (`[Cout, Cin/groups, kH, kW]`) as PyTorch
  /// stores it, packed per group as `[Cout/groups, Cin/groups · kH · kW]` matrices.
  ///
  /// - Parameter bias: `Cout` values or nil.
  public convenience init(convolution shape: Conv2DShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    let depth = shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth
    self.init(
      rows: shape.outputChannelsPerGroup, depth: depth, groups: shape.groups, weights: weight, rowStride: depth,
      bias: bias)
  }

  /// Weights of a transposed convolution: `shape.weightShape` (`[Cin, Cout/groups, kH, kW]`)
  /// packed per group as the `[Cout/groups · kH · kW, Cin/groups]` matrix that maps an input
  /// pixel's channels to its output columns (see `ConvolutionKernels.convTranspose2d`). No
  /// bias is packed: it is per output channel, applied after the column scatter.
  public convenience init(transposedConvolution shape: ConvTranspose2DShape, weight: UnsafePointer<Float>) {
    let taps = shape.kernelHeight * shape.kernelWidth
    let outputsPerGroup = shape.outputChannelsPerGroup
    // Row (co, ky, kx) and column ci of group g read weight[g·Cin/g + ci, co, ky, kx].
    self.init(
      rows: outputsPerGroup * taps, depth: shape.inputChannelsPerGroup, groups: shape.groups, weights: weight,
      rowStride: 1, columnStride: outputsPerGroup * taps,
      groupStride: shape.inputChannelsPerGroup * outputsPerGroup * taps, bias: nil)
  }

  deinit {
    deallocateAligned(values)
    deallocateAligned(biasValues)
  }

  /// The packed panel holding row `row` of `group`, positioned at column `column`.
  @inline(__always)
  func panel(group: Int, row: Int, column: Int) -> UnsafePointer<Float> {
    let mr = GEMMKernels.panelRows
    return UnsafePointer(values + group * groupStride + (row / mr) * depth * mr + column * mr)
  }

  /// The bias of the panel holding row `row` of `group` (MR values).
  @inline(__always)
  func panelBias(group: Int, row: Int) -> UnsafePointer<Float> {
    let mr = GEMMKernels.panelRows
    return UnsafePointer(biasValues + group * panelsPerGroup * mr + (row / mr) * mr)
  }
}
