import Foundation
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
/// Immutable from the outside. `OpRegistry.standard` holds PyTorch's schemas for every op the
/// supported models use; ops outside it are still representable in the IR, just without a
/// schema. Schema text is parsed the first time its op is looked up: a model touches a few
/// hundred of the thousands of overloads, and parsing them all cost more than loading the model.
public struct OpRegistry: @unchecked Sendable {
  /// Schema texts by op name and by full name, fixed at creation.
  private let textsByName: [OpName: [String]]
  private let textByFullName: [String: String]
  private let cache: ParsedSchemas

  /// A registry of `schemas` (overloads keep their order: resolution takes the first match).
  public init(schemas: [OpSchema]) {
    textsByName = [:]
    textByFullName = [:]
    cache = ParsedSchemas()
    for schema in schemas {
      cache.byName[schema.name, default: []].append(schema)
      cache.byFullName[schema.fullName] = schema
    }
    cache.complete = true
  }

  /// A registry of schema texts, parsed on first use; the texts must parse.
  init(texts: [String]) {
    var textsByName: [OpName: [String]] = [:]
    var textByFullName: [String: String] = [:]
    textsByName.reserveCapacity(texts.count)
    textByFullName.reserveCapacity(texts.count)
    for text in texts {
      let fullName = OpRegistry.fullName(of: text)
      textsByName[OpRegistry.opName(ofFullName: fullName), default: []].append(text)
      textByFullName[String(fullName)] = text
    }
    self.textsByName = textsByName
    self.textByFullName = textByFullName
    cache = ParsedSchemas()
  }

  /// `aten::add.Tensor` in `aten::add.Tensor(Tensor self, ...) -> Tensor`.
  private static func fullName(of text: String) -> Substring {
    let utf8 = text.utf8
    let end = utf8.firstIndex(of: UInt8(ascii: "(")) ?? utf8.endIndex
    return text[..<end]
  }

  /// `aten::add` in `aten::add.Tensor`: the overload follows the first dot after `::`.
  private static func opName(ofFullName fullName: Substring) -> OpName {
    let utf8 = fullName.utf8
    var index = utf8.startIndex
    var sawSeparator = false
    var previous: UInt8 = 0
    while index != utf8.endIndex {
      let byte = utf8[index]
      if sawSeparator && byte == UInt8(ascii: ".") { return OpName(String(fullName[..<index])) }
      if byte == UInt8(ascii: ":") && previous == UInt8(ascii: ":") { sawSeparator = true }
      previous = byte
      index = utf8.index(after: index)
    }
    return OpName(String(fullName))
  }

  private static func parse(_ text: String) -> OpSchema {
    do {
      return try SchemaParser.parse(text)
    } catch {
      preconditionFailure("built-in schema does not parse: \(error)")
    }
  }

  /// The registry of PyTorch's schemas (Sources/TorchIR/Schemas).
  public static let standard = OpRegistry(texts: OpSchemaList.all.flatMap { $0 })

  /// Every overload of `name`, in resolution order.
  public func schemas(for name: OpName) -> [OpSchema] {
    cache.lock.lock()
    defer { cache.lock.unlock() }
    if let parsed = cache.byName[name] { return parsed }
    guard !cache.complete, let texts = textsByName[name] else { return [] }
    let parsed = texts.map { text in
      let fullName = String(OpRegistry.fullName(of: text))
      if let schema = cache.byFullName[fullName] { return schema }
      let schema = OpRegistry.parse(text)
      cache.byFullName[fullName] = schema
      return schema
    }
    cache.byName[name] = parsed
    return parsed
  }

  /// The overload with full name `fullName` (`aten::add.Tensor`).
  public func schema(fullName: String) -> OpSchema? {
    cache.lock.lock()
    defer { cache.lock.unlock() }
    if let schema = cache.byFullName[fullName] { return schema }
    guard !cache.complete, let text = textByFullName[fullName] else { return nil }
    let schema = OpRegistry.parse(text)
    cache.byFullName[fullName] = schema
    return schema
  }

  /// True when `name` has at least one schema.
  public func knows(_ name: OpName) -> Bool {
    if textsByName[name] != nil { return true }
    cache.lock.lock()
    defer { cache.lock.unlock() }
    return cache.byName[name] != nil
  }

  /// All full names, sorted.
  public var allFullNames: [String] {
    if !textByFullName.isEmpty { return textByFullName.keys.sorted() }
    cache.lock.lock()
    defer { cache.lock.unlock() }
    return cache.byFullName.keys.sorted()
  }

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

/// Schemas parsed so far, behind a lock (registries are shared across threads).
private final class ParsedSchemas: @unchecked Sendable {
  let lock = NSLock()
  var byName: [OpName: [OpSchema]] = [:]
  var byFullName: [String: OpSchema] = [:]
  /// True when every schema is here (a registry built from parsed schemas).
  var complete = false
}
