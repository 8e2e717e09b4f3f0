import TensorCore
import TorchIR

/// Recognizes linear layers written as matrix products (PyTorch's `FuseLinear`).
///
///     %wt = aten::t(%w)
///     %y  = aten::addmm(%b, %x, %wt, %1, %1)       ->   %y = aten::linear(%x, %w, %b)
///     %z  = aten::matmul(%x, %wt)                  ->   %z = aten::linear(%x, %w, None)
///
/// `addmm` needs beta and alpha equal to the constant 1.
let fuseLinear = GraphPass(name: "fuse-linear") { context in
  for node in context.graph.allNodes where node.isInserted {
    switch node.kind {
    case "aten::addmm":
      guard node.inputs[3].constantValue?.int == 1, node.inputs[4].constantValue?.int == 1,
        node.inputs[2].node.kind == "aten::t"
      else { continue }
      let weight = node.inputs[2].node.inputs[0]
      let linear = context.insertNode("aten::linear", inputs: [node.inputs[1], weight, node.inputs[0]], outputTypes: [.tensor], before: node)
      node.output.replaceAllUses(with: linear.output)
      node.destroy()
      context.count("fused")
    case "aten::matmul":
      guard node.inputs[1].node.kind == "aten::t", node.inputs[0].type == .tensor else { continue }
      let weight = node.inputs[1].node.inputs[0]
      let none = context.insertConstant(.none, type: TorchType.none, before: node)
      let linear = context.insertNode("aten::linear", inputs: [node.inputs[0], weight, none], outputTypes: [.tensor], before: node)
      node.output.replaceAllUses(with: linear.output)
      node.destroy()
      context.count("fused")
    default:
      continue
    }
  }
  context.count("removed", context.graph.eliminateDeadCode())
}
