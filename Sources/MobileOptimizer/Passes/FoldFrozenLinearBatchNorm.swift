import TensorCore
import TorchIR

/// Folds an inference `aten::batch_norm` into the `aten::linear` feeding it (frozen graphs).
///
///     %y = aten::linear(%x, %w, %b)                     %y = aten::linear(%x, %w', %b')
///     %z = aten::batch_norm(%y, ..., %false, ...)  ->   (uses of %z use %y)
///
/// Needs constant weights and batch-norm inputs, a single use of the linear output, and
/// `out_features == num_features` (or one feature). The math is `FoldingMath.linearBatchNorm`.
let foldFrozenLinearBatchNorm = GraphPass(name: "fold-frozen-linear-bn") { context in
  for node in context.graph.allNodes where node.kind == .batchNorm && node.isInserted {
    let linearOutput = node.inputs[0]
    let linear = linearOutput.node
    guard linear.kind == "aten::linear", linearOutput.uses.count == 1,
      linear.inputs.dropFirst().allSatisfy({ $0.node.kind == .constant }),
      let weight = linear.inputs[1].constantValue?.tensor, weight.dtype.isFloatingPoint,
      node.inputs.dropFirst().allSatisfy({ $0.node.kind == .constant }),
      node.inputs[5].constantValue?.bool == false,
      let mean = node.inputs[3].constantValue?.tensor, let variance = node.inputs[4].constantValue?.tensor,
      let eps = node.inputs[7].constantValue?.number
    else { continue }
    let bn = FoldingMath.BatchNorm(
      runningMean: mean, runningVar: variance, weight: node.inputs[1].constantValue?.tensor,
      bias: node.inputs[2].constantValue?.tensor, eps: eps)
    guard let (newWeight, newBias) = try? FoldingMath.linearBatchNorm(
      weight: weight, bias: linear.inputs[2].constantValue?.tensor, batchNorm: bn)
    else { continue }
    let weightName = (linear.inputs[1].debugName ?? "weight") + "_fused_bn"
    let biasName = (linear.inputs[2].debugName ?? (linear.inputs[1].debugName.map { $0 + ".bias" } ?? "bias")) + "_fused_bn"
    linear.replaceInput(1, with: context.insertConstant(.tensor(newWeight), type: .tensor, before: linear, name: weightName))
    linear.replaceInput(2, with: context.insertConstant(.tensor(newBias), type: .tensor, before: linear, name: biasName))
    node.output.replaceAllUses(with: linearOutput)
    node.destroy()
    context.count("folded")
  }
  context.count("removed", context.graph.eliminateDeadCode())
}
