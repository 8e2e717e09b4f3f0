import TensorCore
import TorchIR

/// Fuses a tensor addition and the relu after it (PyTorch's `FuseAddRelu`).
///
///     %s = aten::add(%a, %b, %alpha)      %s = aten::_add_relu(%a, %b, %alpha)
///     %y = aten::relu(%s)           ->    (uses of %y use %s)
///
/// Patterns, as PyTorch's: `add` then `relu` or `relu_` give `_add_relu`; `add_` then `relu_`
/// gives `_add_relu_`. (`add_` then a plain `relu` stays.) Tensor and scalar additions both
/// fuse, to the matching `_add_relu` overload. The sum must have no other use.
let fuseAddRelu = GraphPass(name: "fuse-add-relu") { context in
  for node in context.graph.allNodes where node.isInserted && (node.kind == "aten::relu" || node.kind == "aten::relu_") {
    let sum = node.inputs[0]
    let add = sum.node
    guard sum.uses.count == 1 else { continue }
    let fused: OpName
    switch (add.schema?.fullName, node.kind) {
    case ("aten::add.Tensor", _), ("aten::add.Scalar", _): fused = "aten::_add_relu"
    case ("aten::add_.Tensor", "aten::relu_"), ("aten::add_.Scalar", "aten::relu_"): fused = "aten::_add_relu_"
    default: continue
    }
    let replacement = context.insertNode(fused, inputs: add.inputs, outputTypes: [.tensor], before: add)
    sum.replaceAllUses(with: replacement.output)
    node.output.replaceAllUses(with: replacement.output)
    node.destroy()
    add.destroy()
    context.count("fused")
  }
}
