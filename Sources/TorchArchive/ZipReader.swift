import Foundation

/// How a zip entry's bytes are stored.
public enum ZipCompressionMethod: UInt16, Sendable, Equatable {
  /// Stored as is; reading returns a slice of the archive, no copy.
  case stored = 0
  /// Raw deflate; reading inflates a copy.
  case deflated = 8
}

/// One record of a zip archive, as its central directory describes it.
public struct ZipEntry: Sendable, Equatable {
  /// The record name with the archive's root folder stripped (`data.pkl`, `code/__torch__.py`).
  public let name: String
  /// How the bytes are stored.
  public let method: ZipCompressionMethod
  /// CRC-32 of the uncompressed bytes, from the central directory.
  public let crc32: UInt32
  /// Size in the archive, in bytes.
  public let compressedSize: Int
  /// Size after inflating, in bytes.
  public let uncompressedSize: Int
  /// Offset of the entry's local header in the archive.
  public let localHeaderOffset: Int
  /// Offset of the entry's first data byte in the archive.
  public let dataOffset: Int
}

/// A bounds-checked reader of zip archives laid out the way torch writes them: every entry under
/// one root folder.
///
/// Opening parses the end record (allowing a trailing comment), the ZIP64 locator and record when
/// present, the whole central directory and every local header, so a corrupt archive fails here
/// with an error naming the structure and offset. Afterwards reading a stored record cannot fail
/// except for an optional checksum check, and costs nothing: it returns a slice of the archive
/// bytes (for a file opened here, a slice of the memory-mapped file).
///
/// The root folder may have any name (torch uses the file stem, for example `model/`); records
/// are named without it.
public struct ZipReader: Sendable {
  /// The whole archive.
  public let data: Data
  /// The name of the folder every entry sits in, without the trailing slash.
  public let rootFolder: String
  /// The records in central-directory order (directory entries are left out).
  public let entries: [ZipEntry]
  private let positions: [String: Int]

  /// Parses the archive held in `data`.
  ///
  /// - Throws: `ArchiveError` when the bytes are not a well-formed zip archive whose entries share
  ///   one root folder.
  public init(data: Data) throws(ArchiveError) {
    let directory = try ZipDirectoryParser(data: data).parse()
    self.data = data
    self.rootFolder = directory.rootFolder
    self.entries = directory.entries
    var positions: [String: Int] = [:]
    for (position, entry) in directory.entries.enumerated() {
      guard positions.updateValue(position, forKey: entry.name) == nil else {
        throw .duplicateRecord(entry.name)
      }
    }
    self.positions = positions
  }

  /// Memory-maps the file at `url` and parses it.
  ///
  /// - Throws: `ArchiveError.cannotRead` when the file cannot be mapped, or the errors of
  ///   `init(data:)`.
  public init(contentsOf url: URL) throws(ArchiveError) {
    let data: Data
    do {
      data = try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
      throw .cannotRead(path: url.path, reason: error.localizedDescription)
    }
    try self.init(data: data)
  }

  /// Record names (root stripped) in archive order.
  public var recordNames: [String] { entries.map(\.name) }

  /// The entry called `name` (root stripped), if present.
  public func entry(named name: String) -> ZipEntry? {
    positions[name].map { entries[$0] }
  }

  /// True when a record called `name` exists.
  public func contains(_ name: String) -> Bool {
    positions[name] != nil
  }

  /// The uncompressed bytes of `entry`.
  ///
  /// Stored entries come back as a slice of `data` (its indices are those of `data`; use
  /// `startIndex`), deflated ones as a new buffer.
  ///
  /// - Parameters:
  ///   - entry: an entry of this archive.
  ///   - verifyChecksum: whether to check the CRC-32 of stored bytes, which reads them all.
  ///     Inflated bytes are always checked.
  /// - Throws: `ArchiveError.checksumMismatch` or `.badCompressedData`.
  public func contents(of entry: ZipEntry, verifyChecksum: Bool = true) throws(ArchiveError) -> Data {
    precondition(
      entry.dataOffset >= 0 && entry.compressedSize <= data.count - entry.dataOffset, "entry of another archive")
    let stored = data[(data.startIndex + entry.dataOffset)..<(data.startIndex + entry.dataOffset + entry.compressedSize)]
    switch entry.method {
    case .stored:
      if verifyChecksum {
        let actual = ZipFormat.crc32(of: stored)
        guard actual == entry.crc32 else {
          throw .checksumMismatch(record: entry.name, expected: entry.crc32, actual: actual)
        }
      }
      return stored
    case .deflated:
      return try ZipInflater.inflate(stored, entry: entry)
    }
  }

  /// The uncompressed bytes of the record called `name`.
  ///
  /// - Throws: `ArchiveError.missingRecord` when there is none, or the errors of
  ///   `contents(of:verifyChecksum:)`.
  public func contents(ofRecord name: String, verifyChecksum: Bool = true) throws(ArchiveError) -> Data {
    guard let entry = entry(named: name) else { throw .missingRecord(name) }
    return try contents(of: entry, verifyChecksum: verifyChecksum)
  }
}
