import Testing

/// A small, replicable random generator (SplitMix64), so a failing sweep case reproduces.
struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// `count` floats uniform in `range`.
  mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
    (0..<count).map { _ in Float.random(in: range, using: &self) }
  }

  /// `count` doubles uniform in `range`.
  mutating func doubles(_ count: Int, in range: ClosedRange<Double> = -1...1) -> [Double] {
    (0..<count).map { _ in Double.random(in: range, using: &self) }
  }
}

/// Expects `actual` to match `expected` element by element within `tolerance` (absolute plus
/// relative); on failure reports the first bad index with both values.
func expectClose(
  _ actual: [Float], _ expected: [Double], tolerance: Double = 1e-5, _ context: String = "",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.count == expected.count, "count \(actual.count) != \(expected.count) \(context)", sourceLocation: sourceLocation)
  for index in 0..<min(actual.count, expected.count) {
    let (value, reference) = (Double(actual[index]), expected[index])
    if value.isNaN && reference.isNaN { continue }
    if value == reference { continue }
    // NaN on one side only fails too (a plain difference test would let it through).
    if value.isNaN || reference.isNaN || abs(value - reference) > tolerance * (1 + abs(reference)) {
      Issue.record(
        "at \(index): reference = \(reference), actual = \(value) \(context)", sourceLocation: sourceLocation)
      return
    }
  }
}

/// `expectClose` for Float references.
func expectClose(
  _ actual: [Float], _ expected: [Float], tolerance: Double = 1e-5, _ context: String = "",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  expectClose(actual, expected.map(Double.init), tolerance: tolerance, context, sourceLocation: sourceLocation)
}

/// `expectClose` for Double results.
func expectClose(
  _ actual: [Double], _ expected: [Double], tolerance: Double = 1e-12, _ context: String = "",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.count == expected.count, "count \(actual.count) != \(expected.count) \(context)", sourceLocation: sourceLocation)
  for index in 0..<min(actual.count, expected.count) {
    let (value, reference) = (actual[index], expected[index])
    if value.isNaN && reference.isNaN { continue }
    if value == reference { continue }
    // NaN on one side only fails too (a plain difference test would let it through).
    if value.isNaN || reference.isNaN || abs(value - reference) > tolerance * (1 + abs(reference)) {
      Issue.record(
        "at \(index): reference = \(reference), actual = \(value) \(context)", sourceLocation: sourceLocation)
      return
    }
  }
}

/// Row-major strides for `shape` (the tests' own, independent of the kernels' helper).
func rowMajorStrides(_ shape: [Int]) -> [Int] {
  var strides = [Int](repeating: 1, count: shape.count)
  var running = 1
  for dim in shape.indices.reversed() {
    strides[dim] = running
    running *= max(shape[dim], 1)
  }
  return strides
}

/// The multi-index of `linear` in a row-major walk of `shape`.
func multiIndex(_ linear: Int, _ shape: [Int]) -> [Int] {
  var index = [Int](repeating: 0, count: shape.count)
  var remaining = linear
  for dim in shape.indices.reversed() where shape[dim] > 0 {
    index[dim] = remaining % shape[dim]
    remaining /= shape[dim]
  }
  return index
}

/// Σ index[d] · strides[d].
func offset(_ index: [Int], _ strides: [Int]) -> Int {
  zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }
}

extension Array where Element == Int {
  /// The product of the sizes (1 for an empty shape).
  var elementCount: Int { reduce(1, *) }
}
