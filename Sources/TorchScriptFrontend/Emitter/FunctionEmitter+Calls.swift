import TensorCore
import TorchIR

/// How one schema argument gets its value in a matched call.
enum ArgumentPlan {
  /// The value as given.
  case value(Value)
  /// The schema default.
  case defaultValue(SchemaDefault, TorchType, Int?)
  /// An `[]` literal that takes the parameter's list type.
  case retypedEmptyList(Value, TorchType)
  /// A single int or float repeated to a fixed-size list (`stride=2` for `int[2] stride`).
  case repeated(Value, Int)
  /// A homogeneous tuple passed where a list is expected.
  case tupleToList(Value, TorchType)
  /// An implicit conversion through a builtin op (`aten::Float`, `prim::NumToTensor`, ...).
  case converted(Value, String, TorchType)
}

/// A schema that accepts a call, with how to build each argument.
struct MatchedCall {
  var schema: OpSchema
  var arguments: [ArgumentPlan]
  var bindings: TypeBindings
}

extension FunctionEmitter {
  /// Builtins that are plain operator calls.
  private static let builtinOps: [String: String] = [
    "len": "aten::len", "int": "aten::Int", "float": "aten::Float", "bool": "aten::Bool", "str": "aten::str",
    "min": "prim::min", "max": "prim::max", "abs": "prim::abs", "sorted": "aten::sorted", "round": "aten::round",
    "divmod": "aten::divmod", "hash": "aten::hash", "all": "aten::all", "any": "aten::any", "sum": "aten::sum",
    "ord": "aten::ord", "chr": "aten::chr", "list": "aten::list", "dict": "aten::dict",
  ]

  func emitCall(
    _ calleeExpr: Expr, _ argumentExprs: [Expr], _ keywordExprs: [(name: String, value: Expr)],
    typeHint: TorchType?, allowNoValue: Bool, at location: SourceLocation
  ) throws -> Sugared {
    let callee = try emitSugared(calleeExpr, typeHint: nil)
    switch callee {
    case .special(let name):
      return try emitSpecial(name, calleeExpr, argumentExprs, keywordExprs, typeHint: typeHint, at: location)
    case .op(let opName):
      let arguments = try argumentExprs.map { try emitValue($0, typeHint: nil) }
      let keywords = try keywordExprs.map { ($0.name, try emitValue($0.value, typeHint: nil)) }
      let outputs = try emitOpCall(opName, arguments, keywords, at: location)
      return try packResults(outputs, allowNoValue: allowNoValue, at: location)
    case .function(let function):
      let arguments = try matchScriptArguments(
        function, argumentExprs, keywordExprs, skippingSelf: false, at: location)
      let fnConstant = graph.createConstant(.none, type: .function(function.qualifiedName))
      fnConstant.attributes = [("name", .string(function.qualifiedName))]
      fnConstant.sourceLocation = location
      block.append(fnConstant)
      let node = append(.callFunction, [fnConstant.output] + arguments, [function.returnType], at: location)
      return .value(node.output)
    case .method(let receiver, let function):
      let arguments = try matchScriptArguments(
        function, argumentExprs, keywordExprs, skippingSelf: true, at: location)
      let node = append(.callMethod, [receiver] + arguments, [function.returnType], at: location)
      node.setAttribute("name", .string(function.name))
      return .value(node.output)
    case .classRef(let classType):
      guard case .namedTuple = classType.kind else {
        throw SourceError("cannot construct \(classType.qualifiedName) by calling it", at: location)
      }
      var values: [Value] = []
      for (index, field) in classType.attributes.enumerated() {
        if index < argumentExprs.count {
          values.append(try coerce(try emitValue(argumentExprs[index], typeHint: field.type), to: field.type, at: location))
        } else if let keyword = keywordExprs.first(where: { $0.name == field.name }) {
          values.append(try coerce(try emitValue(keyword.value, typeHint: field.type), to: field.type, at: location))
        } else {
          throw SourceError("missing field '\(field.name)' of \(classType.qualifiedName)", at: location)
        }
      }
      return .value(append(.tupleConstruct, values, [.class(classType.qualifiedName)], at: location).output)
    default:
      throw SourceError("\(describe(callee)) is not callable", at: location)
    }
  }

  /// A call's results as one sugared value: nothing, the single output, or a tuple of outputs.
  private func packResults(_ outputs: [Value], allowNoValue: Bool, at location: SourceLocation) throws -> Sugared {
    switch outputs.count {
    case 0:
      guard allowNoValue else { throw SourceError("this call returns no value", at: location) }
      return .special("<no value>")
    case 1:
      return .value(outputs[0])
    default:
      let tuple = append(.tupleConstruct, outputs, [.tuple(outputs.map(\.type))], at: location)
      return .value(tuple.output)
    }
  }

  // MARK: - Special forms

  private func emitSpecial(
    _ name: String, _ calleeExpr: Expr, _ argumentExprs: [Expr], _ keywordExprs: [(name: String, value: Expr)],
    typeHint: TorchType?, at location: SourceLocation
  ) throws -> Sugared {
    func requireArguments(_ count: Int) throws {
      guard argumentExprs.count == count, keywordExprs.isEmpty else {
        throw SourceError("\(name)() takes \(count) arguments, got \(argumentExprs.count)", at: location)
      }
    }
    switch name {
    case "annotate":
      try requireArguments(2)
      let type = try compiler.resolveType(argumentExprs[0])
      let value = try emitValue(argumentExprs[1], typeHint: type)
      let node = value.node
      let isEmptyContainer =
        (node.kind == .listConstruct || node.kind == .dictConstruct) && node.inputs.isEmpty && !value.hasUses
      if isEmptyContainer || (node.kind == .constant && value.type == .none && type.acceptsNone) {
        value.type = type
        return .value(value)
      }
      if node.kind == .listConstruct, case .list(let element) = type, !value.hasUses,
        node.inputs.allSatisfy({ $0.type.isSubtype(of: element) })
      {
        value.type = type
        return .value(value)
      }
      return .value(try coerce(value, to: type, at: location))
    case "unchecked_cast":
      try requireArguments(2)
      let type = try compiler.resolveType(argumentExprs[0])
      let value = try emitValue(argumentExprs[1], typeHint: nil)
      return .value(append(.uncheckedCast, [value], [type], at: location).output)
    case "uninitialized":
      try requireArguments(1)
      let type = try compiler.resolveType(argumentExprs[0])
      return .value(append(.uninitialized, [], [type], at: location).output)
    case "isinstance":
      try requireArguments(2)
      let value = try emitValue(argumentExprs[0], typeHint: nil)
      let types: [TorchType]
      if case .tuple(let items) = argumentExprs[1].kind {
        types = try items.map(compiler.resolveType)
      } else {
        types = [try compiler.resolveType(argumentExprs[1])]
      }
      if types.contains(where: { value.type.isSubtype(of: $0) }) {
        return .value(constant(.bool(true), at: location))
      }
      let node = append(.isInstance, [value], [.bool], at: location)
      node.setAttribute("types", .types(types))
      return .value(node.output)
    case "getattr":
      try requireArguments(2)
      guard case .string(let attribute) = argumentExprs[1].kind else {
        throw SourceError("getattr needs a string literal attribute name", at: location)
      }
      return try emitAttribute(try emitSugared(argumentExprs[0], typeHint: nil), attribute, at: location)
    case "torch.device":
      if argumentExprs.count == 1, keywordExprs.isEmpty, case .string(let device) = argumentExprs[0].kind {
        return .value(constant(.device(device), at: location))
      }
      let arguments = try argumentExprs.map { try emitValue($0, typeHint: nil) }
      return .value(try emitOpCall("aten::device", arguments, [], at: location).single(at: location))
    case "__new__":
      guard case .attribute(let base, _) = calleeExpr.kind, case .classRef(let classType) = try emitSugared(base, typeHint: nil)
      else { throw SourceError("__new__ needs a class", at: location) }
      return .value(append(.createObject, [], [.class(classType.qualifiedName)], at: location).output)
    case "print":
      let arguments = try argumentExprs.map { try emitValue($0, typeHint: nil) }
      append(.print, arguments, [], at: location)
      return .special("<no value>")
    case "range":
      throw SourceError("range() is only supported as a for-loop iterable", at: location)
    case "fork":
      throw SourceError("fork() is not supported", at: location)
    default:
      guard let opName = FunctionEmitter.builtinOps[name] else {
        throw SourceError("builtin '\(name)' is not supported", at: location)
      }
      let arguments = try argumentExprs.map { try emitValue($0, typeHint: nil) }
      let keywords = try keywordExprs.map { ($0.name, try emitValue($0.value, typeHint: nil)) }
      return .value(try emitOpCall(OpName(opName), arguments, keywords, at: location).single(at: location))
    }
  }

  // MARK: - Script calls

  /// Values for a script function's parameters from positional and keyword arguments and the
  /// declared defaults.
  private func matchScriptArguments(
    _ function: Function, _ argumentExprs: [Expr], _ keywordExprs: [(name: String, value: Expr)],
    skippingSelf: Bool, at location: SourceLocation
  ) throws -> [Value] {
    let parameters = skippingSelf ? Array(function.arguments.dropFirst()) : function.arguments
    guard argumentExprs.count <= parameters.count else {
      throw SourceError(
        "\(function.qualifiedName) takes \(parameters.count) arguments but \(argumentExprs.count) were given",
        at: location)
    }
    for keyword in keywordExprs where !parameters.contains(where: { $0.name == keyword.name }) {
      throw SourceError("\(function.qualifiedName) has no argument '\(keyword.name)'", at: location)
    }
    var result: [Value] = []
    for (index, parameter) in parameters.enumerated() {
      let value: Value
      if index < argumentExprs.count {
        value = try emitValue(argumentExprs[index], typeHint: parameter.type)
      } else if let keyword = keywordExprs.first(where: { $0.name == parameter.name }) {
        value = try emitValue(keyword.value, typeHint: parameter.type)
      } else if let defaultValue = parameter.defaultValue {
        value = constant(defaultValue, type: defaultValue.isNone ? TorchType.none : nil, at: location)
      } else {
        throw SourceError("\(function.qualifiedName) is missing argument '\(parameter.name)'", at: location)
      }
      result.append(try coerce(value, to: parameter.type, at: location))
    }
    return result
  }

  // MARK: - Operator calls

  /// Emits a call of operator `name`, choosing the overload as TorchScript does: the first schema
  /// that matches without implicit conversions, else the first that matches with them.
  func emitOpCall(
    _ name: OpName, _ arguments: [Value], _ keywords: [(String, Value)], at location: SourceLocation
  ) throws -> [Value] {
    let schemas = registry.schemas(for: name)
    guard !schemas.isEmpty else {
      // Unknown ops pass through untouched; their result is assumed to be a tensor.
      guard keywords.isEmpty else {
        throw SourceError("unknown operator \(name) cannot take keyword arguments", at: location)
      }
      return append(name, arguments, [.tensor], at: location).outputs
    }
    for allowConversions in [false, true] {
      for schema in schemas {
        if let match = FunctionEmitter.match(
          schema, arguments, keywords, allowConversions: allowConversions)
        {
          return try emitMatched(match, at: location)
        }
      }
    }
    let given = arguments.map { $0.type.description } + keywords.map { "\($0.0)=\($0.1.type)" }
    throw SourceError(
      "no overload of \(name) accepts (\(given.joined(separator: ", "))); candidates: "
        + schemas.prefix(4).map(\.description).joined(separator: "; "), at: location)
  }

  private func emitMatched(_ match: MatchedCall, at location: SourceLocation) throws -> [Value] {
    var inputs: [Value] = []
    for plan in match.arguments {
      switch plan {
      case .value(let value):
        inputs.append(value)
      case .defaultValue(let defaultValue, let type, let size):
        let value = defaultValue.makeValue(for: type, fixedSize: size)
        inputs.append(constant(value, type: value.isNone ? TorchType.none : nil, at: location))
      case .retypedEmptyList(let value, let type):
        value.type = type
        inputs.append(value)
      case .repeated(let value, let count):
        let list = append(.listConstruct, Array(repeating: value, count: count), [.list(value.type)], at: location)
        inputs.append(list.output)
      case .tupleToList(let value, let elementType):
        guard case .tuple(let types) = value.type else { preconditionFailure("tuple conversion of a non-tuple") }
        let items: [Value]
        if value.node.kind == .tupleConstruct {
          items = value.node.inputs
        } else {
          items = append(.tupleUnpack, [value], types, at: location).outputs
        }
        inputs.append(append(.listConstruct, items, [.list(elementType)], at: location).output)
      case .converted(let value, let opName, let type):
        let node = append(OpName(opName), [value], [type], at: location)
        node.schema = registry.matchNode(OpName(opName), inputTypes: [value.type])
        inputs.append(node.output)
      }
    }
    let returnTypes: [TorchType] = match.schema.returns.map { match.bindings.substitute($0.type) }
    let node = append(match.schema.name, inputs, match.schema.isVarret ? [] : returnTypes, at: location)
    node.schema = match.schema
    return node.outputs
  }

  /// Tries `schema` against the given arguments; nil when it does not apply.
  static func match(
    _ schema: OpSchema, _ arguments: [Value], _ keywords: [(String, Value)], allowConversions: Bool
  ) -> MatchedCall? {
    let formals = schema.arguments
    let positionalCapacity = formals.filter { !$0.isKeywordOnly }.count
    if arguments.count > positionalCapacity && !schema.isVararg { return nil }
    var bindings = TypeBindings()
    var plans: [ArgumentPlan] = []
    var usedKeywords = 0
    for (index, formal) in formals.enumerated() {
      var given: Value?
      if index < arguments.count, !formal.isKeywordOnly {
        given = arguments[index]
      } else if let keyword = keywords.first(where: { $0.0 == formal.name }) {
        given = keyword.1
        usedKeywords += 1
      }
      if let value = given {
        guard let plan = matchArgument(value, formal, &bindings, allowConversions: allowConversions) else {
          return nil
        }
        plans.append(plan)
      } else if let defaultValue = formal.defaultValue {
        plans.append(.defaultValue(defaultValue, bindings.substitute(formal.type), formal.fixedSize))
      } else {
        return nil
      }
    }
    guard usedKeywords == keywords.count else { return nil }
    if schema.isVararg, arguments.count > positionalCapacity {
      for extra in arguments[positionalCapacity...] { plans.append(.value(extra)) }
    }
    return MatchedCall(schema: schema, arguments: plans, bindings: bindings)
  }

  private static func matchArgument(
    _ value: Value, _ formal: SchemaArgument, _ bindings: inout TypeBindings, allowConversions: Bool
  ) -> ArgumentPlan? {
    var trial = bindings
    if trial.match(value.type, formal.type) {
      bindings = trial
      return .value(value)
    }
    let target = formal.type.unwrappingOptional
    // `[]` literals take the parameter's list type.
    if value.node.kind == .listConstruct, value.node.inputs.isEmpty, !value.hasUses, case .list = target {
      return .retypedEmptyList(value, bindings.substitute(target))
    }
    // A single int or float stands for a fixed-size list of it.
    if let size = formal.fixedSize, case .list(let element) = target, value.type == element,
      element == .int || element == .float
    {
      return .repeated(value, size)
    }
    // Homogeneous tuples convert to lists.
    if case .tuple(let elements) = value.type, case .list(let element) = target, !elements.isEmpty {
      var elementBindings = bindings
      if elements.allSatisfy({ elementBindings.match($0, element) }) {
        bindings = elementBindings
        return .tupleToList(value, bindings.substitute(element))
      }
    }
    guard allowConversions else { return nil }
    let source = value.type
    switch (source, target) {
    case (.int, .tensor), (.float, .tensor), (.number, .tensor):
      return .converted(value, "prim::NumToTensor", .tensor)
    case (.bool, .tensor):
      return .converted(value, "prim::NumToTensor", .tensor)
    case (.tensor, .float):
      return .converted(value, "aten::FloatImplicit", .float)
    case (.tensor, .int):
      return .converted(value, "aten::IntImplicit", .int)
    case (.tensor, .number):
      return .converted(value, "aten::ScalarImplicit", .number)
    case (.number, .float), (.bool, .float):
      return .converted(value, "aten::Float", .float)
    case (.number, .int), (.bool, .int), (.bool, .number):
      return .converted(value, "aten::Int", .int)
    case (.string, .device):
      return .converted(value, "aten::device", .device)
    default:
      return nil
    }
  }

  /// A tuple value as a list of `type`'s element type, when `type` is a list.
  func convertTupleToList(_ value: Value, to type: TorchType, at location: SourceLocation) throws -> Value? {
    guard case .tuple(let types) = value.type, case .list(let element) = type.unwrappingOptional,
      types.allSatisfy({ $0.isSubtype(of: element) })
    else { return nil }
    let items = append(.tupleUnpack, [value], types, at: location).outputs
    return append(.listConstruct, items, [.list(element)], at: location).output
  }
}
