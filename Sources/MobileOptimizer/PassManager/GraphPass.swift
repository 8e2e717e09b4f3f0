import Dispatch
import TensorCore
import TorchIR
import TorchRuntime

/// A named transformation of one graph.
///
/// Passes are values listed in `PassRegistry`; pipelines are arrays of them. A pass reads
/// `context.graph` and changes it only through the context, which counts what changed.
public struct GraphPass: Sendable {
  /// The kebab-case name used in reports and tests (`eliminate-dead-code`).
  public let name: String
  let body: @Sendable (PassContext) throws -> Void

  public init(name: String, _ body: @escaping @Sendable (PassContext) throws -> Void) {
    self.name = name
    self.body = body
  }

  /// Runs the pass on `graph`; returns what it changed.
  @discardableResult
  public func run(
    on graph: Graph, function: String = "", unit: CompilationUnit? = nil, options: PassOptions = PassOptions()
  ) throws -> PassStatistics {
    let context = PassContext(graph: graph, function: function, unit: unit, options: options)
    let start = DispatchTime.now().uptimeNanoseconds
    try body(context)
    var statistics = context.statistics(pass: name)
    statistics.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    return statistics
  }
}

/// Settings passes consult.
public struct PassOptions: Sendable {
  /// Constant propagation folds ops producing custom-class objects (XNNPACK contexts) too.
  public var foldCustomClasses = true
  /// Loop unrolling unrolls loops whose trip count is not constant.
  public var unrollNonConstantLoops = false
  /// Kernels constant propagation runs ops with.
  public var operators: OperatorTable = .standard
  /// Conv–batch-norm folds computed ahead, if any (Note [Folding ahead]).
  var foldingCache: FoldingCache?

  public init(foldCustomClasses: Bool = true, unrollNonConstantLoops: Bool = false) {
    self.foldCustomClasses = foldCustomClasses
    self.unrollNonConstantLoops = unrollNonConstantLoops
  }
}

/// What one run of a pass changed: named counters (`removed`, `folded`, ...), in first-use order.
public struct PassStatistics: Sendable, Codable {
  /// The pass name.
  public var pass: String
  /// The function the pass ran on.
  public var function: String
  /// Counters by name.
  public var counters: [String: Int]
  /// Counter names in the order they were first incremented.
  public var order: [String]
  /// How long the pass took.
  public var milliseconds: Double = 0

  /// True when the pass changed anything.
  public var changed: Bool { counters.values.contains { $0 > 0 } }

  /// Adds `other`'s counters into these.
  public mutating func merge(_ other: PassStatistics) {
    for key in other.order {
      if counters[key] == nil { order.append(key) }
      counters[key, default: 0] += other.counters[key] ?? 0
    }
  }
}

/// The state a pass works through: the graph, options, counters and the mutation helpers.
public final class PassContext {
  /// The graph being transformed.
  public let graph: Graph
  /// The function's name, for reports.
  public let function: String
  /// Options.
  public let options: PassOptions
  /// The classes and functions calls resolve to (for inlining).
  public let unit: CompilationUnit?
  private var counters: [String: Int] = [:]
  private var order: [String] = []

  init(graph: Graph, function: String, unit: CompilationUnit?, options: PassOptions) {
    self.graph = graph
    self.function = function
    self.unit = unit
    self.options = options
  }

  /// Adds `amount` to counter `key`.
  public func count(_ key: String, _ amount: Int = 1) {
    guard amount != 0 else { return }
    if counters[key] == nil { order.append(key) }
    counters[key, default: 0] += amount
  }

  func statistics(pass: String) -> PassStatistics {
    PassStatistics(pass: pass, function: function, counters: counters, order: order)
  }

  // MARK: - Mutations

  /// Replaces every use of `value` with `replacement`.
  public func replaceAllUses(of value: Value, with replacement: Value) {
    value.replaceAllUses(with: replacement)
  }

  /// Destroys `node`, whose outputs must be unused.
  public func erase(_ node: Node) {
    node.destroy()
  }

  /// Inserts a `prim::Constant` holding `value` before `node`.
  @discardableResult
  public func insertConstant(_ value: IValue, type: TorchType? = nil, before node: Node, name: String? = nil) -> Value {
    let constant = graph.createConstant(value, type: type)
    constant.sourceLocation = node.sourceLocation
    constant.insert(before: node)
    if let name { constant.output.debugName = name }
    return constant.output
  }

  /// Inserts a new node of `kind` before `node`.
  @discardableResult
  public func insertNode(
    _ kind: OpName, inputs: [Value], outputTypes: [TorchType], before node: Node, schema: OpSchema? = nil
  ) -> Node {
    let created = graph.create(kind, inputs: inputs, outputTypes: outputTypes, location: node.sourceLocation)
    created.schema = schema ?? OpRegistry.standard.matchNode(kind, inputTypes: inputs.map(\.type))
    created.insert(before: node)
    return created
  }
}
