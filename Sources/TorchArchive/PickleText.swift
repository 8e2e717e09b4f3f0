/// Decoders for the text arguments of protocol 0 string opcodes.
enum PickleText {
  /// The bytes of a `STRING` argument: a quoted Python 2 `str` literal with backslash escapes,
  /// as `codecs.escape_decode` reads it.
  static func unescapeQuoted(_ line: [UInt8], record: String, offset: Int) throws(ArchiveError) -> [UInt8] {
    guard line.count >= 2, let quote = line.first, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\""),
      line.last == quote
    else {
      throw .invalidPickle(record: record, detail: "STRING argument is not quoted", offset: offset)
    }
    let body = line[1..<(line.count - 1)]
    var result: [UInt8] = []
    result.reserveCapacity(body.count)
    var index = body.startIndex
    while index < body.endIndex {
      let byte = body[index]
      index += 1
      guard byte == UInt8(ascii: "\\"), index < body.endIndex else {
        result.append(byte)
        continue
      }
      let escape = body[index]
      index += 1
      switch escape {
      case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): result.append(escape)
      case UInt8(ascii: "a"): result.append(0x07)
      case UInt8(ascii: "b"): result.append(0x08)
      case UInt8(ascii: "f"): result.append(0x0C)
      case UInt8(ascii: "n"): result.append(0x0A)
      case UInt8(ascii: "r"): result.append(0x0D)
      case UInt8(ascii: "t"): result.append(0x09)
      case UInt8(ascii: "v"): result.append(0x0B)
      case UInt8(ascii: "\n"): break  // a line continuation
      case UInt8(ascii: "x"):
        guard index + 2 <= body.endIndex, let high = hexValue(body[index]), let low = hexValue(body[index + 1]) else {
          throw .invalidPickle(record: record, detail: "bad \\x escape in STRING argument", offset: offset)
        }
        result.append(high << 4 | low)
        index += 2
      case UInt8(ascii: "0")...UInt8(ascii: "7"):
        var value = Int(escape - UInt8(ascii: "0"))
        var digits = 1
        while digits < 3, index < body.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(body[index]) {
          value = value * 8 + Int(body[index] - UInt8(ascii: "0"))
          index += 1
          digits += 1
        }
        result.append(UInt8(truncatingIfNeeded: value))
      default:
        // Unknown escapes keep their backslash, as in Python.
        result.append(byte)
        result.append(escape)
      }
    }
    return result
  }

  /// A `UNICODE` argument: raw-unicode-escape, where `\uXXXX` and `\UXXXXXXXX` are code points and
  /// every other byte is the code point of the same value.
  static func decodeRawUnicodeEscape(_ line: [UInt8], record: String, offset: Int) throws(ArchiveError) -> String {
    var scalars = String.UnicodeScalarView()
    var index = 0
    while index < line.count {
      let byte = line[index]
      if byte == UInt8(ascii: "\\"), index + 1 < line.count,
        line[index + 1] == UInt8(ascii: "u") || line[index + 1] == UInt8(ascii: "U")
      {
        let digitCount = line[index + 1] == UInt8(ascii: "u") ? 4 : 8
        guard index + 2 + digitCount <= line.count else {
          throw .invalidPickle(record: record, detail: "bad \\u escape in UNICODE argument", offset: offset)
        }
        var value: UInt32 = 0
        for digit in line[(index + 2)..<(index + 2 + digitCount)] {
          guard let nibble = hexValue(digit) else {
            throw .invalidPickle(record: record, detail: "bad \\u escape in UNICODE argument", offset: offset)
          }
          value = value << 4 | UInt32(nibble)
        }
        guard let scalar = Unicode.Scalar(value) else {
          throw .invalidPickle(record: record, detail: "bad code point in UNICODE argument", offset: offset)
        }
        scalars.append(scalar)
        index += 2 + digitCount
      } else {
        scalars.append(Unicode.Scalar(byte))
        index += 1
      }
    }
    return String(scalars)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
