import TensorCore
import TorchIR

/// Replaces a node with an earlier identical one that dominates it.
///
///     %a : Tensor = aten::relu(%x)                 %a : Tensor = aten::relu(%x)
///     %b : Tensor = aten::relu(%x)          ->     (uses of %b now use %a)
///
/// Only pure nodes without blocks qualify, and not when something writes one of their inputs
/// in place (the two evaluations could then differ). A node inside a branch or loop body may
/// reuse one from an enclosing block.
let eliminateCommonSubexpressions = GraphPass(name: "common-subexpression-elimination") { context in
  let aliases = AliasAnalysis(context.graph)
  var scopes: [[NodeKey: Node]] = [[:]]
  func visit(_ block: Block) {
    scopes.append([:])
    defer { scopes.removeLast() }
    for node in block.nodes {
      for sub in node.blocks { visit(sub) }
      guard node.blocks.isEmpty, !node.hasSideEffects, node.kind != .constant, node.kind != .uninitialized,
        !node.outputs.isEmpty, !node.inputs.contains(where: { aliases.mayBeWritten($0) }),
        !node.outputs.contains(where: { aliases.mayBeWritten($0) }),
        !ConstantFolder.skipped.contains(node.kind) || node.kind == .getAttr
      else { continue }
      // Reading an attribute twice is only the same value when nothing stores to it.
      if node.kind == .getAttr, aliases.mayBeWritten(node.inputs[0]) { continue }
      let key = NodeKey(node)
      if let existing = scopes.reversed().lazy.compactMap({ $0[key] }).first {
        for (output, replacement) in zip(node.outputs, existing.outputs) { output.replaceAllUses(with: replacement) }
        node.destroy()
        context.count("eliminated")
      } else {
        scopes[scopes.count - 1][key] = node
      }
    }
  }
  visit(context.graph.block)
}

/// Identity of a node for CSE: kind, overload, inputs and attributes.
struct NodeKey: Hashable {
  let kind: OpName
  /// The schema object: the registry holds one per overload.
  let schema: ObjectIdentifier?
  let inputs: [ObjectIdentifier]
  let attributes: String
  let outputTypes: [TorchType]

  init(_ node: Node) {
    kind = node.kind
    schema = node.schema.map(ObjectIdentifier.init)
    inputs = node.inputs.map { ObjectIdentifier($0) }
    attributes =
      node.attributes.isEmpty
      ? "" : node.attributes.map { "\($0.name)=\(GraphPrinterAttribute.text($0.value))" }.joined(separator: ",")
    outputTypes = node.outputs.map(\.type)
  }
}

enum GraphPrinterAttribute {
  static func text(_ attribute: NodeAttribute) -> String {
    switch attribute {
    case .value(let value): GraphPrinter.valueText(value)
    case .string(let text): text
    case .strings(let texts): texts.joined(separator: ",")
    case .types(let types): types.map(\.description).joined(separator: ",")
    case .int(let value): String(value)
    }
  }
}
