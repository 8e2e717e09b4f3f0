import TensorCore
import TorchIR

/// Folds a constant added to (or subtracted from) a convolution's output into its bias.
///
///     %y = aten::conv2d(%x, %w, %b, ...)                %y = aten::conv2d(%x, %w, %b', ...)
///     %z = aten::add(%y, %c, %alpha)            ->      (uses of %z use %y)
///
/// `%c` is a number, or a tensor whose shape broadcasts only along the channel dimension
/// (`[1, C, 1, 1]`, `[C, 1, 1]`, or one element). Preconditions as in `fold-frozen-conv-bn`.
let foldFrozenConvAddOrSub = GraphPass(name: "fold-frozen-conv-add-sub") { context in
  for node in context.graph.allNodes where node.isInserted {
    let subtract: Bool
    switch node.schema?.fullName {
    case "aten::add.Tensor", "aten::add.Scalar": subtract = false
    case "aten::sub.Tensor", "aten::sub.Scalar": subtract = true
    default: continue
    }
    guard let match = FrozenConvMatch(convOutput: node.inputs[0]),
      node.inputs.dropFirst().allSatisfy({ $0.node.kind == .constant }),
      let alpha = node.inputs[2].constantValue?.number,
      let other = ChannelOperand(node.inputs[1], convWeight: match.weight)
    else { continue }
    guard let bias = try? FoldingMath.convShift(
      bias: match.bias, channels: match.outputChannels, dtype: match.weight.dtype, by: other.values, alpha: alpha,
      subtract: subtract)
    else { continue }
    let suffix = subtract ? "_fused_sub" : "_fused_add"
    if match.bias == nil {
      // The conv had no bias: give it one.
      let name = (match.conv.inputs[1].debugName.map { $0 + ".bias" } ?? "bias") + suffix
      match.conv.replaceInput(2, with: context.insertConstant(.tensor(bias), type: .tensor, before: match.conv, name: name))
    } else {
      match.replaceParameters(weight: match.weight, bias: bias, suffix: suffix, context: context)
    }
    node.output.replaceAllUses(with: match.conv.output)
    node.destroy()
    context.count("folded")
  }
  context.count("removed", context.graph.eliminateDeadCode())
}

/// The per-output-channel values of an operand combined with a conv output, or nil when its
/// shape mixes in other dimensions.
struct ChannelOperand {
  let values: [Double]

  init?(_ value: Value, convWeight: Tensor) {
    let channels = convWeight.shape.first ?? 0
    switch value.constantValue {
    case .int(let number): values = [Double(number)]
    case .double(let number): values = [number]
    case .tensor(let tensor):
      guard tensor.rank <= convWeight.rank else { return nil }
      // Only dimension 1 (channels) of the conv output may differ from 1.
      let shape = tensor.shape
      for (index, size) in shape.enumerated() {
        let outputDim = index + (convWeight.rank - shape.count)
        if size != 1 && !(outputDim == 1 && size == channels) { return nil }
      }
      // Integer constants must not change the floating result type.
      guard tensor.dtype.isFloatingPoint || tensor.dtype.isIntegral else { return nil }
      if tensor.dtype.isFloatingPoint, tensor.dtype != convWeight.dtype, tensor.rank > 0 { return nil }
      values = tensor.doubles()
    default:
      return nil
    }
  }
}
