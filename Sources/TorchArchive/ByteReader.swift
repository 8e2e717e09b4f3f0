import Foundation

/// The byte order of a multi-byte integer in a file format.
enum Endianness {
  case little
  case big
}

/// A bounds-checked read cursor over bytes, in the vocabulary of swift-nio's `ByteBuffer`.
///
/// `read…` methods consume bytes and throw `ArchiveError.truncated` when too few remain;
/// `get…` methods read at an absolute offset without moving. Offsets are relative to the start
/// of `bytes`, whatever its indices are (a `Data` slice keeps its parent's indices).
struct ByteReader<Bytes: RandomAccessCollection> where Bytes.Element == UInt8, Bytes.Index == Int {
  let bytes: Bytes
  /// The record name used in errors (`zip`, `data.pkl`).
  let record: String
  /// The next offset to read, relative to the start of `bytes`.
  var offset: Int = 0

  init(_ bytes: Bytes, record: String) {
    self.bytes = bytes
    self.record = record
  }

  var count: Int { bytes.count }
  var remaining: Int { bytes.count - offset }
  var isAtEnd: Bool { offset >= bytes.count }

  /// Throws unless `length` bytes exist at `position`.
  func checkAvailable(_ length: Int, at position: Int, what: @autoclosure () -> String) throws(ArchiveError) {
    guard position >= 0, length >= 0, position <= bytes.count, length <= bytes.count - position else {
      throw .truncated(record: record, what: what(), offset: position)
    }
  }

  /// The integer stored at `position`, without moving the cursor.
  func getInteger<T: FixedWidthInteger>(
    at position: Int, as _: T.Type = T.self, endianness: Endianness = .little, what: @autoclosure () -> String
  ) throws(ArchiveError) -> T {
    let size = MemoryLayout<T>.size
    try checkAvailable(size, at: position, what: what())
    let base = bytes.startIndex + position
    var value: T = 0
    for index in 0..<size {
      let byte = T(truncatingIfNeeded: bytes[base + index])
      switch endianness {
      case .little: value |= byte << (8 * index)
      case .big: value = (value << 8) | byte
      }
    }
    return value
  }

  /// Reads an integer and moves past it.
  mutating func readInteger<T: FixedWidthInteger>(
    as type: T.Type = T.self, endianness: Endianness = .little, what: @autoclosure () -> String
  ) throws(ArchiveError) -> T {
    let value = try getInteger(at: offset, as: type, endianness: endianness, what: what())
    offset += MemoryLayout<T>.size
    return value
  }

  /// Reads one byte.
  mutating func readByte(what: @autoclosure () -> String) throws(ArchiveError) -> UInt8 {
    try checkAvailable(1, at: offset, what: what())
    defer { offset += 1 }
    return bytes[bytes.startIndex + offset]
  }

  /// The `length` bytes at `position`, as a slice of `bytes` (no copy).
  func getSlice(at position: Int, length: Int, what: @autoclosure () -> String) throws(ArchiveError) -> Bytes.SubSequence {
    try checkAvailable(length, at: position, what: what())
    let start = bytes.startIndex + position
    return bytes[start..<(start + length)]
  }

  /// Reads `length` bytes as a slice and moves past them.
  mutating func readSlice(length: Int, what: @autoclosure () -> String) throws(ArchiveError) -> Bytes.SubSequence {
    let slice = try getSlice(at: offset, length: length, what: what())
    offset += length
    return slice
  }

  /// Reads up to and including the next `\n`, returning the bytes before it.
  mutating func readLine(what: @autoclosure () -> String) throws(ArchiveError) -> Bytes.SubSequence {
    let start = bytes.startIndex + offset
    guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
      throw .truncated(record: record, what: what(), offset: offset)
    }
    offset = newline - bytes.startIndex + 1
    return bytes[start..<newline]
  }

  /// Skips `length` bytes.
  mutating func skip(_ length: Int, what: @autoclosure () -> String) throws(ArchiveError) {
    try checkAvailable(length, at: offset, what: what())
    offset += length
  }
}

/// An append-only byte buffer with explicit-endianness integer writes.
struct ByteWriter {
  var bytes: [UInt8] = []

  var count: Int { bytes.count }

  mutating func writeInteger<T: FixedWidthInteger>(_ value: T, endianness: Endianness = .little) {
    let size = MemoryLayout<T>.size
    switch endianness {
    case .little:
      for index in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    case .big:
      for index in (0..<size).reversed() { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }
  }

  mutating func writeByte(_ byte: UInt8) {
    bytes.append(byte)
  }

  mutating func writeBytes<S: Sequence>(_ source: S) where S.Element == UInt8 {
    bytes.append(contentsOf: source)
  }

  mutating func writeString(_ string: String) {
    bytes.append(contentsOf: string.utf8)
  }

  var data: Data { Data(bytes) }
}
