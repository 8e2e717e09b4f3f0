import TensorCore

extension Node {
  /// True when running the node does more than compute its outputs: it writes memory (an in-place
  /// op, an attribute store, a list append), raises, prints, calls a method or function (which
  /// may do any of these), or is an op we have no schema for. Control-flow nodes have side
  /// effects when something in their blocks has.
  public var hasSideEffects: Bool {
    // Every kind named below but `aten::warn` is a `prim::` one.
    if !kind.isPrim, let schema, kind != .warn { return schema.isMutating }
    switch kind {
    case .setAttr, .callMethod, .callFunction, .raiseException, .print, .enter, .exit:
      return true
    case .if, .loop:
      for block in blocks {
        var current = block.paramNode.next
        while let node = current, node !== block.returnNode {
          if node.hasSideEffects { return true }
          current = node.next
        }
      }
      return false
    case .constant, .getAttr, .listConstruct, .listUnpack, .tupleConstruct, .tupleUnpack, .tupleIndex,
      .tupleSlice, .dictConstruct, .uncheckedCast, .uninitialized, .isInstance, .createObject, .param, .return:
      return false
    case .warn:
      return true
    default:
      guard let schema else { return true }
      return schema.isMutating
    }
  }
}

extension Node {
  /// True when some output of this node is read.
  var hasUsedOutputs: Bool {
    for output in outputs where !output.uses.isEmpty { return true }
    return false
  }
}

extension Graph {
  /// Removes nodes whose outputs are unused and that have no side effects, and unused outputs of
  /// `prim::If` and `prim::Loop` nodes. Returns the number of nodes removed.
  @discardableResult
  public func eliminateDeadCode() -> Int {
    // One backward sweep finds everything: a node's uses all come after it, in its block or in
    // blocks of later nodes, and those are swept first. (Removing a loop's carried value is the
    // exception; that sweeps the body again on the spot.)
    Graph.eliminateDeadCode(in: block)
  }

  private static func eliminateDeadCode(in block: Block) -> Int {
    var removed = 0
    // Walks back from the end; only the current node is ever destroyed, so its predecessor,
    // read first, stays valid.
    var current = block.returnNode.previous
    while let node = current, node !== block.paramNode {
      current = node.previous
      // An If's unused outputs go before its blocks are swept, so that what computed them goes
      // in the same sweep (inlined modules leave many: `training` branches, unused results).
      let isIf = node.kind == .if
      if isIf { removed += removeUnusedIfOutputs(node) }
      for sub in node.blocks { removed += eliminateDeadCode(in: sub) }
      if !isIf && node.kind == .loop {
        let carried = removeUnusedLoopOutputs(node)
        if carried > 0 { removed += carried + eliminateDeadCode(in: node.blocks[0]) }
      }
      if !node.hasUsedOutputs && !node.hasSideEffects {
        node.destroy()
        removed += 1
      }
    }
    return removed
  }

  private static func removeUnusedIfOutputs(_ node: Node) -> Int {
    var removed = 0
    for index in stride(from: node.outputs.count - 1, through: 0, by: -1) where !node.outputs[index].hasUses {
      for block in node.blocks { block.removeOutput(index) }
      node.removeOutput(index)
      removed += 1
    }
    return removed
  }

  /// A carried value can go when the loop output is unused and, inside the body, its parameter
  /// only feeds its own block output.
  private static func removeUnusedLoopOutputs(_ node: Node) -> Int {
    let body = node.blocks[0]
    var removed = 0
    for index in stride(from: node.outputs.count - 1, through: 0, by: -1) {
      let output = node.outputs[index]
      let parameter = body.inputs[index + 1]
      let yielded = body.outputs[index + 1]
      guard !output.hasUses else { continue }
      let parameterOnlyYielded = parameter.uses.allSatisfy { $0.user === body.returnNode && $0.index == index + 1 }
      guard parameterOnlyYielded else { continue }
      // The yielded value must not depend on this parameter except through itself.
      _ = yielded
      body.removeOutput(index + 1)
      node.removeOutput(index)
      body.removeInput(index + 1)
      node.removeInput(index + 2)
      removed += 1
    }
    return removed
  }
}
