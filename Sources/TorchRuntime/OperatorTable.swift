import TensorCore
import TorchIR

/// Computes an op's outputs from its inputs, in schema order.
public typealias OpExecutor = @Sendable ([IValue]) throws -> [IValue]

/// An executor that also uses the run's context (threads, buffer pool).
public typealias ContextualOpExecutor = @Sendable (ExecutionContext, [IValue]) throws -> [IValue]

/// A kernel as the table holds it.
public enum OpKernel: Sendable {
  case plain(OpExecutor)
  case contextual(ContextualOpExecutor)

  /// Runs the kernel.
  @inline(__always)
  func callAsFunction(_ context: ExecutionContext, _ arguments: [IValue]) throws -> [IValue] {
    switch self {
    case .plain(let executor): try executor(arguments)
    case .contextual(let executor): try executor(context, arguments)
    }
  }
}

/// The kernels the interpreter can run, keyed by schema full name (`aten::add.Tensor`).
///
/// An immutable value built from one list per op family (`Executors/*.swift`).
public struct OperatorTable: Sendable {
  private let kernels: [String: OpKernel]
  private let fusions: [String: OpKernel]

  /// A table from (full name, executor) pairs, then contextual ones; later pairs replace
  /// earlier ones. `fusions` are kernels for an op followed by a second op applied to its result
  /// (see Note [Epilogue fusion]).
  public init(
    _ entries: [(String, OpExecutor)], contextual: [(String, ContextualOpExecutor)] = [],
    fusions: [(first: String, second: String, executor: ContextualOpExecutor)] = []
  ) {
    var table: [String: OpKernel] = [:]
    for (name, executor) in entries { table[name] = .plain(executor) }
    for (name, executor) in contextual { table[name] = .contextual(executor) }
    kernels = table
    var fused: [String: OpKernel] = [:]
    for fusion in fusions { fused[fusion.first + " " + fusion.second] = .contextual(fusion.executor) }
    self.fusions = fused
  }

  /// The kernel for `fullName`.
  public func kernel(for fullName: String) -> OpKernel? {
    kernels[fullName]
  }

  /// The kernel running `first` and then `second` on its only result, if the table has one. It
  /// takes `first`'s arguments and returns the results of both (the same tensor).
  func fusedKernel(_ first: String, then second: String) -> OpKernel? {
    fusions[first + " " + second]
  }

  /// The kernel for `fullName` as a plain function of the inputs (contextual kernels get a
  /// single-threaded context), for constant folding.
  public func executor(for fullName: String) -> OpExecutor? {
    guard let kernel = kernels[fullName] else { return nil }
    switch kernel {
    case .plain(let executor): return executor
    case .contextual(let executor): return { arguments in try executor(ExecutionContext(threads: 1), arguments) }
    }
  }

  /// Every full name with an executor, sorted.
  public var fullNames: [String] { kernels.keys.sorted() }

  /// Every op family's reference executors: any dtype and layout, one thread.
  public static let reference = OperatorTable(referenceEntries)

  /// The reference executors with the fast paths on top (see Note [Fast paths]).
  public static let standard = OperatorTable(
    referenceEntries, contextual: FastExecutors.entries, fusions: FastExecutors.fusions)

  private static var referenceEntries: [(String, OpExecutor)] {
    PrimExecutors.entries + BuiltinExecutors.entries + ShapeExecutors.entries + ElementwiseExecutors.entries
      + LinearExecutors.entries + ConvolutionExecutors.entries + NormalizationExecutors.entries
      + PoolingExecutors.entries + ReductionExecutors.entries + CreationExecutors.entries
      + DataMovementExecutors.entries
  }
}

// MARK: - Argument helpers

extension Array where Element == IValue {
  /// Argument `index` as a tensor.
  func tensor(_ index: Int) throws -> Tensor {
    guard case .tensor(let tensor) = self[index] else { throw OpError("expected a Tensor argument \(index), got \(self[index].kindName)") }
    return tensor
  }

  /// Argument `index` as an optional tensor.
  func optionalTensor(_ index: Int) throws -> Tensor? {
    switch self[index] {
    case .none: return nil
    case .tensor(let tensor): return tensor
    default: throw OpError("expected an optional Tensor argument \(index), got \(self[index].kindName)")
    }
  }

  /// Argument `index` as an int (bools count as ints).
  func int(_ index: Int) throws -> Int {
    switch self[index] {
    case .int(let value): return value
    case .bool(let value): return value ? 1 : 0
    default: throw OpError("expected an int argument \(index), got \(self[index].kindName)")
    }
  }

  /// Argument `index` as an optional int.
  func optionalInt(_ index: Int) throws -> Int? {
    if case .none = self[index] { return nil }
    return try int(index)
  }

  /// Argument `index` as a float (ints convert).
  func double(_ index: Int) throws -> Double {
    switch self[index] {
    case .double(let value): return value
    case .int(let value): return Double(value)
    case .bool(let value): return value ? 1 : 0
    default: throw OpError("expected a float argument \(index), got \(self[index].kindName)")
    }
  }

  /// Argument `index` as an optional float.
  func optionalDouble(_ index: Int) throws -> Double? {
    if case .none = self[index] { return nil }
    return try double(index)
  }

  /// Argument `index` as a bool.
  func bool(_ index: Int) throws -> Bool {
    switch self[index] {
    case .bool(let value): return value
    case .int(let value): return value != 0
    default: throw OpError("expected a bool argument \(index), got \(self[index].kindName)")
    }
  }

  /// Argument `index` as a string.
  func string(_ index: Int) throws -> String {
    guard case .string(let value) = self[index] else { throw OpError("expected a str argument \(index), got \(self[index].kindName)") }
    return value
  }

  /// Argument `index` as a list of ints.
  func intList(_ index: Int) throws -> [Int] {
    guard let values = self[index].intList else {
      if case .int(let value) = self[index] { return [value] }
      throw OpError("expected an int[] argument \(index), got \(self[index].kindName)")
    }
    return values
  }

  /// Argument `index` as an optional list of ints.
  func optionalIntList(_ index: Int) throws -> [Int]? {
    if case .none = self[index] { return nil }
    return try intList(index)
  }

  /// Argument `index` as a list.
  func list(_ index: Int) throws -> ListValue {
    guard case .list(let value) = self[index] else { throw OpError("expected a list argument \(index), got \(self[index].kindName)") }
    return value
  }

  /// Argument `index` as a list of tensors.
  func tensorList(_ index: Int) throws -> [Tensor] {
    guard let elements = self[index].elements else { throw OpError("expected a Tensor[] argument \(index)") }
    return try elements.map {
      guard case .tensor(let tensor) = $0 else { throw OpError("expected a Tensor[] argument \(index)") }
      return tensor
    }
  }
}
