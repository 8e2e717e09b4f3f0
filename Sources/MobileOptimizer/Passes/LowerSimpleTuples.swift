import TensorCore
import TorchIR

/// Reads tuple elements straight from the `prim::TupleConstruct` that built them.
///
///     %t : (Tensor, int) = prim::TupleConstruct(%a, %b)
///     %x : Tensor, %y : int = prim::TupleUnpack(%t)     ->   (uses of %x, %y use %a, %b)
///     %z : int = prim::TupleIndex(%t, %1)               ->   (uses of %z use %b)
///
/// Also handles constant-index `prim::TupleSlice`. The construct itself goes once unused.
let lowerSimpleTuples = GraphPass(name: "lower-simple-tuples") { context in
  context.graph.forEachNode { node in
    guard node.isInserted, let source = node.inputs.first, source.node.kind == .tupleConstruct else { return }
    let elements = source.node.inputs
    switch node.kind {
    case .tupleUnpack:
      guard elements.count == node.outputs.count else { return }
      for (output, element) in zip(node.outputs, elements) { output.replaceAllUses(with: element) }
      node.destroy()
      context.count("lowered")
    case .tupleIndex:
      guard let index = node.inputs[1].constantValue?.int else { return }
      let wrapped = index < 0 ? index + elements.count : index
      guard elements.indices.contains(wrapped) else { return }
      node.output.replaceAllUses(with: elements[wrapped])
      node.destroy()
      context.count("lowered")
    case .tupleSlice:
      var begin = 0
      var end = 0
      if case .int(let value) = node.attribute("beg") { begin = value }
      if case .int(let value) = node.attribute("end") { end = value }
      let slice = Array(elements[min(begin, elements.count)..<min(end, elements.count)])
      let tuple = context.insertNode(.tupleConstruct, inputs: slice, outputTypes: [node.output.type], before: node)
      node.output.replaceAllUses(with: tuple.output)
      node.destroy()
      context.count("lowered")
    default:
      return
    }
  }
  context.count("removed", context.graph.eliminateDeadCode())
}
