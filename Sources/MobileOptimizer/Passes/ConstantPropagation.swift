import TensorCore
import TorchIR
import TorchRuntime

/// Evaluates nodes whose inputs are all constants and replaces them with the results; inlines
/// `prim::If` with a constant condition; removes loops that cannot run.
///
///     %2 : int = prim::Constant[value=2]()
///     %3 : int = aten::mul(%2, %2)              ->   %3 : int = prim::Constant[value=4]()
///     %4 : Tensor = prim::If(%false)            ->   (the else block's nodes, inline)
///
/// Follows TorchScript's rules: nothing with side effects, blocks, varargs or nondeterminism is
/// evaluated, nor any node whose inputs something writes in place; results that cannot be
/// constants (tensors that require grad, module objects) stay computed. With
/// `options.foldCustomClasses` off, ops producing custom-class objects are not folded either.
let propagateConstants = GraphPass(name: "constant-propagation") { context in
  var folder = ConstantFolder(context: context)
  folder.run()
}

struct ConstantFolder {
  let context: PassContext
  let aliases: AliasAnalysis

  init(context: PassContext) {
    self.context = context
    self.aliases = AliasAnalysis(context.graph)
  }

  static let skipped: Set<OpName> = [
    .if, .loop, .constant, .uninitialized, .raiseException, .print, .callMethod, .callFunction, .setAttr, .getAttr,
    .createObject, "prim::AutogradZero", "prim::Guard", "prim::profile", "prim::unchecked_unwrap_optional",
    "aten::dequantize", "aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::feature_dropout_",
    "aten::rand", "aten::randn", "aten::rand_like", "aten::randn_like", "aten::bernoulli_", "aten::warn",
    "aten::empty", "aten::empty_like", "prim::isinstance",
  ]

  mutating func run() {
    fold(context.graph.block)
    let removed = context.graph.eliminateDeadCode()
    context.count("removed", removed)
  }

  private mutating func fold(_ block: Block) {
    for node in block.nodes {
      guard node.isInserted else { continue }
      switch node.kind {
      case .if:
        if let flag = node.inputs[0].constantValue?.bool {
          inlineBranch(node, taken: flag ? 0 : 1)
          context.count("branches-inlined")
        } else {
          for sub in node.blocks { fold(sub) }
          removeIdenticalIfOutputs(node)
        }
      case .loop:
        let trips = node.inputs[0].constantValue?.int
        let runs = node.inputs[1].constantValue?.bool
        if trips.map({ $0 <= 0 }) == true || runs == false {
          for (output, initial) in zip(node.outputs, node.inputs.dropFirst(2)) { output.replaceAllUses(with: initial) }
          node.destroy()
          context.count("loops-removed")
        } else {
          for sub in node.blocks { fold(sub) }
        }
      default:
        for sub in node.blocks { fold(sub) }
        tryFold(node)
      }
    }
  }

  private func isFoldable(_ node: Node) -> Bool {
    guard !ConstantFolder.skipped.contains(node.kind), node.blocks.isEmpty, !node.outputs.isEmpty else { return false }
    guard node.inputs.allSatisfy({ $0.node.kind == .constant && $0.constantValue != nil }) else { return false }
    if node.hasSideEffects { return false }
    if node.inputs.contains(where: { aliases.mayBeWritten($0) }) { return false }
    // A result that is later written in place (a list that gets appended to) must stay fresh.
    if node.outputs.contains(where: { aliases.mayBeWritten($0) }) { return false }
    if let schema = node.schema, schema.isVararg { return false }
    if !context.options.foldCustomClasses,
      node.outputs.contains(where: { if case .class(let name) = $0.type { CustomClasses.isCustomClass(name) } else { false } })
    {
      return false
    }
    return true
  }

  private mutating func tryFold(_ node: Node) {
    guard isFoldable(node) else { return }
    let results: [IValue]
    switch node.kind {
    case .listConstruct:
      var element: TorchType = .any
      if case .list(let type) = node.output.type { element = type }
      results = [.list(ListValue(node.inputs.map { $0.node.constantValue }, elementType: element))]
    case .tupleConstruct:
      results = [.tuple(node.inputs.map { $0.node.constantValue })]
    case .tupleIndex:
      guard case .tuple(let items) = node.inputs[0].node.constantValue, let index = node.inputs[1].constantValue?.int,
        items.indices.contains(index < 0 ? index + items.count : index)
      else { return }
      results = [items[index < 0 ? index + items.count : index]]
    case .tupleUnpack, .listUnpack:
      guard let items = node.inputs[0].node.constantValue.elements, items.count == node.outputs.count else { return }
      results = items
    case .uncheckedCast:
      results = [node.inputs[0].node.constantValue]
    default:
      guard let schema = node.schema, let executor = context.options.operators.executor(for: schema.fullName) else {
        return
      }
      guard let values = try? executor(node.inputs.map { Interpreter.freshCopy($0.node.constantValue) }),
        values.count == node.outputs.count
      else { return }
      results = values
    }
    guard results.allSatisfy(ConstantFolder.isInsertable) else { return }
    for (output, value) in zip(node.outputs, results) {
      let constant = context.insertConstant(value, type: output.type, before: node)
      constant.debugName = output.debugName
      output.replaceAllUses(with: constant)
    }
    node.destroy()
    context.count("folded")
  }

  /// True when `value` can live in a `prim::Constant` (TorchScript's `tryInsertConstant`).
  static func isInsertable(_ value: IValue) -> Bool {
    switch value {
    case .tensor(let tensor): return !tensor.requiresGrad
    case .list(let list): return list.elements.allSatisfy(isInsertable)
    case .tuple(let items): return items.allSatisfy(isInsertable)
    case .dict: return false
    case .object: return true
    default: return true
    }
  }

  private func inlineBranch(_ node: Node, taken: Int) {
    let block = node.blocks[taken]
    for inner in block.nodes { inner.move(before: node) }
    for (output, yielded) in zip(node.outputs, block.outputs) { output.replaceAllUses(with: yielded) }
    node.destroy()
  }

  /// Outputs both branches yield identically (the same value, or equal constants) need no If.
  private func removeIdenticalIfOutputs(_ node: Node) {
    for index in stride(from: node.outputs.count - 1, through: 0, by: -1) {
      let a = node.blocks[0].outputs[index]
      let b = node.blocks[1].outputs[index]
      var replacement: Value?
      if a === b, !isDefined(a, inside: node) {
        replacement = a
      } else if a.node.kind == .constant, b.node.kind == .constant, ConstantKey.sameValue(a.node, b.node),
        a.type == node.outputs[index].type
      {
        replacement = context.insertConstant(a.node.constantValue, type: a.type, before: node)
      }
      guard let replacement else { continue }
      node.outputs[index].replaceAllUses(with: replacement)
      for block in node.blocks { block.removeOutput(index) }
      node.removeOutput(index)
      context.count("if-outputs-removed")
    }
  }

  private func isDefined(_ value: Value, inside node: Node) -> Bool {
    var current: Node? = value.node
    while let candidate = current {
      if candidate === node { return true }
      current = candidate.owningBlock?.owningNode
    }
    return false
  }
}
