import TensorCore

/// Namespace for the schema string lists (one file per op family under `Schemas/`).
enum OpSchemaList {
  /// Every family, in lookup order.
  static var all: [[String]] {
    [
      convolution, linear, normalization, activation, arithmetic, reduction, pooling, shape, creation,
      attention, builtins, prim, quantized, prepacked,
    ]
  }
}

/// The operators the IR knows: every schema, looked up by name or by full overload name.
///
/// An immutable value. `OpRegistry.standard` holds PyTorch's schemas for every op the supported
/// models use; ops outside it are still representable in the IR, just without a schema.
public struct OpRegistry: Sendable {
  private let byName: [OpName: [OpSchema]]
  private let byFullName: [String: OpSchema]

  /// A registry of `schemas` (overloads keep their order: resolution takes the first match).
  public init(schemas: [OpSchema]) {
    var byName: [OpName: [OpSchema]] = [:]
    var byFullName: [String: OpSchema] = [:]
    for schema in schemas {
      byName[schema.name, default: []].append(schema)
      byFullName[schema.fullName] = schema
    }
    self.byName = byName
    self.byFullName = byFullName
  }

  /// The registry of PyTorch's schemas (Sources/TorchIR/Schemas).
  public static let standard: OpRegistry = {
    var schemas: [OpSchema] = []
    for family in OpSchemaList.all {
      for text in family {
        do {
          schemas.append(try SchemaParser.parse(text))
        } catch {
          preconditionFailure("built-in schema does not parse: \(error)")
        }
      }
    }
    return OpRegistry(schemas: schemas)
  }()

  /// Every overload of `name`, in resolution order.
  public func schemas(for name: OpName) -> [OpSchema] {
    byName[name] ?? []
  }

  /// The overload with full name `fullName` (`aten::add.Tensor`).
  public func schema(fullName: String) -> OpSchema? {
    byFullName[fullName]
  }

  /// True when `name` has at least one schema.
  public func knows(_ name: OpName) -> Bool {
    byName[name] != nil
  }

  /// All full names, sorted.
  public var allFullNames: [String] { byFullName.keys.sorted() }

  /// The first overload of `name` whose arguments accept inputs of `types` exactly in order
  /// (no defaults, keywords or conversions): how a node in IR text finds its schema.
  public func matchNode(_ name: OpName, inputTypes: [TorchType]) -> OpSchema? {
    for schema in schemas(for: name) {
      if schema.isVararg {
        guard inputTypes.count >= schema.arguments.count else { continue }
      } else {
        guard inputTypes.count == schema.arguments.count else { continue }
      }
      var bindings = TypeBindings()
      var ok = true
      for (argument, type) in zip(schema.arguments, inputTypes) where !bindings.match(type, argument.type) {
        ok = false
        break
      }
      if ok { return schema }
    }
    return nil
  }
}

/// Type-variable bindings built while matching actual types against a schema.
public struct TypeBindings {
  /// Bound variables (`t` → `int`).
  public private(set) var variables: [String: TorchType] = [:]

  public init() {}

  /// True when a value of `actual` type can be passed where `formal` is expected, binding type
  /// variables on the way (`List[int]` against `t[]` binds `t` to `int`).
  public mutating func match(_ actual: TorchType, _ formal: TorchType) -> Bool {
    switch formal {
    case .variable(let name):
      if let bound = variables[name] {
        if actual.isSubtype(of: bound) { return true }
        if bound.isSubtype(of: actual) {
          variables[name] = actual
          return true
        }
        return false
      }
      variables[name] = actual
      return true
    case .any:
      return true
    case .optional(let wrapped):
      if actual == .none { return true }
      if case .optional(let inner) = actual { return match(inner, wrapped) }
      return match(actual, wrapped)
    case .list(let element):
      guard case .list(let actualElement) = actual else { return false }
      switch element {
      case .variable: return match(actualElement, element)
      case .any: return true
      default: return TypeBindings.sameElement(actualElement, element)
      }
    case .dict(let key, let value):
      guard case .dict(let actualKey, let actualValue) = actual else { return false }
      return match(actualKey, key) && match(actualValue, value)
    case .tuple(let elements):
      guard case .tuple(let actualElements) = actual, actualElements.count == elements.count else {
        return actual == .tuple([]) && elements.isEmpty
      }
      return zip(actualElements, elements).allSatisfy { match($0, $1) }
    case .future(let element):
      guard case .future(let actualElement) = actual else { return false }
      return match(actualElement, element)
    default:
      return actual.isSubtype(of: formal)
    }
  }

  /// Lists are invariant, except that the int-valued enums (`ScalarType`, ...) are ints.
  static func sameElement(_ a: TorchType, _ b: TorchType) -> Bool {
    if a == b { return true }
    switch (a, b) {
    case (.enumInt, .int), (.int, .enumInt), (.enumInt, .enumInt): return true
    default: return false
    }
  }

  /// `type` with bound variables substituted.
  public func substitute(_ type: TorchType) -> TorchType {
    switch type {
    case .variable(let name): return variables[name] ?? .any
    case .list(let element): return .list(substitute(element))
    case .optional(let wrapped): return .optional(substitute(wrapped))
    case .dict(let key, let value): return .dict(key: substitute(key), value: substitute(value))
    case .tuple(let elements): return .tuple(elements.map(substitute))
    case .future(let element): return .future(substitute(element))
    default: return type
    }
  }
}
