import TensorCore
import TorchIR

/// Fuses an activation that clamps into the prepacked op before it, by setting the context's
/// output bounds (PyTorch's `fuseReluWithPackedOps` / `fuseHardtanhWithPackedOps`).
///
///     %ctx = prepacked::conv2d_clamp_prepack(..., None, None)      %ctx = prepacked::conv2d_clamp_prepack(..., 0., None)
///     %y   = prepacked::conv2d_clamp_run(%x, %ctx)           ->    %y   = prepacked::conv2d_clamp_run(%x, %ctx)
///     %z   = aten::relu(%y)                                        (uses of %z use %y)
///
/// Fuses `relu`, `relu_`, `hardtanh`, `hardtanh_` with constant bounds and, beyond PyTorch,
/// `relu6` and constant `clamp`, after conv2d and linear runs (PyTorch never fuses linear with
/// constant weights, an accident of its pass order; the fused result is exact). The run output
/// must have no other use and the bounds must still be unset.
let fusePrepackedClamp = GraphPass(name: "fuse-prepacked-clamp") { context in
  let runs: [OpName: Int] = ["prepacked::conv2d_clamp_run": 6, "prepacked::linear_clamp_run": 2]
  for node in context.graph.allNodes where node.isInserted {
    let bounds: (Double?, Double?)
    switch node.kind {
    case "aten::relu", "aten::relu_": bounds = (0, nil)
    case "aten::relu6", "aten::relu6_": bounds = (0, 6)
    case "aten::hardtanh", "aten::hardtanh_":
      guard let low = node.inputs[1].constantValue?.number, let high = node.inputs[2].constantValue?.number else { continue }
      bounds = (low, high)
    case "aten::clamp", "aten::clamp_":
      guard node.schema?.fullName.hasSuffix("clamp") == true || node.schema?.fullName.hasSuffix("clamp_") == true,
        let low = node.inputs[1].constantValue, let high = node.inputs[2].constantValue,
        low.isNone || low.number != nil, high.isNone || high.number != nil, !(low.isNone && high.isNone)
      else { continue }
      bounds = (low.number, high.number)
    default:
      continue
    }
    let runOutput = node.inputs[0]
    let run = runOutput.node
    guard let boundIndex = runs[run.kind], runOutput.uses.count == 1 else { continue }
    let prepack = run.inputs[1].node
    guard prepack.kind.rawValue.hasSuffix("_prepack"), run.inputs[1].uses.count == 1,
      prepack.inputs[boundIndex].constantValue?.isNone == true, prepack.inputs[boundIndex + 1].constantValue?.isNone == true
    else { continue }
    let low = bounds.0.map { context.insertConstant(.double($0), before: prepack) } ?? context.insertConstant(.none, type: TorchType.none, before: prepack)
    let high = bounds.1.map { context.insertConstant(.double($0), before: prepack) } ?? context.insertConstant(.none, type: TorchType.none, before: prepack)
    prepack.replaceInput(boundIndex, with: low)
    prepack.replaceInput(boundIndex + 1, with: high)
    node.output.replaceAllUses(with: runOutput)
    node.destroy()
    context.count("fused")
  }
  context.count("removed", context.graph.eliminateDeadCode())
}
