import TensorCore
import TorchIR

// Note [Specialized leaf inlining]
// Freezing inlines every call into the preserved methods, then turns attributes into constants,
// then simplifies. Done literally, mobilenet_v2's forward grows to about 7,600 nodes, most of
// them the argument checks and `if self.training` branches of 52 BatchNorm2d and 52 Conv2d
// forwards, which constant propagation then deletes again: building and deleting them was most
// of `optimize`'s time.
//
// So a call to a *leaf* module (one whose method reaches no other module: Conv2d, BatchNorm2d,
// Linear, ...) inlines a body specialized once per (method structure, values of the scalar
// attributes it reads): its calls inlined, those attributes (ints, floats, bools, strings, None,
// and tuples of these) made constants, then peephole and constant propagation run on it, which
// drop the dead checks and branches. TorchScript gives every module configuration a mangled class
// of its own (a BatchNorm2d per feature count), but their method graphs are mostly identical, so
// bodies are keyed by a hash of the graph's structure and shared once a node-for-node comparison
// confirms a match: MobileNetV2's 205 leaf calls (both branches of each residual block call
// their layers) use 16 bodies, one for all its BatchNorm2d calls and 12 for its Conv2d
// configurations. Tensor and list
// attributes stay `prim::GetAttr`s, which the freeze then handles as before, and the whole
// clean-up pipeline still runs on the inlined graph, so the result is what freezing the fully
// inlined graph gives (byte for byte on every fixture's `optimize`, which the tests compare).
//
// What keeps this exact:
// - Only scalar attributes fold early, and a scalar changes only through `prim::SetAttr`. An
//   attribute name that any method of any class sets is never folded early, nor is any attribute
//   of a preserved module or a preserved attribute.
// - Freezing decides mutability on the inlined graph *before* simplification (PyTorch's order:
//   BatchNorm2d's `num_batches_tracked.add_(1)` sits in a `training` branch that is dead in eval
//   mode, yet keeps the attribute). So the attributes the unsimplified body may write are recorded
//   per specialization and reported for every instance it is inlined for.
// - What the unsimplified body may do to its arguments and results (write them, make them share
//   memory: ReLU6's `inplace` branch writes its input and returns it) is recorded per body and,
//   at each call, added to the freeze's whole-graph alias analysis on the call's own arguments
//   and results, so a module attribute passed in is found mutable exactly as before.
// - A body whose arguments or results may share memory with one of its own attributes, or that
//   sets an attribute, is not specialized: such calls inline the plain body as before.

/// Builds and caches specialized bodies for calls to leaf modules (Note [Specialized leaf inlining]).
final class LeafSpecializer: @unchecked Sendable {
  /// A specialized body and the attributes (of `self`) its unsimplified form may write.
  struct Body {
    let graph: Graph
    let writtenAttributes: [String]
    /// What the unsimplified body does to its arguments and results, as positions in
    /// `arguments + results` (self excluded): which may be written, and which may alias.
    let writtenValues: [Int]
    let aliasedValues: [(Int, Int)]
  }

  /// A specialized body for one call, and what to record once it is inlined.
  struct Call {
    let graph: Graph
    /// Records the body's effect on the call's arguments and on the values that replaced its
    /// results, for the freeze's whole-graph alias analysis of `target`.
    let finish: (_ target: Graph, _ arguments: [Value], _ results: [Value]) -> Void
  }

  private let module: ScriptModule
  /// Whether an attribute of an object may be folded early (not preserved, never set).
  private let isFoldable: (ScriptObject, String) -> Bool
  /// Bodies by key; each remembers the method graph it was built from, and a graph other than
  /// that one shares it only once `sameStructure` has confirmed the two match (the key's
  /// structure is a hash).
  private var bodies: [CacheKey: [(source: Graph, body: Body?)]] = [:]
  private var comparedGraphs: [GraphPair: Bool] = [:]
  private var leafGraphs: [ObjectIdentifier: Bool] = [:]
  private var structures: [ObjectIdentifier: (hash: Int, reads: [String])] = [:]
  /// (object, attribute) pairs written by the bodies inlined so far.
  private(set) var written: [(ScriptObject, String)] = []
  /// Per graph inlined into: values its specialized calls' unsimplified bodies may write or
  /// join, which the freeze's alias analysis of that graph must count (Note [Specialized leaf
  /// inlining]).
  private(set) var argumentEffects: [ObjectIdentifier: (joined: [(Value, Value)], written: [Value])] = [:]

  init(module: ScriptModule, isFoldable: @escaping (ScriptObject, String) -> Bool) {
    self.module = module
    self.isFoldable = isFoldable
  }

  /// The specialized body for calling `method` (with graph `graph`) on `object`, or nil when
  /// the call must inline the plain body. Records the attributes it writes for `object`.
  func body(for graph: Graph, method: String, on object: ScriptObject) throws -> Call? {
    guard isLeaf(graph, selfValue: graph.inputs.first) else { return nil }
    let key = cacheKey(graph, object)
    let body: Body?
    if let cached = bodies[key, default: []].first(where: { sameStructure($0.source, graph) }) {
      body = cached.body
    } else {
      body = try build(graph, method: method, object: object)
      bodies[key, default: []].append((graph, body))
    }
    guard let body else { return nil }
    for name in body.writtenAttributes { written.append((object, name)) }
    guard !body.writtenValues.isEmpty || !body.aliasedValues.isEmpty else {
      return Call(graph: body.graph) { _, _, _ in }
    }
    return Call(graph: body.graph) { [self] target, arguments, results in
      // Self is argument 0 and not among the body's positions.
      let values = Array(arguments.dropFirst()) + results
      var effects = argumentEffects[ObjectIdentifier(target)] ?? ([], [])
      for position in body.writtenValues { effects.written.append(values[position]) }
      for (a, b) in body.aliasedValues { effects.joined.append((values[a], values[b])) }
      argumentEffects[ObjectIdentifier(target)] = effects
    }
  }

  // MARK: - Leaves

  /// True when `graph`, and everything it calls, touches no object but `self`: no attribute
  /// holds an object, and methods are only called on `self`.
  private func isLeaf(_ graph: Graph, selfValue: Value?) -> Bool {
    if let known = leafGraphs[ObjectIdentifier(graph)] { return known }
    leafGraphs[ObjectIdentifier(graph)] = false  // Calls back into itself are not leaves.
    var leaf = true
    graph.forEachNode { node in
      guard leaf else { return }
      switch node.kind {
      case .getAttr:
        if node.inputs[0] !== selfValue || !LeafSpecializer.isPlainType(node.output.type) { leaf = false }
      case .setAttr:
        leaf = false
      case .callMethod:
        guard node.inputs[0] === selfValue, case .class(let className) = node.inputs[0].type,
          let name = node.name, let method = module.unit.classType(className)?.method(name), !method.isNative,
          let callee = method.graph, isLeaf(callee, selfValue: callee.inputs.first)
        else {
          leaf = false
          return
        }
      case .callFunction:
        guard case .function(let name) = node.inputs[0].type, let callee = module.unit.function(name)?.graph,
          isLeaf(callee, selfValue: nil)
        else {
          leaf = false
          return
        }
      default:
        // Objects reaching the body any other way (created, or passed as arguments) stay out.
        for output in node.outputs where !LeafSpecializer.isPlainType(output.type) { leaf = false }
      }
    }
    leafGraphs[ObjectIdentifier(graph)] = leaf
    return leaf
  }

  /// Types that hold no object: tensors, scalars and containers of them.
  private static func isPlainType(_ type: TorchType) -> Bool {
    switch type {
    case .tensor, .int, .float, .bool, .string, .none, .device, .number, .complex, .enumInt, .function: return true
    case .optional(let wrapped): return isPlainType(wrapped)
    case .list(let element): return isPlainType(element)
    case .tuple(let elements), .union(let elements): return elements.allSatisfy(isPlainType)
    case .dict(let key, let value): return isPlainType(key) && isPlainType(value)
    default: return false
    }
  }

  // MARK: - Specialization

  /// True for values that cannot change in place: None, bools, ints, floats, strings, devices,
  /// and tuples of these.
  private static func isScalar(_ value: IValue) -> Bool {
    switch value {
    case .none, .bool, .int, .double, .string, .device: return true
    case .tuple(let items): return items.allSatisfy(isScalar)
    default: return false
    }
  }

  /// An attribute value as part of a cache key.
  indirect enum ScalarKey: Hashable {
    case none, bool(Bool), int(Int), double(UInt64), string(String), device(String), tuple([ScalarKey])
    /// The attribute stays a `prim::GetAttr` in the body.
    case notFolded

    init(_ value: IValue) {
      switch value {
      case .none: self = .none
      case .bool(let x): self = .bool(x)
      case .int(let x): self = .int(x)
      case .double(let x): self = .double(x.bitPattern)
      case .string(let x): self = .string(x)
      case .device(let x): self = .device(x)
      case .tuple(let items): self = .tuple(items.map(ScalarKey.init))
      default: self = .notFolded
      }
    }
  }

  /// Identifies a body: the method's structure and the values of the attributes it folds.
  struct CacheKey: Hashable {
    let structure: Int
    let values: [ScalarKey]
  }

  /// The method's structure and the values of the attributes it reads that fold: instances
  /// agreeing on them get the same body.
  private func cacheKey(_ graph: Graph, _ object: ScriptObject) -> CacheKey {
    let shape = structure(of: graph)
    let values = shape.reads.map { name -> ScalarKey in
      guard let value = object.attribute(name), LeafSpecializer.isScalar(value), isFoldable(object, name) else {
        return .notFolded
      }
      return ScalarKey(value)
    }
    return CacheKey(structure: shape.hash, values: values)
  }

  /// A fingerprint of what `graph` computes, calls on `self` included: TorchScript gives every
  /// module configuration its own mangled class (a BatchNorm2d per feature count), with a
  /// method graph of its own, but their bodies are mostly identical and can share one
  /// specialization. Values are numbered by definition order; node kinds, schemas, attributes,
  /// output types and uses all count.
  /// Also lists the attributes of `self` it reads, calls on `self` included.
  private func structure(of graph: Graph) -> (hash: Int, reads: [String]) {
    if let known = structures[ObjectIdentifier(graph)] { return known }
    var numbers: [Int: Int] = [:]
    var hasher = Hasher()
    var reads: [String] = []
    func visit(_ block: Block) {
      for input in block.inputs { numbers[input.id] = numbers.count }
      hasher.combine(block.inputs.count)
      for node in block.nodes {
        hasher.combine(node.kind)
        hasher.combine(node.schema.map(ObjectIdentifier.init))
        for input in node.inputs { hasher.combine(numbers[input.id] ?? -1 - input.id) }
        for attribute in node.attributes {
          hasher.combine(attribute.name)
          if case .value(let value) = attribute.value {
            ConstantKey.digest(value, into: &hasher, depth: 0)
          } else {
            hasher.combine(GraphPrinterAttribute.text(attribute.value))
          }
        }
        if node.kind == .callMethod, node.inputs.first === graph.inputs.first,
          case .class(let className) = node.inputs[0].type, let name = node.name,
          let callee = module.unit.classType(className)?.method(name)?.graph
        {
          let inner = structure(of: callee)
          hasher.combine(inner.hash)
          for name in inner.reads where !reads.contains(name) { reads.append(name) }
        }
        if node.kind == .getAttr, node.inputs.first === graph.inputs.first, let name = node.name, !reads.contains(name) {
          reads.append(name)
        }
        for output in node.outputs {
          numbers[output.id] = numbers.count
          if case .class = output.type { hasher.combine("object") } else { hasher.combine(output.type) }
        }
        hasher.combine(node.blocks.count)
        for sub in node.blocks { visit(sub) }
      }
      for output in block.outputs { hasher.combine(numbers[output.id] ?? -1) }
    }
    visit(graph.block)
    let shape = (hash: hasher.finalize(), reads: reads)
    structures[ObjectIdentifier(graph)] = shape
    return shape
  }

  /// What runs on a body once its scalars are constants: enough to drop the dead branches and
  /// checks. (The freeze runs its whole clean-up pipeline on the inlined graph afterwards.)
  static let pipeline: [GraphPass] = [peephole, propagateConstants, peephole, propagateConstants]

  struct GraphPair: Hashable {
    let first: ObjectIdentifier
    let second: ObjectIdentifier
  }

  /// True when `a` and `b` compute the same thing, node for node: what `structure(of:)` hashes,
  /// compared exactly (memoized per pair of graphs).
  func sameStructure(_ a: Graph, _ b: Graph) -> Bool {
    if a === b { return true }
    let pair = GraphPair(first: ObjectIdentifier(a), second: ObjectIdentifier(b))
    if let known = comparedGraphs[pair] { return known }
    comparedGraphs[pair] = false  // A graph calling itself is never a leaf anyway.
    var numbers: ([Int: Int], [Int: Int]) = ([:], [:])
    var next = 0
    func pairUp(_ x: [Value], _ y: [Value]) -> Bool {
      guard x.count == y.count else { return false }
      for (u, v) in zip(x, y) {
        numbers.0[u.id] = next
        numbers.1[v.id] = next
        next += 1
      }
      return true
    }
    func sameUses(_ x: [Value], _ y: [Value]) -> Bool {
      guard x.count == y.count else { return false }
      for (u, v) in zip(x, y) {
        guard let m = numbers.0[u.id], let n = numbers.1[v.id], m == n else { return false }
      }
      return true
    }
    func sameAttributes(_ x: Node, _ y: Node) -> Bool {
      guard x.attributes.count == y.attributes.count else { return false }
      for (u, v) in zip(x.attributes, y.attributes) {
        guard u.name == v.name else { return false }
        switch (u.value, v.value) {
        case (.value(let p), .value(let q)):
          guard IValueEquality.equal(p, q), Graph.constantType(of: p) == Graph.constantType(of: q) else { return false }
        default:
          guard GraphPrinterAttribute.text(u.value) == GraphPrinterAttribute.text(v.value) else { return false }
        }
      }
      return true
    }
    func sameTypes(_ x: [Value], _ y: [Value]) -> Bool {
      for (u, v) in zip(x, y) {
        switch (u.type, v.type) {
        case (.class, .class): continue
        default: if u.type != v.type { return false }
        }
      }
      return true
    }
    func sameBlocks(_ x: Block, _ y: Block) -> Bool {
      guard pairUp(x.inputs, y.inputs) else { return false }
      var u = x.firstNode
      var v = y.firstNode
      while u !== x.returnNode, v !== y.returnNode {
        guard u.kind == v.kind, u.schema === v.schema, sameUses(u.inputs, v.inputs), sameAttributes(u, v),
          u.outputs.count == v.outputs.count, sameTypes(u.outputs, v.outputs), u.blocks.count == v.blocks.count
        else { return false }
        if u.kind == .callMethod {
          let onSelf = (u.inputs.first === a.inputs.first, v.inputs.first === b.inputs.first)
          guard onSelf.0 == onSelf.1 else { return false }
          if onSelf.0 {
            guard case .class(let classA) = u.inputs[0].type, case .class(let classB) = v.inputs[0].type,
              let name = u.name, let calleeA = module.unit.classType(classA)?.method(name)?.graph,
              let calleeB = module.unit.classType(classB)?.method(name)?.graph, sameStructure(calleeA, calleeB)
            else { return false }
          }
        }
        _ = pairUp(u.outputs, v.outputs)
        for (p, q) in zip(u.blocks, v.blocks) where !sameBlocks(p, q) { return false }
        u = u.nextNode!
        v = v.nextNode!
      }
      return u === x.returnNode && v === y.returnNode && sameUses(x.outputs, y.outputs)
    }
    let same = sameBlocks(a.block, b.block)
    comparedGraphs[pair] = same
    return same
  }

  private func build(_ method: Graph, method name: String, object: ScriptObject) throws -> Body? {
    let graph = method.clone()
    _ = try inlineCalls.run(on: graph, function: name, unit: module.unit)
    guard let selfValue = graph.inputs.first else { return nil }
    // Mutability, decided on the unsimplified body as the freeze decides it on the whole graph.
    let aliases = AliasAnalysis(graph)
    let outputs = graph.outputs
    // The arguments and results, as the caller will see them: what the body may do to them is
    // kept for the whole graph's analysis (an `inplace` branch writes the argument, and its
    // result aliases it, even where that branch is dead here).
    let boundary = Array(graph.inputs.dropFirst()) + outputs
    var writtenValues: [Int] = []
    var aliasedValues: [(Int, Int)] = []
    for (position, value) in boundary.enumerated() {
      if aliases.mayBeWritten(value) { writtenValues.append(position) }
      for other in boundary.indices where other > position && aliases.mayAlias(value, boundary[other]) {
        aliasedValues.append((position, other))
      }
    }
    var written: [String] = []
    var reads: [Node] = []
    var plain = true
    graph.forEachNode { node in
      switch node.kind {
      case .setAttr, .callMethod, .callFunction:
        plain = false
      case .getAttr:
        guard node.inputs[0] === selfValue, let attribute = node.name else {
          plain = false
          return
        }
        // An argument or result that may share memory with an attribute (even only through code
        // simplification removes) leaves the body's aliasing to the whole graph.
        for value in boundary where aliases.mayAlias(node.output, value) { plain = false }
        if aliases.mayBeWritten(node.output) {
          if !written.contains(attribute) { written.append(attribute) }
        } else {
          reads.append(node)
        }
      default:
        break
      }
    }
    guard plain else { return nil }
    for node in reads {
      guard let attribute = node.name, !written.contains(attribute), isFoldable(object, attribute),
        let value = object.attribute(attribute), LeafSpecializer.isScalar(value)
      else { continue }
      let constant = graph.createConstant(value, type: node.output.type)
      constant.sourceLocation = node.sourceLocation
      constant.insert(before: node)
      node.output.replaceAllUses(with: constant.output)
      node.destroy()
    }
    var options = PassOptions()
    options.foldCustomClasses = false
    for pass in LeafSpecializer.pipeline {
      _ = try pass.run(on: graph, function: name, unit: module.unit, options: options)
    }
    return Body(graph: graph, writtenAttributes: written, writtenValues: writtenValues, aliasedValues: aliasedValues)
  }
}
