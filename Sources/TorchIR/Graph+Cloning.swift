import TensorCore

/// Where a copy's values come from: for each value of the source graph that has been copied (or
/// bound, like a callee's parameter to an argument), its replacement.
///
/// Keyed by `Value.id`, which is dense per graph: a lookup is an array index instead of a hash.
/// Every key must belong to `source`; cloning only ever looks up the inputs of the source's own
/// nodes, which do.
public struct ValueMap {
  /// The graph whose values are keys.
  public unowned(unsafe) let source: Graph
  private var targets: [Value?]

  /// An empty map for values of `source`.
  public init(source: Graph) {
    self.source = source
    targets = Array(repeating: nil, count: source.valueIDBound)
  }

  /// The replacement of `value`, or nil when it has none.
  public subscript(value: Value) -> Value? {
    get {
      let id = value.id
      return id < targets.count ? targets[id] : nil
    }
    set {
      precondition(value.graph === source, "value map key \(value) is not a value of the source graph")
      let id = value.id
      if id >= targets.count { targets.append(contentsOf: repeatElement(nil, count: id + 1 - targets.count)) }
      targets[id] = newValue
    }
  }
}

extension Graph {
  /// A deep copy: new nodes and values with the same kinds, attributes, types and names.
  public func clone() -> Graph {
    let copy = Graph()
    var map = ValueMap(source: self)
    for input in inputs {
      map[input] = copy.addInput(input.type, name: input.debugName)
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
  public func cloneNode(_ node: Node, into block: Block, valueMap map: inout ValueMap) -> Node {
    block.append(cloneNodeDetached(node, valueMap: &map))
  }
}

extension Node {
  /// Gives a fresh copy (no inputs yet) the inputs `sources`, each read through `map`.
  fileprivate func setInputsForCopy(_ sources: [Value], through map: ValueMap) {
    var values: [Value] = []
    values.reserveCapacity(sources.count)
    for (index, source) in sources.enumerated() {
      let value = map[source] ?? source
      value.uses.append(Use(user: self, index: index))
      values.append(value)
    }
    setInputsWithoutUseUpdate(values)
  }

  /// Gives a fresh copy (no outputs yet) outputs like `original`'s, recorded in `map`.
  fileprivate func setOutputsForCopy(of original: Node, recordingIn map: inout ValueMap) {
    let sources = original.outputs
    var values: [Value] = []
    values.reserveCapacity(sources.count)
    for (offset, source) in sources.enumerated() {
      let value = Value(id: graph.makeValueID(), type: source.type, node: self, offset: offset)
      value.debugName = source.debugName
      map[source] = value
      values.append(value)
    }
    setOutputsWithoutUseUpdate(values)
  }
}

extension Block {
  /// Appends copies of `source`'s nodes and sets outputs from `source`'s outputs, reading values
  /// through `map`.
  public func cloneContents(of source: Block, valueMap map: inout ValueMap) {
    precondition(source !== self, "cloning a block into itself")
    var current = source.firstNode
    while current !== source.returnNode {
      graph.cloneNode(current, into: self, valueMap: &map)
      current = current.nextNode!
    }
    for output in source.outputs {
      addOutput(map[output] ?? output)
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
    var map = ValueMap(source: callee)
    let arguments = inputs[inputOffset...]
    precondition(arguments.count == callee.inputs.count, "inlining \(kind) with \(arguments.count) arguments into a graph of \(callee.inputs.count) inputs")
    for (parameter, argument) in zip(callee.inputs, arguments) {
      map[parameter] = argument
    }
    // Copy the body straight before this node.
    var current = callee.block.firstNode
    while current !== callee.block.returnNode {
      let copy = graph.cloneNodeDetached(current, valueMap: &map)
      copy.insert(before: self)
      current = current.nextNode!
    }
    let results = callee.outputs.map { map[$0] ?? $0 }
    for (output, replacement) in zip(outputs, results) {
      output.replaceAllUses(with: replacement)
    }
    destroy()
    return results
  }
}

extension Graph {
  /// `cloneNode`, leaving the copy detached (its sub-blocks filled) for the caller to insert.
  fileprivate func cloneNodeDetached(_ node: Node, valueMap map: inout ValueMap) -> Node {
    let copy = Node(graph: self, kind: node.kind)
    copy.sourceLocation = node.sourceLocation
    copy.attributes = node.attributes
    copy.schema = node.schema
    copy.setInputsForCopy(node.inputs, through: map)
    copy.setOutputsForCopy(of: node, recordingIn: &map)
    for sub in node.blocks {
      let subCopy = copy.addBlock()
      for input in sub.inputs {
        map[input] = subCopy.addInput(input.type, name: input.debugName)
      }
      subCopy.cloneContents(of: sub, valueMap: &map)
    }
    return copy
  }
}
