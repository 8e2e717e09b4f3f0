/// A TorchScript static type, as written in annotations (`List[int]`, `Optional[Tensor]`).
///
/// Types live beside values (not in the IR) because values carry them: a generic list or dict
/// records its element types, which archives store as `restore_type_tag` annotations.
public indirect enum TorchType: Hashable, Sendable, CustomStringConvertible {
  case tensor
  case int
  case float
  case bool
  case string
  case none
  case device
  case any
  /// `Scalar` in schemas: an int or a float.
  case number
  case complex
  /// `Layout`, `ScalarType`, `MemoryFormat`, `QScheme`: ints in TorchScript, named in schemas.
  case enumInt(String)
  case generator
  case storage
  case stream
  case capsule
  case list(TorchType)
  case tuple([TorchType])
  case optional(TorchType)
  case dict(key: TorchType, value: TorchType)
  case future(TorchType)
  case union([TorchType])
  /// A script class, module, named tuple or custom C++ class, by qualified name.
  case `class`(String)
  /// A schema type variable such as `t` in `append.t(t[] self, t el)`.
  case variable(String)
  /// A script function value, by qualified name (what `prim::CallFunction` calls).
  case function(String)

  public var description: String {
    switch self {
    case .tensor: "Tensor"
    case .int: "int"
    case .float: "float"
    case .bool: "bool"
    case .string: "str"
    case .none: "NoneType"
    case .device: "Device"
    case .any: "Any"
    case .number: "Scalar"
    case .complex: "complex"
    case .enumInt: "int"
    case .generator: "Generator"
    case .storage: "Storage"
    case .stream: "Stream"
    case .capsule: "Capsule"
    case .list(let element): "List[\(element)]"
    case .tuple(let elements):
      elements.isEmpty ? "Tuple[()]" : "Tuple[\(elements.map(\.description).joined(separator: ", "))]"
    case .optional(let wrapped): "Optional[\(wrapped)]"
    case .dict(let key, let value): "Dict[\(key), \(value)]"
    case .future(let element): "Future[\(element)]"
    case .union(let members): "Union[\(members.map(\.description).joined(separator: ", "))]"
    case .class(let name): name
    case .variable(let name): name
    case .function: "Function"
    }
  }

  /// The type with optionals removed (`Optional[T]` → `T`).
  public var unwrappingOptional: TorchType {
    if case .optional(let wrapped) = self { return wrapped }
    return self
  }

  /// True for `Optional[T]` and `NoneType`.
  public var acceptsNone: Bool {
    switch self {
    case .optional, .none, .any: true
    case .union(let members): members.contains(where: \.acceptsNone)
    default: false
    }
  }

  /// True when a value of this type can be used where `other` is expected.
  public func isSubtype(of other: TorchType) -> Bool {
    if self == other { return true }
    switch (self, other) {
    case (_, .any): return true
    case (.variable, _), (_, .variable): return true
    case (.int, .number), (.float, .number), (.complex, .number): return true
    case (.enumInt, .int), (.int, .enumInt), (.enumInt, .enumInt): return true
    case (.none, .optional): return true
    case (.optional(let wrapped), .optional(let target)): return wrapped.isSubtype(of: target)
    case (_, .optional(let wrapped)): return isSubtype(of: wrapped)
    case (.list(let a), .list(let b)): return a == b || b == .any || a.isSubtype(of: b) && b.isVariableLike
    case (.tuple(let a), .tuple(let b)):
      return a.count == b.count && zip(a, b).allSatisfy { $0.isSubtype(of: $1) }
    case (.dict(let ak, let av), .dict(let bk, let bv)):
      return (ak == bk || bk.isVariableLike) && (av == bv || bv.isVariableLike || bv == .any)
    case (.future(let a), .future(let b)): return a.isSubtype(of: b)
    case (.union(let members), _): return members.allSatisfy { $0.isSubtype(of: other) }
    case (_, .union(let members)): return members.contains { isSubtype(of: $0) }
    default: return false
    }
  }

  private var isVariableLike: Bool {
    if case .variable = self { return true }
    return self == .any
  }

  /// Parses an annotation as TorchScript prints it: `List[int]`, `Dict[str, Tensor]`,
  /// `Tuple[()]`, `Optional[__torch__.m.Foo]`, `NoneType`.
  public init?(annotation: String) {
    var parser = AnnotationParser(text: Array(annotation.utf8))
    guard let type = parser.parseType(), parser.atEnd else { return nil }
    self = type
  }
}

/// A small recursive-descent parser for type annotations.
private struct AnnotationParser {
  let text: [UInt8]
  var position = 0

  var atEnd: Bool {
    mutating get {
      skipSpaces()
      return position == text.count
    }
  }

  mutating func skipSpaces() {
    while position < text.count, text[position] == UInt8(ascii: " ") { position += 1 }
  }

  mutating func consume(_ character: Character) -> Bool {
    skipSpaces()
    guard position < text.count, text[position] == character.asciiValue! else { return false }
    position += 1
    return true
  }

  mutating func name() -> String? {
    skipSpaces()
    let start = position
    while position < text.count {
      let byte = text[position]
      let isName =
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
      guard isName else { break }
      position += 1
    }
    guard position > start else { return nil }
    return String(decoding: text[start..<position], as: UTF8.self)
  }

  mutating func arguments() -> [TorchType]? {
    guard consume("[") else { return nil }
    var result: [TorchType] = []
    if consume("(") {
      guard consume(")"), consume("]") else { return nil }
      return []
    }
    repeat {
      guard let element = parseType() else { return nil }
      result.append(element)
    } while consume(",")
    guard consume("]") else { return nil }
    return result
  }

  mutating func parseType() -> TorchType? {
    guard let head = name() else { return nil }
    switch head {
    case "Tensor": return .tensor
    case "int", "SymInt": return .int
    case "float": return .float
    case "bool": return .bool
    case "str": return .string
    case "NoneType", "None": return TorchType.none
    case "Device": return .device
    case "Any": return .any
    case "Scalar", "number": return .number
    case "complex": return .complex
    case "Generator": return .generator
    case "Storage": return .storage
    case "Stream": return .stream
    case "Capsule": return .capsule
    case "ScalarType", "Layout", "MemoryFormat", "QScheme": return .enumInt(head)
    case "List":
      guard let args = arguments(), args.count == 1 else { return nil }
      return .list(args[0])
    case "Optional":
      guard let args = arguments(), args.count == 1 else { return nil }
      return .optional(args[0])
    case "Future":
      guard let args = arguments(), args.count == 1 else { return nil }
      return .future(args[0])
    case "Dict":
      guard let args = arguments(), args.count == 2 else { return nil }
      return .dict(key: args[0], value: args[1])
    case "Tuple":
      guard let args = arguments() else { return nil }
      return .tuple(args)
    case "Union":
      guard let args = arguments() else { return nil }
      return .union(args)
    default:
      return .class(head)
    }
  }
}
