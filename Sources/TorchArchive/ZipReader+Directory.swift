import Foundation
import ZIPFoundation

/// The parsed central directory of an archive.
struct ZipDirectory {
  var rootFolder: String
  var entries: [ZipEntry]
}

/// Parses the end record, ZIP64 records, central directory and local headers of an archive.
///
/// Every size, offset and count read from the file is checked against the bytes actually
/// present before it is used, so that a corrupt file throws instead of trapping, looping or
/// allocating what it claims.
struct ZipDirectoryParser {
  let reader: ByteReader<Data>

  init(data: Data) {
    reader = ByteReader(data, record: "zip")
  }

  /// Where the central directory is, from the end record or the ZIP64 record.
  private struct DirectoryLocation {
    var entryCount: Int
    var offset: Int
    var size: Int
  }

  func parse() throws(ArchiveError) -> ZipDirectory {
    let location = try locateCentralDirectory()
    var cursor = reader
    cursor.offset = location.offset
    var entries: [ZipEntry] = []
    entries.reserveCapacity(location.entryCount)
    var rootFolder: String?
    for _ in 0..<location.entryCount {
      let raw = try readCentralHeader(&cursor, directoryEnd: location.offset + location.size)
      let root: String
      if let rootFolder {
        root = rootFolder
      } else {
        // torch takes the root from the first entry and requires one.
        guard let slash = raw.name.firstIndex(of: "/"), slash != raw.name.startIndex else {
          throw .outsideRootFolder(entry: raw.name, root: "")
        }
        root = String(raw.name[..<slash])
        rootFolder = root
      }
      let prefix = root + "/"
      guard raw.name.hasPrefix(prefix) else {
        throw .outsideRootFolder(entry: raw.name, root: root)
      }
      let name = String(raw.name.dropFirst(prefix.count))
      // Directory entries carry no data and are not records.
      if name.isEmpty || name.hasSuffix("/") { continue }
      let dataOffset = try checkLocalHeader(raw, directoryStart: location.offset)
      entries.append(
        ZipEntry(
          name: name, method: raw.method, crc32: raw.crc32, compressedSize: raw.compressedSize,
          uncompressedSize: raw.uncompressedSize, localHeaderOffset: raw.localHeaderOffset,
          dataOffset: dataOffset))
    }
    return ZipDirectory(rootFolder: rootFolder ?? "", entries: entries)
  }

  // MARK: - End records

  private func locateCentralDirectory() throws(ArchiveError) -> DirectoryLocation {
    let endOffset = try findEndRecord()
    let disk = try reader.getInteger(at: endOffset + 4, as: UInt16.self, what: "end of central directory")
    let directoryDisk = try reader.getInteger(at: endOffset + 6, as: UInt16.self, what: "end of central directory")
    var entryCount = UInt64(try reader.getInteger(at: endOffset + 10, as: UInt16.self, what: "end of central directory"))
    var size = UInt64(try reader.getInteger(at: endOffset + 12, as: UInt32.self, what: "end of central directory"))
    var offset = UInt64(try reader.getInteger(at: endOffset + 16, as: UInt32.self, what: "end of central directory"))
    // The directory must end before the ZIP64 end record, or the end record without one.
    var limit = endOffset

    let locatorOffset = endOffset - ZipFormat.zip64LocatorSize
    var hasLocator = false
    if locatorOffset >= 0 {
      hasLocator =
        try reader.getInteger(at: locatorOffset, as: UInt32.self, what: "zip64 locator") == ZipFormat.zip64LocatorSignature
    }
    if hasLocator {
      let recordOffset64 = try reader.getInteger(at: locatorOffset + 8, as: UInt64.self, what: "zip64 locator")
      guard locatorOffset >= ZipFormat.zip64EndOfCentralDirectorySize,
        recordOffset64 <= UInt64(locatorOffset - ZipFormat.zip64EndOfCentralDirectorySize)
      else {
        throw .malformedZip(detail: "zip64 end record offset \(recordOffset64) out of range", offset: locatorOffset)
      }
      let recordOffset = Int(recordOffset64)
      let signature = try reader.getInteger(at: recordOffset, as: UInt32.self, what: "zip64 end record")
      guard signature == ZipFormat.zip64EndOfCentralDirectorySignature else {
        throw .badSignature(
          what: "zip64 end record", offset: recordOffset, expected: ZipFormat.zip64EndOfCentralDirectorySignature,
          found: signature)
      }
      let disk64 = try reader.getInteger(at: recordOffset + 16, as: UInt32.self, what: "zip64 end record")
      let directoryDisk64 = try reader.getInteger(at: recordOffset + 20, as: UInt32.self, what: "zip64 end record")
      guard disk64 == 0, directoryDisk64 == 0 else {
        throw .unsupportedZipFeature(record: "zip", feature: "multiple disks")
      }
      entryCount = try reader.getInteger(at: recordOffset + 32, as: UInt64.self, what: "zip64 end record")
      size = try reader.getInteger(at: recordOffset + 40, as: UInt64.self, what: "zip64 end record")
      offset = try reader.getInteger(at: recordOffset + 48, as: UInt64.self, what: "zip64 end record")
      limit = recordOffset
    } else {
      guard disk == 0, directoryDisk == 0 else {
        throw .unsupportedZipFeature(record: "zip", feature: "multiple disks")
      }
    }

    guard offset <= UInt64(limit), size <= UInt64(limit) - offset else {
      throw .truncated(record: "zip", what: "central directory", offset: Int(min(offset, UInt64(Int.max))))
    }
    // Each entry takes at least a fixed header, so a count beyond that is a lie.
    guard entryCount <= size / UInt64(ZipFormat.centralHeaderSize) else {
      throw .malformedZip(
        detail: "\(entryCount) entries cannot fit a central directory of \(size) bytes", offset: Int(offset))
    }
    return DirectoryLocation(entryCount: Int(entryCount), offset: Int(offset), size: Int(size))
  }

  /// The offset of the end-of-central-directory record: the last signature, scanning back from
  /// the end, whose announced comment fits in the bytes after it.
  private func findEndRecord() throws(ArchiveError) -> Int {
    let count = reader.count
    guard count >= ZipFormat.endOfCentralDirectorySize else { throw .notAZipArchive(byteCount: count) }
    let last = count - ZipFormat.endOfCentralDirectorySize
    let first = max(0, last - ZipFormat.maximumCommentLength)
    let data = reader.bytes
    var position = last
    while position >= first {
      // Cheap first-byte test before decoding four bytes.
      if data[data.startIndex + position] == 0x50,
        try reader.getInteger(at: position, as: UInt32.self, what: "end of central directory")
          == ZipFormat.endOfCentralDirectorySignature
      {
        let commentLength = Int(try reader.getInteger(at: position + 20, as: UInt16.self, what: "end of central directory"))
        if commentLength <= last - position { return position }
      }
      position -= 1
    }
    throw .notAZipArchive(byteCount: count)
  }

  // MARK: - Entries

  /// A central-directory entry before its root folder is stripped.
  private struct RawEntry {
    var name: String
    var nameBytes: Data
    var method: ZipCompressionMethod
    var crc32: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
  }

  private func readCentralHeader(_ cursor: inout ByteReader<Data>, directoryEnd: Int) throws(ArchiveError) -> RawEntry {
    let start = cursor.offset
    let what = "central directory"
    guard start + ZipFormat.centralHeaderSize <= directoryEnd else {
      throw .truncated(record: "zip", what: what, offset: start)
    }
    let signature = try cursor.readInteger(as: UInt32.self, what: what)
    guard signature == ZipFormat.centralHeaderSignature else {
      throw .badSignature(
        what: "central directory entry", offset: start, expected: ZipFormat.centralHeaderSignature, found: signature)
    }
    try cursor.skip(4, what: what)  // versions made by / needed
    let flags = try cursor.readInteger(as: UInt16.self, what: what)
    let methodCode = try cursor.readInteger(as: UInt16.self, what: what)
    try cursor.skip(4, what: what)  // time, date
    let crc32 = try cursor.readInteger(as: UInt32.self, what: what)
    var compressedSize = UInt64(try cursor.readInteger(as: UInt32.self, what: what))
    var uncompressedSize = UInt64(try cursor.readInteger(as: UInt32.self, what: what))
    let nameLength = Int(try cursor.readInteger(as: UInt16.self, what: what))
    let extraLength = Int(try cursor.readInteger(as: UInt16.self, what: what))
    let commentLength = Int(try cursor.readInteger(as: UInt16.self, what: what))
    let diskStart = try cursor.readInteger(as: UInt16.self, what: what)
    try cursor.skip(6, what: what)  // internal and external attributes
    var localOffset = UInt64(try cursor.readInteger(as: UInt32.self, what: what))
    guard cursor.offset + nameLength + extraLength + commentLength <= directoryEnd else {
      throw .truncated(record: "zip", what: what, offset: start)
    }
    let nameBytes = Data(try cursor.readSlice(length: nameLength, what: what))
    let extra = try cursor.readSlice(length: extraLength, what: what)
    try cursor.skip(commentLength, what: what)

    guard let name = validUTF8(nameBytes) else {
      throw .malformedZip(detail: "entry name is not UTF-8", offset: start)
    }
    guard flags & (ZipFormat.encryptedFlag | ZipFormat.strongEncryptionFlag) == 0 else {
      throw .unsupportedZipFeature(record: name, feature: "encryption")
    }
    guard let method = ZipCompressionMethod(rawValue: methodCode) else {
      throw .unsupportedZipFeature(record: name, feature: "compression method \(methodCode)")
    }

    // ZIP64 values appear in the extra field only for the fields that hold 0xFFFFFFFF, in order.
    if uncompressedSize == ZipFormat.max32 || compressedSize == ZipFormat.max32 || localOffset == ZipFormat.max32 {
      var fields = try zip64Fields(in: extra, at: start)
      if uncompressedSize == ZipFormat.max32 { uncompressedSize = try fields.next(name: name, at: start) }
      if compressedSize == ZipFormat.max32 { compressedSize = try fields.next(name: name, at: start) }
      if localOffset == ZipFormat.max32 { localOffset = try fields.next(name: name, at: start) }
    } else if diskStart != 0 {
      throw .unsupportedZipFeature(record: name, feature: "multiple disks")
    }
    let limit = UInt64(reader.count)
    guard compressedSize <= limit, localOffset <= limit, uncompressedSize <= UInt64(Int.max) else {
      throw .malformedZip(detail: "entry '\(name)' has sizes or offsets beyond the file", offset: start)
    }
    if method == .stored, compressedSize != uncompressedSize {
      throw .malformedZip(
        detail: "stored entry '\(name)' has compressed size \(compressedSize) but size \(uncompressedSize)",
        offset: start)
    }
    return RawEntry(
      name: name, nameBytes: nameBytes, method: method, crc32: crc32, compressedSize: Int(compressedSize),
      uncompressedSize: Int(uncompressedSize), localHeaderOffset: Int(localOffset))
  }

  /// The 64-bit values of the ZIP64 extra field in `extra`, read one at a time.
  private struct Zip64Fields {
    var reader: ByteReader<Data>?

    mutating func next(name: String, at offset: Int) throws(ArchiveError) -> UInt64 {
      guard var current = reader, current.remaining >= 8 else {
        throw .malformedZip(detail: "entry '\(name)' lacks its zip64 sizes", offset: offset)
      }
      let value = try current.readInteger(as: UInt64.self, what: "zip64 extra field")
      reader = current
      return value
    }
  }

  private func zip64Fields(in extra: Data, at offset: Int) throws(ArchiveError) -> Zip64Fields {
    var cursor = ByteReader(extra, record: "zip")
    while cursor.remaining >= 4 {
      let id = try cursor.readInteger(as: UInt16.self, what: "extra field")
      let length = Int(try cursor.readInteger(as: UInt16.self, what: "extra field"))
      guard length <= cursor.remaining else {
        throw .truncated(record: "zip", what: "extra field", offset: offset)
      }
      let body = Data(try cursor.readSlice(length: length, what: "extra field"))
      if id == ZipFormat.zip64ExtraID { return Zip64Fields(reader: ByteReader(body, record: "zip")) }
    }
    return Zip64Fields(reader: nil)
  }

  /// Checks the local header of `entry` and returns where its data starts.
  private func checkLocalHeader(_ entry: RawEntry, directoryStart: Int) throws(ArchiveError) -> Int {
    let offset = entry.localHeaderOffset
    let what = "local header of '\(entry.name)'"
    let signature = try reader.getInteger(at: offset, as: UInt32.self, what: what)
    guard signature == ZipFormat.localHeaderSignature else {
      throw .badSignature(what: what, offset: offset, expected: ZipFormat.localHeaderSignature, found: signature)
    }
    let nameLength = Int(try reader.getInteger(at: offset + 26, as: UInt16.self, what: what))
    let extraLength = Int(try reader.getInteger(at: offset + 28, as: UInt16.self, what: what))
    let localName = try reader.getSlice(at: offset + ZipFormat.localHeaderSize, length: nameLength, what: what)
    guard localName == entry.nameBytes else {
      throw .malformedZip(detail: "local header name differs from '\(entry.name)'", offset: offset)
    }
    let dataOffset = offset + ZipFormat.localHeaderSize + nameLength + extraLength
    // Entry data precedes the central directory; anything else overlaps it or the end records.
    guard dataOffset <= directoryStart, entry.compressedSize <= directoryStart - dataOffset else {
      throw .truncated(record: "zip", what: "data of '\(entry.name)'", offset: dataOffset)
    }
    return dataOffset
  }
}
