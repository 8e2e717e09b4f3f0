import Foundation
import TensorCore
import TorchIR

// Note [Alias analysis]
// A flow-insensitive, conservative approximation of TorchScript's AliasDb. Values of mutable
// types (tensors, lists, dicts, objects, tuples and optionals of them) are grouped into alias
// classes with union-find: an op's output joins an input when the schema gives them a common
// alias set (`Tensor(a) self -> Tensor(a)`); containers join their elements; If/Loop outputs
// join the values that flow into them. A class is written when some member is passed where a
// schema writes (`Tensor(a!)`), or to an op with no schema or a call. Attribute reads
// (`prim::GetAttr`) start classes of their own, so a write through one attribute does not taint
// the module's other attributes.

/// Which values may share memory, and which of them something writes.
public final class AliasAnalysis {
  // Union-find over value ids (`Value.id` is dense per graph).
  private var parent: [Int32]
  private var writtenValues: [Int32] = []
  private var writtenRoots: [Bool]

  /// Analyzes every node of `graph`, plus effects known from elsewhere: pairs of its values that
  /// may share memory and values that may be written (what specialized bodies inlined into it
  /// did to their arguments before simplification, Note [Specialized leaf inlining]).
  public init(_ graph: Graph, joining: [(Value, Value)] = [], writing: [Value] = []) {
    let bound = graph.valueIDBound
    parent = (0..<Int32(bound)).map { $0 }
    writtenRoots = []
    visit(graph.block)
    for (a, b) in joining where a.id < bound && b.id < bound { union(a, b) }
    for value in writing where value.id < bound { markWritten(value) }
    var roots = [Bool](repeating: false, count: bound)
    for value in writtenValues { roots[Int(find(Int(value)))] = true }
    writtenRoots = roots
  }

  /// True for types whose values can be changed in place.
  public static func isMutableType(_ type: TorchType) -> Bool {
    switch type {
    case .int, .float, .bool, .string, .none, .device, .number, .complex, .enumInt, .function: return false
    case .optional(let wrapped): return isMutableType(wrapped)
    case .tuple(let elements): return elements.contains(where: isMutableType)
    default: return true
    }
  }

  /// True when something in the graph may write `value`'s memory.
  public func mayBeWritten(_ value: Value) -> Bool {
    guard value.id < writtenRoots.count, AliasAnalysis.isMutableType(value.type) else { return false }
    return writtenRoots[Int(find(value.id))]
  }

  /// True when `a` and `b` may share memory.
  public func mayAlias(_ a: Value, _ b: Value) -> Bool {
    guard a.id < parent.count, b.id < parent.count else { return false }
    return find(a.id) == find(b.id)
  }

  // MARK: - Union-find

  private func find(_ element: Int) -> Int32 {
    var root = Int32(element)
    while parent[Int(root)] != root { root = parent[Int(root)] }
    var current = Int32(element)
    while parent[Int(current)] != root {
      let next = parent[Int(current)]
      parent[Int(current)] = root
      current = next
    }
    return root
  }

  private func union(_ a: Value, _ b: Value) {
    guard AliasAnalysis.isMutableType(a.type) || AliasAnalysis.isMutableType(b.type) else { return }
    let x = find(a.id)
    let y = find(b.id)
    if x != y { parent[Int(x)] = y }
  }

  private func markWritten(_ value: Value) {
    guard AliasAnalysis.isMutableType(value.type) else { return }
    writtenValues.append(Int32(value.id))
  }

  // MARK: - Rules

  private func visit(_ block: Block) {
    var current = block.firstNode
    while current !== block.returnNode {
      let node = current
      for sub in node.blocks { visit(sub) }
      apply(node)
      current = node.nextNode!
    }
  }

  private func apply(_ node: Node) {
    // Every kind named below is a `prim::` one: other ops go straight to their schema.
    if !node.kind.isPrim, let schema = node.schema {
      // Most ops carry no alias annotation at all: nothing to look up.
      if schema.hasAliasAnnotations { applySchema(AliasAnalysis.plan(for: schema), node) }
      return
    }
    switch node.kind {
    case .constant, .uninitialized, .getAttr, .createObject:
      return
    case .setAttr:
      union(node.inputs[1], node.inputs[0])
      markWritten(node.inputs[0])
    case .listConstruct, .tupleConstruct, .dictConstruct, .listUnpack, .tupleUnpack, .tupleIndex, .tupleSlice,
      .uncheckedCast, .uncheckedUnwrapOptional:
      for input in node.inputs {
        for output in node.outputs { union(input, output) }
      }
    case .if:
      for block in node.blocks {
        for (output, yielded) in zip(node.outputs, block.outputs) { union(output, yielded) }
      }
    case .loop:
      let body = node.blocks[0]
      for (offset, output) in node.outputs.enumerated() {
        union(output, node.inputs[offset + 2])
        union(output, body.inputs[offset + 1])
        union(output, body.outputs[offset + 1])
      }
    case .callMethod, .callFunction:
      markAllWrittenAndJoined(node)
    case .raiseException, .print, .isInstance:
      return
    default:
      guard let schema = node.schema else {
        markAllWrittenAndJoined(node)
        return
      }
      applySchema(AliasAnalysis.plan(for: schema), node)
    }
  }

  private func markAllWrittenAndJoined(_ node: Node) {
    for input in node.inputs {
      markWritten(input)
      for output in node.outputs { union(input, output) }
    }
  }

  /// What a schema's alias annotations mean, precomputed once per schema.
  struct SchemaPlan {
    /// Argument positions written in place.
    var written: [Int] = []
    /// (argument, argument) pairs joined: an element stored into a written container.
    var joinedArguments: [(Int, Int)] = []
    /// (argument, output) pairs sharing an alias set.
    var joinedOutputs: [(Int, Int)] = []
    /// True when nothing is annotated.
    var isPure: Bool { written.isEmpty && joinedArguments.isEmpty && joinedOutputs.isEmpty }
  }

  private static let planCache = SchemaPlanCache()

  static func plan(for schema: OpSchema) -> SchemaPlan {
    planCache.plan(for: schema)
  }

  private func applySchema(_ plan: SchemaPlan, _ node: Node) {
    guard !plan.isPure else { return }
    let inputs = node.inputs
    let outputs = node.outputs
    for position in plan.written where position < inputs.count { markWritten(inputs[position]) }
    for (a, b) in plan.joinedArguments where a < inputs.count && b < inputs.count { union(inputs[a], inputs[b]) }
    for (a, b) in plan.joinedOutputs where a < inputs.count && b < outputs.count { union(inputs[a], outputs[b]) }
  }
}

/// A thread-safe memo of schema alias plans (schemas are immutable, so plans never change).
final class SchemaPlanCache: @unchecked Sendable {
  private var plans: [ObjectIdentifier: AliasAnalysis.SchemaPlan] = [:]
  private let lock = NSLock()

  func plan(for schema: OpSchema) -> AliasAnalysis.SchemaPlan {
    lock.lock()
    if let plan = plans[ObjectIdentifier(schema)] {
      lock.unlock()
      return plan
    }
    lock.unlock()
    var plan = AliasAnalysis.SchemaPlan()
    let arguments = schema.arguments
    for (position, argument) in arguments.enumerated() {
      guard let alias = argument.alias else { continue }
      if alias.isWrite { plan.written.append(position) }
      if alias.entersWildcard {
        for (other, container) in arguments.enumerated() where other != position && container.alias?.isWrite == true {
          plan.joinedArguments.append((position, other))
        }
      }
      for (outputIndex, output) in schema.returns.enumerated() {
        guard let outputAlias = output.alias else { continue }
        if !Set(alias.sets).intersection(outputAlias.sets).subtracting(["*"]).isEmpty || outputAlias.sets == ["*"] {
          plan.joinedOutputs.append((position, outputIndex))
        }
      }
    }
    lock.lock()
    plans[ObjectIdentifier(schema)] = plan
    lock.unlock()
    return plan
  }
}
