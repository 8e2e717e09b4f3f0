import TensorCore

extension Graph {
  /// A deep copy: new nodes and values with the same kinds, attributes, types and names.
  public func clone() -> Graph {
    let copy = Graph()
    var map: [ObjectIdentifier: Value] = [:]
    for input in inputs {
      let value = copy.addInput(input.type, name: input.debugName)
      map[ObjectIdentifier(input)] = value
    }
    copy.block.cloneContents(of: block, valueMap: &map)
    return copy
  }

  /// Copies `node` (with its sub-blocks) to the end of `block`, reading inputs through `map`
  /// (values not in `map` are used as they are); records the new outputs in `map`.
  ///
  /// Given `%y = aten::relu(%x)` and a map `%x → %a`, appends `%y2 = aten::relu(%a)` and maps
  /// `%y → %y2`.
  @discardableResult
  public func cloneNode(_ node: Node, into block: Block, valueMap map: inout [ObjectIdentifier: Value]) -> Node {
    let copy = create(node.kind, location: node.sourceLocation)
    for input in node.inputs { copy.addInput(map[ObjectIdentifier(input)] ?? input) }
    for output in node.outputs {
      let value = copy.addOutput(output.type, name: output.debugName)
      map[ObjectIdentifier(output)] = value
    }
    copy.attributes = node.attributes
    copy.schema = node.schema
    block.append(copy)
    for sub in node.blocks {
      let subCopy = copy.addBlock()
      for input in sub.inputs {
        map[ObjectIdentifier(input)] = subCopy.addInput(input.type, name: input.debugName)
      }
      subCopy.cloneContents(of: sub, valueMap: &map)
    }
    return copy
  }
}

extension Block {
  /// Appends copies of `source`'s nodes and sets outputs from `source`'s outputs, reading values
  /// through `map`.
  public func cloneContents(of source: Block, valueMap map: inout [ObjectIdentifier: Value]) {
    precondition(source !== self, "cloning a block into itself")
    var current = source.firstNode
    while current !== source.returnNode {
      graph.cloneNode(current, into: self, valueMap: &map)
      current = current.nextNode!
    }
    for output in source.outputs {
      addOutput(map[ObjectIdentifier(output)] ?? output)
    }
  }
}

extension Node {
  /// Replaces this call node with the body of `callee`, whose inputs take this node's inputs
  /// (from `inputOffset` on). Returns the values that replaced the call's outputs.
  ///
  /// Given `%y = prim::CallMethod[name="forward"](%conv, %x)` and a callee graph
  /// `graph(%self, %input): %r = aten::relu(%input) return (%r)`, the call becomes
  /// `%r2 = aten::relu(%x)` and every use of `%y` uses `%r2`. Calls inside the copied body are
  /// not inlined (callers repeat until none remain).
  @discardableResult
  public func inline(_ callee: Graph, inputOffset: Int = 0) -> [Value] {
    let block = owningBlock!
    var map: [ObjectIdentifier: Value] = [:]
    let arguments = Array(inputs[inputOffset...])
    precondition(arguments.count == callee.inputs.count, "inlining \(kind) with \(arguments.count) arguments into a graph of \(callee.inputs.count) inputs")
    for (parameter, argument) in zip(callee.inputs, arguments) {
      map[ObjectIdentifier(parameter)] = argument
    }
    // Build the body in a scratch block, then move its nodes before this node.
    let scratch = graph.create("prim::InlineScratch")
    scratch.insert(before: self)
    let body = scratch.addBlock()
    body.cloneContents(of: callee.block, valueMap: &map)
    let results = body.outputs
    var current = body.firstNode
    while current !== body.returnNode {
      let node = current
      current = node.nextNode!
      node.move(before: scratch)
    }
    // Callee nodes inherit the call site's location when they have none.
    body.removeAllOutputsForInlining()
    scratch.removeBlock(0)
    scratch.destroy()
    for (output, replacement) in zip(outputs, results) {
      output.replaceAllUses(with: replacement)
    }
    _ = block
    destroy()
    return results
  }
}

extension Block {
  fileprivate func removeAllOutputsForInlining() {
    returnNode.removeAllInputs()
  }
}
