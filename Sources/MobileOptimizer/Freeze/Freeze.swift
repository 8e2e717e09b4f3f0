import Foundation
import TensorCore
import TorchIR
import TorchRuntime

/// Errors `freeze` reports, with PyTorch's messages where it has one.
public enum FreezeError: Error, CustomStringConvertible {
  /// The module is in training mode.
  case trainingMode
  /// `forward` returns the module itself.
  case returnsSelf
  /// A preserved name is neither an attribute nor a method.
  case unknownName(String)
  /// An interface attribute whose concrete module is unknown.
  case interfaceAttribute(String)
  /// Inlining did not finish: the code calls itself.
  case recursiveCalls(function: String)

  public var description: String {
    switch self {
    case .trainingMode:
      "Freezing is currently only implemented for modules in eval mode. Please call .eval() on your module before freezing."
    case .returnsSelf: "attempted to freeze a module that return itself"
    case .unknownName(let name): "Unknown name: \(name)"
    case .interfaceAttribute(let name): "failed to freeze interface attribute '\(name)'"
    case .recursiveCalls(let function): "cannot inline the calls in '\(function)': the code calls itself"
    }
  }
}

/// What `freeze` did: the passes it ran, per method.
public struct FreezeReport {
  /// Statistics of every pass run, in order.
  public var passes: [PassStatistics] = []
  /// Attributes kept because a preserved method mutates them (`path.name`).
  public var mutableAttributes: [String] = []
}

extension ScriptModule {
  /// `torch.jit.freeze`: a copy of this module where parameters and attributes that nothing
  /// mutates are constants in the code, calls are inlined, and everything the preserved methods
  /// do not need is gone. This module is not changed.
  ///
  /// - Parameters:
  ///   - preservedAttributes: names (dotted paths allowed) of attributes and methods to keep;
  ///     `forward` is always kept.
  ///   - optimizeNumerics: also run the frozen-graph optimizations (conv/linear batch-norm folding,
  ///     conv add/sub/mul/div folding, dropout removal), as `torch.jit.freeze` does by default.
  public func frozen(preservedAttributes: [String] = [], optimizeNumerics: Bool = true) throws -> (
    ScriptModule, FreezeReport
  ) {
    try frozen(preservedAttributes: preservedAttributes, optimizeNumerics: optimizeNumerics, specializeLeaves: true)
  }

  /// `frozen`, with leaf specialization (Note [Specialized leaf inlining]) switchable, so that
  /// tests can compare it against inlining the plain bodies.
  func frozen(preservedAttributes: [String], optimizeNumerics: Bool, specializeLeaves: Bool) throws -> (
    ScriptModule, FreezeReport
  ) {
    if root.attribute("training")?.bool == true { throw FreezeError.trainingMode }
    try requireCompleteState()
    return try clone().freezeInPlace(
      preservedAttributes: preservedAttributes, optimizeNumerics: optimizeNumerics, specializeLeaves: specializeLeaves)
  }

  /// `frozen`'s work, done on this module itself: for callers that own a private copy already
  /// (`optimizedForMobile`), which saves a second deep copy. The caller has checked what `frozen`
  /// checks (eval mode, complete state) on the module it copied.
  func freezeInPlace(preservedAttributes: [String], optimizeNumerics: Bool, specializeLeaves: Bool = true) throws -> (
    ScriptModule, FreezeReport
  ) {
    var freezer = ModuleFreezer(module: self, preserved: preservedAttributes)
    freezer.specializeLeaves = specializeLeaves
    try freezer.run()
    if optimizeNumerics {
      let methods = ["forward"] + preservedAttributes.filter { rootClass?.method($0) != nil }
      freezer.report.passes += try runFrozenOptimizations(methods: methods)
    }
    invalidateCompiledPlans()
    return (self, freezer.report)
  }

  /// Runs `passes` on `graph`, recording statistics, verifying after each pass when asked.
  func runPasses(_ passes: [GraphPass], on graph: Graph, function: String, options: PassOptions = PassOptions())
    throws -> [PassStatistics]
  {
    var statistics: [PassStatistics] = []
    for pass in passes {
      statistics.append(try pass.run(on: graph, function: function, unit: unit, options: options))
      if verifyAfterEachPass { try graph.verify() }
    }
    return statistics
  }
}

/// The steps of `freeze_module` (SPEC §4.2–4.3).
struct ModuleFreezer {
  let module: ScriptModule
  let preservedNames: [String]
  var report = FreezeReport()
  /// Inline calls to leaf modules through shared specialized bodies (Note [Specialized leaf inlining]).
  var specializeLeaves = true

  /// (object, attribute) pairs kept as attributes.
  private var preservedAttributes = Set<AttributeKey>()
  /// Submodules kept whole.
  private var preservedModules = Set<ObjectIdentifier>()
  /// Methods kept: (object, method name).
  private var preservedMethods: [(ScriptObject, String)] = []
  private var mutableAttributes = Set<AttributeKey>()
  private var mutatedStorages = Set<ObjectIdentifier>()

  struct AttributeKey: Hashable {
    let object: ObjectIdentifier
    let name: String
  }

  init(module: ScriptModule, preserved: [String]) {
    self.module = module
    self.preservedNames = preserved
  }

  mutating func run() throws {
    try checkDoesNotReturnSelf()
    try resolvePreserved()
    // Inline every preserved method first: mutation analysis needs the whole call tree.
    let specializer = makeSpecializer()
    for (object, name) in preservedMethods {
      guard let graph = graph(of: object, name) else { continue }
      try resolveInterfaces(in: graph, object: object)
      let objects = ObjectResolver(graph: graph, root: object)
      let specializeLeaves = self.specializeLeaves
      let inline = inlineCallsPass { call, callee in
        guard specializeLeaves, let receiver = objects.object(call.inputs[0]), let method = call.name else { return nil }
        return try specializer.body(for: callee, method: method, on: receiver)
      }
      report.passes += try module.runPasses([inline], on: graph, function: name)
    }
    for (object, name) in specializer.written {
      markMutable(object, name)
    }
    for (object, name) in preservedMethods {
      guard let graph = graph(of: object, name) else { continue }
      let effects = specializer.argumentEffects[ObjectIdentifier(graph)] ?? ([], [])
      recordMutableAttributes(in: graph, object: object, joining: effects.joined, writing: effects.written)
    }
    report.mutableAttributes = describeMutable()
    for (object, name) in preservedMethods {
      guard let graph = graph(of: object, name) else { continue }
      propagateAttributes(in: graph, object: object)
      var options = PassOptions()
      options.foldCustomClasses = false
      report.passes += try module.runPasses(ModuleFreezer.cleanupPipeline, on: graph, function: name, options: options)
    }
    cleanUp()
  }

  /// `runOptimization(unroll_non_constant_loops=false, const_prop_user_classes=false)`, then
  /// `EliminateNoOps` and `LowerSimpleTuples` (SPEC §0.2, §4.3).
  static let cleanupPipeline: [GraphPass] = [
    eliminateDeadCode, eliminateCommonSubexpressions, peephole, propagateConstants, poolConstants,
    unrollConstantLoops, peephole, propagateConstants, eliminateCommonSubexpressions, eliminateNoOps,
    lowerSimpleTuples, poolConstants,
  ]

  private func graph(of object: ScriptObject, _ name: String) -> Graph? {
    module.unit.classType(object.typeName)?.method(name)?.graph
  }

  private func checkDoesNotReturnSelf() throws {
    guard let forward = module.rootClass?.method("forward") else { return }
    if forward.returnType == .class(module.root.typeName) { throw FreezeError.returnsSelf }
  }

  // MARK: - Preserved names

  private mutating func resolvePreserved() throws {
    if module.rootClass?.method("forward") != nil { preservedMethods.append((module.root, "forward")) }
    for name in preservedNames {
      var object = module.root
      let parts = name.split(separator: ".").map(String.init)
      for part in parts.dropLast() {
        guard case .object(let child) = object.attribute(part) ?? .none, module.isModule(child) else {
          throw FreezeError.unknownName(name)
        }
        // Modules on a dotted path are kept (their attribute holding the next one too).
        preservedAttributes.insert(AttributeKey(object: ObjectIdentifier(object), name: part))
        object = child
      }
      let last = parts.last ?? name
      if let value = object.attribute(last) {
        preservedAttributes.insert(AttributeKey(object: ObjectIdentifier(object), name: last))
        if case .object(let child) = value, module.isModule(child) { markPreservedModule(child) }
      } else if module.unit.classType(object.typeName)?.method(last) != nil {
        if !preservedMethods.contains(where: { $0.0 === object && $0.1 == last }) {
          preservedMethods.append((object, last))
        }
      } else {
        throw FreezeError.unknownName(name)
      }
    }
  }

  private mutating func markPreservedModule(_ object: ScriptObject) {
    guard preservedModules.insert(ObjectIdentifier(object)).inserted else { return }
    for (_, value) in object.attributes {
      if case .object(let child) = value, module.isModule(child) { markPreservedModule(child) }
    }
  }

  // MARK: - Object resolution

  /// Gives interface-typed attribute reads their concrete class, so calls on them inline.
  private func resolveInterfaces(in graph: Graph, object: ScriptObject) throws {
    var changed = true
    while changed {
      changed = false
      let objects = ObjectResolver(graph: graph, root: object)
      for node in graph.allNodes where node.kind == .getAttr {
        guard case .class(let className) = node.output.type, let classType = module.unit.classType(className),
          case .interface = classType.kind
        else { continue }
        guard let concrete = objects.object(node.output) else {
          throw FreezeError.interfaceAttribute(node.name ?? "")
        }
        node.output.type = .class(concrete.typeName)
        changed = true
      }
      if changed { _ = try inlineCalls.run(on: graph, unit: module.unit) }
    }
  }

  // MARK: - Leaf specialization

  /// The specializer for this freeze: an attribute folds early unless its module or the attribute
  /// is preserved, or some method anywhere sets an attribute of that name.
  private func makeSpecializer() -> LeafSpecializer {
    var setNames = Set<String>()
    func scan(_ graph: Graph?) {
      graph?.forEachNode { node in
        if node.kind == .setAttr, let name = node.name { setNames.insert(name) }
      }
    }
    for classType in module.unit.classes {
      for method in classType.methods { scan(method.graph) }
    }
    for function in module.unit.functions { scan(function.graph) }
    let preservedModules = self.preservedModules
    let preservedAttributes = self.preservedAttributes
    return LeafSpecializer(module: module) { object, name in
      !setNames.contains(name) && !preservedModules.contains(ObjectIdentifier(object))
        && !preservedAttributes.contains(AttributeKey(object: ObjectIdentifier(object), name: name))
    }
  }

  // MARK: - Mutation analysis

  private mutating func markMutable(_ owner: ScriptObject, _ name: String) {
    mutableAttributes.insert(AttributeKey(object: ObjectIdentifier(owner), name: name))
    if case .tensor(let tensor) = owner.attribute(name) ?? .none {
      mutatedStorages.insert(ObjectIdentifier(tensor.storage))
    }
  }

  private mutating func recordMutableAttributes(
    in graph: Graph, object: ScriptObject, joining: [(Value, Value)] = [], writing: [Value] = []
  ) {
    let aliases = AliasAnalysis(graph, joining: joining, writing: writing)
    let objects = ObjectResolver(graph: graph, root: object)
    graph.forEachNode { node in
      guard node.kind == .getAttr || node.kind == .setAttr, let name = node.name,
        let owner = objects.object(node.inputs[0])
      else { return }
      let key = AttributeKey(object: ObjectIdentifier(owner), name: name)
      let written = node.kind == .setAttr || aliases.mayBeWritten(node.outputs[0])
      guard written else { return }
      markMutable(owner, key.name)
    }
  }

  private func isMutable(_ owner: ScriptObject, _ name: String) -> Bool {
    if mutableAttributes.contains(AttributeKey(object: ObjectIdentifier(owner), name: name)) { return true }
    // Mutable values are tracked by identity: another attribute holding the same storage changes too.
    if case .tensor(let tensor) = owner.attribute(name) ?? .none {
      return mutatedStorages.contains(ObjectIdentifier(tensor.storage))
    }
    return false
  }

  private func describeMutable() -> [String] {
    var names: [String] = []
    for (path, object) in module.namedModules() {
      for (name, _) in object.attributes where mutableAttributes.contains(AttributeKey(object: ObjectIdentifier(object), name: name)) {
        names.append(path.isEmpty ? name : "\(path).\(name)")
      }
    }
    return names
  }

  // MARK: - Attribute propagation

  private func propagateAttributes(in graph: Graph, object: ScriptObject) {
    let paths = Dictionary(module.namedModules().map { (ObjectIdentifier($0.module), $0.path) }, uniquingKeysWith: { a, _ in a })
    let objects = ObjectResolver(graph: graph, root: object)
    for node in graph.allNodes where node.kind == .getAttr && node.isInserted {
      guard let name = node.name, let owner = objects.object(node.inputs[0]),
        let value = owner.attribute(name)
      else { continue }
      if case .object(let child) = value, module.isModule(child) { continue }
      if preservedModules.contains(ObjectIdentifier(owner)) { continue }
      if preservedAttributes.contains(AttributeKey(object: ObjectIdentifier(owner), name: name)) { continue }
      if isMutable(owner, name) { continue }
      guard let constant = ModuleFreezer.constantValue(value) else { continue }
      let path = paths[ObjectIdentifier(owner)].map { $0.isEmpty ? "self" : "self.\($0)" } ?? "self"
      let replacement = graph.createConstant(constant, type: node.output.type)
      replacement.sourceLocation = node.sourceLocation
      replacement.insert(before: node)
      replacement.output.debugName = "\(path).\(name)"
      node.output.replaceAllUses(with: replacement.output)
      node.destroy()
    }
  }

  /// The constant an attribute value becomes: tensors lose `requires_grad`; values that cannot
  /// be constants give nil.
  static func constantValue(_ value: IValue) -> IValue? {
    switch value {
    case .tensor(var tensor):
      tensor.requiresGrad = false
      return .tensor(tensor)
    case .list(let list):
      var items: [IValue] = []
      for item in list.elements {
        guard let converted = constantValue(item) else { return nil }
        items.append(converted)
      }
      return .list(ListValue(items, elementType: list.elementType))
    case .tuple(let elements):
      var items: [IValue] = []
      for item in elements {
        guard let converted = constantValue(item) else { return nil }
        items.append(converted)
      }
      return .tuple(items)
    case .dict: return nil
    default: return value
    }
  }

  // MARK: - Clean-up

  /// Drops attribute slots nothing reads any more and methods that are not preserved.
  private mutating func cleanUp() {
    var referenced = Set<AttributeKey>()
    for (object, name) in preservedMethods {
      guard let graph = graph(of: object, name) else { continue }
      let objects = ObjectResolver(graph: graph, root: object)
      graph.forEachNode { node in
        guard node.kind == .getAttr || node.kind == .setAttr, let attribute = node.name,
          let owner = objects.object(node.inputs[0])
        else { return }
        referenced.insert(AttributeKey(object: ObjectIdentifier(owner), name: attribute))
      }
    }
    let keptMethods = Dictionary(grouping: preservedMethods, by: { ObjectIdentifier($0.0) }).mapValues { $0.map(\.1) }
    var visitedTypes = Set<String>()
    var visitedObjects = Set<ObjectIdentifier>()
    // Instances of one class share its type: keep a slot when any instance needs it.
    var instances: [String: [ScriptObject]] = [:]
    func collect(_ object: ScriptObject) {
      guard visitedObjects.insert(ObjectIdentifier(object)).inserted else { return }
      instances[object.typeName, default: []].append(object)
      for (_, value) in object.attributes {
        if case .object(let child) = value, module.isModule(child) { collect(child) }
      }
    }
    collect(module.root)
    func clean(_ object: ScriptObject) {
      guard visitedTypes.insert(object.typeName).inserted, let classType = module.unit.classType(object.typeName) else {
        return
      }
      let objects = instances[object.typeName] ?? [object]
      if objects.contains(where: { preservedModules.contains(ObjectIdentifier($0)) }) { return }
      var kept: [String] = []
      for attribute in classType.attributes {
        let needed = objects.contains { instance in
          let key = AttributeKey(object: ObjectIdentifier(instance), name: attribute.name)
          return referenced.contains(key) || mutableAttributes.contains(key) || preservedAttributes.contains(key)
        }
        if needed { kept.append(attribute.name) }
      }
      for attribute in classType.attributes where !kept.contains(attribute.name) {
        classType.removeAttribute(attribute.name)
        for instance in objects { instance.removeAttribute(attribute.name) }
      }
      let methodsToKeep = Set(objects.flatMap { keptMethods[ObjectIdentifier($0)] ?? [] })
      for method in classType.methods where !methodsToKeep.contains(method.name) {
        classType.removeMethod(method.name)
      }
      for instance in objects {
        for (_, value) in instance.attributes {
          if case .object(let child) = value, module.isModule(child) { clean(child) }
        }
      }
    }
    clean(module.root)
  }
}

/// The object a module-typed value holds, following `prim::GetAttr` chains from the graph's
/// `self` input; memoized per value, since every attribute read in an inlined graph walks a chain
/// that others share. (A value's defining node never changes and ids are never reused, so
/// answers stay valid while passes edit the graph.)
final class ObjectResolver {
  private let root: ScriptObject
  private let selfValue: Value?
  private var objects: [ScriptObject?]
  private var known: [Bool]

  init(graph: Graph, root: ScriptObject) {
    self.root = root
    selfValue = graph.inputs.first
    objects = Array(repeating: nil, count: graph.valueIDBound)
    known = Array(repeating: false, count: graph.valueIDBound)
  }

  func object(_ value: Value) -> ScriptObject? {
    let id = value.id
    if id < known.count, known[id] { return objects[id] }
    var result: ScriptObject?
    if value === selfValue {
      result = root
    } else if value.node.kind == .getAttr, let name = value.node.name, let owner = object(value.node.inputs[0]),
      case .object(let child) = owner.attribute(name) ?? .none
    {
      result = child
    }
    if id >= known.count {
      objects.append(contentsOf: repeatElement(nil, count: id + 1 - known.count))
      known.append(contentsOf: repeatElement(false, count: id + 1 - known.count))
    }
    objects[id] = result
    known[id] = true
    return result
  }
}
