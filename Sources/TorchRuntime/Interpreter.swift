import Foundation
import TensorCore
import TorchIR

/// Runs TorchScript methods and functions on module objects.
///
/// Each function's graph is compiled once into an `ExecutionPlan` (cached here) and then run
/// on a fresh register file per call. Attribute writes go straight to the objects, so a module
/// that mutates its attributes keeps the new values for the next call, as in PyTorch.
public final class Interpreter {
  /// Classes and functions the objects' methods come from.
  public let unit: CompilationUnit
  /// The kernels.
  public let operators: OperatorTable
  /// Native methods of custom C++ classes (`unpack` on quantized packed params).
  public let nativeMethods: NativeMethodTable
  /// Threads, buffer pool and profile of the runs.
  public let context: ExecutionContext
  private var plans: [ObjectIdentifier: ExecutionPlan] = [:]
  private var depth = 0

  public init(
    unit: CompilationUnit, operators: OperatorTable = .standard, nativeMethods: NativeMethodTable = .standard,
    context: ExecutionContext = ExecutionContext()
  ) {
    self.unit = unit
    self.operators = operators
    self.nativeMethods = nativeMethods
    self.context = context
  }

  /// Calls method `name` of `object` with `arguments` (not including `self`).
  public func callMethod(_ name: String, on object: ScriptObject, arguments: [IValue]) throws -> IValue {
    guard let classType = unit.classType(object.typeName), let method = classType.method(name) else {
      throw RuntimeError.noSuchMethod(typeName: object.typeName, method: name)
    }
    let parameters = method.arguments.dropFirst()
    guard arguments.count <= parameters.count else {
      throw RuntimeError.badArguments(
        method: name, message: "expected \(parameters.count) arguments, got \(arguments.count)")
    }
    var full = [IValue.object(object)] + arguments
    for parameter in parameters.dropFirst(arguments.count) {
      guard let value = parameter.defaultValue else {
        throw RuntimeError.badArguments(method: name, message: "missing argument '\(parameter.name)' of type \(parameter.type)")
      }
      full.append(value)
    }
    for (parameter, value) in zip(parameters, arguments) where !Interpreter.fits(value, parameter.type) {
      throw RuntimeError.badArguments(
        method: name, message: "argument '\(parameter.name)' must be \(parameter.type), got \(Interpreter.describe(value))")
    }
    return try run(method, arguments: full, name: "\(classType.name).\(name)")
  }

  /// Calls free function `function`.
  public func call(_ function: Function, arguments: [IValue]) throws -> IValue {
    try run(function, arguments: arguments, name: function.qualifiedName)
  }

  private static func describe(_ value: IValue) -> String {
    if case .tensor(let tensor) = value { return "Tensor of \(tensor.dtype) \(tensor.shape)" }
    return value.kindName
  }

  // MARK: - Running plans

  private func plan(for function: Function, name: String) throws -> ExecutionPlan {
    if let plan = plans[ObjectIdentifier(function)] { return plan }
    guard let graph = function.graph else {
      throw RuntimeError.noKernel(op: "method \(function.qualifiedName)", method: name, location: function.location)
    }
    let plan = ExecutionPlan(graph: graph, functionName: name, operators: operators)
    plans[ObjectIdentifier(function)] = plan
    return plan
  }

  /// Drops compiled plans (after graphs change).
  public func invalidatePlans() {
    plans = [:]
  }

  func run(_ function: Function, arguments: [IValue], name: String) throws -> IValue {
    let plan = try plan(for: function, name: name)
    guard arguments.count == plan.inputs.count else {
      throw RuntimeError.badArguments(method: name, message: "expected \(plan.inputs.count) values, got \(arguments.count)")
    }
    depth += 1
    defer { depth -= 1 }
    guard depth < 200 else {
      throw RuntimeError.opFailed(op: "call", message: "maximum call depth exceeded", method: name, location: nil)
    }
    var registers = [IValue](repeating: .none, count: plan.registerCount)
    for (register, value) in zip(plan.inputs, arguments) { registers[register] = value }
    try execute(plan.body, &registers, method: plan.functionName)
    let outputs = plan.body.outputs.map { registers[$0] }
    return outputs.count == 1 ? outputs[0] : .tuple(outputs)
  }

  private func execute(_ segment: Segment, _ registers: inout [IValue], method: String) throws {
    // This run's concatenation buffers and the next free float in each (Note [Concatenation in
    // place]).
    var buffers: [ObjectIdentifier: (buffer: Tensor, next: Int)] = [:]
    // This run's channel means handed from a convolution to its pool (Note [Pooled side output]).
    var means: [ObjectIdentifier: (means: Tensor, output: Tensor)] = [:]
    for (index, instruction) in segment.instructions.enumerated() {
      // What this instruction may write and read channel-blocked (Note [Channel-blocked plans]),
      // whichever way it runs below.
      let permitted = context.channelBlockedLayout && segment.blocked.contains(index)
      let expected = context.channelBlockedLayout && segment.blockedReaders.contains(index)
      if permitted || expected { (context.blockedOutputPermitted, context.blockedInputsExpected) = (permitted, expected) }
      defer { if permitted || expected { (context.blockedOutputPermitted, context.blockedInputsExpected) = (false, false) } }
      if let role = segment.arenas[index] {
        try step(instruction, role: role, buffers: &buffers, means: &means, &registers, method: method)
      } else {
        try step(instruction, &registers, method: method)
      }
      for register in segment.releases[index] { registers[register] = .none }
    }
  }

  /// `step` for an instruction with an arena role: a member of a concatenation group (Note
  /// [Concatenation in place]), or a convolution and the pool that takes its channel means (Note
  /// [Pooled side output]).
  private func step(
    _ instruction: Instruction, role: ArenaRole, buffers: inout [ObjectIdentifier: (buffer: Tensor, next: Int)],
    means: inout [ObjectIdentifier: (means: Tensor, output: Tensor)], _ registers: inout [IValue], method: String
  ) throws {
    guard case .op(_, let inputs, let outputs, let node) = instruction else {
      return try step(instruction, &registers, method: method)
    }
    switch role {
    case .producer(let arena, let position):
      let key = ObjectIdentifier(arena)
      if position == 0 {
        let floats = arena.floats.load(ordering: .relaxed)
        buffers[key] = floats > 0 ? (context.makeTensor([floats]), 0) : nil
      }
      guard let (buffer, next) = buffers[key] else { return try step(instruction, &registers, method: method) }
      context.offerSlice(of: buffer, at: next)
      defer { context.withdrawSlice() }
      try step(instruction, &registers, method: method)
      // The group stays in place only while each output is the next slice.
      if case .tensor(let output) = registers[outputs[outputs.count - 1]], output.storage === buffer.storage,
        output.storageOffset == buffer.storageOffset + next
      {
        buffers[key] = (buffer, next + output.count)
      } else {
        buffers[key] = nil
      }
    case .cat(let arena):
      let key = ObjectIdentifier(arena)
      defer { buffers[key] = nil }
      if let (buffer, next) = buffers[key], next == buffer.count,
        var joined = FastExecutors.joinedCat(registers[inputs[0]], registers[inputs[1]], buffer: buffer)
      {
        // Blocked slices join into a blocked result, unpacked where the plan does not allow one
        // (Note [Channel-blocked plans]).
        if !context.blockedOutputPermitted { joined = BlockedActivations.unblocked(context, joined) }
        registers[outputs[0]] = .tensor(joined)
        context.profile?.record(
          node, seconds: 0, arguments: inputs.map { registers[$0] }, results: [.tensor(joined)])
        return
      }
      try step(instruction, &registers, method: method)
      if case .tensor(let output) = registers[outputs[0]], output.dtype == .float32 {
        arena.floats.store(output.count, ordering: .relaxed)
      }
    case .meansProducer(let link):
      context.requestChannelMeans()
      defer { means[ObjectIdentifier(link)] = context.collectChannelMeans() }
      try step(instruction, &registers, method: method)
    case .meansConsumer(let link):
      let key = ObjectIdentifier(link)
      defer { means[key] = nil }
      if let (result, output) = means[key], case .tensor(let input) = registers[inputs[0]],
        TensorViewKey(input) == TensorViewKey(output)
      {
        registers[outputs[0]] = .tensor(result)
        context.profile?.record(node, seconds: 0, arguments: inputs.map { registers[$0] }, results: [.tensor(result)])
        return
      }
      try step(instruction, &registers, method: method)
    }
  }

  private func fail(_ node: Node, _ message: String, method: String) -> RuntimeError {
    .opFailed(op: node.schema?.fullName ?? node.kind.rawValue, message: message, method: method, location: node.sourceLocation)
  }

  private func step(_ instruction: Instruction, _ registers: inout [IValue], method: String) throws {
    switch instruction {
    case .op(let kernel, let inputs, let outputs, let node):
      let arguments = inputs.map { registers[$0] }
      let results: [IValue]
      do {
        if let profile = context.profile {
          let start = DispatchTime.now().uptimeNanoseconds
          results = try kernel(context, arguments)
          let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
          profile.record(node, seconds: seconds, arguments: arguments, results: results)
        } else {
          results = try kernel(context, arguments)
        }
      } catch let error as OpError {
        throw fail(node, error.message, method: method)
      } catch let error as ShapeError {
        throw fail(node, error.message, method: method)
      } catch let error as TensorError {
        throw fail(node, error.description, method: method)
      }
      for (register, value) in zip(outputs, results) { registers[register] = value }
    case .missing(let node):
      throw RuntimeError.noKernel(op: node.schema?.fullName ?? node.kind.rawValue, method: method, location: node.sourceLocation)
    case .constant(let value, let output):
      // Lists and dicts are mutable references: give each use of a constant a fresh one.
      registers[output] = Interpreter.freshCopy(value)
    case .getAttr(let objectRegister, let name, let output, let cache, let node):
      guard case .object(let object) = registers[objectRegister] else {
        throw fail(node, "attribute '\(name)' read from a \(registers[objectRegister].kindName)", method: method)
      }
      registers[output] = try readAttribute(object, name, cache, node: node, method: method)
    case .setAttr(let objectRegister, let name, let valueRegister, let cache, let node):
      guard case .object(let object) = registers[objectRegister] else {
        throw fail(node, "attribute '\(name)' written on a \(registers[objectRegister].kindName)", method: method)
      }
      if cache.typeName == object.typeName, cache.slot < object.attributeCount,
        object.attributeNames[cache.slot] == name
      {
        object.setAttribute(at: cache.slot, registers[valueRegister])
      } else {
        object.setAttribute(name, registers[valueRegister])
        cache.typeName = object.typeName
        cache.slot = object.slot(of: name) ?? 0
      }
    case .callMethod(let receiverRegister, let name, let arguments, let output, let node):
      guard case .object(let object) = registers[receiverRegister] else {
        throw fail(node, "method '\(name)' called on a \(registers[receiverRegister].kindName)", method: method)
      }
      let values = arguments.map { registers[$0] }
      let result: IValue
      if CustomClasses.isCustomClass(object.typeName) {
        do {
          result = try nativeMethods.call(name, on: object, arguments: values)
        } catch let error as OpError {
          throw fail(node, error.message, method: method)
        }
      } else {
        guard let classType = unit.classType(object.typeName), let callee = classType.method(name) else {
          throw fail(node, "\(object.typeName) has no method '\(name)'", method: method)
        }
        result = try run(callee, arguments: [.object(object)] + values, name: "\(classType.name).\(name)")
      }
      if output >= 0 { registers[output] = result }
    case .callFunction(let name, let arguments, let output, let node):
      guard let callee = unit.function(name) else {
        throw fail(node, "unknown function \(name)", method: method)
      }
      let result = try run(callee, arguments: arguments.map { registers[$0] }, name: callee.qualifiedName)
      if output >= 0 { registers[output] = result }
    case .branch(let condition, let then, let otherwise, let outputs):
      let taken = registers[condition].bool ?? false
      let segment = taken ? then : otherwise
      try execute(segment, &registers, method: method)
      for (register, source) in zip(outputs, segment.outputs) { registers[register] = registers[source] }
    case .loop(let tripCount, let condition, let initial, let body, let counter, let parameters, let outputs):
      let trips = registers[tripCount].int ?? 0
      var running = registers[condition].bool ?? false
      var carried = initial.map { registers[$0] }
      var iteration = 0
      while running && iteration < trips {
        registers[counter] = .int(iteration)
        for (register, value) in zip(parameters, carried) { registers[register] = value }
        try execute(body, &registers, method: method)
        running = registers[body.outputs[0]].bool ?? false
        carried = body.outputs.dropFirst().map { registers[$0] }
        iteration += 1
      }
      for (register, value) in zip(outputs, carried) { registers[register] = value }
    case .listConstruct(let inputs, let elementType, let output):
      registers[output] = .list(ListValue(inputs.map { registers[$0] }, elementType: elementType))
    case .listUnpack(let input, let outputs, let node):
      guard let elements = registers[input].elements, elements.count == outputs.count else {
        throw fail(node, "expected a list of \(outputs.count) elements to unpack", method: method)
      }
      for (register, value) in zip(outputs, elements) { registers[register] = value }
    case .tupleConstruct(let inputs, let output):
      registers[output] = .tuple(inputs.map { registers[$0] })
    case .tupleUnpack(let input, let outputs, let node):
      guard case .tuple(let elements) = registers[input], elements.count == outputs.count else {
        throw fail(node, "expected a tuple of \(outputs.count) elements to unpack", method: method)
      }
      for (register, value) in zip(outputs, elements) { registers[register] = value }
    case .tupleIndex(let input, let indexRegister, let output, let node):
      guard case .tuple(let elements) = registers[input], let index = registers[indexRegister].int else {
        throw fail(node, "expected a tuple and an int index", method: method)
      }
      let wrapped = index < 0 ? index + elements.count : index
      guard elements.indices.contains(wrapped) else { throw fail(node, "tuple index out of range", method: method) }
      registers[output] = elements[wrapped]
    case .tupleSlice(let input, let begin, let end, let output):
      if case .tuple(let elements) = registers[input] {
        registers[output] = .tuple(Array(elements[min(begin, elements.count)..<min(end, elements.count)]))
      }
    case .dictConstruct(let inputs, let keyType, let valueType, let output, let node):
      let dict = DictValue(keyType: keyType, valueType: valueType)
      var index = 0
      while index + 1 < inputs.count {
        guard dict.set(registers[inputs[index]], registers[inputs[index + 1]]) else {
          throw fail(node, "a \(registers[inputs[index]].kindName) cannot key a dict", method: method)
        }
        index += 2
      }
      registers[output] = .dict(dict)
    case .createObject(let typeName, let output):
      let object = ScriptObject(typeName: typeName)
      if let classType = unit.classType(typeName) {
        for attribute in classType.attributes { object.setAttribute(attribute.name, .none) }
      }
      registers[output] = .object(object)
    case .isInstance(let input, let types, let output):
      let value = registers[input]
      registers[output] = .bool(types.contains { Interpreter.fits(value, $0) })
    case .move(let from, let to):
      registers[to] = registers[from]
    case .uninitialized(let output):
      registers[output] = .none
    case .raise(let messageRegister, let classRegister, let node):
      let message = registers[messageRegister].string ?? "Exception"
      let exceptionClass = classRegister.flatMap { registers[$0].string }
      throw RuntimeError.modelRaised(
        message: message, exceptionClass: exceptionClass, method: method, location: node.sourceLocation)
    case .print(let inputs):
      print(inputs.map { Interpreter.display(registers[$0]) }.joined(separator: " "))
    }
  }

  private func readAttribute(_ object: ScriptObject, _ name: String, _ cache: SlotCache, node: Node, method: String) throws
    -> IValue
  {
    if cache.typeName == object.typeName, cache.slot < object.attributeCount, object.attributeNames[cache.slot] == name {
      return object.attribute(at: cache.slot)
    }
    guard let slot = object.slot(of: name) else {
      throw fail(node, "\(object.typeName) object has no attribute '\(name)'", method: method)
    }
    cache.typeName = object.typeName
    cache.slot = slot
    return object.attribute(at: slot)
  }

  /// A copy of list and dict constants so that mutating one use never changes the constant.
  public static func freshCopy(_ value: IValue) -> IValue {
    switch value {
    case .list(let list): return .list(ListValue(list.elements.map(freshCopy), elementType: list.elementType))
    case .dict(let dict):
      let copy = DictValue(keyType: dict.keyType, valueType: dict.valueType)
      for (key, item) in zip(dict.keys, dict.values) { copy.set(key, freshCopy(item)) }
      return .dict(copy)
    default: return value
    }
  }

  /// True when `value` is an instance of `type` (runtime `isinstance` and argument checks).
  public static func fits(_ value: IValue, _ type: TorchType) -> Bool {
    switch (value, type) {
    case (_, .any): return true
    case (.none, .none), (.none, .optional): return true
    case (_, .optional(let wrapped)): return fits(value, wrapped)
    case (.tensor, .tensor): return true
    case (.int, .int), (.int, .number), (.int, .enumInt), (.double, .float), (.double, .number): return true
    case (.bool, .bool), (.string, .string), (.device, .device): return true
    case (.list(let list), .list(let element)):
      if list.elementType == element || element == .any { return true }
      return list.elements.allSatisfy { fits($0, element) }
    case (.tuple(let elements), .tuple(let types)):
      return elements.count == types.count && zip(elements, types).allSatisfy { fits($0, $1) }
    case (.dict, .dict): return true
    case (.object(let object), .class(let name)): return object.typeName == name
    case (.object, .variable), (_, .variable): return true
    case (_, .union(let members)): return members.contains { fits(value, $0) }
    default: return false
    }
  }

  /// Python-like text for `print`.
  static func display(_ value: IValue) -> String {
    switch value {
    case .none: return "None"
    case .bool(let flag): return flag ? "True" : "False"
    case .int(let number): return String(number)
    case .double(let number): return String(number)
    case .string(let text): return text
    case .device(let name): return name
    case .tensor(let tensor): return "tensor(shape=\(tensor.shape), dtype=\(tensor.dtype))"
    case .tuple(let items): return "(" + items.map(display).joined(separator: ", ") + ")"
    case .list(let list): return "[" + list.elements.map(display).joined(separator: ", ") + "]"
    case .dict(let dict): return "{" + zip(dict.keys, dict.values).map { "\(display($0)): \(display($1))" }.joined(separator: ", ") + "}"
    case .object(let object): return "<\(object.typeName) object>"
    case .function(let name): return "<function \(name)>"
    }
  }
}

/// Native methods of custom C++ classes, keyed by method name.
public struct NativeMethodTable: Sendable {
  public typealias Method = @Sendable (ScriptObject, [IValue]) throws -> IValue
  private let methods: [String: Method]

  public init(_ methods: [String: Method]) {
    self.methods = methods
  }

  /// Calls `name` on `object`.
  public func call(_ name: String, on object: ScriptObject, arguments: [IValue]) throws -> IValue {
    guard let method = methods[name] else { throw OpError("\(object.typeName) has no native method '\(name)'") }
    return try method(object, arguments)
  }

  /// Methods of the packed-parameter classes that read their pickled state.
  public static let standard = NativeMethodTable([:])
}
