import Foundation
import ZIPFoundation

/// Inflates deflated zip records with ZIPFoundation's raw-deflate decoder.
///
/// Note [Feeding the inflater]: on Linux, ZIPFoundation's decoder tells zlib that every chunk
/// the provider returns is a full `bufferSize` long, and keeps asking for input until zlib
/// reports the end of the stream. So the provider here always returns exactly `bufferSize` bytes
/// (zero padding after the real data, which zlib never reaches in a valid stream), and throws
/// once asked for input past the record: a truncated stream ends in an error rather than an
/// over-read or an endless loop. The consumer stops output beyond the declared size, so a
/// corrupt stream cannot grow memory without bound either.
enum ZipInflater {
  /// Input and output chunk size.
  static let bufferSize = 32 * 1024

  /// The inflated bytes of `compressed`, checked against the entry's size and CRC-32.
  static func inflate(_ compressed: Data, entry: ZipEntry) throws(ArchiveError) -> Data {
    let expected = entry.uncompressedSize
    guard expected <= ZipFormat.plausibleInflatedSize(compressed: compressed.count) else {
      throw .badCompressedData(
        record: entry.name, detail: "\(compressed.count) bytes cannot inflate to the declared \(expected)")
    }
    var output = Data()
    output.reserveCapacity(min(expected, 1 << 24))
    let record = entry.name
    let checksum: CRC32
    do {
      checksum = try Data.decompress(
        size: Int64(compressed.count), bufferSize: bufferSize, skipCRC32: false,
        provider: { position, _ in
          // See Note [Feeding the inflater].
          guard position >= 0, position < Int64(compressed.count) else {
            throw ArchiveError.badCompressedData(record: record, detail: "deflate stream ends early")
          }
          let start = compressed.startIndex + Int(position)
          let end = min(start + bufferSize, compressed.endIndex)
          var chunk = Data(compressed[start..<end])
          if chunk.count < bufferSize { chunk.append(Data(count: bufferSize - chunk.count)) }
          return chunk
        },
        consumer: { chunk in
          guard chunk.count <= expected - output.count else {
            throw ArchiveError.badCompressedData(record: record, detail: "inflates to more than \(expected) bytes")
          }
          output.append(chunk)
        })
    } catch let error as ArchiveError {
      throw error
    } catch {
      throw .badCompressedData(record: record, detail: "corrupt deflate stream")
    }
    guard output.count == expected else {
      throw .badCompressedData(record: record, detail: "inflates to \(output.count) bytes, expected \(expected)")
    }
    guard checksum == entry.crc32 else {
      throw .checksumMismatch(record: record, expected: entry.crc32, actual: checksum)
    }
    return output
  }
}
