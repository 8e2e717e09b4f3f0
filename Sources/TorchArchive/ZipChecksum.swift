import Foundation

/// The zip CRC-32 (polynomial 0xEDB88320), computed eight bytes at a time ("slicing by 8").
///
/// ZIPFoundation's checksum goes one byte per table lookup; archives hold tens of megabytes of
/// weights, so the checksum dominated saving them.
enum ZipChecksum {
  /// Eight 256-entry tables; table k maps a byte to its CRC after k further zero bytes.
  static let tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
      var crc = UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
      tables[byte] = crc
    }
    for byte in 0..<256 {
      var crc = tables[byte]
      for slice in 1..<8 {
        crc = tables[Int(crc & 0xFF)] ^ (crc >> 8)
        tables[slice * 256 + byte] = crc
      }
    }
    return tables
  }()

  /// The CRC-32 of `data`, continuing from `checksum`.
  static func checksum(_ data: Data, continuing checksum: UInt32 = 0) -> UInt32 {
    data.withUnsafeBytes { raw in update(checksum, raw) }
  }

  static func update(_ checksum: UInt32, _ raw: UnsafeRawBufferPointer) -> UInt32 {
    var crc = ~checksum
    guard let base = raw.baseAddress, raw.count > 0 else { return checksum }
    tables.withUnsafeBufferPointer { table in
      var index = 0
      let count = raw.count
      while index + 8 <= count {
        let low = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ crc
        let high = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
        crc =
          table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
          ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
        index += 8
      }
      while index < count {
        crc = table[Int((crc ^ UInt32(base.load(fromByteOffset: index, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
        index += 1
      }
    }
    return ~crc
  }
}
