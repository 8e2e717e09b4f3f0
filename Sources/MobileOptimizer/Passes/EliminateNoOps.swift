import TorchIR

/// Removes `aten::detach`, which does nothing at inference, unless the graph compares tensor
/// identities (`aten::__is__`/`__isnot__` on tensors), where the distinct value could matter.
///
///     %y : Tensor = aten::detach(%x)    ->   (uses of %y use %x)
let eliminateNoOps = GraphPass(name: "eliminate-no-ops") { context in
  var comparesIdentity = false
  context.graph.forEachNode { node in
    if node.kind == .is || node.kind == .isNot,
      node.inputs.contains(where: { $0.type == .tensor })
    {
      comparesIdentity = true
    }
  }
  guard !comparesIdentity else { return }
  context.graph.forEachNode { node in
    guard node.isInserted, node.kind == .detach else { return }
    node.output.replaceAllUses(with: node.inputs[0])
    node.destroy()
    context.count("removed")
  }
}
