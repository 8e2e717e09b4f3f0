import TensorCore
import TorchIR

/// Fully unrolls counted loops with a constant trip count and a small body.
///
///     %r = prim::Loop(%3, %true, %x)            %a = <body with i = 0, x = %x>
///       block0(%i, %x1): <body>          ->     %b = <body with i = 1, x = %a>
///                                               %r = <body with i = 2, x = %b>
///
/// Only `for` loops (the condition stays constant true) whose trip count is a constant up to
/// `maximumTrips` and whose unrolled size stays under `maximumNodes`; loops containing loops stay.
let unrollConstantLoops = GraphPass(name: "unroll-constant-loops") { context in
  let maximumTrips = 64
  let maximumNodes = 2048
  func unroll(_ node: Node) -> Bool {
    guard node.kind == .loop, let trips = node.inputs[0].constantValue?.int, trips >= 0, trips <= maximumTrips,
      node.inputs[1].constantValue?.bool == true
    else { return false }
    let body = node.blocks[0]
    guard body.outputs[0].constantValue?.bool == true else { return false }
    var size = 0
    var nested = false
    Graph.forEachNode(in: body) { inner in
      size += 1
      if inner.kind == .loop { nested = true }
    }
    guard !nested, size * trips <= maximumNodes else { return false }
    var carried = Array(node.inputs.dropFirst(2))
    let graph = node.graph
    for iteration in 0..<trips {
      var map = ValueMap(source: graph)
      let counter = context.insertConstant(.int(iteration), before: node)
      map[body.inputs[0]] = counter
      for (parameter, value) in zip(body.inputs.dropFirst(), carried) { map[parameter] = value }
      let scratch = graph.create("prim::UnrollScratch")
      scratch.insert(before: node)
      let copy = scratch.addBlock()
      copy.cloneContents(of: body, valueMap: &map)
      carried = Array(copy.outputs.dropFirst())
      for inner in copy.nodes { inner.move(before: scratch) }
      copy.returnNode.removeAllInputs()
      scratch.removeBlock(0)
      scratch.destroy()
    }
    for (output, value) in zip(node.outputs, carried) { output.replaceAllUses(with: value) }
    node.destroy()
    return true
  }
  context.graph.forEachNode { node in
    guard node.isInserted else { return }
    if unroll(node) { context.count("unrolled") }
  }
}
