import TensorCore

/// A reduction over a set of dimensions, with PyTorch's result types.
public enum ReductionOperation: Sendable, Hashable {
  /// Σ x; integers and bool sum to int64.
  case sum
  /// Σ x / count (floating types only); NaN over zero elements.
  case mean
  /// Π x; integers and bool multiply to int64.
  case prod
  /// The largest element, NaN if any is NaN (`amax`, and `max()` with no dim).
  case amax
  /// The smallest element, NaN if any is NaN (`amin`, and `min()` with no dim).
  case amin
  /// Σ (x − mean)² / max(0, count − correction) (floating types only); `correction: 1` is
  /// `unbiased=True`.
  case variance(correction: Int)
  /// √variance.
  case standardDeviation(correction: Int)

  /// The output dtype for an input of `dtype`, or nil when there is no kernel.
  public func resultType(for dtype: DType) -> DType? {
    guard dtype.isArithmetic else { return nil }
    switch self {
    case .sum, .prod: return dtype.isFloatingPoint ? dtype : .int64
    case .amax, .amin: return dtype
    case .mean, .variance, .standardDeviation: return dtype.isFloatingPoint ? dtype : nil
    }
  }

  /// False for the ops without an identity, which cannot reduce zero elements.
  var acceptsEmpty: Bool {
    switch self {
    case .amax, .amin: false
    default: true
    }
  }

  var name: String {
    switch self {
    case .sum: "sum"
    case .mean: "mean"
    case .prod: "prod"
    case .amax: "amax"
    case .amin: "amin"
    case .variance: "var"
    case .standardDeviation: "std"
    }
  }
}

/// Which end `ReductionKernels.extremum` looks for.
public enum Extremum: Sendable, Hashable {
  /// The largest value (`max(dim)`, `argmax`).
  case max
  /// The smallest value (`min(dim)`, `argmin`).
  case min
}

/// Reductions over a set of dimensions of a strided input, writing a contiguous output.
///
/// For the reduced dimensions R of an input of shape S, output element `o` (indexed by the
/// kept dimensions, in order) combines every input element whose kept indices equal `o`. The
/// output is contiguous in the kept dimensions; `keepdim` changes only the shape the caller
/// reports (`outputShape`), not the memory. An empty dimension list reduces every dimension
/// (PyTorch's `dim=[]` for `sum` and `mean`).
///
/// Floating sums, products, means and variances accumulate in Double; integer ones in Int64,
/// wrapping. Max and min propagate NaN; `extremum` returns the first index of the winner, and
/// of the first NaN when there is one, as PyTorch's CPU kernels do.
public enum ReductionKernels {
  /// Sorted, distinct, non-negative reduction dims; an empty list means every dimension.
  ///
  /// A 0-d tensor accepts dim 0 and −1 (and reduces nothing).
  ///
  /// - Throws: `KernelError.dimOutOfRange` or `.duplicateDim`.
  public static func normalizeDims(_ dims: [Int], rank: Int, op: String) throws(KernelError) -> [Int] {
    let wrap = max(rank, 1)
    var result: [Int] = []
    for dim in dims {
      guard dim >= -wrap, dim < wrap else { throw .dimOutOfRange(op: op, dim: dim, rank: rank) }
      let normalized = dim < 0 ? dim + wrap : dim
      guard !result.contains(normalized) else { throw .duplicateDim(op: op, dim: normalized) }
      result.append(normalized)
    }
    if rank == 0 { return [] }
    return dims.isEmpty ? Array(0..<rank) : result.sorted()
  }

  /// The output shape of `op` over `dims` (normalized by `normalizeDims`).
  ///
  /// - Throws: `KernelError` for bad dims, or `.emptyReduction` when `amax`/`amin` would reduce
  ///   zero elements.
  public static func outputShape(
    _ op: ReductionOperation, inputShape: [Int], dims: [Int], keepdim: Bool
  ) throws(KernelError) -> [Int] {
    let reduced = try normalizeDims(dims, rank: inputShape.count, op: op.name)
    return try reducedShape(inputShape, reduced, keepdim: keepdim, op: op.name, acceptsEmpty: op.acceptsEmpty)
  }

  /// The output shape of `extremum` along `dim` (nil: over the flattened input, as `argmax()`).
  ///
  /// - Throws: `KernelError` for a bad dim or a reduction over zero elements.
  public static func extremumOutputShape(
    _ kind: Extremum, inputShape: [Int], dim: Int?, keepdim: Bool
  ) throws(KernelError) -> [Int] {
    let op = kind == .max ? "max" : "min"
    let reduced = try normalizeDims(dim.map { [$0] } ?? [], rank: inputShape.count, op: op)
    return try reducedShape(inputShape, reduced, keepdim: keepdim, op: op, acceptsEmpty: false)
  }

  private static func reducedShape(
    _ shape: [Int], _ reduced: [Int], keepdim: Bool, op: String, acceptsEmpty: Bool
  ) throws(KernelError) -> [Int] {
    if !acceptsEmpty {
      if let empty = reduced.first(where: { shape[$0] == 0 }) { throw .emptyReduction(op: op, dim: empty) }
    }
    var result: [Int] = []
    for (dim, size) in shape.enumerated() {
      if !reduced.contains(dim) {
        result.append(size)
      } else if keepdim {
        result.append(1)
      }
    }
    return result
  }

  /// Reduces `input` over `dims` into a contiguous `output` of `op.resultType(for: dtype)`.
  ///
  /// - Parameters:
  ///   - dims: reduction dims as returned by `normalizeDims` (sorted, distinct, non-negative).
  /// - Precondition: `op.resultType(for: dtype) != nil`; no empty `amax`/`amin`.
  public static func reduce(
    _ op: ReductionOperation, dtype: DType, input: UnsafeRawPointer, shape: [Int], strides: [Int], dims: [Int],
    output: UnsafeMutableRawPointer
  ) {
    precondition(op.resultType(for: dtype) != nil, "\(op.name) has no kernel for \(dtype)")
    let plan = ReductionPlan(shape: shape, strides: strides, dims: dims)
    switch dtype {
    case .float32: reduceReal(op, plan, input.typed(Float.self), output.typed(Float.self))
    case .float64: reduceReal(op, plan, input.typed(Double.self), output.typed(Double.self))
    case .int64: reduceInteger(op, plan, input.typed(Int64.self), output)
    case .int32: reduceInteger(op, plan, input.typed(Int32.self), output)
    case .int16: reduceInteger(op, plan, input.typed(Int16.self), output)
    case .int8: reduceInteger(op, plan, input.typed(Int8.self), output)
    case .uint8, .bool: reduceInteger(op, plan, input.typed(UInt8.self), output)
    default: preconditionFailure("unreachable: resultType(for: \(dtype)) was checked")
    }
  }

  /// The largest or smallest element along `dim`, and its index (`max(dim)`, `min(dim)`,
  /// `argmax`, `argmin`).
  ///
  /// - Parameters:
  ///   - dim: a non-negative dim, or nil for the whole input with indices into its row-major
  ///     flattening (`argmax()` without dim).
  ///   - values: the winners, in `dtype`, contiguous; nil when only indices are wanted.
  ///   - indices: the winners' indices along `dim` (int64), contiguous.
  /// - Precondition: no reduction over zero elements (see `extremumOutputShape`).
  public static func extremum(
    _ kind: Extremum, dtype: DType, input: UnsafeRawPointer, shape: [Int], strides: [Int], dim: Int?,
    values: UnsafeMutableRawPointer?, indices: UnsafeMutablePointer<Int64>
  ) {
    let dims = shape.isEmpty ? [] : (dim.map { [$0] } ?? Array(shape.indices))
    let plan = ReductionPlan(shape: shape, strides: strides, dims: dims)
    precondition(plan.reducedCount > 0, "extremum over zero elements")
    switch dtype {
    case .float32: extremumRows(kind, plan, input.typed(Float.self), values?.typed(Float.self), indices)
    case .float64: extremumRows(kind, plan, input.typed(Double.self), values?.typed(Double.self), indices)
    case .int64: extremumRows(kind, plan, input.typed(Int64.self), values?.typed(Int64.self), indices)
    case .int32: extremumRows(kind, plan, input.typed(Int32.self), values?.typed(Int32.self), indices)
    case .int16: extremumRows(kind, plan, input.typed(Int16.self), values?.typed(Int16.self), indices)
    case .int8: extremumRows(kind, plan, input.typed(Int8.self), values?.typed(Int8.self), indices)
    case .uint8, .bool: extremumRows(kind, plan, input.typed(UInt8.self), values?.typed(UInt8.self), indices)
    default: preconditionFailure("max/min has no kernel for \(dtype)")
    }
  }

  // MARK: - Implementations

  private static func reduceReal<T: RealElement>(
    _ op: ReductionOperation, _ plan: ReductionPlan, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>
  ) {
    let count = Double(plan.reducedCount)
    switch op {
    case .sum:
      let sums = plan.fold(x, initial: 0.0) { $0 + Double($1) }
      for index in sums.indices { y[index] = T(sums[index]) }
    case .prod:
      let products = plan.fold(x, initial: 1.0) { $0 * Double($1) }
      for index in products.indices { y[index] = T(products[index]) }
    case .mean:
      let sums = plan.fold(x, initial: 0.0) { $0 + Double($1) }
      for index in sums.indices { y[index] = T(sums[index] / count) }
    case .amax:
      let maxima = plan.fold(x, initial: -T.infinity) { $1.isNaN || $1 > $0 ? $1 : $0 }
      for index in maxima.indices { y[index] = maxima[index] }
    case .amin:
      let minima = plan.fold(x, initial: T.infinity) { $1.isNaN || $1 < $0 ? $1 : $0 }
      for index in minima.indices { y[index] = minima[index] }
    case .variance(let correction), .standardDeviation(let correction):
      // Two passes: the mean, then squared deviations from it, each output carrying its mean.
      let sums = plan.fold(x, initial: 0.0) { $0 + Double($1) }
      let deviations = plan.fold(x, initials: sums.map { (mean: $0 / count, squares: 0.0) }) { state, value in
        let deviation = Double(value) - state.mean
        return (state.mean, state.squares + deviation * deviation)
      }
      let divisor = Double(max(0, plan.reducedCount - correction))
      let isDeviation = if case .standardDeviation = op { true } else { false }
      for index in deviations.indices {
        let variance = deviations[index].squares / divisor
        y[index] = T(isDeviation ? variance.squareRoot() : variance)
      }
    }
  }

  private static func reduceInteger<T: IntegerElement>(
    _ op: ReductionOperation, _ plan: ReductionPlan, _ x: UnsafePointer<T>, _ output: UnsafeMutableRawPointer
  ) {
    switch op {
    case .sum:
      let sums = plan.fold(x, initial: Int64(0)) { $0 &+ Int64(truncatingIfNeeded: $1) }
      output.typed(Int64.self).update(from: sums, count: sums.count)
    case .prod:
      let products = plan.fold(x, initial: Int64(1)) { $0 &* Int64(truncatingIfNeeded: $1) }
      output.typed(Int64.self).update(from: products, count: products.count)
    case .amax:
      let maxima = plan.fold(x, initial: T.min) { Swift.max($0, $1) }
      output.typed(T.self).update(from: maxima, count: maxima.count)
    case .amin:
      let minima = plan.fold(x, initial: T.max) { Swift.min($0, $1) }
      output.typed(T.self).update(from: minima, count: minima.count)
    case .mean, .variance, .standardDeviation:
      preconditionFailure("unreachable: resultType(for:) was checked")
    }
  }

  private static func extremumRows<T: NumericElement>(
    _ kind: Extremum, _ plan: ReductionPlan, _ x: UnsafePointer<T>, _ values: UnsafeMutablePointer<T>?,
    _ indices: UnsafeMutablePointer<Int64>
  ) {
    typealias State = (best: T, index: Int64, position: Int64)
    // Position 0 always wins, so the initial value is never compared.
    let initial: State = (.zero, 0, 0)
    // A NaN winner stays; otherwise strictly better values replace, so ties keep the first.
    let states =
      switch kind {
      case .max:
        plan.fold(x, initial: initial) { (state: State, value: T) -> State in
          let better = state.position == 0 || (!state.best.isNaNValue && (value.isNaNValue || value > state.best))
          return better ? (value, state.position, state.position + 1) : (state.best, state.index, state.position + 1)
        }
      case .min:
        plan.fold(x, initial: initial) { (state: State, value: T) -> State in
          let better = state.position == 0 || (!state.best.isNaNValue && (value.isNaNValue || value < state.best))
          return better ? (value, state.position, state.position + 1) : (state.best, state.index, state.position + 1)
        }
      }
    for index in states.indices {
      values?[index] = states[index].best
      indices[index] = states[index].index
    }
  }
}

/// Visits the input grouped by output element: the input's dims are reordered kept-then-reduced
/// and walked by a `StridedLoop` whose second operand is the output index (stride 0 along the
/// reduced dims). Input elements of one output are visited in row-major order of the reduced
/// dims.
struct ReductionPlan {
  let loop: StridedLoop
  /// Number of output elements (product of the kept sizes).
  let outputCount: Int
  /// Number of input elements per output (product of the reduced sizes).
  let reducedCount: Int

  init(shape: [Int], strides: [Int], dims: [Int]) {
    precondition(shape.count == strides.count, "shape and strides differ in rank")
    precondition(dims.allSatisfy { shape.indices.contains($0) }, "reduction dim out of range")
    let kept = shape.indices.filter { !dims.contains($0) }
    let order = kept + dims
    let outputStrides = Broadcasting.contiguousStrides(kept.map { shape[$0] }) + Array(repeating: 0, count: dims.count)
    loop = StridedLoop(shape: order.map { shape[$0] }, strides: [order.map { strides[$0] }, outputStrides])
    outputCount = kept.reduce(1) { $0 * shape[$1] }
    reducedCount = dims.reduce(1) { $0 * shape[$1] }
  }

  /// One accumulator per output, each starting at `initial`, folded over its input elements.
  @inline(__always)
  func fold<Element, State>(
    _ input: UnsafePointer<Element>, initial: State, _ combine: (State, Element) -> State
  ) -> [State] {
    fold(input, initials: [State](repeating: initial, count: outputCount), combine)
  }

  /// One accumulator per output, starting at `initials[o]`, folded over its input elements.
  @inline(__always)
  func fold<Element, State>(
    _ input: UnsafePointer<Element>, initials: [State], _ combine: (State, Element) -> State
  ) -> [State] {
    // A manual buffer rather than `withUnsafeMutableBufferPointer`, whose closure would capture
    // `combine` (see Note [Row loops call the op directly]).
    let states = UnsafeMutablePointer<State>.allocate(capacity: max(outputCount, 1))
    states.initialize(from: initials, count: outputCount)
    defer {
      states.deinitialize(count: outputCount)
      states.deallocate()
    }
    let (inputStride, outputStride) = (loop.rowStride(0), loop.rowStride(1))
    let count = loop.rowLength
    for offsets in loop {
      let row = input + offsets[0]
      if outputStride == 0 {
        // The whole row reduces into one output.
        var state = states[offsets[1]]
        for index in 0..<count { state = combine(state, row[index &* inputStride]) }
        states[offsets[1]] = state
      } else {
        for index in 0..<count {
          let target = offsets[1] + index &* outputStride
          states[target] = combine(states[target], row[index &* inputStride])
        }
      }
    }
    return Array(UnsafeBufferPointer(start: states, count: outputCount))
  }
}
