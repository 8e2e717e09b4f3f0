import TensorCore
import TorchIR

/// A name's meaning while emitting: an SSA value, or something that is only meaningful when
/// called or indexed (a function, a class, a namespace) — TorchScript's "sugared values".
enum Sugared {
  case value(Value)
  /// `torch`, `ops`, `ops.aten`, `__torch__.torch.nn`: a prefix being resolved.
  case namespace(String)
  /// An operator such as `aten::conv2d`, resolved against schemas when called.
  case op(OpName)
  /// A script function.
  case function(Function)
  /// A class (for `Class.__new__(Class)` and named-tuple construction).
  case classRef(ClassType)
  /// A method bound to its receiver: `(conv).forward`.
  case method(receiver: Value, function: Function)
  /// `CONSTANTS`.
  case constantsTable
  /// A builtin with special emission: `annotate`, `isinstance`, `range`, ...
  case special(String)
}

/// Variable bindings of one block, chained to the enclosing block's scope.
final class Scope {
  let parent: Scope?
  private(set) var bindings: [String: Sugared] = [:]
  /// Names assigned in this scope, in first-assignment order (drives If/Loop outputs).
  private(set) var assignedOrder: [String] = []
  /// Declared types from annotated assignments.
  var declaredTypes: [String: TorchType] = [:]

  init(parent: Scope?) {
    self.parent = parent
  }

  func lookup(_ name: String) -> Sugared? {
    if let found = bindings[name] { return found }
    return parent?.lookup(name)
  }

  func lookupValue(_ name: String) -> Value? {
    if case .value(let value) = lookup(name) { return value }
    return nil
  }

  func declaredType(_ name: String) -> TorchType? {
    declaredTypes[name] ?? parent?.declaredType(name)
  }

  func assign(_ name: String, _ binding: Sugared) {
    if bindings[name] == nil, !assignedOrder.contains(name) { assignedOrder.append(name) }
    bindings[name] = binding
  }
}

/// How control leaves a statement list.
enum FlowExit {
  /// Falls through to the next statement.
  case normal
  /// Ends in an exception (`prim::RaiseException`).
  case raised
  /// Returns a value.
  case returned(Value)
}

/// Emits one function or method body as a graph.
///
/// Split by concern: this file holds scopes and statements; `+Expressions` the expression forms;
/// `+Calls` schema matching and calls; `+ControlFlow` if/loops.
final class FunctionEmitter {
  let compiler: ModuleCompiler
  let function: Function
  let owner: ClassType?
  let graph = Graph()
  var block: Block
  var scope: Scope

  init(compiler: ModuleCompiler, function: Function, owner: ClassType?) {
    self.compiler = compiler
    self.function = function
    self.owner = owner
    self.block = graph.block
    self.scope = Scope(parent: nil)
  }

  var registry: OpRegistry { compiler.registry }
  var unit: CompilationUnit { compiler.unit }

  /// Emits `def` into a fresh graph.
  func emit(_ def: FunctionDef) throws -> Graph {
    for argument in function.arguments {
      let input = graph.addInput(argument.type, name: argument.name)
      scope.assign(argument.name, .value(input))
    }
    let exit = try emitStatements(def.body)
    switch exit {
    case .returned(let value):
      graph.addOutput(try coerce(value, to: function.returnType, at: def.location))
    case .raised:
      // A function that always raises still returns a (never produced) value of its type.
      let placeholder = append(.uninitialized, [], [function.returnType], at: def.location)
      graph.addOutput(placeholder.output)
    case .normal:
      guard function.returnType == .none || function.returnType.acceptsNone else {
        throw SourceError("function \(function.qualifiedName) must return a \(function.returnType)", at: def.location)
      }
      graph.addOutput(constant(.none, type: TorchType.none, at: def.location))
    }
    return graph
  }

  // MARK: - Node creation

  /// Appends a node at the end of the current block.
  @discardableResult
  func append(_ kind: OpName, _ inputs: [Value], _ outputTypes: [TorchType], at location: SourceLocation) -> Node {
    let node = graph.create(kind, inputs: inputs, outputTypes: outputTypes, location: location)
    block.append(node)
    return node
  }

  /// Appends a `prim::Constant`.
  func constant(_ value: IValue, type: TorchType? = nil, at location: SourceLocation) -> Value {
    let node = graph.createConstant(value, type: type)
    node.sourceLocation = location
    block.append(node)
    return node.output
  }

  /// `value` where `type` is expected: unchanged if it already fits, retyped if it is a None
  /// constant or an empty container, otherwise an error.
  func coerce(_ value: Value, to type: TorchType, at location: SourceLocation) throws -> Value {
    if value.type.isSubtype(of: type) || type == .any { return value }
    var bindings = TypeBindings()
    if bindings.match(value.type, type) { return value }
    if let converted = try? convertTupleToList(value, to: type, at: location) { return converted }
    throw SourceError("expected a value of type \(type), found \(value.type)", at: location)
  }

  // MARK: - Statements

  func emitStatements(_ statements: [Stmt]) throws -> FlowExit {
    for (index, statement) in statements.enumerated() {
      let exit = try emitStatement(statement)
      switch exit {
      case .normal:
        continue
      case .raised, .returned:
        // Code after a raise or return is unreachable; torch never prints any, so ignore it.
        _ = index
        return exit
      }
    }
    return .normal
  }

  private func emitStatement(_ statement: Stmt) throws -> FlowExit {
    let location = statement.location
    switch statement.kind {
    case .expression(let expr):
      if case .string = expr.kind { return .normal }  // docstring
      let raises = isRaise(expr)
      _ = try emitExpressionStatement(expr)
      return raises ? .raised : .normal
    case .assign(let targets, let value):
      // `a, b = x, y` assigns element-wise without building a tuple.
      if targets.count == 1, case .tuple(let names) = targets[0].kind, case .tuple(let items) = value.kind,
        names.count == items.count
      {
        let values = try items.map { try emitSugared($0, typeHint: nil) }
        for (item, name) in zip(values, names) { try assign(item, to: name, at: location) }
        return .normal
      }
      let emitted = try emitSugared(value, typeHint: nil)
      for target in targets {
        try assign(emitted, to: target, at: location)
      }
      return .normal
    case .annotatedAssign(let target, let typeExpr, let value):
      let type = try compiler.resolveType(typeExpr)
      guard case .name(let name) = target.kind else {
        throw SourceError("annotated assignment needs a simple name", at: target.location)
      }
      scope.declaredTypes[name] = type
      guard let value else { return .normal }
      let emitted = try emitValue(value, typeHint: type)
      try assign(.value(try coerce(emitted, to: type, at: location)), to: target, at: location)
      return .normal
    case .augmentedAssign(let target, let op, let value):
      let result = try emitBinary(op, target, value, at: location)
      try assign(.value(result), to: target, at: location)
      return .normal
    case .if(let condition, let then, let otherwise):
      return try emitIf(condition: condition, then: then, otherwise: otherwise, at: location)
    case .for(let target, let iterable, let body):
      try emitFor(target: target, iterable: iterable, body: body, at: location)
      return .normal
    case .while(let condition, let body):
      try emitWhile(condition: condition, body: body, at: location)
      return .normal
    case .return(let value):
      guard let value else { return .returned(constant(.none, at: location)) }
      return .returned(try emitValue(value, typeHint: function.returnType))
    case .raise(let value):
      var message = "Exception"
      if let value, case .call(let callee, let arguments, _) = value.kind {
        let className = callee.dottedName ?? "Exception"
        if let first = arguments.first, case .string(let text) = first.kind {
          message = "\(className): \(text)"
        } else {
          message = className
        }
      }
      let text = constant(.string(message), at: location)
      let node = append(.raiseException, [text], [], at: location)
      node.schema = registry.schema(fullName: "prim::RaiseException")
      return .raised
    case .assert(let condition, let message):
      let text: Expr
      if let message, case .string(let value) = message.kind {
        text = Expr(.string("AssertionError: " + value), at: location)
      } else {
        text = Expr(.string("AssertionError: "), at: location)
      }
      let raise = Stmt(
        .expression(
          Expr(
            .call(
              Expr(.attribute(Expr(.attribute(Expr(.name("ops"), at: location), "prim"), at: location), "RaiseException"),
                at: location), [text], []), at: location)), at: location)
      return try emitIf(condition: condition, then: [Stmt(.pass, at: location)], otherwise: [raise], at: location)
    case .pass:
      return .normal
    case .break, .continue:
      throw SourceError("'break' and 'continue' are not supported; TorchScript prints loops without them", at: location)
    case .with:
      throw SourceError("'with' blocks are not supported", at: location)
    case .def, .class:
      throw SourceError("nested definitions are not supported", at: location)
    }
  }

  /// True for `ops.prim.RaiseException(...)` calls.
  private func isRaise(_ expr: Expr) -> Bool {
    if case .call(let callee, _, _) = expr.kind, callee.dottedName == "ops.prim.RaiseException" { return true }
    return false
  }

  private func emitExpressionStatement(_ expr: Expr) throws -> Sugared {
    if case .call = expr.kind { return try emitSugared(expr, typeHint: nil, allowNoValue: true) }
    return try emitSugared(expr, typeHint: nil)
  }

  // MARK: - Assignment

  func assign(_ value: Sugared, to target: Expr, at location: SourceLocation) throws {
    switch target.kind {
    case .name(let name):
      if case .value(let emitted) = value {
        if emitted.debugName == nil, !name.hasPrefix("_") { emitted.debugName = name }
        if let declared = scope.declaredType(name), !emitted.type.isSubtype(of: declared) {
          throw SourceError("cannot assign a \(emitted.type) to \(name) of type \(declared)", at: location)
        }
      }
      scope.assign(name, value)
    case .tuple(let targets), .list(let targets):
      let items = try unpack(value, count: targets.count, at: location)
      for (item, target) in zip(items, targets) {
        try assign(.value(item), to: target, at: location)
      }
    case .attribute(let base, let name):
      let object = try emitValue(base, typeHint: nil)
      guard case .value(let newValue) = value else {
        throw SourceError("only values can be stored in attributes", at: location)
      }
      guard case .class(let className) = object.type, let classType = unit.classType(className) else {
        throw SourceError("cannot set attribute '\(name)' on a value of type \(object.type)", at: location)
      }
      guard let slot = classType.attribute(name) else {
        throw SourceError("\(className) has no attribute '\(name)'", at: location)
      }
      let stored = try coerce(newValue, to: slot.type, at: location)
      let node = append(.setAttr, [object, stored], [], at: location)
      node.setAttribute("name", .string(name))
    case .subscript(let base, let items) where items.count == 1:
      let container = try emitValue(base, typeHint: nil)
      let index = try emitValue(items[0], typeHint: nil)
      guard case .value(let newValue) = value else { throw SourceError("expected a value", at: location) }
      _ = try emitOpCall("aten::_set_item", [container, index, newValue], [], at: location)
    default:
      throw SourceError("cannot assign to this expression", at: target.location)
    }
  }

  /// Splits a tuple or list value into `count` values (for `a, b, = value`).
  private func unpack(_ value: Sugared, count: Int, at location: SourceLocation) throws -> [Value] {
    guard case .value(let emitted) = value else { throw SourceError("cannot unpack this value", at: location) }
    switch emitted.type {
    case .tuple(let types):
      guard types.count == count else {
        throw SourceError("cannot unpack a tuple of \(types.count) into \(count) names", at: location)
      }
      // A tuple built only to be unpacked (the results of a multi-output op) needs no nodes.
      if emitted.node.kind == .tupleConstruct, !emitted.hasUses {
        let items = emitted.node.inputs
        emitted.node.destroy()
        return items
      }
      return append(.tupleUnpack, [emitted], types, at: location).outputs
    case .list(let element):
      return append(.listUnpack, [emitted], Array(repeating: element, count: count), at: location).outputs
    default:
      throw SourceError("cannot unpack a value of type \(emitted.type)", at: location)
    }
  }
}
