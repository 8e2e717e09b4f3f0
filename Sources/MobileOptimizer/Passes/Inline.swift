import TensorCore
import TorchIR

/// Replaces method and function calls with the callee's body, until no calls remain.
///
///     %y = prim::CallMethod[name="forward"](%conv, %x)      %w = prim::GetAttr[name="weight"](%conv)
///                                                    ->    %y = aten::conv2d(%x, %w, ...)
///     %z = prim::CallFunction(%relu, %y, %false)            (relu's body, with input := %y)
///
/// Calls of native methods (custom C++ classes) and of callees without a graph stay.
///
/// One walk does it: after a call is replaced, the walk resumes at the first inlined node, so
/// calls inside the inlined body are inlined in turn.
let inlineCalls = inlineCallsPass(specialize: nil)

/// `inlineCalls`, where a method call may inline a body `specialize` gives for it instead of the
/// callee's own (the freeze's leaf specialization, Note [Specialized leaf inlining]).
func inlineCallsPass(specialize: ((Node, Graph) throws -> LeafSpecializer.Call?)?) -> GraphPass {
  nonisolated(unsafe) let specialize = specialize
  return GraphPass(name: "inline") { context in
    guard let unit = context.unit else { return }
    var inliner = Inliner(unit: unit, context: context)
    inliner.specialize = specialize
    try inliner.inline(in: context.graph.block)
    context.count("removed", context.graph.eliminateDeadCode())
  }
}

private struct Inliner {
  let unit: CompilationUnit
  let context: PassContext
  var specialize: ((Node, Graph) throws -> LeafSpecializer.Call?)?
  var inlined = 0

  /// TorchScript has no recursion, so a well-formed program inlines in finitely many steps; this
  /// bounds the work for archives whose code calls itself.
  static let limit = 100_000

  init(unit: CompilationUnit, context: PassContext) {
    self.unit = unit
    self.context = context
  }

  mutating func inline(in block: Block) throws {
    var current = block.firstNode
    while current !== block.returnNode {
      let node = current
      if let (callee, offset, counter) = callee(of: node) {
        inlined += 1
        guard inlined <= Inliner.limit else {
          throw FreezeError.recursiveCalls(function: context.function)
        }
        let before = node.previousNode!
        if node.kind == .callMethod, let specialized = try specialize?(node, callee) {
          let arguments = node.inputs
          let results = node.inline(specialized.graph, inputOffset: offset)
          specialized.finish(context.graph, arguments, results)
          context.count("specialized")
        } else {
          node.inline(callee, inputOffset: offset)
        }
        context.count(counter)
        current = before.nextNode!
        continue
      }
      for sub in node.blocks { try inline(in: sub) }
      current = node.nextNode!
    }
  }

  private func callee(of node: Node) -> (Graph, Int, String)? {
    switch node.kind {
    case .callMethod:
      guard case .class(let className) = node.inputs[0].type, let classType = unit.classType(className),
        let name = node.name, let method = classType.method(name), !method.isNative, let graph = method.graph
      else { return nil }
      return (graph, 0, "methods-inlined")
    case .callFunction:
      guard case .function(let name) = node.inputs[0].type, let function = unit.function(name), let graph = function.graph
      else { return nil }
      return (graph, 1, "functions-inlined")
    default:
      return nil
    }
  }
}
