import Foundation
import TensorCore

/// Inputs `--verify` runs the models on.
public enum VerificationInputs {
  /// The model's bundled inputs; else the given `.npy` files (one set); else random float32
  /// inputs of the given shapes (`1,3,224,224`), drawn with a fixed seed.
  public static func resolve(_ module: ScriptModule, files: [String], shapes: [String]) throws -> [[IValue]] {
    if !files.isEmpty {
      return [try files.map { try ModelIO.readInput(URL(fileURLWithPath: $0)) }]
    }
    if !shapes.isEmpty {
      var generator = SeededGenerator(seed: 0x5eed)
      return [try shapes.map { text in
        let dims = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !dims.isEmpty, dims.count == text.split(separator: ",").count, dims.allSatisfy({ $0 > 0 }) else {
          throw VerificationError.badShape(text)
        }
        let count = try Tensor.checkedElementCount(dims)
        return .tensor(Tensor(shape: dims, floats: (0..<count).map { _ in generator.nextNormal() }))
      }]
    }
    if module.rootClass?.method("get_all_bundled_inputs") != nil {
      let all = try module.run("get_all_bundled_inputs", [])
      let count = all.elements?.count ?? 0
      if count > 0 { return try (0..<count).map { try module.bundledInput($0) } }
    }
    throw VerificationError.noInputs
  }
}

/// Problems finding inputs for `--verify`.
public enum VerificationError: Error, CustomStringConvertible {
  case noInputs
  case badShape(String)

  public var description: String {
    switch self {
    case .noInputs: "no inputs to verify with: the model has no bundled inputs; pass --input or --input-shape"
    case .badShape(let text): "bad --input-shape '\(text)': expected positive sizes separated by commas"
    }
  }
}

/// The original and optimized models compared on the same inputs, output by output.
public struct Verification {
  /// One output of one input set.
  public struct Entry {
    public var input: Int
    public var output: Int
    public var maxAbsoluteError: Double
    public var maxRelativeError: Double
  }

  public var entries: [Entry] = []

  /// The largest relative error seen.
  public var worstRelativeError: Double { entries.map(\.maxRelativeError).max() ?? 0 }

  /// True when every output is within `tolerance` (relative to the largest reference value).
  public func passes(tolerance: Double) -> Bool { entries.allSatisfy { $0.maxRelativeError <= tolerance } }

  /// Runs both models' `forward` on each input set (each model on its own copies of the inputs).
  public static func compare(original: ScriptModule, optimized: ScriptModule, inputs: [[IValue]]) throws -> Verification {
    var result = Verification()
    for (setIndex, arguments) in inputs.enumerated() {
      let expected = ModelIO.flatten(try original.run("forward", arguments.map(copy)))
      let actual = ModelIO.flatten(try optimized.run("forward", arguments.map(copy)))
      guard expected.count == actual.count else {
        throw OptimizeError.verificationFailed("the models return \(expected.count) and \(actual.count) outputs")
      }
      for (index, (e, a)) in zip(expected, actual).enumerated() {
        let (absolute, relative) = errors(a, e)
        result.entries.append(Entry(input: setIndex, output: index, maxAbsoluteError: absolute, maxRelativeError: relative))
      }
    }
    return result
  }

  static func copy(_ value: IValue) -> IValue {
    if case .tensor(let tensor) = value { return .tensor(tensor.copy()) }
    return value
  }

  static func errors(_ actual: IValue, _ expected: IValue) -> (Double, Double) {
    switch (actual, expected) {
    case (.tensor(let a), .tensor(let e)):
      guard a.shape == e.shape else { return (.infinity, .infinity) }
      var absolute = 0.0
      var scale = 0.0
      for index in 0..<e.count {
        let (x, y) = (a.element(index), e.element(index))
        if x.isNaN != y.isNaN { return (.infinity, .infinity) }
        if x.isNaN { continue }
        absolute = max(absolute, abs(x - y))
        scale = max(scale, abs(y))
      }
      return (absolute, scale > 0 ? absolute / scale : absolute)
    default:
      guard let x = actual.number, let y = expected.number else { return (0, 0) }
      let absolute = abs(x - y)
      return (absolute, y != 0 ? absolute / abs(y) : absolute)
    }
  }

  /// One line per output.
  public func summary(tolerance: Double) -> String {
    entries.map { entry in
      let status = entry.maxRelativeError <= tolerance ? "ok" : "FAIL"
      return "verify input \(entry.input) output \(entry.output): max abs error "
        + String(format: "%.3g", entry.maxAbsoluteError) + ", max rel error "
        + String(format: "%.3g", entry.maxRelativeError) + " (\(status))"
    }.joined(separator: "\n")
  }
}

/// A small deterministic generator (SplitMix64) for random verification inputs.
struct SeededGenerator {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A standard normal sample (Box–Muller).
  mutating func nextNormal() -> Float {
    let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
    let u2 = Double(next() >> 11) / Double(1 << 53)
    return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
  }
}
