import TorchIR

/// Removes nodes whose results nothing uses and that have no side effects, and unused
/// outputs of `prim::If` / `prim::Loop`.
///
///     %a : Tensor = aten::relu(%x)        (no uses)      ->    (removed)
///     %b : Tensor = aten::add_(%x, %y, %1) (mutates %x)  ->    %b kept
let eliminateDeadCode = GraphPass(name: "eliminate-dead-code") { context in
  context.count("removed", context.graph.eliminateDeadCode())
}
