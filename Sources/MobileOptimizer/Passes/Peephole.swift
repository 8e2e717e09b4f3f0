import TensorCore
import TorchIR

/// Local simplifications TorchScript's peephole pass makes on non-tensor code:
///
///     %b : bool = aten::__isnot__(%t, %none)     (%t : Tensor)   ->  True
///     %c : Tensor = prim::unchecked_cast(%t)     (%t : Tensor)   ->  %t
///     %n : int = aten::len(%l)  (%l = prim::ListConstruct(a, b)) ->  2
///     %e : int = aten::__getitem__(%l, %1)                        ->  b
///     %s : int = aten::add(%x, %0)                                ->  %x
///     %d : int = aten::dim(%y)       (%y = aten::conv2d(...))     ->  4
///
/// List rewrites apply only when nothing writes the list.
let peephole = GraphPass(name: "peephole") { context in
  let aliases = AliasAnalysis(context.graph)
  context.graph.forEachNode { node in
    guard node.isInserted else { return }
    if let replacement = simplify(node, aliases: aliases, context: context) {
      node.output.replaceAllUses(with: replacement)
      node.destroy()
      context.count("simplified")
    }
  }
  context.count("removed", context.graph.eliminateDeadCode())
}

private func canBeNone(_ type: TorchType) -> Bool {
  switch type {
  case .none, .optional, .any, .union, .variable: true
  default: false
  }
}

private func simplify(_ node: Node, aliases: AliasAnalysis, context: PassContext) -> Value? {
  switch node.kind {
  case .is, .isNot:
    let (a, b) = (node.inputs[0].type, node.inputs[1].type)
    let isNot = node.kind == .isNot
    if a == .none && b == .none { return context.insertConstant(.bool(!isNot), before: node) }
    if (a == .none && !canBeNone(b)) || (b == .none && !canBeNone(a)) {
      return context.insertConstant(.bool(isNot), before: node)
    }
    return nil
  case .uncheckedCast:
    return node.inputs[0].type == node.output.type ? node.inputs[0] : nil
  case .dim:
    // A convolution's output has the rank of its kind (TorchScript's peephole knows this too).
    let rank: Int
    switch node.inputs[0].node.kind {
    case .conv1d: rank = 3
    case .conv2d: rank = 4
    case .conv3d: rank = 5
    default: return nil
    }
    return context.insertConstant(.int(rank), before: node)
  case .len:
    let list = node.inputs[0]
    guard list.node.kind == .listConstruct, !aliases.mayBeWritten(list) else { return nil }
    return context.insertConstant(.int(list.node.inputs.count), before: node)
  case .getItem:
    let list = node.inputs[0]
    guard list.node.kind == .listConstruct, !aliases.mayBeWritten(list), let index = node.inputs[1].constantValue?.int
    else { return nil }
    let elements = list.node.inputs
    let wrapped = index < 0 ? index + elements.count : index
    guard elements.indices.contains(wrapped), elements[wrapped].type == node.output.type else { return nil }
    return elements[wrapped]
  case .add, .sub, .mul, .floordiv, .div:
    guard node.output.type == .int, node.inputs.count == 2, node.inputs[0].type == .int,
      let constant = node.inputs[1].constantValue?.int
    else { return nil }
    switch (node.kind, constant) {
    case (.add, 0), (.sub, 0), (.mul, 1), (.floordiv, 1): return node.inputs[0]
    default: return nil
    }
  default:
    return nil
  }
}
