import TensorCore

/// The header dict of a `.npy` file, such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
///
/// numpy writes it with Python's `repr`; this parser reads the subset that appears there:
/// quoted strings, `True`/`False` and tuples of integers, with any spacing.
struct NPYHeader {
  var descriptor: String
  var fortranOrder: Bool
  var shape: [Int]

  private enum Value {
    case string(String)
    case bool(Bool)
    case tuple([Int])
  }

  init(parsing text: String, name: String) throws(ArchiveError) {
    var parser = Parser(bytes: Array(text.utf8), name: name)
    var fields: [String: Value] = [:]
    try parser.expect("{")
    while true {
      parser.skipSpace()
      if parser.consume("}") { break }
      let key = try parser.string()
      try parser.expect(":")
      guard fields.updateValue(try parser.value(), forKey: key) == nil else {
        throw parser.error("repeats key '\(key)'")
      }
      parser.skipSpace()
      if parser.consume("}") { break }
      try parser.expect(",")
    }
    parser.skipSpace()
    guard parser.isAtEnd else { throw parser.error("has text after the dict") }
    guard fields.count == 3, case .string(let descriptor) = fields["descr"],
      case .bool(let fortranOrder) = fields["fortran_order"], case .tuple(let shape) = fields["shape"]
    else {
      throw parser.error("needs exactly 'descr', 'fortran_order' and 'shape'")
    }
    self.descriptor = descriptor
    self.fortranOrder = fortranOrder
    self.shape = shape
  }

  private struct Parser {
    let bytes: [UInt8]
    let name: String
    var position = 0

    var isAtEnd: Bool { position >= bytes.count }

    func error(_ detail: String) -> ArchiveError {
      .invalidNPY(name: name, detail: "header \(detail)")
    }

    mutating func skipSpace() {
      while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x09 {
        position += 1
      }
    }

    mutating func consume(_ character: Unicode.Scalar) -> Bool {
      guard position < bytes.count, bytes[position] == UInt8(ascii: character) else { return false }
      position += 1
      return true
    }

    mutating func expect(_ character: Unicode.Scalar) throws(ArchiveError) {
      skipSpace()
      guard consume(character) else {
        throw error(isAtEnd ? "ends before '\(character)'" : "expects '\(character)' at byte \(position)")
      }
    }

    mutating func string() throws(ArchiveError) -> String {
      skipSpace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\"")
      else {
        throw error("expects a string at byte \(position)")
      }
      let quote = bytes[position]
      let start = position + 1
      guard let end = bytes[start...].firstIndex(of: quote) else { throw error("has an unterminated string") }
      position = end + 1
      return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    mutating func value() throws(ArchiveError) -> Value {
      skipSpace()
      if matchWord("True") { return .bool(true) }
      if matchWord("False") { return .bool(false) }
      if consume("(") {
        var items: [Int] = []
        while true {
          skipSpace()
          if consume(")") { break }
          items.append(try integer())
          skipSpace()
          if consume(")") { break }
          try expect(",")
        }
        return .tuple(items)
      }
      return .string(try string())
    }

    mutating func matchWord(_ word: String) -> Bool {
      let utf8 = Array(word.utf8)
      guard bytes.count - position >= utf8.count, Array(bytes[position..<(position + utf8.count)]) == utf8 else {
        return false
      }
      position += utf8.count
      return true
    }

    mutating func integer() throws(ArchiveError) -> Int {
      let start = position
      while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
        position += 1
      }
      guard position > start, let value = Int(String(decoding: bytes[start..<position], as: UTF8.self)) else {
        throw error("expects a dimension size at byte \(start)")
      }
      // Python 2 wrote longs with an L suffix.
      _ = consume("L")
      return value
    }
  }
}
