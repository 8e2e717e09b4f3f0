import TensorCore
import TorchIR

/// Folds a constant multiplying (or dividing) a convolution's output into its weights and bias.
///
///     %y = aten::conv2d(%x, %w, %b, ...)                %y = aten::conv2d(%x, %w', %b', ...)
///     %z = aten::mul(%y, %c)                    ->      (uses of %z use %y)
///
/// `%c` as in `fold-frozen-conv-add-sub`. Preconditions as in `fold-frozen-conv-bn`.
let foldFrozenConvMulOrDiv = GraphPass(name: "fold-frozen-conv-mul-div") { context in
  for node in context.graph.allNodes where node.isInserted {
    let divide: Bool
    switch node.schema?.fullName {
    case "aten::mul.Tensor", "aten::mul.Scalar": divide = false
    case "aten::div.Tensor", "aten::div.Scalar": divide = true
    default: continue
    }
    guard let match = FrozenConvMatch(convOutput: node.inputs[0]), node.inputs[1].node.kind == .constant,
      let other = ChannelOperand(node.inputs[1], convWeight: match.weight)
    else { continue }
    guard let (weight, bias) = try? FoldingMath.convScale(weight: match.weight, bias: match.bias, by: other.values, divide: divide)
    else { continue }
    match.replaceParameters(weight: weight, bias: bias, suffix: divide ? "_fused_div" : "_fused_mul", context: context)
    node.output.replaceAllUses(with: match.conv.output)
    node.destroy()
    context.count("folded")
  }
  context.count("removed", context.graph.eliminateDeadCode())
}
