import TensorCore
import TorchIR

extension FunctionEmitter {
  /// Builtin names with special emission rules.
  static let specialNames: Set<String> = [
    "annotate", "unchecked_cast", "uninitialized", "isinstance", "getattr", "range", "print", "fork",
    "len", "int", "float", "bool", "str", "min", "max", "abs", "sorted", "round", "divmod", "hash",
    "all", "any", "sum", "ord", "chr", "list", "dict", "tuple",
  ]

  /// Emits `expr` and requires an SSA value.
  func emitValue(_ expr: Expr, typeHint: TorchType?) throws -> Value {
    let sugared = try emitSugared(expr, typeHint: typeHint)
    guard case .value(let value) = sugared else {
      throw SourceError("expected a value, found \(describe(sugared))", at: expr.location)
    }
    return value
  }

  func describe(_ sugared: Sugared) -> String {
    switch sugared {
    case .value(let value): "a value of type \(value.type)"
    case .namespace(let name): "namespace '\(name)'"
    case .op(let name): "operator \(name)"
    case .function(let function): "function \(function.qualifiedName)"
    case .classRef(let classType): "class \(classType.qualifiedName)"
    case .method(_, let function): "method \(function.name)"
    case .constantsTable: "CONSTANTS"
    case .special(let name): "builtin '\(name)'"
    }
  }

  /// Emits `expr`, which may be a value or something callable.
  func emitSugared(_ expr: Expr, typeHint: TorchType?, allowNoValue: Bool = false) throws -> Sugared {
    let location = expr.location
    switch expr.kind {
    case .name(let name):
      return try resolveName(name, at: location)
    case .int(let value):
      if typeHint?.unwrappingOptional == .float { return .value(constant(.double(Double(value)), at: location)) }
      return .value(constant(.int(value), at: location))
    case .float(let value):
      return .value(constant(.double(value), at: location))
    case .string(let value):
      return .value(constant(.string(value), at: location))
    case .bool(let value):
      return .value(constant(.bool(value), at: location))
    case .none:
      let type: TorchType = (typeHint?.acceptsNone ?? false) ? typeHint! : .none
      return .value(constant(.none, type: type == .any ? .none : type, at: location))
    case .ellipsis:
      throw SourceError("'...' is not supported here", at: location)
    case .attribute(let base, let name):
      return try emitAttribute(try emitSugared(base, typeHint: nil), name, at: location)
    case .call(let callee, let arguments, let keywords):
      return try emitCall(callee, arguments, keywords, typeHint: typeHint, allowNoValue: allowNoValue, at: location)
    case .subscript(let base, let items):
      return .value(try emitSubscript(base, items, at: location))
    case .slice:
      throw SourceError("a slice is only valid inside []", at: location)
    case .list(let items):
      return .value(try emitList(items, typeHint: typeHint, at: location))
    case .tuple(let items):
      var hints: [TorchType?] = Array(repeating: nil, count: items.count)
      if case .tuple(let types) = typeHint?.unwrappingOptional, types.count == items.count { hints = types }
      let values = try zip(items, hints).map { try emitValue($0, typeHint: $1) }
      return .value(append(.tupleConstruct, values, [.tuple(values.map(\.type))], at: location).output)
    case .dict(let entries):
      return .value(try emitDict(entries, typeHint: typeHint, at: location))
    case .unary(let op, let operand):
      return .value(try emitUnary(op, operand, at: location))
    case .binary(let op, let left, let right):
      return .value(try emitBinary(op, left, right, at: location))
    case .compare(let op, let left, let right):
      return .value(try emitCompare(op, left, right, at: location))
    case .and(let left, let right):
      return .value(try emitShortCircuit(isAnd: true, left, right, at: location))
    case .or(let left, let right):
      return .value(try emitShortCircuit(isAnd: false, left, right, at: location))
    case .ternary(let condition, let then, let otherwise):
      return .value(try emitTernary(condition, then, otherwise, typeHint: typeHint, at: location))
    case .starred:
      throw SourceError("starred expressions are not supported", at: location)
    }
  }

  // MARK: - Names and attributes

  private func resolveName(_ name: String, at location: SourceLocation) throws -> Sugared {
    if let bound = scope.lookup(name) { return bound }
    switch name {
    case "torch", "ops", "__torch__", "math": return .namespace(name)
    case "CONSTANTS": return .constantsTable
    case "inf": return .value(constant(.double(.infinity), at: location))
    case "nan": return .value(constant(.double(.nan), at: location))
    default:
      if FunctionEmitter.specialNames.contains(name) { return .special(name) }
      if let classType = unit.classType(name) { return .classRef(classType) }
      throw SourceError("undefined name '\(name)'", at: location)
    }
  }

  func emitAttribute(_ base: Sugared, _ name: String, at location: SourceLocation) throws -> Sugared {
    switch base {
    case .namespace(let prefix):
      switch prefix {
      case "torch":
        if name == "device" { return .special("torch.device") }
        return .op(OpName("aten::" + name))
      case "math":
        return .op(OpName("aten::" + name))
      case "ops":
        return .namespace("ops." + name)
      default:
        if prefix.hasPrefix("ops.") {
          return .op(OpName(String(prefix.dropFirst(4)) + "::" + name))
        }
        let qualified = prefix + "." + name
        if let classType = unit.classType(qualified) { return .classRef(classType) }
        if let function = unit.function(qualified) { return .function(function) }
        return .namespace(qualified)
      }
    case .constantsTable:
      guard name.hasPrefix("c"), let index = Int(name.dropFirst()), compiler.constants.indices.contains(index) else {
        throw SourceError("CONSTANTS has no entry '\(name)' (the table holds \(compiler.constants.count))", at: location)
      }
      let value = compiler.constants[index]
      return .value(constant(value, type: constantType(value), at: location))
    case .value(let object):
      return try emitValueAttribute(object, name, at: location)
    case .classRef(let classType):
      if name == "__new__" { return .special("__new__") }
      if let member = classType.enumValues.first(where: { $0.name == name }) {
        return .value(constant(member.value, at: location))
      }
      throw SourceError("class \(classType.qualifiedName) has no member '\(name)'", at: location)
    default:
      throw SourceError("\(describe(base)) has no attribute '\(name)'", at: location)
    }
  }

  /// The static type of a constant-table entry.
  func constantType(_ value: IValue) -> TorchType {
    switch value {
    case .object(let object): .class(object.typeName)
    default: Graph.constantType(of: value)
    }
  }

  private func emitValueAttribute(_ object: Value, _ name: String, at location: SourceLocation) throws -> Sugared {
    guard case .class(let className) = object.type else {
      throw SourceError("a value of type \(object.type) has no attribute '\(name)'", at: location)
    }
    guard let classType = unit.classType(className) else {
      throw SourceError("unknown class \(className)", at: location)
    }
    if let slot = classType.attribute(name) {
      if case .namedTuple = classType.kind, let index = classType.attributeIndex(name) {
        let indexValue = constant(.int(index), at: location)
        return .value(append(.tupleIndex, [object, indexValue], [slot.type], at: location).output)
      }
      let node = append(.getAttr, [object], [slot.type], at: location)
      node.setAttribute("name", .string(name))
      return .value(node.output)
    }
    if let value = classType.constant(name) {
      let type = classType.constants.first { $0.name == name }!.type
      return .value(constant(value, type: type, at: location))
    }
    if let method = classType.method(name) {
      return .method(receiver: object, function: method)
    }
    throw SourceError("\(className) has no attribute '\(name)'", at: location)
  }

  // MARK: - Literals

  private func emitList(_ items: [Expr], typeHint: TorchType?, at location: SourceLocation) throws -> Value {
    var elementHint: TorchType?
    if case .list(let element) = typeHint?.unwrappingOptional { elementHint = element }
    let values = try items.map { try emitValue($0, typeHint: elementHint) }
    let elementType: TorchType
    if let elementHint {
      elementType = elementHint
      for value in values where !value.type.isSubtype(of: elementHint) {
        throw SourceError("list element of type \(value.type) does not fit List[\(elementHint)]", at: location)
      }
    } else if values.isEmpty {
      elementType = .tensor
    } else {
      guard let unified = unifyTypes(values.map(\.type)) else {
        throw SourceError("list elements have incompatible types \(values.map(\.type))", at: location)
      }
      elementType = unified
    }
    return append(.listConstruct, values, [.list(elementType)], at: location).output
  }

  private func emitDict(_ entries: [(key: Expr, value: Expr)], typeHint: TorchType?, at location: SourceLocation)
    throws -> Value
  {
    var keyHint: TorchType?
    var valueHint: TorchType?
    if case .dict(let key, let value) = typeHint?.unwrappingOptional {
      keyHint = key
      valueHint = value
    }
    var inputs: [Value] = []
    var keyTypes: [TorchType] = []
    var valueTypes: [TorchType] = []
    for entry in entries {
      let key = try emitValue(entry.key, typeHint: keyHint)
      let value = try emitValue(entry.value, typeHint: valueHint)
      inputs += [key, value]
      keyTypes.append(key.type)
      valueTypes.append(value.type)
    }
    let keyType = keyHint ?? (keyTypes.isEmpty ? .string : unifyTypes(keyTypes) ?? .any)
    let valueType = valueHint ?? (valueTypes.isEmpty ? .tensor : unifyTypes(valueTypes) ?? .any)
    return append(.dictConstruct, inputs, [.dict(key: keyType, value: valueType)], at: location).output
  }

  /// The narrowest type all of `types` fit, or nil (`Tensor` and `None` give `Optional[Tensor]`).
  func unifyTypes(_ types: [TorchType]) -> TorchType? {
    guard var result = types.first else { return nil }
    for type in types.dropFirst() {
      guard let merged = unify(result, type) else { return nil }
      result = merged
    }
    return result
  }

  func unify(_ a: TorchType, _ b: TorchType) -> TorchType? {
    if a == b { return a }
    if a.isSubtype(of: b) { return b }
    if b.isSubtype(of: a) { return a }
    switch (a, b) {
    case (.none, _): return .optional(b)
    case (_, .none): return .optional(a)
    case (.optional(let x), _): return unify(x, b).map { .optional($0) }
    case (_, .optional(let y)): return unify(a, y).map { .optional($0) }
    case (.tuple(let x), .tuple(let y)) where x.count == y.count:
      var merged: [TorchType] = []
      for (p, q) in zip(x, y) {
        guard let m = unify(p, q) else { return nil }
        merged.append(m)
      }
      return .tuple(merged)
    default:
      return nil
    }
  }

  // MARK: - Operators

  private static let binaryOps: [String: String] = [
    "+": "aten::add", "-": "aten::sub", "*": "aten::mul", "/": "aten::div", "//": "aten::floordiv",
    "%": "aten::remainder", "**": "aten::pow", "@": "aten::matmul", "&": "aten::__and__", "|": "aten::__or__",
    "^": "aten::__xor__", "<<": "aten::__lshift__", ">>": "aten::__rshift__",
  ]

  private static let compareOps: [String: String] = [
    "==": "aten::eq", "!=": "aten::ne", "<": "aten::lt", "<=": "aten::le", ">": "aten::gt", ">=": "aten::ge",
    "is": "aten::__is__", "is not": "aten::__isnot__",
  ]

  func emitBinary(_ op: String, _ left: Expr, _ right: Expr, at location: SourceLocation) throws -> Value {
    guard let name = FunctionEmitter.binaryOps[op] else {
      throw SourceError("unsupported operator '\(op)'", at: location)
    }
    let lhs = try emitValue(left, typeHint: nil)
    let rhs = try emitValue(right, typeHint: nil)
    return try emitOpCall(OpName(name), [lhs, rhs], [], at: location).single(at: location)
  }

  private func emitCompare(_ op: String, _ left: Expr, _ right: Expr, at location: SourceLocation) throws -> Value {
    let lhs = try emitValue(left, typeHint: nil)
    let rhs = try emitValue(right, typeHint: nil)
    switch op {
    case "in":
      return try emitOpCall("aten::__contains__", [rhs, lhs], [], at: location).single(at: location)
    case "not in":
      let contained = try emitOpCall("aten::__contains__", [rhs, lhs], [], at: location).single(at: location)
      return try emitOpCall("aten::__not__", [contained], [], at: location).single(at: location)
    default:
      guard let name = FunctionEmitter.compareOps[op] else {
        throw SourceError("unsupported comparison '\(op)'", at: location)
      }
      return try emitOpCall(OpName(name), [lhs, rhs], [], at: location).single(at: location)
    }
  }

  private func emitUnary(_ op: String, _ operand: Expr, at location: SourceLocation) throws -> Value {
    let value = try emitValue(operand, typeHint: nil)
    switch op {
    case "not":
      let flag = try toBool(value, at: location)
      return try emitOpCall("aten::__not__", [flag], [], at: location).single(at: location)
    case "-":
      return try emitOpCall("aten::neg", [value], [], at: location).single(at: location)
    case "+":
      return value
    case "~":
      return try emitOpCall("aten::bitwise_not", [value], [], at: location).single(at: location)
    default:
      throw SourceError("unsupported operator '\(op)'", at: location)
    }
  }

  /// A bool for a condition: bools as they are, tensors through `aten::Bool`.
  func toBool(_ value: Value, at location: SourceLocation) throws -> Value {
    if value.type == .bool { return value }
    if value.type == .tensor || value.type == .int || value.type == .float {
      return try emitOpCall("aten::Bool", [value], [], at: location).single(at: location)
    }
    throw SourceError("expected a bool condition, found \(value.type)", at: location)
  }

  // MARK: - Subscripts

  private func emitSubscript(_ baseExpr: Expr, _ items: [Expr], at location: SourceLocation) throws -> Value {
    let base = try emitValue(baseExpr, typeHint: nil)
    guard items.count == 1 else {
      if base.type == .tensor { return try emitTensorIndex(base, items, at: location) }
      throw SourceError("multi-dimensional subscripts need a tensor", at: location)
    }
    let item = items[0]
    switch base.type {
    case .tuple(let elements):
      if case .slice(let lower, let upper, let step) = item.kind {
        guard step == nil else { throw SourceError("tuple slices with a step are not supported", at: location) }
        let start = try lower.map { try constantInt($0) } ?? 0
        let end = try upper.map { try constantInt($0) } ?? elements.count
        let range = normalizedRange(start, end, count: elements.count)
        let node = append(.tupleSlice, [base], [.tuple(Array(elements[range]))], at: location)
        node.setAttribute("beg", .int(range.lowerBound))
        node.setAttribute("end", .int(range.upperBound))
        return node.output
      }
      let index = try constantInt(item)
      let normalized = index < 0 ? index + elements.count : index
      guard elements.indices.contains(normalized) else {
        throw SourceError("tuple index \(index) is out of range for \(elements.count) elements", at: location)
      }
      let indexValue = constant(.int(index), at: location)
      return append(.tupleIndex, [base, indexValue], [elements[normalized]], at: location).output
    case .tensor:
      return try emitTensorIndex(base, items, at: location)
    default:
      if case .slice(let lower, let upper, let step) = item.kind {
        let start = try lower.map { try emitValue($0, typeHint: .int) } ?? constant(.none, at: location)
        let end = try upper.map { try emitValue($0, typeHint: .int) } ?? constant(.none, at: location)
        let stride = try step.map { try emitValue($0, typeHint: .int) } ?? constant(.int(1), at: location)
        return try emitOpCall("aten::slice", [base, start, end, stride], [], at: location).single(at: location)
      }
      let index = try emitValue(item, typeHint: nil)
      return try emitOpCall("aten::__getitem__", [base, index], [], at: location).single(at: location)
    }
  }

  private func normalizedRange(_ start: Int, _ end: Int, count: Int) -> Range<Int> {
    let lower = max(0, min(count, start < 0 ? start + count : start))
    let upper = max(lower, min(count, end < 0 ? end + count : end))
    return lower..<upper
  }

  /// `x[i]`, `x[a:b]`, `x[:, 1]` on tensors: selects and slices along successive dims.
  private func emitTensorIndex(_ base: Value, _ items: [Expr], at location: SourceLocation) throws -> Value {
    var result = base
    var dim = 0
    for item in items {
      switch item.kind {
      case .slice(let lower, let upper, let step):
        let dimValue = constant(.int(dim), at: location)
        let start = try lower.map { try emitValue($0, typeHint: .int) } ?? constant(.none, at: location)
        let end = try upper.map { try emitValue($0, typeHint: .int) } ?? constant(.none, at: location)
        let stride = try step.map { try emitValue($0, typeHint: .int) } ?? constant(.int(1), at: location)
        result = try emitOpCall("aten::slice", [result, dimValue, start, end, stride], [], at: location)
          .single(at: location)
        dim += 1
      case .none:
        let dimValue = constant(.int(dim), at: location)
        result = try emitOpCall("aten::unsqueeze", [result, dimValue], [], at: location).single(at: location)
        dim += 1
      default:
        let index = try emitValue(item, typeHint: nil)
        guard index.type == .int else {
          throw SourceError("tensor indexing with a \(index.type) is not supported", at: item.location)
        }
        let dimValue = constant(.int(dim), at: location)
        result = try emitOpCall("aten::select", [result, dimValue, index], [], at: location).single(at: location)
      }
    }
    return result
  }

  /// The value of an integer literal (tuple indices must be constants).
  func constantInt(_ expr: Expr) throws -> Int {
    if case .int(let value) = expr.kind { return value }
    throw SourceError("expected an integer constant", at: expr.location)
  }
}

extension Array where Element == Value {
  /// The only element: ops used as expressions must return exactly one value.
  func single(at location: SourceLocation) throws -> Value {
    guard count == 1 else { throw SourceError("expected an operator with one result, found \(count)", at: location) }
    return self[0]
  }
}
