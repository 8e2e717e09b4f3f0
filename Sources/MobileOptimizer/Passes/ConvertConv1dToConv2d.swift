import TensorCore
import TorchIR

/// Rewrites 1-D convolutions as 2-D ones over a unit height, so the prepacking passes and 2-D
/// kernels apply (PyTorch's `transformConv1dToConv2d`).
///
///     %y = aten::conv1d(%x, %w, %b, [s], [p], [d], %g)       %x2 = aten::unsqueeze(%x, 2)
///                                                      ->    %w2 = aten::unsqueeze(%w, 2)
///                                                            %y2 = aten::conv2d(%x2, %w2, %b, [1, s], [0, p], [1, d], %g)
///                                                            %y  = aten::squeeze(%y2, 2)
///
/// Needs constant stride, padding and dilation lists; string padding (`'same'`, `'valid'`) is
/// left alone, where PyTorch's pass crashes.
let convertConv1dToConv2d = GraphPass(name: "conv-1d-to-2d") { context in
  for node in context.graph.allNodes where node.kind == .conv1d && node.isInserted {
    guard node.schema?.fullName == "aten::conv1d",
      let stride = node.inputs[3].constantValue?.intList, let padding = node.inputs[4].constantValue?.intList,
      let dilation = node.inputs[5].constantValue?.intList, stride.count == 1, padding.count == 1, dilation.count == 1
    else { continue }
    let two = context.insertConstant(.int(2), before: node)
    let input = context.insertNode("aten::unsqueeze", inputs: [node.inputs[0], two], outputTypes: [.tensor], before: node)
    let weight = context.insertNode("aten::unsqueeze", inputs: [node.inputs[1], two], outputTypes: [.tensor], before: node)
    func list(_ values: [Int]) -> Value {
      context.insertConstant(.list(ListValue(values.map { .int($0) }, elementType: .int)), before: node)
    }
    let conv = context.insertNode(
      "aten::conv2d",
      inputs: [input.output, weight.output, node.inputs[2], list([1, stride[0]]), list([0, padding[0]]), list([1, dilation[0]]), node.inputs[6]],
      outputTypes: [.tensor], before: node)
    let squeeze = context.insertNode("aten::squeeze", inputs: [conv.output, two], outputTypes: [.tensor], before: node)
    node.output.replaceAllUses(with: squeeze.output)
    node.destroy()
    context.count("rewritten")
  }
}
