import TensorCore
import TorchIR

// Note [Control flow to SSA]
// Printed TorchScript reassigns variables inside branches and loop bodies; the IR needs SSA.
// Each branch or body gets its own `Scope`. After an `if`, every variable assigned in either
// branch and available on both paths becomes an output of the `prim::If` (a branch that ends in
// an exception yields `prim::Uninitialized` placeholders). For loops, the variables assigned in
// the body that exist before the loop are loop-carried: they become body block inputs, body
// block outputs and loop outputs, in order of first assignment in the body.

extension FunctionEmitter {
  /// Runs `body` with `block` and a child scope as the emission point; returns the scope.
  private func withBlock(_ target: Block, _ body: () throws -> FlowExit) rethrows -> (Scope, FlowExit) {
    let savedBlock = block
    let savedScope = scope
    let child = Scope(parent: scope)
    block = target
    scope = child
    defer {
      block = savedBlock
      scope = savedScope
    }
    let exit = try body()
    return (child, exit)
  }

  func emitIf(condition conditionExpr: Expr, then: [Stmt], otherwise: [Stmt], at location: SourceLocation) throws
    -> FlowExit
  {
    let condition = try toBool(try emitValue(conditionExpr, typeHint: nil), at: location)
    let node = append(.if, [condition], [], at: location)
    let thenBlock = node.addBlock()
    let elseBlock = node.addBlock()
    let (thenScope, thenExit) = try withBlock(thenBlock) { try emitStatements(then) }
    let (elseScope, elseExit) = try withBlock(elseBlock) { try emitStatements(otherwise) }

    let thenRaised = if case .raised = thenExit { true } else { false }
    let elseRaised = if case .raised = elseExit { true } else { false }

    // Returns inside branches: both return, or one returns and the other raises.
    var returned: Value?
    switch (thenExit, elseExit) {
    case (.returned(let a), .returned(let b)):
      returned = try mergeOutput(node, a, b, at: location)
    case (.returned(let a), .raised):
      returned = try mergeOutput(node, a, nil, at: location)
    case (.raised, .returned(let b)):
      returned = try mergeOutput(node, nil, b, at: location)
    case (.returned, .normal), (.normal, .returned):
      throw SourceError("a return in only one branch of an if is not supported", at: location)
    default:
      break
    }

    var names: [String] = thenScope.assignedOrder
    for name in elseScope.assignedOrder where !names.contains(name) { names.append(name) }
    for name in names {
      let thenBinding = thenRaised ? nil : thenScope.lookup(name)
      let elseBinding = elseRaised ? nil : elseScope.lookup(name)
      switch (thenBinding, elseBinding) {
      case (.value(let a)?, .value(let b)?):
        if a === b {
          scope.assign(name, .value(a))
          continue
        }
        let merged = try mergeOutput(node, a, b, at: location)
        merged.debugName = name.hasPrefix("_") ? nil : name
        scope.assign(name, .value(merged))
      case (.value(let a)?, nil) where elseRaised:
        let merged = try mergeOutput(node, a, nil, at: location)
        merged.debugName = name.hasPrefix("_") ? nil : name
        scope.assign(name, .value(merged))
      case (nil, .value(let b)?) where thenRaised:
        let merged = try mergeOutput(node, nil, b, at: location)
        merged.debugName = name.hasPrefix("_") ? nil : name
        scope.assign(name, .value(merged))
      case (let a?, let b?):
        // Non-value bindings (functions, classes) pass through when both branches agree.
        if case .value = a { continue }
        if case .value = b { continue }
        scope.assign(name, a)
      default:
        // Defined on one path only: not available after the if.
        continue
      }
    }
    if let returned { return .returned(returned) }
    if thenRaised && elseRaised { return .raised }
    return .normal
  }

  /// Adds an If output fed by `a` (then) and `b` (else); nil means that branch raised.
  private func mergeOutput(_ node: Node, _ a: Value?, _ b: Value?, at location: SourceLocation) throws -> Value {
    let type: TorchType
    switch (a, b) {
    case (let a?, let b?):
      guard let unified = unify(a.type, b.type) else {
        throw SourceError("branches of an if give \(a.type) and \(b.type), which do not unify", at: location)
      }
      type = unified
    case (let a?, nil): type = a.type
    case (nil, let b?): type = b.type
    default: preconditionFailure("merging two raising branches")
    }
    for (block, value) in zip(node.blocks, [a, b]) {
      if let value {
        block.addOutput(value)
      } else {
        let placeholder = graph.create(.uninitialized, outputTypes: [type], location: location)
        block.append(placeholder)
        block.addOutput(placeholder.output)
      }
    }
    return node.addOutput(type)
  }

  // MARK: - Loops

  /// Names assigned anywhere in `statements` (targets of assignments, loops and nested blocks).
  private func assignedNames(_ statements: [Stmt]) -> [String] {
    var result: [String] = []
    func add(_ target: Expr) {
      switch target.kind {
      case .name(let name): if !result.contains(name) { result.append(name) }
      case .tuple(let items), .list(let items): items.forEach(add)
      default: break
      }
    }
    func visit(_ statements: [Stmt]) {
      for statement in statements {
        switch statement.kind {
        case .assign(let targets, _): targets.forEach(add)
        case .annotatedAssign(let target, _, _), .augmentedAssign(let target, _, _): add(target)
        case .if(_, let then, let otherwise):
          visit(then)
          visit(otherwise)
        case .for(let target, _, let body):
          add(target)
          visit(body)
        case .while(_, let body): visit(body)
        default: break
        }
      }
    }
    visit(statements)
    return result
  }

  func emitFor(target: Expr, iterable: Expr, body: [Stmt], at location: SourceLocation) throws {
    // The iteration count and how the body gets its element from the counter.
    let tripCount: Value
    var element: ((Value) throws -> Value)?
    if case .call(let callee, let arguments, _) = iterable.kind, callee.dottedName == "range",
      scope.lookup("range") == nil
    {
      let values = try arguments.map { try emitValue($0, typeHint: .int) }
      switch values.count {
      case 1:
        tripCount = values[0]
      case 2, 3:
        let step = values.count == 3 ? values[2] : constant(.int(1), at: location)
        tripCount = try emitOpCall("aten::__range_length", [values[0], values[1], step], [], at: location)
          .single(at: location)
        element = { counter in
          try self.emitOpCall("aten::__derive_index", [counter, values[0], step], [], at: location).single(at: location)
        }
      default:
        throw SourceError("range() takes 1 to 3 arguments", at: location)
      }
    } else {
      let sequence = try emitValue(iterable, typeHint: nil)
      switch sequence.type {
      case .list, .tensor, .string, .dict:
        tripCount = try emitOpCall("aten::len", [sequence], [], at: location).single(at: location)
        if case .dict = sequence.type {
          let keys = try emitOpCall("aten::keys", [sequence], [], at: location).single(at: location)
          element = { counter in
            try self.emitOpCall("aten::__getitem__", [keys, counter], [], at: location).single(at: location)
          }
        } else if sequence.type == .tensor {
          element = { counter in
            let zero = self.constant(.int(0), at: location)
            return try self.emitOpCall("aten::select", [sequence, zero, counter], [], at: location).single(at: location)
          }
        } else {
          element = { counter in
            try self.emitOpCall("aten::__getitem__", [sequence, counter], [], at: location).single(at: location)
          }
        }
      default:
        throw SourceError("cannot iterate over a value of type \(sequence.type)", at: location)
      }
    }
    let alwaysTrue = constant(.bool(true), at: location)
    try emitLoop(tripCount: tripCount, initialCondition: alwaysTrue, body: body, at: location) { counter in
      let value = try element?(counter) ?? counter
      try self.assign(.value(value), to: target, at: location)
    } finalCondition: {
      self.constant(.bool(true), at: location)
    }
  }

  func emitWhile(condition: Expr, body: [Stmt], at location: SourceLocation) throws {
    let initial = try toBool(try emitValue(condition, typeHint: nil), at: location)
    let maxTrips = constant(.int(Int.max), at: location)
    // `while flag:` with `flag` reassigned in the body: the flag is the loop condition, not a
    // carried value. It is true whenever the body runs and false after the loop.
    var flag: String?
    if case .name(let name) = condition.kind, scope.lookupValue(name) != nil { flag = name }
    try emitLoop(tripCount: maxTrips, initialCondition: initial, body: body, excluding: flag, at: location) { _ in
    } finalCondition: {
      try self.toBool(try self.emitValue(condition, typeHint: nil), at: location)
    }
    if let flag { scope.assign(flag, .value(constant(.bool(false), at: location))) }
  }

  private func emitLoop(
    tripCount: Value, initialCondition: Value, body: [Stmt], excluding: String? = nil, at location: SourceLocation,
    prologue: (Value) throws -> Void, finalCondition: () throws -> Value
  ) throws {
    let carried = assignedNames(body).filter { scope.lookupValue($0) != nil && $0 != excluding }
    let initial = carried.map { scope.lookupValue($0)! }
    let node = append(.loop, [tripCount, initialCondition] + initial, [], at: location)
    let bodyBlock = node.addBlock()
    let counter = bodyBlock.addInput(.int, name: nil)
    var parameters: [Value] = []
    for (name, value) in zip(carried, initial) {
      let type = scope.declaredType(name) ?? value.type
      parameters.append(bodyBlock.addInput(type, name: value.debugName))
    }
    let (bodyScope, exit) = try withBlock(bodyBlock) { () throws -> FlowExit in
      for (name, parameter) in zip(carried, parameters) { scope.assign(name, .value(parameter)) }
      try prologue(counter)
      let exit = try emitStatements(body)
      if case .normal = exit {
        bodyBlock.addOutput(try finalCondition())
      }
      return exit
    }
    guard case .normal = exit else {
      throw SourceError("a loop body that always returns or raises is not supported", at: location)
    }
    for (name, parameter) in zip(carried, parameters) {
      guard let final = bodyScope.lookupValue(name) else {
        throw SourceError("loop-carried variable '\(name)' is not a value at the end of the body", at: location)
      }
      guard final.type.isSubtype(of: parameter.type) else {
        throw SourceError(
          "loop-carried variable '\(name)' changes type from \(parameter.type) to \(final.type)", at: location)
      }
      bodyBlock.addOutput(final)
      let output = node.addOutput(parameter.type)
      output.debugName = parameter.debugName
      scope.assign(name, .value(output))
    }
  }

  // MARK: - Conditional expressions

  func emitShortCircuit(isAnd: Bool, _ left: Expr, _ right: Expr, at location: SourceLocation) throws -> Value {
    let condition = try toBool(try emitValue(left, typeHint: nil), at: location)
    let node = append(.if, [condition], [.bool], at: location)
    let thenBlock = node.addBlock()
    let elseBlock = node.addBlock()
    let evaluated = isAnd ? thenBlock : elseBlock
    let shortCircuited = isAnd ? elseBlock : thenBlock
    _ = try withBlock(evaluated) { () throws -> FlowExit in
      evaluated.addOutput(try toBool(try emitValue(right, typeHint: nil), at: location))
      return .normal
    }
    _ = withBlock(shortCircuited) { () -> FlowExit in
      shortCircuited.addOutput(constant(.bool(!isAnd), at: location))
      return .normal
    }
    return node.output
  }

  func emitTernary(_ conditionExpr: Expr, _ then: Expr, _ otherwise: Expr, typeHint: TorchType?, at location: SourceLocation)
    throws -> Value
  {
    let condition = try toBool(try emitValue(conditionExpr, typeHint: nil), at: location)
    let node = append(.if, [condition], [], at: location)
    let thenBlock = node.addBlock()
    let elseBlock = node.addBlock()
    var a: Value!
    var b: Value!
    _ = try withBlock(thenBlock) { () throws -> FlowExit in
      a = try emitValue(then, typeHint: typeHint)
      return .normal
    }
    _ = try withBlock(elseBlock) { () throws -> FlowExit in
      b = try emitValue(otherwise, typeHint: typeHint)
      return .normal
    }
    return try mergeOutput(node, a, b, at: location)
  }
}
