import Foundation
import ZIPFoundation

/// Signatures, fixed sizes and magic values of the zip structures we read and write
/// (PKWARE APPNOTE 6.3).
enum ZipFormat {
  static let localHeaderSignature: UInt32 = 0x0403_4b50
  static let centralHeaderSignature: UInt32 = 0x0201_4b50
  static let endOfCentralDirectorySignature: UInt32 = 0x0605_4b50
  static let zip64EndOfCentralDirectorySignature: UInt32 = 0x0606_4b50
  static let zip64LocatorSignature: UInt32 = 0x0706_4b50

  static let localHeaderSize = 30
  static let centralHeaderSize = 46
  static let endOfCentralDirectorySize = 22
  static let zip64EndOfCentralDirectorySize = 56
  static let zip64LocatorSize = 20
  /// The longest comment an end record can announce, so the furthest it can sit from the end.
  static let maximumCommentLength = 0xFFFF

  /// Extra-field id of ZIP64 sizes and offsets.
  static let zip64ExtraID: UInt16 = 0x0001
  /// Extra-field id torch uses for alignment padding ("FB").
  static let paddingExtraID: UInt16 = 0x4246
  /// torch aligns record data to this many bytes (`kFieldAlignment` in `inline_container.h`).
  static let dataAlignment = 64

  /// A 16-bit field holding this value defers to the ZIP64 record.
  static let max16: UInt64 = 0xFFFF
  /// A 32-bit field holding this value defers to the ZIP64 extra field or record.
  static let max32: UInt64 = 0xFFFF_FFFF

  /// General-purpose flag bits.
  static let encryptedFlag: UInt16 = 1 << 0
  static let strongEncryptionFlag: UInt16 = 1 << 6
  static let utf8NameFlag: UInt16 = 1 << 11

  /// Compression method codes.
  static let storedMethod: UInt16 = 0
  static let deflatedMethod: UInt16 = 8

  /// The largest ratio raw deflate can reach (about 1032:1), with slack for tiny inputs; a
  /// record claiming more is corrupt, and believing it would invite a huge allocation.
  static func plausibleInflatedSize(compressed: Int) -> Int {
    compressed.multipliedReportingOverflow(by: 1032).overflow ? Int.max : compressed * 1032 + 1024
  }
}

extension ZipFormat {
  /// CRC-32 of `data`.
  static func crc32(of data: Data) -> UInt32 {
    ZipChecksum.checksum(data)
  }
}
