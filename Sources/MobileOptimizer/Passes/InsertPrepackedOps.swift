import TensorCore
import TorchIR

/// Replaces convolutions and linears with XNNPACK's prepack/run op pairs, as PyTorch's
/// `insertPrePackedOps` does; folding the prepack ops into constants comes later.
///
///     %y = aten::conv2d(%x, %w, %b, %s, %p, %d, %g)
///        ->  %ctx = prepacked::conv2d_clamp_prepack(%w, %b, %s, %p, %d, %g, None, None)
///            %y   = prepacked::conv2d_clamp_run(%x, %ctx)
///     %y = aten::linear(%x, %w, %b)
///        ->  %ctx = prepacked::linear_clamp_prepack(%w, %b, None, None)
///            %y   = prepacked::linear_clamp_run(%x, %ctx)
///     %y = aten::conv_transpose2d(%x, %w, %b, %s, %p, %op, %g, %d)
///        ->  %ctx = prepacked::conv2d_transpose_clamp_prepack(%w, %b, %s, %p, %op, %d, %g, None, None)
///            %y   = prepacked::conv2d_transpose_clamp_run(%x, %ctx)
///
/// Convolutions with string padding become explicit when the padding is symmetric (`'valid'`,
/// or `'same'` with odd effective kernels); other string paddings are left alone (PyTorch's pass
/// crashes on them). Only float32 4-D conv and 2-D linear weights qualify when they are constants.
let insertPrepackedOps = GraphPass(name: "insert-prepacked-ops") { context in
  let xnnpack = "__torch__.torch.classes.xnnpack."
  for node in context.graph.allNodes where node.isInserted {
    let constantWeight = node.inputs.count > 1 ? node.inputs[1].constantValue?.tensor : nil
    if let weight = constantWeight, weight.dtype != .float32 { continue }
    switch node.schema?.fullName {
    case "aten::linear":
      if let weight = constantWeight, weight.rank != 2 { continue }
      let none = context.insertConstant(.none, type: TorchType.none, before: node)
      let prepack = context.insertNode(
        "prepacked::linear_clamp_prepack", inputs: [node.inputs[1], node.inputs[2], none, none],
        outputTypes: [.class(xnnpack + "LinearOpContext")], before: node)
      let run = context.insertNode(
        "prepacked::linear_clamp_run", inputs: [node.inputs[0], prepack.output], outputTypes: [.tensor], before: node)
      node.output.replaceAllUses(with: run.output)
      node.destroy()
      context.count("linear")
    case "aten::conv2d", "aten::conv2d.padding":
      if let weight = constantWeight, weight.rank != 4 { continue }
      var padding = node.inputs[4]
      if node.schema?.fullName == "aten::conv2d.padding" {
        guard let weight = constantWeight, let mode = padding.constantValue?.string,
          let dilation = node.inputs[5].constantValue?.intList, let stride = node.inputs[3].constantValue?.intList,
          let explicit = explicitPadding(mode, kernel: Array(weight.shape[2...]), dilation: dilation, stride: stride)
        else {
          context.count("skipped-string-padding")
          continue
        }
        padding = context.insertConstant(.list(ListValue(explicit.map { .int($0) }, elementType: .int)), before: node)
      }
      let none = context.insertConstant(.none, type: TorchType.none, before: node)
      let prepack = context.insertNode(
        "prepacked::conv2d_clamp_prepack",
        inputs: [node.inputs[1], node.inputs[2], node.inputs[3], padding, node.inputs[5], node.inputs[6], none, none],
        outputTypes: [.class(xnnpack + "Conv2dOpContext")], before: node)
      let run = context.insertNode(
        "prepacked::conv2d_clamp_run", inputs: [node.inputs[0], prepack.output], outputTypes: [.tensor], before: node)
      node.output.replaceAllUses(with: run.output)
      node.destroy()
      context.count("conv2d")
    case "aten::conv_transpose2d.input":
      if let weight = constantWeight, weight.rank != 4 { continue }
      let none = context.insertConstant(.none, type: TorchType.none, before: node)
      // PyTorch's argument order changes: dilation moves before groups.
      let prepack = context.insertNode(
        "prepacked::conv2d_transpose_clamp_prepack",
        inputs: [node.inputs[1], node.inputs[2], node.inputs[3], node.inputs[4], node.inputs[5], node.inputs[7], node.inputs[6], none, none],
        outputTypes: [.class(xnnpack + "TransposeConv2dOpContext")], before: node)
      let run = context.insertNode(
        "prepacked::conv2d_transpose_clamp_run", inputs: [node.inputs[0], prepack.output], outputTypes: [.tensor], before: node)
      node.output.replaceAllUses(with: run.output)
      node.destroy()
      context.count("conv-transpose2d")
    default:
      continue
    }
  }
}

/// Explicit symmetric padding equal to a string padding, or nil when it would be asymmetric.
func explicitPadding(_ mode: String, kernel: [Int], dilation: [Int], stride: [Int]) -> [Int]? {
  switch mode {
  case "valid":
    return Array(repeating: 0, count: kernel.count)
  case "same":
    guard stride.allSatisfy({ $0 == 1 }) else { return nil }
    var result: [Int] = []
    for (index, size) in kernel.enumerated() {
      let d = dilation.count == kernel.count ? dilation[index] : (dilation.first ?? 1)
      let total = d * (size - 1)
      guard total % 2 == 0 else { return nil }
      result.append(total / 2)
    }
    return result
  default:
    return nil
  }
}
