import TensorCore

/// A broken IR invariant found by `Graph.verify()`.
public struct IRVerificationError: Error, CustomStringConvertible {
  /// What is wrong, naming the node.
  public var message: String

  public var description: String { "ir verification failed: \(message)" }
}

extension Graph {
  /// Checks SSA dominance, use lists, `prim::If`/`prim::Loop` block arity, and that nodes with a
  /// schema have inputs and outputs matching it.
  ///
  /// Runs after every pass in tests.
  public func verify() throws(IRVerificationError) {
    var visible: Set<ObjectIdentifier> = []
    try verify(block, visible: &visible)
  }

  private func describe(_ node: Node) -> String {
    var text = node.kind.rawValue
    if let location = node.sourceLocation { text += " at \(location)" }
    return text
  }

  private func verify(_ block: Block, visible: inout Set<ObjectIdentifier>) throws(IRVerificationError) {
    var scope = visible
    for value in block.inputs {
      try checkUses(of: value)
      scope.insert(ObjectIdentifier(value))
    }
    var current = block.paramNode.nextNode
    while let node = current, node !== block.returnNode {
      guard node.owningBlock === block else {
        throw IRVerificationError(message: "\(describe(node)) has the wrong owning block")
      }
      for (index, input) in node.inputs.enumerated() {
        guard scope.contains(ObjectIdentifier(input)) else {
          throw IRVerificationError(message: "\(describe(node)) uses \(input) before its definition")
        }
        guard input.uses.contains(where: { $0.user === node && $0.index == index }) else {
          throw IRVerificationError(message: "\(describe(node)) input \(index) is missing from \(input)'s uses")
        }
      }
      try checkArity(node)
      for sub in node.blocks {
        try verify(sub, visible: &scope)
      }
      for output in node.outputs {
        guard output.node === node else {
          throw IRVerificationError(message: "\(describe(node)) output \(output) points at another node")
        }
        try checkUses(of: output)
        scope.insert(ObjectIdentifier(output))
      }
      current = node.nextNode
    }
    for (index, output) in block.outputs.enumerated() {
      guard scope.contains(ObjectIdentifier(output)) else {
        throw IRVerificationError(message: "block output \(index) (\(output)) is not defined in scope")
      }
    }
  }

  private func checkUses(of value: Value) throws(IRVerificationError) {
    for use in value.uses {
      guard use.index < use.user.inputs.count, use.user.inputs[use.index] === value else {
        throw IRVerificationError(message: "\(value) lists a use by \(describe(use.user)) that does not read it")
      }
      guard use.user.isInserted else {
        throw IRVerificationError(message: "\(value) is used by a destroyed \(use.user.kind) node")
      }
    }
  }

  private func checkArity(_ node: Node) throws(IRVerificationError) {
    switch node.kind {
    case .if:
      guard node.inputs.count == 1, node.blocks.count == 2 else {
        throw IRVerificationError(message: "\(describe(node)) needs 1 input and 2 blocks")
      }
      for block in node.blocks where block.inputs.count != 0 || block.outputs.count != node.outputs.count {
        throw IRVerificationError(
          message: "\(describe(node)) has \(node.outputs.count) outputs but a block yields \(block.outputs.count)")
      }
    case .loop:
      guard node.inputs.count >= 2, node.blocks.count == 1 else {
        throw IRVerificationError(message: "\(describe(node)) needs a trip count, a condition and 1 block")
      }
      let carried = node.inputs.count - 2
      let body = node.blocks[0]
      guard body.inputs.count == carried + 1, body.outputs.count == carried + 1, node.outputs.count == carried
      else {
        throw IRVerificationError(
          message:
            "\(describe(node)) carries \(carried) values but its body takes \(body.inputs.count - 1), yields \(body.outputs.count - 1) and the loop returns \(node.outputs.count)"
        )
      }
    case .constant:
      guard node.outputs.count == 1, node.inputs.isEmpty else {
        throw IRVerificationError(message: "\(describe(node)) must have no inputs and 1 output")
      }
    default:
      guard let schema = node.schema else { return }
      let countOK = schema.isVararg ? node.inputs.count >= schema.arguments.count : node.inputs.count == schema.arguments.count
      guard countOK else {
        throw IRVerificationError(
          message: "\(describe(node)) has \(node.inputs.count) inputs but \(schema.fullName) takes \(schema.arguments.count)")
      }
      guard schema.isVarret || node.outputs.count == schema.returns.count else {
        throw IRVerificationError(
          message: "\(describe(node)) has \(node.outputs.count) outputs but \(schema.fullName) returns \(schema.returns.count)")
      }
      var bindings = TypeBindings()
      for (index, (argument, input)) in zip(schema.arguments, node.inputs).enumerated()
      where !bindings.match(input.type, argument.type) {
        throw IRVerificationError(
          message:
            "\(describe(node)) input \(index) has type \(input.type) but \(schema.fullName) expects \(argument.type) for '\(argument.name)'"
        )
      }
    }
  }
}
