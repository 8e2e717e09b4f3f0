import TensorCore
import TorchIR

/// Replaces method and function calls with the callee's body, until no calls remain.
///
///     %y = prim::CallMethod[name="forward"](%conv, %x)      %w = prim::GetAttr[name="weight"](%conv)
///                                                    ->    %y = aten::conv2d(%x, %w, ...)
///     %z = prim::CallFunction(%relu, %y, %false)            (relu's body, with input := %y)
///
/// Calls of native methods (custom C++ classes) and of callees without a graph stay.
let inlineCalls = GraphPass(name: "inline") { context in
  guard let unit = context.unit else { return }
  var changed = true
  var rounds = 0
  while changed {
    changed = false
    rounds += 1
    guard rounds < 64 else { break }
    context.graph.forEachNode { node in
      guard node.isInserted else { return }
      switch node.kind {
      case .callMethod:
        guard case .class(let className) = node.inputs[0].type, let classType = unit.classType(className),
          let name = node.name, let method = classType.method(name), !method.isNative, let graph = method.graph
        else { return }
        node.inline(graph)
        context.count("methods-inlined")
        changed = true
      case .callFunction:
        guard case .function(let name) = node.inputs[0].type, let function = unit.function(name), let graph = function.graph
        else { return }
        node.inline(graph, inputOffset: 1)
        context.count("functions-inlined")
        changed = true
      default:
        return
      }
    }
  }
  context.count("removed", context.graph.eliminateDeadCode())
}
