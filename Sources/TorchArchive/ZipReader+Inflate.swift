import CChecksum
import Foundation

/// Inflates deflated zip records with the system zlib (raw deflate, straight into a buffer of
/// the declared size).
///
/// A stream that ends early, holds more than the declared size, or is corrupt is an error naming
/// the record; so is a CRC-32 that does not match the entry's. Output never exceeds the declared
/// size, which is itself bounded by what the compressed bytes could plausibly inflate to, so a
/// corrupt record cannot grow memory without bound. (ZIPFoundation's decoder, used before, fed
/// zlib through per-chunk closures and appends: about 7 µs per small code record, a millisecond
/// on a model's 180 of them.)
enum ZipInflater {
  /// The inflated bytes of `compressed`, checked against the entry's size and CRC-32.
  static func inflate(_ compressed: Data, entry: ZipEntry) throws(ArchiveError) -> Data {
    let expected = entry.uncompressedSize
    let record = entry.name
    guard expected <= ZipFormat.plausibleInflatedSize(compressed: compressed.count) else {
      throw .badCompressedData(
        record: record, detail: "\(compressed.count) bytes cannot inflate to the declared \(expected)")
    }
    var output = Data(count: expected)
    var produced = 0
    let status = compressed.withUnsafeBytes { input in
      output.withUnsafeMutableBytes { buffer in
        // A zero-length buffer may have no address; zlib still needs one to report overflow.
        var spare: UInt8 = 0
        return withUnsafeMutablePointer(to: &spare) { spareByte in
          mo_inflate_raw(
            input.baseAddress ?? UnsafeRawPointer(spareByte), input.count,
            buffer.baseAddress ?? UnsafeMutableRawPointer(spareByte), buffer.count, &produced)
        }
      }
    }
    switch Int(status) {
    case Int(MO_INFLATE_OK): break
    case Int(MO_INFLATE_TRUNCATED): throw .badCompressedData(record: record, detail: "deflate stream ends early")
    case Int(MO_INFLATE_OVERFLOW): throw .badCompressedData(record: record, detail: "inflates to more than \(expected) bytes")
    default: throw .badCompressedData(record: record, detail: "corrupt deflate stream")
    }
    guard produced == expected else {
      throw .badCompressedData(record: record, detail: "inflates to \(produced) bytes, expected \(expected)")
    }
    let checksum = ZipChecksum.checksum(output)
    guard checksum == entry.crc32 else {
      throw .checksumMismatch(record: record, expected: entry.crc32, actual: checksum)
    }
    return output
  }
}
