import TensorCore
import TorchIR

/// Folds an inference `aten::batch_norm` into the convolution feeding it (frozen graphs).
///
///     %y : Tensor = aten::conv2d(%x, %w, %b, ...)         %y : Tensor = aten::conv2d(%x, %w', %b', ...)
///     %z : Tensor = aten::batch_norm(%y, %g, %be,   ->    (uses of %z use %y)
///                     %mean, %var, %false, %m, %eps, %c)
///
/// Preconditions: the conv is `aten::conv1d/2d/3d` or a non-transposed `aten::_convolution`;
/// every input of both nodes but the first is a constant; the conv output has no other use;
/// running mean and variance are tensors. The math is `FoldingMath.convBatchNorm`.
let foldFrozenConvBatchNorm = GraphPass(name: "fold-frozen-conv-bn") { context in
  for node in context.graph.allNodes where node.kind == .batchNorm && node.isInserted {
    guard let match = FrozenConvMatch(convOutput: node.inputs[0]),
      node.inputs.dropFirst().allSatisfy({ $0.node.kind == .constant }),
      node.inputs[5].constantValue?.bool == false,
      let mean = node.inputs[3].constantValue?.tensor, let variance = node.inputs[4].constantValue?.tensor,
      let eps = node.inputs[7].constantValue?.number
    else { continue }
    let bn = FoldingMath.BatchNorm(
      runningMean: mean, runningVar: variance, weight: node.inputs[1].constantValue?.tensor,
      bias: node.inputs[2].constantValue?.tensor, eps: eps)
    let ahead = context.options.foldingCache?.folded(weight: match.weight, bias: match.bias, batchNorm: bn)
    guard let (weight, bias) = ahead ?? (try? FoldingMath.convBatchNorm(weight: match.weight, bias: match.bias, batchNorm: bn))
    else { continue }
    if ahead != nil { context.count("folded-ahead") }
    match.replaceParameters(weight: weight, bias: bias, suffix: "_fused_bn", context: context)
    node.output.replaceAllUses(with: match.conv.output)
    node.destroy()
    context.count("folded")
  }
  context.count("removed", context.graph.eliminateDeadCode())
}

/// A convolution whose weights and settings are constants and whose output has one use.
struct FrozenConvMatch {
  let conv: Node
  let weight: Tensor
  let bias: Tensor?

  static let kinds: Set<OpName> = ["aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution"]

  init?(convOutput: Value) {
    let node = convOutput.node
    guard FrozenConvMatch.kinds.contains(node.kind), convOutput.uses.count == 1,
      node.inputs.dropFirst().allSatisfy({ $0.node.kind == .constant }),
      let weight = node.inputs[1].constantValue?.tensor, weight.dtype.isFloatingPoint
    else { return nil }
    if node.kind == "aten::_convolution", node.inputs[6].constantValue?.bool != false { return nil }
    // String padding ('same'/'valid') convolutions fold just the same; the weights are what change.
    self.conv = node
    self.weight = weight
    self.bias = node.inputs[2].constantValue?.tensor
  }

  var outputChannels: Int { weight.shape.first ?? 0 }

  /// Points the conv at new weight and bias constants named after the old ones plus `suffix`.
  func replaceParameters(weight: Tensor, bias: Tensor?, suffix: String, context: PassContext) {
    let weightName = (conv.inputs[1].debugName ?? "weight") + suffix
    let biasName = (conv.inputs[2].debugName ?? (conv.inputs[1].debugName.map { $0 + ".bias" } ?? "bias")) + suffix
    conv.replaceInput(1, with: context.insertConstant(.tensor(weight), type: .tensor, before: conv, name: weightName))
    if let bias {
      conv.replaceInput(2, with: context.insertConstant(.tensor(bias), type: .tensor, before: conv, name: biasName))
    }
  }
}
