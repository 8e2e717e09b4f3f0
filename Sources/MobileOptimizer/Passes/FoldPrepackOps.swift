import TensorCore
import TorchIR
import TorchRuntime

/// Runs prepack ops whose inputs are all constants and replaces them with the context objects
/// they make (PyTorch's `FoldPrePackingOps`).
///
///     %ctx = prepacked::conv2d_clamp_prepack(%w, %b, ..., %min, %max)    (all constants)
///        ->  %ctx : __torch__.torch.classes.xnnpack.Conv2dOpContext = prim::Constant[value=<Object>]()
///
/// The object keeps the original weight, bias and settings as its state, which is what the
/// archive stores and PyTorch re-packs on load.
let foldPrepackOps = GraphPass(name: "fold-prepack-ops") { context in
  let kinds: Set<OpName> = [
    "prepacked::conv2d_clamp_prepack", "prepacked::linear_clamp_prepack", "prepacked::conv2d_transpose_clamp_prepack",
  ]
  for node in context.graph.allNodes where kinds.contains(node.kind) && node.isInserted {
    guard node.inputs.allSatisfy({ $0.node.kind == .constant }), let schema = node.schema,
      let executor = context.options.operators.executor(for: schema.fullName),
      let result = try? executor(node.inputs.map { $0.node.constantValue }), case .object = result.first
    else { continue }
    let constant = context.insertConstant(result[0], type: node.output.type, before: node)
    node.output.replaceAllUses(with: constant)
    node.destroy()
    context.count("folded")
  }
}
