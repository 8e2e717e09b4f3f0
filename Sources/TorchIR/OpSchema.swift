import TensorCore

/// A schema argument's default value, as written in the schema (`=1`, `=[0, 0]`, `=None`).
///
/// Kept apart from `IValue` so that a default list is never a shared mutable object.
public enum SchemaDefault: Sendable, Equatable, CustomStringConvertible {
  case none
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case intList([Int])
  case doubleList([Double])
  case boolList([Bool])

  /// A fresh runtime value for this default, for an argument of `type` with fixed size `n`
  /// (`int[2] stride=1` means `[1, 1]`).
  public func makeValue(for type: TorchType, fixedSize: Int?) -> IValue {
    switch self {
    case .none: return .none
    case .bool(let value): return .bool(value)
    case .int(let value):
      if case .list = type.unwrappingOptional {
        return .list(ListValue(Array(repeating: .int(value), count: fixedSize ?? 1), elementType: .int))
      }
      return type.unwrappingOptional == .float ? .double(Double(value)) : .int(value)
    case .double(let value):
      if case .list = type.unwrappingOptional {
        return .list(ListValue(Array(repeating: .double(value), count: fixedSize ?? 1), elementType: .float))
      }
      return .double(value)
    case .string(let value): return .string(value)
    case .intList(let values):
      if values.isEmpty, case .list(let element) = type.unwrappingOptional {
        return .list(ListValue([], elementType: element))
      }
      return .list(ListValue(values.map { .int($0) }, elementType: .int))
    case .doubleList(let values):
      return .list(ListValue(values.map { .double($0) }, elementType: .float))
    case .boolList(let values):
      return .list(ListValue(values.map { .bool($0) }, elementType: .bool))
    }
  }

  public var description: String {
    switch self {
    case .none: "None"
    case .bool(let value): value ? "True" : "False"
    case .int(let value): String(value)
    case .double(let value): String(value)
    case .string(let value): "\"\(value)\""
    case .intList(let values): "[\(values.map(String.init).joined(separator: ", "))]"
    case .doubleList(let values): "[\(values.map { String($0) }.joined(separator: ", "))]"
    case .boolList(let values): "[\(values.map { $0 ? "True" : "False" }.joined(separator: ", "))]"
    }
  }
}

/// Alias annotation of a schema argument or return: `Tensor(a!)` writes alias set `a`.
public struct AliasAnnotation: Sendable, Equatable {
  /// The alias sets before `->` (`a` in `Tensor(a -> *)`).
  public var sets: [String]
  /// True for `!`: the op writes to this argument in place.
  public var isWrite: Bool
  /// True when the value may alias a wildcard (`*`), e.g. `t(c -> *)` elements stored in a list.
  public var entersWildcard: Bool
}

/// One argument or return of an operator schema.
public struct SchemaArgument: Sendable {
  /// The argument name (empty for unnamed returns).
  public var name: String
  /// The static type (`Tensor?` is `.optional(.tensor)`, `int[2]` is `.list(.int)`).
  public var type: TorchType
  /// The fixed list length in `int[2]`, which lets a single int stand for the whole list.
  public var fixedSize: Int?
  /// The default when the argument is omitted.
  public var defaultValue: SchemaDefault?
  /// True for arguments after `*`: they can only be passed by keyword.
  public var isKeywordOnly: Bool
  /// Aliasing and mutation, when annotated.
  public var alias: AliasAnnotation?

  /// True when the op writes into this argument (`Tensor(a!)`).
  public var isWritten: Bool { alias?.isWrite ?? false }
}

/// An operator signature in PyTorch's schema format, for example
/// `aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, ...) -> Tensor`.
public final class OpSchema: Sendable, CustomStringConvertible {
  /// The operator name without overload (`aten::add`).
  public let name: OpName
  /// The overload name (`Tensor` in `aten::add.Tensor`; empty for the default overload).
  public let overloadName: String
  /// Arguments in order.
  public let arguments: [SchemaArgument]
  /// Returns in order.
  public let returns: [SchemaArgument]
  /// True when the argument list ends with `...` (extra positional arguments of any type).
  public let isVararg: Bool
  /// True when the returns are `...` (any number).
  public let isVarret: Bool
  /// True when some argument is written in place. (Stored: dead-code and alias analysis ask it
  /// for every node.)
  public let isMutating: Bool
  /// True when some argument or return carries an alias annotation (`Tensor(a)`, `Tensor(a!)`).
  public let hasAliasAnnotations: Bool

  public init(
    name: OpName, overloadName: String, arguments: [SchemaArgument], returns: [SchemaArgument],
    isVararg: Bool, isVarret: Bool
  ) {
    self.name = name
    self.overloadName = overloadName
    self.arguments = arguments
    self.returns = returns
    self.isVararg = isVararg
    self.isVarret = isVarret
    self.isMutating = arguments.contains { $0.isWritten }
    self.hasAliasAnnotations = arguments.contains { $0.alias != nil } || returns.contains { $0.alias != nil }
  }

  /// `aten::add.Tensor`, or `aten::add` for the default overload.
  public var fullName: String {
    overloadName.isEmpty ? name.rawValue : "\(name.rawValue).\(overloadName)"
  }

  /// The index of the argument called `name`.
  public func argumentIndex(_ name: String) -> Int? {
    arguments.firstIndex { $0.name == name }
  }

  public var description: String {
    func render(_ argument: SchemaArgument, isReturn: Bool) -> String {
      var type = SchemaParser.render(argument.type, fixedSize: argument.fixedSize)
      if let alias = argument.alias {
        let sets = alias.sets.joined(separator: "|") + (alias.isWrite ? "!" : "")
        type = insertAlias(type, "(\(sets)\(alias.entersWildcard ? " -> *" : ""))")
      }
      var text = type
      if !argument.name.isEmpty { text += " " + argument.name }
      if let value = argument.defaultValue { text += "=\(value)" }
      return text
    }
    func insertAlias(_ type: String, _ alias: String) -> String {
      // The alias annotation goes after the base type name, before list/optional suffixes.
      if let index = type.firstIndex(where: { $0 == "[" || $0 == "?" }) {
        return type[..<index] + alias + type[index...]
      }
      return type + alias
    }
    var parts: [String] = []
    var sawKeywordOnly = false
    for argument in arguments {
      if argument.isKeywordOnly && !sawKeywordOnly {
        parts.append("*")
        sawKeywordOnly = true
      }
      parts.append(render(argument, isReturn: false))
    }
    if isVararg { parts.append("...") }
    let returnText: String
    if isVarret {
      returnText = "..."
    } else if returns.count == 1 && returns[0].name.isEmpty {
      returnText = render(returns[0], isReturn: true)
    } else {
      returnText = "(" + returns.map { render($0, isReturn: true) }.joined(separator: ", ") + ")"
    }
    return "\(fullName)(\(parts.joined(separator: ", "))) -> \(returnText)"
  }
}
