import Foundation

/// Writes deterministic zip archives laid out the way torch writes them.
///
/// Every record goes under `<rootFolder>/`, stored (uncompressed), with its data aligned to 64
/// bytes by a local-header extra field with id `0x4246` ("FB") holding `Z` padding, as
/// `caffe2/serialize/inline_container.cc` does. Timestamps are fixed (1980-01-01 00:00) and CRC
/// and sizes sit in the local header, so the same records in the same order always give the same
/// bytes. ZIP64 fields and end records are written only when a size, offset or count needs them.
///
/// Bytes leave through `output` as they are produced, so an archive never has to be held in
/// memory whole.
public struct ZipWriter {
  /// Where finished bytes go.
  public typealias Output = (Data) throws(ArchiveError) -> Void

  private struct CentralRecord {
    var name: [UInt8]
    var crc32: UInt32
    var size: UInt64
    var offset: UInt64
  }

  /// The folder every record is written under.
  public let rootFolder: String
  private let output: Output
  private var position: UInt64 = 0
  private var records: [CentralRecord] = []
  private var names: Set<String> = []
  private var finished = false
  /// Writes ZIP64 structures for every record, to exercise them without 4 GB of data.
  let forceZip64: Bool

  /// A writer that sends its bytes to `output`.
  ///
  /// - Throws: `ArchiveError.invalidRecordName` when `rootFolder` is not a single path component.
  public init(rootFolder: String, output: @escaping Output) throws(ArchiveError) {
    try self.init(rootFolder: rootFolder, forceZip64: false, output: output)
  }

  init(rootFolder: String, forceZip64: Bool, output: @escaping Output) throws(ArchiveError) {
    guard ZipWriter.isValidName(rootFolder), !rootFolder.contains("/") else {
      throw .invalidRecordName(rootFolder)
    }
    self.rootFolder = rootFolder
    self.forceZip64 = forceZip64
    self.output = output
  }

  /// Writes the records to an in-memory archive.
  ///
  /// - Parameters:
  ///   - rootFolder: the folder every record goes under.
  ///   - records: record names (without the root) and contents, in archive order.
  /// - Returns: the archive bytes.
  public static func archive(rootFolder: String, records: [(name: String, data: Data)]) throws(ArchiveError) -> Data {
    var bytes = Data()
    var writer = try ZipWriter(rootFolder: rootFolder) { chunk in bytes.append(chunk) }
    for record in records { try writer.append(record.name, record.data) }
    try writer.finish()
    return bytes
  }

  /// Appends the record `name` (relative to the root folder) holding `data`.
  ///
  /// - Throws: `ArchiveError.invalidRecordName` for empty, absolute or dotted names and
  ///   `.duplicateRecord` for a name written before; errors of `output`.
  ///
  /// `crc32`, when given, is the data's checksum, computed by the caller.
  public mutating func append(_ name: String, _ data: Data, crc32 knownChecksum: UInt32? = nil) throws(ArchiveError) {
    precondition(!finished, "ZipWriter used after finish()")
    guard ZipWriter.isValidName(name) else { throw .invalidRecordName(name) }
    guard names.insert(name).inserted else { throw .duplicateRecord(name) }
    let fullName = Array((rootFolder + "/" + name).utf8)
    guard fullName.count <= 0xFFFF else { throw .invalidRecordName(name) }
    let size = UInt64(data.count)
    let crc32 = knownChecksum ?? ZipFormat.crc32(of: data)
    let zip64 = forceZip64 || size >= ZipFormat.max32

    var header = ByteWriter()
    header.writeInteger(ZipFormat.localHeaderSignature)
    header.writeInteger(UInt16(zip64 ? 45 : 20))  // version needed to extract
    header.writeInteger(flags(for: fullName))
    header.writeInteger(ZipFormat.storedMethod)
    header.writeInteger(UInt16(0))  // time 00:00:00
    header.writeInteger(ZipWriter.dosDate)
    header.writeInteger(crc32)
    header.writeInteger(zip64 ? UInt32.max : UInt32(size))
    header.writeInteger(zip64 ? UInt32.max : UInt32(size))
    header.writeInteger(UInt16(fullName.count))
    // Data must start on a 64-byte boundary: local header, name, optional ZIP64 field (4 + 16)
    // and the padding field's own 4-byte header come first.
    let zip64Length = zip64 ? 20 : 0
    let unpadded = position + UInt64(ZipFormat.localHeaderSize + fullName.count + zip64Length + 4)
    let alignment = UInt64(ZipFormat.dataAlignment)
    let padding = Int((alignment - unpadded % alignment) % alignment)
    header.writeInteger(UInt16(zip64Length + 4 + padding))
    header.writeBytes(fullName)
    if zip64 {
      header.writeInteger(ZipFormat.zip64ExtraID)
      header.writeInteger(UInt16(16))
      header.writeInteger(size)
      header.writeInteger(size)
    }
    header.writeInteger(ZipFormat.paddingExtraID)
    header.writeInteger(UInt16(padding))
    header.writeBytes(repeatElement(UInt8(ascii: "Z"), count: padding))

    records.append(CentralRecord(name: fullName, crc32: crc32, size: size, offset: position))
    try emit(header.data)
    try emit(data)
  }

  /// Writes the central directory and end records. The writer accepts nothing afterwards.
  public mutating func finish() throws(ArchiveError) {
    precondition(!finished, "ZipWriter.finish() called twice")
    finished = true
    let directoryOffset = position
    var directory = ByteWriter()
    for record in records {
      let sizeNeeds64 = forceZip64 || record.size >= ZipFormat.max32
      let offsetNeeds64 = forceZip64 || record.offset >= ZipFormat.max32
      var extra = ByteWriter()
      if sizeNeeds64 || offsetNeeds64 {
        extra.writeInteger(ZipFormat.zip64ExtraID)
        extra.writeInteger(UInt16((sizeNeeds64 ? 16 : 0) + (offsetNeeds64 ? 8 : 0)))
        if sizeNeeds64 {
          extra.writeInteger(record.size)
          extra.writeInteger(record.size)
        }
        if offsetNeeds64 { extra.writeInteger(record.offset) }
      }
      let version = UInt16(sizeNeeds64 || offsetNeeds64 ? 45 : 20)
      directory.writeInteger(ZipFormat.centralHeaderSignature)
      directory.writeInteger(version)  // made by
      directory.writeInteger(version)  // needed to extract
      directory.writeInteger(flags(for: record.name))
      directory.writeInteger(ZipFormat.storedMethod)
      directory.writeInteger(UInt16(0))
      directory.writeInteger(ZipWriter.dosDate)
      directory.writeInteger(record.crc32)
      directory.writeInteger(sizeNeeds64 ? UInt32.max : UInt32(record.size))
      directory.writeInteger(sizeNeeds64 ? UInt32.max : UInt32(record.size))
      directory.writeInteger(UInt16(record.name.count))
      directory.writeInteger(UInt16(extra.count))
      directory.writeInteger(UInt16(0))  // comment length
      directory.writeInteger(UInt16(0))  // disk
      directory.writeInteger(UInt16(0))  // internal attributes
      directory.writeInteger(UInt32(0))  // external attributes
      directory.writeInteger(offsetNeeds64 ? UInt32.max : UInt32(record.offset))
      directory.writeBytes(record.name)
      directory.writeBytes(extra.bytes)
    }
    let directorySize = UInt64(directory.count)
    let count = UInt64(records.count)
    let needsZip64 =
      forceZip64 || count >= ZipFormat.max16 || directorySize >= ZipFormat.max32 || directoryOffset >= ZipFormat.max32

    var end = ByteWriter()
    if needsZip64 {
      let recordOffset = directoryOffset + directorySize
      end.writeInteger(ZipFormat.zip64EndOfCentralDirectorySignature)
      end.writeInteger(UInt64(ZipFormat.zip64EndOfCentralDirectorySize - 12))  // size of the rest
      end.writeInteger(UInt16(45))
      end.writeInteger(UInt16(45))
      end.writeInteger(UInt32(0))
      end.writeInteger(UInt32(0))
      end.writeInteger(count)
      end.writeInteger(count)
      end.writeInteger(directorySize)
      end.writeInteger(directoryOffset)
      end.writeInteger(ZipFormat.zip64LocatorSignature)
      end.writeInteger(UInt32(0))
      end.writeInteger(recordOffset)
      end.writeInteger(UInt32(1))
    }
    end.writeInteger(ZipFormat.endOfCentralDirectorySignature)
    end.writeInteger(UInt16(0))
    end.writeInteger(UInt16(0))
    end.writeInteger(UInt16(min(count, ZipFormat.max16)))
    end.writeInteger(UInt16(min(count, ZipFormat.max16)))
    end.writeInteger(UInt32(min(directorySize, ZipFormat.max32)))
    end.writeInteger(UInt32(min(directoryOffset, ZipFormat.max32)))
    end.writeInteger(UInt16(0))  // comment length
    try emit(directory.data + end.data)
  }

  // MARK: - Helpers

  /// 1980-01-01, the earliest DOS date: fixed so output never depends on the clock.
  private static let dosDate: UInt16 = (0 << 9) | (1 << 5) | 1

  /// Names are UTF-8; say so when they are not plain ASCII.
  private func flags(for name: [UInt8]) -> UInt16 {
    name.allSatisfy { $0 < 0x80 } ? 0 : ZipFormat.utf8NameFlag
  }

  private mutating func emit(_ data: Data) throws(ArchiveError) {
    try output(data)
    position += UInt64(data.count)
  }

  /// A relative path with no empty, `.` or `..` components.
  static func isValidName(_ name: String) -> Bool {
    guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\") else { return false }
    return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
      !$0.isEmpty && $0 != "." && $0 != ".."
    }
  }
}
