import TensorCore

/// An error in graph text, with its line and column.
public struct IRParseError: Error, CustomStringConvertible {
  /// 1-based line.
  public var line: Int
  /// 1-based column.
  public var column: Int
  /// What went wrong.
  public var message: String

  public var description: String { "<ir>:\(line):\(column): \(message)" }
}

/// Parses graphs in the text form `GraphPrinter` writes (and `torch.jit` prints).
///
/// Pass tests are written in this form: IR text in, run a pass, check lines out. Nodes whose kind
/// has schemas in the registry get the first overload matching their input types.
public struct IRParser {
  private var lines: [Substring]
  private var lineIndex = 0
  private var values: [String: Value] = [:]
  private let registry: OpRegistry
  private let graph = Graph()

  /// Parses one graph.
  public static func parse(_ text: String, registry: OpRegistry = .standard) throws -> Graph {
    var parser = IRParser(text: text, registry: registry)
    return try parser.parseGraph()
  }

  private init(text: String, registry: OpRegistry) {
    self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    self.registry = registry
  }

  // MARK: - Lines

  /// Leading spaces; a node without outputs prints as ` = kind(...)`, one space deeper.
  private func indentation(_ line: Substring) -> Int {
    let spaces = line.prefix { $0 == " " }.count
    return line.dropFirst(spaces).hasPrefix("= ") && spaces > 0 ? spaces - 1 : spaces
  }

  private func isBlank(_ line: Substring) -> Bool {
    let trimmed = line.drop { $0 == " " }
    return trimmed.isEmpty || trimmed.hasPrefix("#")
  }

  private mutating func skipBlankLines() {
    while lineIndex < lines.count, isBlank(lines[lineIndex]) { lineIndex += 1 }
  }

  private func error(_ message: String, column: Int = 1) -> IRParseError {
    IRParseError(line: lineIndex + 1, column: column, message: message)
  }

  // MARK: - Graph

  private mutating func parseGraph() throws -> Graph {
    skipBlankLines()
    guard lineIndex < lines.count else { throw error("expected 'graph('") }
    // The header may span several lines: join until the closing "):".
    var header = String(lines[lineIndex])
    let headerLine = lineIndex
    while !header.trimmingTrailingSpaces().hasSuffix("):") {
      lineIndex += 1
      guard lineIndex < lines.count else { throw error("unterminated graph header") }
      header += " " + lines[lineIndex].drop { $0 == " " }
    }
    lineIndex += 1
    var scanner = LineScanner(String(header), line: headerLine + 1)
    try scanner.expect("graph")
    try scanner.expect("(")
    if !scanner.consume(")") {
      repeat {
        let name = try scanner.valueName()
        try scanner.expect(":")
        let type = try scanner.type()
        try define(name, graph.addInput(type), scanner: scanner)
      } while scanner.consume(",")
      try scanner.expect(")")
    }
    try scanner.expect(":")
    try parseBlockBody(graph.block, indent: nil, isGraphBody: true)
    skipBlankLines()
    guard lineIndex >= lines.count else { throw error("unexpected text after the graph's return") }
    return graph
  }

  private mutating func define(_ name: String, _ value: Value, scanner: LineScanner) throws {
    guard values[name] == nil else { throw scanner.error("value %\(name) is defined twice") }
    values[name] = value
    if Int(name) == nil { value.debugName = name }
  }

  /// Parses node lines at one indentation until the block's `return` / `->` line.
  private mutating func parseBlockBody(_ block: Block, indent expected: Int?, isGraphBody: Bool) throws {
    var indent = expected
    while true {
      skipBlankLines()
      guard lineIndex < lines.count else { throw error("missing \(isGraphBody ? "return" : "->") line") }
      let line = lines[lineIndex]
      let lineIndent = indentation(line)
      if indent == nil { indent = lineIndent }
      guard lineIndent == indent else {
        throw error("unexpected indentation \(lineIndent), expected \(indent!)", column: lineIndent + 1)
      }
      var scanner = LineScanner(String(line), line: lineIndex + 1)
      lineIndex += 1
      if isGraphBody, scanner.consume("return") {
        for value in try parseValueList(&scanner) { block.addOutput(value) }
        try scanner.expectEnd()
        return
      }
      if !isGraphBody, scanner.consume("->") {
        for value in try parseValueList(&scanner) { block.addOutput(value) }
        try scanner.expectEnd()
        return
      }
      try parseNode(&scanner, into: block, indent: lineIndent)
    }
  }

  private mutating func parseValueList(_ scanner: inout LineScanner) throws -> [Value] {
    try scanner.expect("(")
    var result: [Value] = []
    if !scanner.consume(")") {
      repeat {
        result.append(try use(&scanner))
      } while scanner.consume(",")
      try scanner.expect(")")
    }
    return result
  }

  private mutating func use(_ scanner: inout LineScanner) throws -> Value {
    let name = try scanner.valueName()
    guard let value = values[name] else { throw scanner.error("use of undefined value %\(name)") }
    return value
  }

  // MARK: - Nodes

  private mutating func parseNode(_ scanner: inout LineScanner, into block: Block, indent: Int) throws {
    var outputs: [(String, TorchType)] = []
    if scanner.peekIsValueName() {
      repeat {
        let name = try scanner.valueName()
        try scanner.expect(":")
        outputs.append((name, try scanner.type()))
      } while scanner.consume(",")
      try scanner.expect("=")
    }
    _ = scanner.consume("=")
    let kind = OpName(try scanner.qualifiedName())
    var rawAttributes: [(String, RawAttribute)] = []
    if scanner.consume("[") {
      if !scanner.consume("]") {
        repeat {
          let name = try scanner.identifier()
          try scanner.expect("=")
          rawAttributes.append((name, try scanner.rawAttribute()))
        } while scanner.consume(",")
        try scanner.expect("]")
      }
    }
    let inputs = try parseValueList(&scanner)
    try scanner.expectEnd()

    let node = graph.create(kind, inputs: inputs)
    for (name, type) in outputs {
      try define(name, node.addOutput(type), scanner: scanner)
    }
    for (name, raw) in rawAttributes {
      node.setAttribute(name, try attribute(raw, named: name, for: node, scanner: scanner))
    }
    if kind == .constant, let name = node.stringAttribute("name"), let out = node.outputs.first,
      case .function = out.type
    {
      out.type = .function(name)
    }
    if kind == .constant, node.attribute("value") == nil, node.attribute("name") == nil,
      let out = node.outputs.first, out.type != .none, !out.type.acceptsNone
    {
      throw scanner.error("constant of type \(out.type) has no value")
    }
    block.append(node)
    if registry.knows(kind) {
      node.schema = registry.matchNode(kind, inputTypes: inputs.map(\.type))
    }
    // Sub-blocks follow at a deeper indentation.
    var index = 0
    while true {
      skipBlankLines()
      guard lineIndex < lines.count else { break }
      let line = lines[lineIndex]
      guard indentation(line) > indent, line.drop(while: { $0 == " " }).hasPrefix("block\(index)(") else { break }
      var header = LineScanner(String(line), line: lineIndex + 1)
      lineIndex += 1
      let sub = node.addBlock()
      try header.expect("block\(index)")
      try header.expect("(")
      if !header.consume(")") {
        repeat {
          let name = try header.valueName()
          try header.expect(":")
          try define(name, sub.addInput(try header.type()), scanner: header)
        } while header.consume(",")
        try header.expect(")")
      }
      try header.expect(":")
      try header.expectEnd()
      try parseBlockBody(sub, indent: nil, isGraphBody: false)
      index += 1
    }
  }

  private func attribute(_ raw: RawAttribute, named name: String, for node: Node, scanner: LineScanner) throws
    -> NodeAttribute
  {
    if node.kind == .constant, name == "value" {
      guard let type = node.outputs.first?.type else { throw scanner.error("constant without output") }
      return .value(try constantValue(raw, type: type, scanner: scanner))
    }
    switch raw {
    case .string(let text): return .string(text)
    case .number(let text):
      guard let value = Int(text) else { throw scanner.error("expected an integer attribute, got \(text)") }
      return .int(value)
    case .list(let items):
      var strings: [String] = []
      for item in items {
        guard case .string(let text) = item else { throw scanner.error("expected a list of strings") }
        strings.append(text)
      }
      return .strings(strings)
    case .types(let types): return .types(types)
    case .opaque(let text): throw scanner.error("attribute \(name)=\(text) cannot be parsed")
    }
  }

  private func constantValue(_ raw: RawAttribute, type: TorchType, scanner: LineScanner) throws -> IValue {
    switch (raw, type.unwrappingOptional) {
    case (.number(let text), .int), (.number(let text), .enumInt):
      guard let value = Int(text) else { throw scanner.error("expected int constant, got \(text)") }
      return .int(value)
    case (.number(let text), .bool):
      return .bool(text != "0")
    case (.number(let text), .float), (.number(let text), .number):
      if type.unwrappingOptional == .number, let value = Int(text) { return .int(value) }
      guard let value = IRParser.parseFloat(text) else { throw scanner.error("expected float constant, got \(text)") }
      return .double(value)
    case (.string(let text), .string): return .string(text)
    case (.string(let text), .device): return .device(text)
    case (.list(let items), .list(let element)):
      return .list(ListValue(try items.map { try constantValue($0, type: element, scanner: scanner) }, elementType: element))
    case (.opaque("<Tensor>"), .tensor):
      // Tensor data has no text form: the parser makes an empty placeholder.
      return .tensor(Tensor(zeros: [0]))
    case (.opaque("<Object>"), .class(let name)):
      return .object(ScriptObject(typeName: name))
    case (.opaque(let text), _):
      throw scanner.error("constant value \(text) cannot be written in IR text")
    default:
      throw scanner.error("constant value does not fit type \(type)")
    }
  }

  /// Parses a float as TorchScript prints it (`2.`, `1e-05`, `inf`, `-inf`, `nan`).
  public static func parseFloat(_ text: String) -> Double? {
    switch text {
    case "inf": return .infinity
    case "-inf": return -.infinity
    case "nan": return .nan
    default:
      var normalized = text
      if normalized.hasSuffix(".") { normalized += "0" }
      return Double(normalized)
    }
  }
}

/// An attribute value before the node's types tell how to read it.
enum RawAttribute {
  case number(String)
  case string(String)
  case list([RawAttribute])
  case types([TorchType])
  case opaque(String)
}

/// A character scanner over one logical line of IR text.
struct LineScanner {
  private let bytes: [UInt8]
  private var position = 0
  private let line: Int

  init(_ text: String, line: Int) {
    self.bytes = Array(text.utf8)
    self.line = line
  }

  func error(_ message: String) -> IRParseError {
    IRParseError(line: line, column: position + 1, message: message)
  }

  mutating func skipSpaces() {
    while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
  }

  mutating func consume(_ literal: String) -> Bool {
    skipSpaces()
    let expected = Array(literal.utf8)
    guard position + expected.count <= bytes.count,
      Array(bytes[position..<position + expected.count]) == expected
    else { return false }
    position += expected.count
    return true
  }

  mutating func expect(_ literal: String) throws {
    guard consume(literal) else { throw error("expected '\(literal)'") }
  }

  mutating func expectEnd() throws {
    skipSpaces()
    if position < bytes.count, bytes[position] == UInt8(ascii: "#") { return }
    guard position == bytes.count else { throw error("unexpected text at end of line") }
  }

  mutating func peekIsValueName() -> Bool {
    skipSpaces()
    return position < bytes.count && bytes[position] == UInt8(ascii: "%")
  }

  private static func isNameByte(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
      || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
  }

  mutating func valueName() throws -> String {
    try expect("%")
    let start = position
    while position < bytes.count, LineScanner.isNameByte(bytes[position]) { position += 1 }
    guard position > start else { throw error("expected a value name after '%'") }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }

  mutating func identifier() throws -> String {
    skipSpaces()
    let start = position
    while position < bytes.count, LineScanner.isNameByte(bytes[position]), bytes[position] != UInt8(ascii: ".") {
      position += 1
    }
    guard position > start else { throw error("expected an identifier") }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }

  mutating func qualifiedName() throws -> String {
    skipSpaces()
    let start = position
    while position < bytes.count {
      let byte = bytes[position]
      if LineScanner.isNameByte(byte) {
        position += 1
      } else if byte == UInt8(ascii: ":"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: ":") {
        position += 2
      } else {
        break
      }
    }
    guard position > start else { throw error("expected an op name") }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }

  /// Reads a type up to the next top-level `,`, `=`, `)` or end of line.
  mutating func type() throws -> TorchType {
    skipSpaces()
    let start = position
    var depth = 0
    while position < bytes.count {
      let byte = bytes[position]
      if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") {
        depth += 1
      } else if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]") {
        if depth == 0 { break }
        depth -= 1
      } else if depth == 0, byte == UInt8(ascii: ",") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: ":") {
        if byte == UInt8(ascii: ":") {
          // `::` never appears in types; a lone ':' ends a block header.
          break
        }
        break
      }
      position += 1
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self).trimmingTrailingSpaces()
    guard !text.isEmpty else { throw error("expected a type") }
    guard let type = IRTypeSyntax.parse(text) else { throw error("unknown type '\(text)'") }
    return type
  }

  mutating func rawAttribute() throws -> RawAttribute {
    skipSpaces()
    guard position < bytes.count else { throw error("expected an attribute value") }
    let byte = bytes[position]
    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
      return .string(try quotedString())
    }
    if byte == UInt8(ascii: "[") {
      // A list of values, or a list of types (for prim::isinstance).
      position += 1
      var items: [RawAttribute] = []
      if consume("]") { return .list([]) }
      let save = position
      if let first = try? rawAttribute(), case .opaque = first {
        position = save
        var types: [TorchType] = []
        repeat {
          skipSpaces()
          types.append(try type())
        } while consume(",")
        try expect("]")
        return .types(types)
      }
      position = save
      repeat {
        items.append(try rawAttribute())
      } while consume(",")
      try expect("]")
      return .list(items)
    }
    if byte == UInt8(ascii: "<") {
      let start = position
      while position < bytes.count, bytes[position] != UInt8(ascii: ">") { position += 1 }
      position = min(position + 1, bytes.count)
      return .opaque(String(decoding: bytes[start..<position], as: UTF8.self))
    }
    let start = position
    while position < bytes.count {
      let current = bytes[position]
      if LineScanner.isNameByte(current) || current == UInt8(ascii: "-") || current == UInt8(ascii: "+") {
        position += 1
      } else {
        break
      }
    }
    guard position > start else { throw error("expected an attribute value") }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    if text.first!.isNumber || text.first == "-" || text == "inf" || text == "nan" {
      return .number(text)
    }
    return .opaque(text)
  }

  private mutating func quotedString() throws -> String {
    let quote = bytes[position]
    position += 1
    var result: [UInt8] = []
    while position < bytes.count, bytes[position] != quote {
      var byte = bytes[position]
      if byte == UInt8(ascii: "\\"), position + 1 < bytes.count {
        position += 1
        let escaped = bytes[position]
        switch escaped {
        case UInt8(ascii: "n"): byte = 0x0A
        case UInt8(ascii: "t"): byte = 0x09
        case UInt8(ascii: "r"): byte = 0x0D
        case UInt8(ascii: "a"): byte = 0x07
        case UInt8(ascii: "b"): byte = 0x08
        case UInt8(ascii: "f"): byte = 0x0C
        case UInt8(ascii: "v"): byte = 0x0B
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
          var value = 0
          var count = 0
          while count < 3, position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x37 {
            value = value * 8 + Int(bytes[position] - 0x30)
            position += 1
            count += 1
          }
          position -= 1
          byte = UInt8(truncatingIfNeeded: value)
        default: byte = escaped
        }
      }
      result.append(byte)
      position += 1
    }
    guard position < bytes.count else { throw error("unterminated string") }
    position += 1
    return String(decoding: result, as: UTF8.self)
  }
}

/// The type syntax of graph dumps: `int[]`, `Tensor?`, `(Tensor, int)`, `Dict(str, Tensor)`,
/// qualified class names, and torch's complete tensor types such as `Float(2, 3, strides=[3, 1])`.
public enum IRTypeSyntax {
  private static let tensorTypeNames: Set<String> = [
    "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
  ]

  /// Parses a graph-dump type, or nil.
  public static func parse(_ text: String) -> TorchType? {
    var scanner = TypeScanner(Array(text.utf8))
    guard let type = scanner.parse(), scanner.atEnd else { return nil }
    return type
  }

  private struct TypeScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool {
      mutating get {
        skip()
        return position == bytes.count
      }
    }

    mutating func skip() {
      while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
    }

    mutating func consume(_ byte: Character) -> Bool {
      skip()
      guard position < bytes.count, bytes[position] == byte.asciiValue! else { return false }
      position += 1
      return true
    }

    mutating func name() -> String? {
      skip()
      let start = position
      while position < bytes.count {
        let byte = bytes[position]
        let ok =
          (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
          || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        guard ok else { break }
        position += 1
      }
      return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
    }

    mutating func list() -> [TorchType]? {
      var items: [TorchType] = []
      if consume(")") { return items }
      repeat {
        guard let item = parse() else { return nil }
        items.append(item)
      } while consume(",")
      return consume(")") ? items : nil
    }

    mutating func skipBalanced() -> Bool {
      var depth = 1
      while position < bytes.count, depth > 0 {
        if bytes[position] == UInt8(ascii: "(") { depth += 1 }
        if bytes[position] == UInt8(ascii: ")") { depth -= 1 }
        position += 1
      }
      return depth == 0
    }

    mutating func parse() -> TorchType? {
      var type: TorchType
      if consume("(") {
        guard let elements = list() else { return nil }
        type = .tuple(elements)
      } else {
        guard let head = name() else { return nil }
        switch head {
        case "Dict":
          guard consume("("), let items = list(), items.count == 2 else { return nil }
          type = .dict(key: items[0], value: items[1])
        case "Future", "Await":
          guard consume("("), let items = list(), items.count == 1 else { return nil }
          type = .future(items[0])
        case "Union":
          guard consume("("), let items = list() else { return nil }
          type = .union(items)
        case "Function":
          type = .function("")
        default:
          if IRTypeSyntax.tensorTypeNames.contains(head) || head == "Tensor" {
            if consume("(") {
              guard skipBalanced() else { return nil }
            }
            type = .tensor
          } else if let simple = TorchType(annotation: head) {
            type = simple
          } else {
            return nil
          }
        }
      }
      while true {
        if consume("[") {
          guard consume("]") else { return nil }
          type = .list(type)
        } else if consume("?") {
          type = .optional(type)
        } else {
          break
        }
      }
      return type
    }
  }
}

extension StringProtocol {
  func trimmingTrailingSpaces() -> String {
    var text = String(self)
    while text.last == " " || text.last == "\t" || text.last == "\r" { text.removeLast() }
    return text
  }
}
