import TensorCore

/// An error in an operator schema string.
public struct SchemaParseError: Error, CustomStringConvertible {
  /// The schema text.
  public var schema: String
  /// Byte offset of the problem.
  public var offset: Int
  /// What was expected.
  public var message: String

  public var description: String { "schema '\(schema)': \(message) at offset \(offset)" }
}

/// Parses operator schemas in PyTorch's format (`native_functions.yaml` / `FunctionSchema`).
///
/// Grammar handled: `name[.overload](args) -> returns`, arguments `Type[alias] name[=default]`,
/// `*` for keyword-only, `...` for varargs; types `Tensor`, `int[2]`, `Tensor?`, `Tensor?[]`,
/// `Dict(str, t)`, `Future(t)`, `(Tensor, Tensor)` tuples, type variables (`t`), qualified class
/// names; alias annotations `(a)`, `(a!)`, `(a -> *)`, `(*)`, `(b|a)`.
public struct SchemaParser {
  private let text: [UInt8]
  private let source: String
  private var position = 0

  /// Parses one schema.
  public static func parse(_ schema: String) throws -> OpSchema {
    var parser = SchemaParser(source: schema)
    return try parser.parseSchema()
  }

  private init(source: String) {
    self.source = source
    self.text = Array(source.utf8)
  }

  // MARK: - Lexing helpers

  private mutating func skipSpaces() {
    while position < text.count, text[position] == UInt8(ascii: " ") { position += 1 }
  }

  private mutating func peek() -> UInt8? {
    skipSpaces()
    return position < text.count ? text[position] : nil
  }

  private mutating func consume(_ literal: StaticString) -> Bool {
    skipSpaces()
    let count = literal.utf8CodeUnitCount
    guard position + count <= text.count else { return false }
    let start = literal.utf8Start
    for offset in 0..<count where text[position + offset] != start[offset] { return false }
    position += count
    return true
  }

  private mutating func expect(_ literal: StaticString) throws {
    guard consume(literal) else { throw error("expected '\(literal)'") }
  }

  private func error(_ message: String) -> SchemaParseError {
    SchemaParseError(schema: source, offset: position, message: message)
  }

  private static func isIdentifierByte(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
      || byte == UInt8(ascii: "_")
  }

  private mutating func identifier(allowDots: Bool = false, allowColons: Bool = false) throws -> String {
    skipSpaces()
    let start = position
    while position < text.count {
      let byte = text[position]
      if SchemaParser.isIdentifierByte(byte) || (allowDots && byte == UInt8(ascii: ".")) {
        position += 1
      } else if allowColons, byte == UInt8(ascii: ":"), position + 1 < text.count,
        text[position + 1] == UInt8(ascii: ":")
      {
        position += 2
      } else {
        break
      }
    }
    guard position > start else { throw error("expected identifier") }
    return String(decoding: text[start..<position], as: UTF8.self)
  }

  // MARK: - Schema

  private mutating func parseSchema() throws -> OpSchema {
    let qualified = try identifier(allowDots: true, allowColons: true)
    let name: String
    let overload: String
    if let colon = OpName.separator(in: qualified), let dot = qualified[colon...].firstIndex(of: ".") {
      name = String(qualified[..<dot])
      overload = String(qualified[qualified.index(after: dot)...])
    } else {
      name = qualified
      overload = ""
    }
    try expect("(")
    var arguments: [SchemaArgument] = []
    var keywordOnly = false
    var isVararg = false
    if !consume(")") {
      repeat {
        if consume("*") {
          keywordOnly = true
          continue
        }
        if consume("...") {
          isVararg = true
          continue
        }
        var argument = try parseArgument(isReturn: false)
        argument.isKeywordOnly = keywordOnly
        arguments.append(argument)
      } while consume(",")
      try expect(")")
    }
    try expect("->")
    var returns: [SchemaArgument] = []
    var isVarret = false
    if consume("...") {
      isVarret = true
    } else if peek() == UInt8(ascii: "(") {
      position += 1
      if !consume(")") {
        repeat {
          if consume("...") {
            isVarret = true
            continue
          }
          returns.append(try parseArgument(isReturn: true))
        } while consume(",")
        try expect(")")
      }
    } else {
      returns.append(try parseArgument(isReturn: true))
    }
    skipSpaces()
    guard position == text.count else { throw error("unexpected trailing text") }
    return OpSchema(
      name: OpName(name), overloadName: overload, arguments: arguments, returns: returns,
      isVararg: isVararg, isVarret: isVarret)
  }

  private mutating func parseArgument(isReturn: Bool) throws -> SchemaArgument {
    let (type, fixedSize, alias) = try parseType()
    var name = ""
    if let byte = peek(), SchemaParser.isIdentifierByte(byte) {
      name = try identifier()
    }
    var defaultValue: SchemaDefault?
    if !isReturn, consume("=") {
      defaultValue = try parseDefault(for: type)
    }
    return SchemaArgument(
      name: name, type: type, fixedSize: fixedSize, defaultValue: defaultValue, isKeywordOnly: false,
      alias: alias)
  }

  // MARK: - Types

  private mutating func parseType() throws -> (TorchType, Int?, AliasAnnotation?) {
    var type: TorchType
    if peek() == UInt8(ascii: "(") {
      position += 1
      var elements: [TorchType] = []
      if !consume(")") {
        repeat {
          elements.append(try parseType().0)
        } while consume(",")
        try expect(")")
      }
      type = .tuple(elements)
    } else {
      let head = try identifier(allowDots: true)
      type = try baseType(head)
    }
    var fixedSize: Int?
    var alias: AliasAnnotation?
    while true {
      if peek() == UInt8(ascii: "("), alias == nil {
        alias = try parseAlias()
      } else if consume("[") {
        var size: Int?
        skipSpaces()
        let start = position
        while position < text.count, text[position] >= 0x30, text[position] <= 0x39 { position += 1 }
        if position > start { size = Int(String(decoding: text[start..<position], as: UTF8.self)) }
        try expect("]")
        type = .list(type)
        fixedSize = size
      } else if consume("?") {
        type = .optional(type)
      } else {
        break
      }
    }
    return (type, fixedSize, alias)
  }

  private mutating func parseAlias() throws -> AliasAnnotation {
    try expect("(")
    var sets: [String] = []
    var isWrite = false
    var wildcard = false
    if consume("*") {
      sets = ["*"]
    } else {
      repeat {
        sets.append(try identifier())
      } while consume("|")
    }
    if consume("!") { isWrite = true }
    if consume("->") {
      if consume("*") {
        wildcard = true
      } else {
        _ = try identifier()
      }
      if consume("!") { isWrite = true }
    }
    try expect(")")
    return AliasAnnotation(sets: sets, isWrite: isWrite, entersWildcard: wildcard)
  }

  private mutating func baseType(_ head: String) throws -> TorchType {
    switch head {
    case "Tensor": return .tensor
    case "int", "SymInt": return .int
    case "float": return .float
    case "bool": return .bool
    case "str": return .string
    case "Scalar": return .number
    case "complex": return .complex
    case "Device": return .device
    case "Generator": return .generator
    case "Storage": return .storage
    case "Stream": return .stream
    case "Any": return .any
    // Only enum and class values match these; no value of a builtin type does.
    case "AnyEnumType", "AnyClassType": return .class(head)
    case "NoneType": return .none
    case "Capsule": return .capsule
    case "ScalarType", "Layout", "MemoryFormat", "QScheme": return .enumInt(head)
    case "Dict":
      try expect("(")
      let key = try parseType().0
      try expect(",")
      let value = try parseType().0
      try expect(")")
      return .dict(key: key, value: value)
    case "Future", "Await", "RRef":
      try expect("(")
      let element = try parseType().0
      try expect(")")
      return .future(element)
    case "Union":
      try expect("(")
      var members: [TorchType] = []
      repeat {
        members.append(try parseType().0)
      } while consume(",")
      try expect(")")
      return .union(members)
    default:
      if head.contains(".") { return .class(head) }
      // Lower-case single identifiers that are not types are type variables (t, t1, tVal).
      return .variable(head)
    }
  }

  // MARK: - Defaults

  private static let namedDefaults: [String: SchemaDefault] = [
    "None": .none, "True": .bool(true), "False": .bool(false),
    "contiguous_format": .int(0), "preserve_format": .int(1), "channels_last": .int(2),
    "channels_last_3d": .int(3), "strided": .int(0), "Mean": .int(1), "Sum": .int(2),
    "long": .int(4), "int": .int(3), "float": .int(6), "double": .int(7), "bool": .int(11),
    "half": .int(5), "per_tensor_affine": .int(0), "inf": .double(.infinity),
  ]

  private mutating func parseDefault(for type: TorchType) throws -> SchemaDefault {
    skipSpaces()
    guard let byte = peek() else { throw error("expected default value") }
    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
      position += 1
      let start = position
      while position < text.count, text[position] != byte { position += 1 }
      guard position < text.count else { throw error("unterminated string") }
      let value = String(decoding: text[start..<position], as: UTF8.self)
      position += 1
      return .string(value)
    }
    if byte == UInt8(ascii: "[") {
      position += 1
      var items: [SchemaDefault] = []
      if !consume("]") {
        repeat {
          items.append(try parseDefault(for: type))
        } while consume(",")
        try expect("]")
      }
      if items.allSatisfy({ if case .int = $0 { true } else { false } }) {
        return .intList(items.map { if case .int(let v) = $0 { v } else { 0 } })
      }
      if items.allSatisfy({ if case .bool = $0 { true } else { false } }) {
        return .boolList(items.map { if case .bool(let v) = $0 { v } else { false } })
      }
      return .doubleList(
        items.map {
          switch $0 {
          case .int(let v): Double(v)
          case .double(let v): v
          default: 0
          }
        })
    }
    let start = position
    while position < text.count {
      let byte = text[position]
      if SchemaParser.isIdentifierByte(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        || byte == UInt8(ascii: "+")
      {
        position += 1
      } else {
        break
      }
    }
    let token = String(decoding: text[start..<position], as: UTF8.self)
    if let named = SchemaParser.namedDefaults[token] { return named }
    if let value = Int(token) { return .int(value) }
    if let value = Double(token) { return .double(value) }
    throw error("unknown default value '\(token)'")
  }

  /// Prints a type in schema syntax (`Tensor?`, `int[2]`, `Dict(str, t)`).
  public static func render(_ type: TorchType, fixedSize: Int? = nil) -> String {
    switch type {
    case .optional(let wrapped): return render(wrapped, fixedSize: fixedSize) + "?"
    case .list(let element): return render(element) + "[\(fixedSize.map(String.init) ?? "")]"
    case .dict(let key, let value): return "Dict(\(render(key)), \(render(value)))"
    case .future(let element): return "Future(\(render(element)))"
    case .tuple(let elements): return "(" + elements.map { render($0) }.joined(separator: ", ") + ")"
    case .enumInt(let name): return name
    case .any: return "Any"
    case .number: return "Scalar"
    default: return type.description
    }
  }
}
