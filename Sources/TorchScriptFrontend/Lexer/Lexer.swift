import Foundation
import TorchIR

/// Turns TorchScript source into tokens, with Python's INDENT/DEDENT/NEWLINE layout tokens.
///
/// Newlines inside brackets are ignored (implicit line joining); comments run to the end of line.
public struct Lexer {
  private let bytes: [UInt8]
  private let file: String
  private var position = 0
  private var line = 1
  private var lineStart = 0
  private var indents: [Int] = [0]
  private var bracketDepth = 0
  private var tokens: [Token] = []
  private var atLineStart = true

  /// Tokenizes `source`, naming `file` in errors.
  public static func tokenize(_ source: String, file: String) throws -> [Token] {
    var lexer = Lexer(bytes: Array(source.utf8), file: file)
    try lexer.run()
    return lexer.tokens
  }

  private init(bytes: [UInt8], file: String) {
    self.bytes = bytes
    self.file = file
  }

  private var column: Int { position - lineStart + 1 }

  private func error(_ message: String) -> SourceError {
    SourceError(message, at: SourceLocation(file: file, line: line, column: column))
  }

  private mutating func emit(_ kind: Token.Kind, column: Int? = nil) {
    tokens.append(Token(kind: kind, line: line, column: column ?? self.column))
  }

  private static let oneCharOps: Set<UInt8> = Set("()[]{},:.;=+-*/%<>&|^~@".utf8)

  private mutating func run() throws {
    while position < bytes.count {
      if atLineStart {
        try handleIndentation()
        atLineStart = false
        continue
      }
      let byte = bytes[position]
      switch byte {
      case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
        position += 1
      case UInt8(ascii: "#"):
        while position < bytes.count, bytes[position] != UInt8(ascii: "\n") { position += 1 }
      case UInt8(ascii: "\\") where position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "\n"):
        position += 2
        line += 1
        lineStart = position
      case UInt8(ascii: "\n"):
        if bracketDepth == 0, let last = tokens.last, last.kind != .newline {
          emit(.newline)
        }
        position += 1
        line += 1
        lineStart = position
        if bracketDepth == 0 { atLineStart = true }
      case UInt8(ascii: "\""), UInt8(ascii: "'"):
        try lexString()
      case UInt8(ascii: "0")...UInt8(ascii: "9"):
        try lexNumber()
      case UInt8(ascii: ".") where position + 1 < bytes.count && Lexer.isDigit(bytes[position + 1]):
        try lexNumber()
      default:
        if Lexer.isNameStart(byte) {
          lexName()
        } else {
          try lexOperator()
        }
      }
    }
    if let last = tokens.last, last.kind != .newline { emit(.newline) }
    while indents.count > 1 {
      indents.removeLast()
      emit(.dedent)
    }
    emit(.end)
  }

  private mutating func handleIndentation() throws {
    var width = 0
    var probe = position
    while probe < bytes.count, bytes[probe] == UInt8(ascii: " ") || bytes[probe] == UInt8(ascii: "\t") {
      width += bytes[probe] == UInt8(ascii: "\t") ? 8 - width % 8 : 1
      probe += 1
    }
    // Blank and comment-only lines do not affect indentation.
    if probe >= bytes.count || bytes[probe] == UInt8(ascii: "\n") || bytes[probe] == UInt8(ascii: "#")
      || bytes[probe] == UInt8(ascii: "\r")
    {
      position = probe
      return
    }
    position = probe
    if width > indents.last! {
      indents.append(width)
      emit(.indent, column: 1)
    } else {
      while width < indents.last! {
        indents.removeLast()
        emit(.dedent, column: 1)
      }
      guard width == indents.last! else { throw error("inconsistent dedent to column \(width + 1)") }
    }
  }

  private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

  private static func isNameStart(_ byte: UInt8) -> Bool {
    (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_") || byte >= 0x80
  }

  private mutating func lexName() {
    let start = position
    let startColumn = column
    while position < bytes.count, Lexer.isNameStart(bytes[position]) || Lexer.isDigit(bytes[position]) {
      position += 1
    }
    emit(.name(String(decoding: bytes[start..<position], as: UTF8.self)), column: startColumn)
  }

  private mutating func lexNumber() throws {
    let start = position
    let startColumn = column
    if bytes[position] == UInt8(ascii: "0"), position + 1 < bytes.count,
      bytes[position + 1] | 0x20 == UInt8(ascii: "x")
    {
      position += 2
      let digitsStart = position
      while position < bytes.count, Lexer.isHexDigit(bytes[position]) { position += 1 }
      guard let value = Int(String(decoding: bytes[digitsStart..<position], as: UTF8.self), radix: 16) else {
        throw error("bad hexadecimal literal")
      }
      emit(.int(value), column: startColumn)
      return
    }
    var isFloat = false
    while position < bytes.count, Lexer.isDigit(bytes[position]) { position += 1 }
    if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
      isFloat = true
      position += 1
      while position < bytes.count, Lexer.isDigit(bytes[position]) { position += 1 }
    }
    if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
      let save = position
      position += 1
      if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
        position += 1
      }
      if position < bytes.count, Lexer.isDigit(bytes[position]) {
        isFloat = true
        while position < bytes.count, Lexer.isDigit(bytes[position]) { position += 1 }
      } else {
        position = save
      }
    }
    var text = String(decoding: bytes[start..<position], as: UTF8.self)
    if isFloat {
      if text.hasSuffix(".") { text += "0" }
      if text.hasPrefix(".") { text = "0" + text }
      text = text.replacingOccurrences(of: ".e", with: ".0e").replacingOccurrences(of: ".E", with: ".0E")
      guard let value = Double(text) else { throw error("bad float literal '\(text)'") }
      emit(.float(value), column: startColumn)
    } else {
      guard let value = Int(text) else { throw error("integer literal '\(text)' does not fit in 64 bits") }
      emit(.int(value), column: startColumn)
    }
  }

  private static func isHexDigit(_ byte: UInt8) -> Bool {
    isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
  }

  private mutating func lexString() throws {
    let quote = bytes[position]
    let startColumn = column
    let startLine = line
    var triple = false
    if position + 2 < bytes.count, bytes[position + 1] == quote, bytes[position + 2] == quote {
      triple = true
      position += 3
    } else {
      position += 1
    }
    var result: [UInt8] = []
    while true {
      guard position < bytes.count else {
        throw SourceError(
          "unterminated string literal", at: SourceLocation(file: file, line: startLine, column: startColumn))
      }
      let byte = bytes[position]
      if byte == quote {
        if !triple {
          position += 1
          break
        }
        if position + 2 < bytes.count, bytes[position + 1] == quote, bytes[position + 2] == quote {
          position += 3
          break
        }
      }
      if byte == UInt8(ascii: "\n") {
        guard triple else {
          throw SourceError(
            "unterminated string literal", at: SourceLocation(file: file, line: startLine, column: startColumn))
        }
        line += 1
        lineStart = position + 1
      }
      if byte == UInt8(ascii: "\\"), position + 1 < bytes.count {
        position += 1
        let escaped = bytes[position]
        switch escaped {
        case UInt8(ascii: "n"): result.append(0x0A)
        case UInt8(ascii: "t"): result.append(0x09)
        case UInt8(ascii: "r"): result.append(0x0D)
        case UInt8(ascii: "a"): result.append(0x07)
        case UInt8(ascii: "b"): result.append(0x08)
        case UInt8(ascii: "f"): result.append(0x0C)
        case UInt8(ascii: "v"): result.append(0x0B)
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
          var value = 0
          var count = 0
          while count < 3, position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x37 {
            value = value * 8 + Int(bytes[position] - 0x30)
            position += 1
            count += 1
          }
          result.append(UInt8(truncatingIfNeeded: value))
          continue
        case UInt8(ascii: "x"):
          guard position + 2 < bytes.count,
            let value = UInt8(String(decoding: bytes[(position + 1)...(position + 2)], as: UTF8.self), radix: 16)
          else { throw error("bad \\x escape") }
          result.append(value)
          position += 3
          continue
        case UInt8(ascii: "\n"):
          line += 1
          lineStart = position + 1
        default:
          result.append(escaped)
        }
        position += 1
        continue
      }
      result.append(byte)
      position += 1
    }
    tokens.append(
      Token(kind: .string(String(decoding: result, as: UTF8.self)), line: startLine, column: startColumn))
  }

  private func byte(at offset: Int) -> UInt8 {
    position + offset < bytes.count ? bytes[position + offset] : 0
  }

  private mutating func lexOperator() throws {
    let startColumn = column
    let first = bytes[position]
    let second = byte(at: 1)
    let third = byte(at: 2)
    // Longest match first: three-character, then two-character operators.
    let length: Int
    switch (first, second, third) {
    case (UInt8(ascii: "*"), UInt8(ascii: "*"), UInt8(ascii: "=")), (UInt8(ascii: "/"), UInt8(ascii: "/"), UInt8(ascii: "=")),
      (UInt8(ascii: ">"), UInt8(ascii: ">"), UInt8(ascii: "=")), (UInt8(ascii: "<"), UInt8(ascii: "<"), UInt8(ascii: "=")),
      (UInt8(ascii: "."), UInt8(ascii: "."), UInt8(ascii: ".")):
      length = 3
    case (UInt8(ascii: "*"), UInt8(ascii: "*"), _), (UInt8(ascii: "/"), UInt8(ascii: "/"), _),
      (UInt8(ascii: "<"), UInt8(ascii: "<"), _), (UInt8(ascii: ">"), UInt8(ascii: ">"), _),
      (UInt8(ascii: "-"), UInt8(ascii: ">"), _):
      length = 2
    case (UInt8(ascii: "="), UInt8(ascii: "="), _), (UInt8(ascii: "!"), UInt8(ascii: "="), _),
      (UInt8(ascii: "<"), UInt8(ascii: "="), _), (UInt8(ascii: ">"), UInt8(ascii: "="), _),
      (UInt8(ascii: "+"), UInt8(ascii: "="), _), (UInt8(ascii: "-"), UInt8(ascii: "="), _),
      (UInt8(ascii: "*"), UInt8(ascii: "="), _), (UInt8(ascii: "/"), UInt8(ascii: "="), _),
      (UInt8(ascii: "%"), UInt8(ascii: "="), _), (UInt8(ascii: "&"), UInt8(ascii: "="), _),
      (UInt8(ascii: "|"), UInt8(ascii: "="), _), (UInt8(ascii: "^"), UInt8(ascii: "="), _):
      length = 2
    default:
      guard Lexer.oneCharOps.contains(first) else {
        throw error("unexpected character '\(String(decoding: [first], as: UTF8.self))'")
      }
      length = 1
    }
    if length == 1 {
      if first == UInt8(ascii: "(") || first == UInt8(ascii: "[") || first == UInt8(ascii: "{") { bracketDepth += 1 }
      if first == UInt8(ascii: ")") || first == UInt8(ascii: "]") || first == UInt8(ascii: "}") {
        bracketDepth = max(0, bracketDepth - 1)
      }
    }
    let text = String(decoding: bytes[position..<position + length], as: UTF8.self)
    position += length
    emit(.op(text), column: startColumn)
  }

}
