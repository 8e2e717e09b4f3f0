import TensorCore
import TorchIR

/// Removes dropout whose `train` flag is the constant `False`.
///
///     %y : Tensor = aten::dropout(%x, %p, %false)    ->   (uses of %y use %x)
///
/// Handles `aten::dropout`, `dropout_`, `feature_dropout` and `feature_dropout_`. As in
/// PyTorch, no dead-code elimination follows (the `p` constant stays until a later pass).
let removeDropout = GraphPass(name: "remove-dropout") { context in
  let kinds: Set<OpName> = ["aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::feature_dropout_"]
  for node in context.graph.allNodes.reversed() where kinds.contains(node.kind) && node.isInserted {
    guard node.inputs.count == 3, node.inputs[2].constantValue?.bool == false else { continue }
    node.output.replaceAllUses(with: node.inputs[0])
    node.destroy()
    context.count("removed")
  }
}
