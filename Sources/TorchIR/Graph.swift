import TensorCore

// Note [IR model]
// The IR follows TorchScript's own (torch/csrc/jit/OVERVIEW.md). A `Graph` owns one top-level
// `Block`; a block is a list of `Node`s bracketed by a `prim::Param` node (whose outputs are the
// block's inputs) and a `prim::Return` node (whose inputs are the block's outputs). Nodes produce
// `Value`s; every value has exactly one defining node (SSA). `prim::If` and `prim::Loop` nodes
// own sub-blocks. Node kinds are an open set of names: an op we know nothing about passes through
// load → passes → save untouched. Settings such as a convolution's stride are inputs (usually
// from `prim::Constant` nodes), never attributes; only a few structural nodes carry attributes
// (a constant's value, an attribute or method name).

// Note [Topological invariant]
// Within a block, nodes are kept in an order where every input is defined before its use, either
// earlier in the same block or earlier in an enclosing block (before the node owning the block).
// All mutation APIs preserve it; the verifier checks it.

/// A location in TorchScript source, carried on nodes so that errors can point at model code.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
  /// The file, usually an archive record such as `code/__torch__/torch/nn/modules/conv.py`.
  public var file: String
  /// 1-based line.
  public var line: Int
  /// 1-based column.
  public var column: Int

  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }

  public var description: String { "\(file):\(line):\(column)" }
}

/// One use of a value: the node that reads it and the input position.
public struct Use {
  /// The reading node. (`unowned(unsafe)`: uses are removed before their node is destroyed,
  /// and the reference-counted `unowned` costs showed up in every pass.)
  public unowned(unsafe) let user: Node
  /// The input index at which `user` reads the value.
  public let index: Int
}

/// An SSA value: a node output or a block input.
public final class Value: CustomStringConvertible {
  /// Unique within the graph; used for printing values with no name.
  public let id: Int
  /// The static type.
  public var type: TorchType
  /// The name given in source (`x`), before uniquing; nil for temporaries.
  public var debugName: String?
  /// The defining node (a `prim::Param` for block inputs).
  public internal(set) unowned(unsafe) var node: Node
  /// Position among the defining node's outputs.
  public internal(set) var offset: Int
  /// Every (node, input index) that reads this value.
  public internal(set) var uses: [Use] = []

  init(id: Int, type: TorchType, node: Node, offset: Int) {
    self.id = id
    self.type = type
    self.node = node
    self.offset = offset
  }

  /// True when something reads this value.
  public var hasUses: Bool { !uses.isEmpty }

  /// The graph this value belongs to.
  public var graph: Graph { node.graph }

  /// For a value defined by `prim::Constant`, its payload.
  public var constantValue: IValue? {
    node.kind == .constant ? node.constantValue : nil
  }

  /// Replaces every use of this value with `other`.
  ///
  /// Given `%y = aten::relu(%x)` and `%z = aten::add(%y, %y, %one)`, calling
  /// `y.replaceAllUses(with: x)` leaves `%z = aten::add(%x, %x, %one)` and `%y` unused.
  public func replaceAllUses(with other: Value) {
    precondition(other !== self, "replacing a value with itself")
    for use in uses {
      use.user.setInputWithoutUseUpdate(use.index, other)
      other.uses.append(use)
    }
    uses = []
  }

  /// Replaces the uses of this value that come after `node` in program order.
  public func replaceUsesAfter(_ node: Node, with other: Value) {
    let (after, before) = uses.partitionedBy { node.isBefore($0.user) }
    uses = before
    for use in after {
      use.user.setInputWithoutUseUpdate(use.index, other)
      other.uses.append(use)
    }
  }

  public var description: String { "%" + (debugName ?? String(id)) }
}

extension Array {
  fileprivate func partitionedBy(_ predicate: (Element) -> Bool) -> ([Element], [Element]) {
    var yes: [Element] = []
    var no: [Element] = []
    for element in self {
      if predicate(element) { yes.append(element) } else { no.append(element) }
    }
    return (yes, no)
  }
}

/// A named attribute of a node (`value` of a constant, `name` of an attribute access).
public enum NodeAttribute {
  case value(IValue)
  case string(String)
  case strings([String])
  case types([TorchType])
  case int(Int)
}

/// An operation in a block.
public final class Node {
  /// The op name, for example `aten::conv2d` or `prim::If`.
  public var kind: OpName
  /// Operands, in order.
  public private(set) var inputs: [Value] = []
  /// Results, in order.
  public private(set) var outputs: [Value] = []
  /// Sub-blocks (`prim::If`: then, else; `prim::Loop`: body).
  public private(set) var blocks: [Block] = []
  /// Named attributes, in insertion order.
  public var attributes: [(name: String, value: NodeAttribute)] = []
  /// The operator overload this node calls, when known.
  public var schema: OpSchema?
  /// Where the node came from in model source.
  public var sourceLocation: SourceLocation?
  /// The block holding this node; nil once destroyed or before insertion.
  public internal(set) unowned(unsafe) var owningBlock: Block?
  /// The graph this node belongs to.
  public unowned(unsafe) let graph: Graph

  var next: Node?
  unowned(unsafe) var previous: Node?

  init(graph: Graph, kind: OpName) {
    self.graph = graph
    self.kind = kind
  }

  // MARK: - Attributes

  /// The attribute named `name`.
  public func attribute(_ name: String) -> NodeAttribute? {
    attributes.first { $0.name == name }?.value
  }

  /// Sets (or replaces) an attribute.
  public func setAttribute(_ name: String, _ value: NodeAttribute) {
    if let index = attributes.firstIndex(where: { $0.name == name }) {
      attributes[index].value = value
    } else {
      attributes.append((name, value))
    }
  }

  /// The string attribute `name` (for example a `prim::GetAttr`'s attribute name).
  public func stringAttribute(_ name: String) -> String? {
    if case .string(let text) = attribute(name) { return text }
    return nil
  }

  /// The payload of a `prim::Constant` (None when it has no `value` attribute).
  public var constantValue: IValue {
    if case .value(let value) = attribute("value") { return value }
    return .none
  }

  /// The `name` attribute of `prim::GetAttr`, `prim::SetAttr`, `prim::CallMethod`.
  public var name: String? { stringAttribute("name") }

  // MARK: - Inputs and outputs

  /// Appends an input.
  @discardableResult
  public func addInput(_ value: Value) -> Value {
    value.uses.append(Use(user: self, index: inputs.count))
    inputs.append(value)
    return value
  }

  /// Inserts an input at `index`, shifting the later ones.
  public func insertInput(_ value: Value, at index: Int) {
    for later in inputs[index...] { later.uses.removeAll { $0.user === self } }
    inputs.insert(value, at: index)
    for position in index..<inputs.count {
      inputs[position].uses.append(Use(user: self, index: position))
    }
  }

  /// Replaces input `index` with `value`.
  public func replaceInput(_ index: Int, with value: Value) {
    let old = inputs[index]
    if let useIndex = old.uses.firstIndex(where: { $0.user === self && $0.index == index }) {
      old.uses.remove(at: useIndex)
    }
    inputs[index] = value
    value.uses.append(Use(user: self, index: index))
  }

  /// Replaces every occurrence of `old` among the inputs with `new`.
  public func replaceInputs(_ old: Value, with new: Value) {
    for index in inputs.indices where inputs[index] === old {
      replaceInput(index, with: new)
    }
  }

  func setInputWithoutUseUpdate(_ index: Int, _ value: Value) {
    inputs[index] = value
  }

  /// Sets all inputs of a node that has none; the caller has recorded their uses.
  func setInputsWithoutUseUpdate(_ values: [Value]) {
    inputs = values
  }

  /// Sets all outputs of a node that has none, created for it with matching offsets.
  func setOutputsWithoutUseUpdate(_ values: [Value]) {
    outputs = values
  }

  /// Removes input `index`.
  public func removeInput(_ index: Int) {
    for later in inputs[index...] { later.uses.removeAll { $0.user === self } }
    inputs.remove(at: index)
    for position in index..<inputs.count {
      inputs[position].uses.append(Use(user: self, index: position))
    }
  }

  /// Removes all inputs.
  public func removeAllInputs() {
    for value in inputs { value.uses.removeAll { $0.user === self } }
    inputs = []
  }

  /// Appends a new output of `type`.
  @discardableResult
  public func addOutput(_ type: TorchType, name: String? = nil) -> Value {
    let value = Value(id: graph.makeValueID(), type: type, node: self, offset: outputs.count)
    value.debugName = name
    outputs.append(value)
    return value
  }

  /// Inserts a new output at `index`.
  @discardableResult
  public func insertOutput(at index: Int, _ type: TorchType) -> Value {
    let value = Value(id: graph.makeValueID(), type: type, node: self, offset: index)
    outputs.insert(value, at: index)
    for position in index..<outputs.count { outputs[position].offset = position }
    return value
  }

  /// Removes output `index`, which must have no uses.
  public func removeOutput(_ index: Int) {
    precondition(!outputs[index].hasUses, "removing an output that is still used")
    outputs.remove(at: index)
    for position in index..<outputs.count { outputs[position].offset = position }
  }

  /// The only output; the node must have exactly one.
  public var output: Value {
    precondition(outputs.count == 1, "\(kind) has \(outputs.count) outputs, not 1")
    return outputs[0]
  }

  // MARK: - Blocks

  /// Appends a new empty sub-block.
  @discardableResult
  public func addBlock() -> Block {
    let block = Block(graph: graph, owningNode: self)
    blocks.append(block)
    return block
  }

  /// Removes sub-block `index`, destroying its nodes.
  public func removeBlock(_ index: Int) {
    blocks[index].destroyContents()
    blocks.remove(at: index)
  }

  // MARK: - Position

  /// The next node in the block (the block's return node follows the last).
  public var nextNode: Node? { next }

  /// The previous node in the block (the param node precedes the first).
  public var previousNode: Node? { previous }

  /// True when this node is in a block.
  public var isInserted: Bool { owningBlock != nil }

  /// True when this node comes before `other` in program order (`other` may be nested deeper).
  public func isBefore(_ other: Node) -> Bool {
    // Lift `other` to this node's block, then compare positions.
    var candidate: Node? = other
    while let current = candidate, current.owningBlock !== owningBlock {
      candidate = current.owningBlock?.owningNode
    }
    guard let sibling = candidate else { return false }
    if sibling === self { return self !== other }
    return owningBlock!.position(of: self) < owningBlock!.position(of: sibling)
  }

  /// Inserts this (detached) node before `other`.
  public func insert(before other: Node) {
    precondition(owningBlock == nil, "node is already in a block")
    let block = other.owningBlock!
    let previous = other.previous!
    previous.next = self
    self.previous = previous
    self.next = other
    other.previous = self
    owningBlock = block
    block.invalidatePositions()
  }

  /// Inserts this (detached) node after `other`.
  public func insert(after other: Node) {
    insert(before: other.next!)
  }

  /// Moves this node before `other`.
  public func move(before other: Node) {
    detach()
    insert(before: other)
  }

  /// Moves this node after `other`.
  public func move(after other: Node) {
    detach()
    insert(after: other)
  }

  func detach() {
    guard let block = owningBlock else { return }
    previous?.next = next
    next?.previous = previous
    next = nil
    previous = nil
    owningBlock = nil
    block.invalidatePositions()
  }

  /// Removes this node from its block and drops its inputs and sub-blocks.
  ///
  /// Its outputs must have no uses left.
  public func destroy() {
    for output in outputs {
      precondition(!output.hasUses, "destroying \(kind) whose output \(output) is still used")
    }
    for block in blocks { block.destroyContents() }
    blocks = []
    removeAllInputs()
    detach()
  }

  /// The innermost enclosing node of a given kind, or nil.
  public func enclosingNode(where predicate: (Node) -> Bool) -> Node? {
    var current = owningBlock?.owningNode
    while let node = current {
      if predicate(node) { return node }
      current = node.owningBlock?.owningNode
    }
    return nil
  }
}

/// A list of nodes with inputs and outputs: a graph's body, a branch or a loop body.
public final class Block {
  /// The graph owning this block.
  public unowned(unsafe) let graph: Graph
  /// The node owning this block, nil for a graph's top block.
  public unowned(unsafe) let owningNode: Node?
  /// Defines the block inputs as its outputs.
  public let paramNode: Node
  /// Reads the block outputs as its inputs.
  public let returnNode: Node
  private var positions: [ObjectIdentifier: Int]?

  init(graph: Graph, owningNode: Node?) {
    self.graph = graph
    self.owningNode = owningNode
    paramNode = Node(graph: graph, kind: .param)
    returnNode = Node(graph: graph, kind: .return)
    paramNode.next = returnNode
    returnNode.previous = paramNode
    paramNode.owningBlock = self
    returnNode.owningBlock = self
  }

  deinit {
    // Unlink iteratively: releasing a long chain of `next` references recursively could
    // overflow a thread's stack.
    var current = paramNode.next
    paramNode.next = nil
    while let node = current {
      current = node.next
      node.next = nil
    }
  }

  /// The block inputs.
  public var inputs: [Value] { paramNode.outputs }

  /// The block outputs.
  public var outputs: [Value] { returnNode.inputs }

  /// Adds a block input.
  @discardableResult
  public func addInput(_ type: TorchType, name: String? = nil) -> Value {
    paramNode.addOutput(type, name: name)
  }

  /// Inserts a block input at `index`.
  @discardableResult
  public func insertInput(at index: Int, _ type: TorchType, name: String? = nil) -> Value {
    let value = paramNode.insertOutput(at: index, type)
    value.debugName = name
    return value
  }

  /// Removes block input `index`, which must be unused.
  public func removeInput(_ index: Int) {
    paramNode.removeOutput(index)
  }

  /// Adds a block output.
  public func addOutput(_ value: Value) {
    returnNode.addInput(value)
  }

  /// Removes block output `index`.
  public func removeOutput(_ index: Int) {
    returnNode.removeInput(index)
  }

  /// The nodes in order, excluding the param and return nodes. A snapshot: safe to mutate while
  /// iterating.
  public var nodes: [Node] {
    // Counted first, so that the snapshot is built in one allocation.
    var count = 0
    var current = paramNode.next
    while let node = current, node !== returnNode {
      count += 1
      current = node.next
    }
    var result: [Node] = []
    result.reserveCapacity(count)
    current = paramNode.next
    while let node = current, node !== returnNode {
      result.append(node)
      current = node.next
    }
    return result
  }

  /// The first node, or the return node when empty.
  public var firstNode: Node { paramNode.next! }

  /// True when the block holds no nodes.
  public var isEmpty: Bool { paramNode.next === returnNode }

  /// Appends a detached node at the end of the block.
  @discardableResult
  public func append(_ node: Node) -> Node {
    node.insert(before: returnNode)
    return node
  }

  /// Prepends a detached node at the start of the block.
  @discardableResult
  public func prepend(_ node: Node) -> Node {
    node.insert(after: paramNode)
    return node
  }

  func invalidatePositions() {
    positions = nil
  }

  func position(of node: Node) -> Int {
    if positions == nil {
      var table: [ObjectIdentifier: Int] = [:]
      var index = 0
      var current: Node? = paramNode
      while let node = current {
        table[ObjectIdentifier(node)] = index
        index += 1
        current = node.next
      }
      positions = table
    }
    return positions![ObjectIdentifier(node)] ?? Int.max
  }

  /// Destroys every node, last to first, after dropping outside uses of their outputs.
  func destroyContents() {
    returnNode.removeAllInputs()
    for node in nodes.reversed() {
      for output in node.outputs { output.uses = [] }
      node.destroy()
    }
  }
}

/// A function body: a top-level block whose inputs are the arguments and outputs the results.
public final class Graph {
  /// The top-level block.
  public private(set) var block: Block! = nil
  private var nextValueID = 0

  /// An empty graph.
  public init() {
    block = Block(graph: self, owningNode: nil)
  }

  func makeValueID() -> Int {
    defer { nextValueID += 1 }
    return nextValueID
  }

  /// One more than the largest value id handed out: value ids index arrays of this size.
  public var valueIDBound: Int { nextValueID }

  /// The graph inputs.
  public var inputs: [Value] { block.inputs }

  /// The graph outputs.
  public var outputs: [Value] { block.outputs }

  /// Adds a graph input.
  @discardableResult
  public func addInput(_ type: TorchType, name: String? = nil) -> Value {
    block.addInput(type, name: name)
  }

  /// Adds a graph output.
  public func addOutput(_ value: Value) {
    block.addOutput(value)
  }

  /// Creates a detached node; insert it with `Block.append` or `Node.insert(before:)`.
  public func create(
    _ kind: OpName, inputs: [Value] = [], outputTypes: [TorchType] = [], location: SourceLocation? = nil
  ) -> Node {
    let node = Node(graph: self, kind: kind)
    for input in inputs { node.addInput(input) }
    for type in outputTypes { node.addOutput(type) }
    node.sourceLocation = location
    return node
  }

  /// Creates a detached `prim::Constant` holding `value`, typed from the value unless given.
  public func createConstant(_ value: IValue, type: TorchType? = nil) -> Node {
    let node = Node(graph: self, kind: .constant)
    if !value.isNone || type == nil {
      node.setAttribute("value", .value(value))
    }
    if case .none = value {
      node.attributes = []
    }
    node.addOutput(type ?? Graph.constantType(of: value))
    return node
  }

  /// The type a constant of `value` gets.
  public static func constantType(of value: IValue) -> TorchType {
    switch value {
    case .list(let list): .list(list.elementType)
    case .function(let name): .function(name)
    default: value.staticType
    }
  }

  /// Visits every node of every block, depth first, in program order.
  public func forEachNode(_ body: (Node) throws -> Void) rethrows {
    try Graph.forEachNode(in: block, body)
  }

  /// Visits every node of `block` and its sub-blocks in program order.
  public static func forEachNode(in block: Block, _ body: (Node) throws -> Void) rethrows {
    for node in block.nodes {
      try body(node)
      for sub in node.blocks { try forEachNode(in: sub, body) }
    }
  }

  /// Every node, depth first, in program order.
  public var allNodes: [Node] {
    var result: [Node] = []
    forEachNode { result.append($0) }
    return result
  }
}
