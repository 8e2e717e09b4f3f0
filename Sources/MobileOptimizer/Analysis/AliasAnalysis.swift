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
  private var index: [ObjectIdentifier: Int] = [:]
  private var parent: [Int] = []
  private var writtenValues: [Int] = []
  private var writtenRoots: Set<Int> = []

  /// Analyzes every node of `graph`.
  public init(_ graph: Graph) {
    for input in graph.inputs { _ = slot(input) }
    visit(graph.block)
    writtenRoots = Set(writtenValues.map(find))
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
    guard AliasAnalysis.isMutableType(value.type), let slot = index[ObjectIdentifier(value)] else { return false }
    return writtenRoots.contains(find(slot))
  }

  /// True when `a` and `b` may share memory.
  public func mayAlias(_ a: Value, _ b: Value) -> Bool {
    guard let x = index[ObjectIdentifier(a)], let y = index[ObjectIdentifier(b)] else { return false }
    return find(x) == find(y)
  }

  // MARK: - Union-find

  private func slot(_ value: Value) -> Int {
    if let existing = index[ObjectIdentifier(value)] { return existing }
    let new = parent.count
    parent.append(new)
    index[ObjectIdentifier(value)] = new
    return new
  }

  private func find(_ element: Int) -> Int {
    var root = element
    while parent[root] != root { root = parent[root] }
    var current = element
    while parent[current] != root {
      let next = parent[current]
      parent[current] = root
      current = next
    }
    return root
  }

  private func union(_ a: Value, _ b: Value) {
    guard AliasAnalysis.isMutableType(a.type) || AliasAnalysis.isMutableType(b.type) else { return }
    let x = find(slot(a))
    let y = find(slot(b))
    if x != y { parent[x] = y }
  }

  private func markWritten(_ value: Value) {
    guard AliasAnalysis.isMutableType(value.type) else { return }
    writtenValues.append(slot(value))
  }

  // MARK: - Rules

  private func visit(_ block: Block) {
    for value in block.inputs { _ = slot(value) }
    for node in block.nodes {
      for sub in node.blocks { visit(sub) }
      for output in node.outputs { _ = slot(output) }
      apply(node)
    }
  }

  private func apply(_ node: Node) {
    switch node.kind {
    case .constant, .uninitialized, .getAttr, .createObject:
      return
    case .setAttr:
      union(node.inputs[1], node.inputs[0])
      markWritten(node.inputs[0])
    case .listConstruct, .tupleConstruct, .dictConstruct, .listUnpack, .tupleUnpack, .tupleIndex, .tupleSlice,
      .uncheckedCast, "prim::unchecked_unwrap_optional":
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
      applySchema(schema, node)
    }
  }

  private func markAllWrittenAndJoined(_ node: Node) {
    for input in node.inputs {
      markWritten(input)
      for output in node.outputs { union(input, output) }
    }
  }

  private func applySchema(_ schema: OpSchema, _ node: Node) {
    let arguments = schema.arguments
    for (position, input) in node.inputs.enumerated() {
      guard position < arguments.count, let alias = arguments[position].alias else { continue }
      if alias.isWrite { markWritten(input) }
      // An element stored into a container (`t(c -> *)`) joins every container argument.
      if alias.entersWildcard {
        for (other, container) in node.inputs.enumerated() where other != position {
          if other < arguments.count, arguments[other].alias?.isWrite == true { union(input, container) }
        }
      }
      for (outputIndex, output) in node.outputs.enumerated() {
        guard outputIndex < schema.returns.count, let outputAlias = schema.returns[outputIndex].alias else { continue }
        if !Set(alias.sets).intersection(outputAlias.sets).subtracting(["*"]).isEmpty || outputAlias.sets == ["*"] {
          union(input, output)
        }
      }
    }
  }
}
