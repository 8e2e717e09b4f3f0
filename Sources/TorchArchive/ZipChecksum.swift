import CChecksum
import Foundation

/// The zip CRC-32 (polynomial 0xEDB88320), from the system zlib.
///
/// Archives hold tens of megabytes of weights, and checksumming them was most of the cost of
/// saving: ZIPFoundation's checksum goes one byte per table lookup, a Swift slicing-by-8 loop
/// reached about 1.5 GB/s here, and zlib's, which works on several independent words at once,
/// about 3.9 GB/s.
enum ZipChecksum {
  /// The CRC-32 of `data`, continuing from `checksum`.
  static func checksum(_ data: Data, continuing checksum: UInt32 = 0) -> UInt32 {
    data.withUnsafeBytes { raw in update(checksum, raw) }
  }

  /// The CRC-32 of `raw`, continuing from `checksum`.
  static func update(_ checksum: UInt32, _ raw: UnsafeRawBufferPointer) -> UInt32 {
    guard let base = raw.baseAddress, raw.count > 0 else { return checksum }
    return mo_crc32(checksum, base, raw.count)
  }
}
