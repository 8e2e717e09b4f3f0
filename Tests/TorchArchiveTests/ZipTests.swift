import Foundation
import TensorCore
import Testing

@testable import TorchArchive

@Suite struct ZipReaderTests {
  @Test(arguments: Fixtures.allArchives)
  func readsTorchWrittenArchive(_ url: URL) throws {
    let zip = try ZipReader(contentsOf: url)
    #expect(zip.rootFolder == url.deletingPathExtension().lastPathComponent)
    #expect(zip.contains("data.pkl"))
    #expect(zip.contains("constants.pkl"))
    #expect(zip.contains("version") || zip.contains(".data/version"))
    #expect(!zip.recordNames.contains { $0.hasPrefix(zip.rootFolder + "/") })
    for entry in zip.entries {
      // torch aligns every record's data to 64 bytes; finding that confirms the offsets.
      #expect(entry.dataOffset % 64 == 0, "\(entry.name) at \(entry.dataOffset)")
      let contents = try zip.contents(of: entry)
      #expect(contents.count == entry.uncompressedSize)
    }
    let stored = try #require(zip.entry(named: "data.pkl"))
    #expect(stored.method == .stored)
    let deflated = try #require(zip.entries.first { $0.method == .deflated })
    #expect(deflated.name.hasPrefix("code/"))
  }

  @Test func storedRecordsAreSlicesOfTheArchive() throws {
    let zip = try ZipReader(contentsOf: Fixtures.model("mlp"))
    let entry = try #require(zip.entry(named: "data/0"))
    let contents = try zip.contents(of: entry, verifyChecksum: false)
    #expect(contents.startIndex == zip.data.startIndex + entry.dataOffset)
    #expect(contents == zip.data[contents.startIndex..<contents.endIndex])
  }

  @Test func acceptsTrailingCommentAndAnyRootName() throws {
    var archive = try ZipWriter.archive(
      rootFolder: "some_name", records: [("data.pkl", Data([1, 2, 3])), ("code/__torch__.py", Data("x".utf8))])
    let comment = Data("a trailing comment".utf8)
    // The end record's last field is the comment length.
    archive[archive.count - 2] = UInt8(comment.count)
    archive.append(comment)
    let zip = try ZipReader(data: archive)
    #expect(zip.rootFolder == "some_name")
    #expect(zip.recordNames == ["data.pkl", "code/__torch__.py"])
    #expect(try zip.contents(ofRecord: "data.pkl") == Data([1, 2, 3]))
  }

  @Test func rejectsEmptyFile() {
    #expect(archiveError { _ = try ZipReader(data: Data()) } == .notAZipArchive(byteCount: 0))
  }

  @Test func rejectsNonZipBytes() {
    let text = Data(String(repeating: "not a zip archive ", count: 100).utf8)
    #expect(archiveError { _ = try ZipReader(data: text) } == .notAZipArchive(byteCount: text.count))
  }

  @Test func rejectsMissingFile() {
    let error = archiveError { _ = try ZipReader(contentsOf: Fixtures.folder.appendingPathComponent("absent.pt")) }
    guard case .cannotRead = error else {
      Issue.record("expected cannotRead, got \(String(describing: error))")
      return
    }
  }

  @Test func rejectsTruncatedArchives() throws {
    let data = try Data(contentsOf: Fixtures.model("conv_bn_relu"))
    for length in [data.count - 1, data.count - 21, data.count - 100, data.count / 2, 40] {
      let error = archiveError { _ = try TorchScriptArchive(data: data.prefix(length)) }
      #expect(error != nil, "truncated to \(length) bytes")
    }
    // Cutting the central directory short while keeping a valid end record.
    let zip = try ZipReader(data: data)
    let endOffset = data.count - 22
    let directoryOffset = (16..<20).reduce(0) { $0 | Int(data[endOffset + $1]) << (8 * ($1 - 16)) }
    var shortened = data.prefix(directoryOffset + 50)
    shortened.append(data.suffix(22))
    let error = archiveError { _ = try ZipReader(data: shortened) }
    #expect(error != nil)
    #expect(zip.entries.count > 1)
  }

  @Test func reportsTruncatedCentralDirectory() throws {
    let data = try ZipWriter.archive(rootFolder: "archive", records: [("a", Data([1])), ("b", Data([2]))])
    var broken = data
    // Claim a central directory larger than the bytes before the end record.
    let end = broken.count - 22
    broken[end + 12] = 0xFF
    broken[end + 13] = 0xFF
    let error = archiveError { _ = try ZipReader(data: broken) }
    guard case .truncated(record: "zip", what: "central directory", _) = error else {
      Issue.record("expected a truncated central directory, got \(String(describing: error))")
      return
    }
    #expect(error!.description.hasPrefix("zip: truncated central directory at offset "))
  }

  @Test func rejectsEntriesOutsideTheRootFolder() throws {
    var writer = ZipWriterHarness()
    try writer.add("model/data.pkl", Data([1]))
    try writer.add("other/data.pkl", Data([2]))
    #expect(archiveError { _ = try ZipReader(data: writer.finish()) } == .outsideRootFolder(entry: "other/data.pkl", root: "model"))
    var flat = ZipWriterHarness()
    try flat.add("data.pkl", Data([1]))
    #expect(archiveError { _ = try ZipReader(data: flat.finish()) } == .outsideRootFolder(entry: "data.pkl", root: ""))
  }

  @Test func rejectsDuplicateRecords() throws {
    var writer = ZipWriterHarness()
    try writer.add("model/data.pkl", Data([1]))
    try writer.add("model/data.pkl", Data([2]))
    #expect(archiveError { _ = try ZipReader(data: writer.finish()) } == .duplicateRecord("data.pkl"))
  }

  @Test func skipsDirectoryEntries() throws {
    var writer = ZipWriterHarness()
    try writer.add("model/", Data())
    try writer.add("model/code/", Data())
    try writer.add("model/code/__torch__.py", Data("pass".utf8))
    let zip = try ZipReader(data: writer.finish())
    #expect(zip.recordNames == ["code/__torch__.py"])
  }

  @Test func checksumsStoredRecordsOnRequest() throws {
    var data = try ZipWriter.archive(rootFolder: "m", records: [("data.pkl", Data([1, 2, 3, 4]))])
    let zip = try ZipReader(data: data)
    let entry = try #require(zip.entry(named: "data.pkl"))
    data[entry.dataOffset] ^= 0xFF
    let corrupted = try ZipReader(data: data)
    #expect(try corrupted.contents(ofRecord: "data.pkl", verifyChecksum: false) != Data([1, 2, 3, 4]))
    let error = archiveError { _ = try corrupted.contents(ofRecord: "data.pkl") }
    guard case .checksumMismatch(record: "data.pkl", expected: _, actual: _) = error else {
      Issue.record("expected a checksum mismatch, got \(String(describing: error))")
      return
    }
  }

  @Test func rejectsCorruptDeflatedRecords() throws {
    let original = try Data(contentsOf: Fixtures.model("mlp"))
    let zip = try ZipReader(data: original)
    let entry = try #require(zip.entries.first { $0.method == .deflated && $0.compressedSize > 100 })
    for position in [0, 1, entry.compressedSize / 2, entry.compressedSize - 1] {
      var data = original
      data[entry.dataOffset + position] ^= 0x5A
      let error = archiveError { _ = try ZipReader(data: data).contents(of: entry) }
      switch error {
      case .badCompressedData(record: entry.name, _), .checksumMismatch(record: entry.name, _, _): break
      default: Issue.record("byte \(position): expected a compressed-data error, got \(String(describing: error))")
      }
    }
  }

  @Test func inflaterChecksSizesAndEnds() throws {
    let zip = try ZipReader(contentsOf: Fixtures.model("mlp"))
    let entry = try #require(zip.entries.first { $0.method == .deflated && $0.uncompressedSize > 200 })
    let compressed = Data(zip.data[entry.dataOffset..<entry.dataOffset + entry.compressedSize])
    #expect(try ZipInflater.inflate(compressed, entry: entry).count == entry.uncompressedSize)
    func declaring(_ size: Int) -> ZipEntry {
      ZipEntry(
        name: entry.name, method: entry.method, crc32: entry.crc32, compressedSize: entry.compressedSize,
        uncompressedSize: size, localHeaderOffset: entry.localHeaderOffset, dataOffset: entry.dataOffset)
    }
    func detail(_ body: () throws -> Void) -> String? {
      guard case .badCompressedData(record: entry.name, let detail) = archiveError(body) else { return nil }
      return detail
    }
    #expect(detail { _ = try ZipInflater.inflate(compressed.prefix(compressed.count / 2), entry: entry) } == "deflate stream ends early")
    let smaller = entry.uncompressedSize - 10
    #expect(detail { _ = try ZipInflater.inflate(compressed, entry: declaring(smaller)) } == "inflates to more than \(smaller) bytes")
    let larger = entry.uncompressedSize + 10
    #expect(
      detail { _ = try ZipInflater.inflate(compressed, entry: declaring(larger)) }
        == "inflates to \(entry.uncompressedSize) bytes, expected \(larger)")
  }

  @Test func rejectsEncryptedAndUnknownMethods() throws {
    let data = try ZipWriter.archive(rootFolder: "m", records: [("data.pkl", Data([1]))])
    let zip = try ZipReader(data: data)
    let directory = try #require(findCentralDirectory(data))
    var encrypted = data
    encrypted[directory + 8] |= 1
    #expect(
      archiveError { _ = try ZipReader(data: encrypted) }
        == .unsupportedZipFeature(record: "m/data.pkl", feature: "encryption"))
    var bzip = data
    bzip[directory + 10] = 12
    #expect(
      archiveError { _ = try ZipReader(data: bzip) }
        == .unsupportedZipFeature(record: "m/data.pkl", feature: "compression method 12"))
    #expect(zip.entries.count == 1)
  }

  @Test func rejectsBadLocalHeader() throws {
    var data = try ZipWriter.archive(rootFolder: "m", records: [("data.pkl", Data([1]))])
    data[0] = 0
    let error = archiveError { _ = try ZipReader(data: data) }
    guard case .badSignature(what: "local header of 'm/data.pkl'", offset: 0, _, _) = error else {
      Issue.record("expected a bad local header signature, got \(String(describing: error))")
      return
    }
  }

  /// The offset of the first central directory header.
  private func findCentralDirectory(_ data: Data) -> Int? {
    let bytes = [UInt8](data)
    for index in 0..<(bytes.count - 4) where bytes[index..<(index + 4)].elementsEqual([0x50, 0x4B, 0x01, 0x02]) {
      return index
    }
    return nil
  }
}

@Suite struct ZipWriterTests {
  static let records: [(name: String, data: Data)] = [
    ("data.pkl", Data([0x80, 0x02, 0x4E, 0x2E])),
    ("data/0", Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) })),
    ("empty", Data()),
    ("code/__torch__/ünïcode.py", Data("# ünïcode\n".utf8)),
    ("big", Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 >> 3) })),
  ]

  @Test func roundTripsRecordsWithAlignedData() throws {
    let archive = try ZipWriter.archive(rootFolder: "model", records: Self.records)
    let zip = try ZipReader(data: archive)
    #expect(zip.rootFolder == "model")
    #expect(zip.recordNames == Self.records.map(\.name))
    for (name, data) in Self.records {
      let entry = try #require(zip.entry(named: name))
      #expect(entry.method == .stored)
      #expect(entry.dataOffset % 64 == 0)
      #expect(try zip.contents(of: entry) == data)
    }
  }

  @Test func isDeterministic() throws {
    let first = try ZipWriter.archive(rootFolder: "model", records: Self.records)
    let second = try ZipWriter.archive(rootFolder: "model", records: Self.records)
    #expect(first == second)
  }

  @Test func writesReadableZip64Structures() throws {
    var bytes = Data()
    var writer = try ZipWriter(rootFolder: "model", forceZip64: true) { bytes.append($0) }
    for (name, data) in Self.records { try writer.append(name, data) }
    try writer.finish()
    let zip = try ZipReader(data: bytes)
    #expect(zip.recordNames == Self.records.map(\.name))
    for (name, data) in Self.records {
      let entry = try #require(zip.entry(named: name))
      #expect(entry.dataOffset % 64 == 0)
      #expect(try zip.contents(of: entry) == data)
    }
    #expect(bytes != (try ZipWriter.archive(rootFolder: "model", records: Self.records)))
  }

  @Test func usesZip64ForMoreThan65534Records() throws {
    let count = 65_536
    let records = (0..<count).map { (name: "r\($0)", data: Data()) }
    let archive = try ZipWriter.archive(rootFolder: "m", records: records)
    let zip = try ZipReader(data: archive)
    #expect(zip.entries.count == count)
    #expect(zip.entries.last?.name == "r\(count - 1)")
  }

  @Test func rejectsBadNames() throws {
    #expect(archiveError { _ = try ZipWriter(rootFolder: "a/b") { _ in } } == .invalidRecordName("a/b"))
    #expect(archiveError { _ = try ZipWriter(rootFolder: "") { _ in } } == .invalidRecordName(""))
    var writer = try ZipWriter(rootFolder: "m") { _ in }
    for name in ["", "/abs", "a//b", "../up", "a/./b"] {
      #expect(archiveError { try writer.append(name, Data()) } == .invalidRecordName(name))
    }
    try writer.append("x", Data())
    #expect(archiveError { try writer.append("x", Data()) } == .duplicateRecord("x"))
  }
}

/// Builds plain zips as other tools write them (no alignment, any entry names, directory
/// entries), to feed the reader what ZipWriter refuses to produce.
struct ZipWriterHarness {
  private var entries: [(name: String, data: Data)] = []

  mutating func add(_ name: String, _ data: Data) throws {
    entries.append((name, data))
  }

  /// The archive bytes.
  func finish() throws -> Data {
    var out = Data()
    var local = ByteWriter()
    var central = ByteWriter()
    for (name, data) in entries {
      let offset = UInt32(out.count + local.count)
      let nameBytes = Array(name.utf8)
      let crc = ZipFormat.crc32(of: data)
      local.writeInteger(ZipFormat.localHeaderSignature)
      local.writeInteger(UInt16(20))
      local.writeInteger(UInt16(0))
      local.writeInteger(UInt16(0))
      local.writeInteger(UInt32(0))
      local.writeInteger(crc)
      local.writeInteger(UInt32(data.count))
      local.writeInteger(UInt32(data.count))
      local.writeInteger(UInt16(nameBytes.count))
      local.writeInteger(UInt16(0))
      local.writeBytes(nameBytes)
      local.writeBytes(data)
      central.writeInteger(ZipFormat.centralHeaderSignature)
      central.writeInteger(UInt16(20))
      central.writeInteger(UInt16(20))
      central.writeInteger(UInt16(0))
      central.writeInteger(UInt16(0))
      central.writeInteger(UInt32(0))
      central.writeInteger(crc)
      central.writeInteger(UInt32(data.count))
      central.writeInteger(UInt32(data.count))
      central.writeInteger(UInt16(nameBytes.count))
      central.writeInteger(UInt16(0))
      central.writeInteger(UInt16(0))
      central.writeInteger(UInt16(0))
      central.writeInteger(UInt16(0))
      central.writeInteger(UInt32(0))
      central.writeInteger(offset)
      central.writeBytes(nameBytes)
    }
    out.append(local.data)
    let directoryOffset = UInt32(out.count)
    out.append(central.data)
    var end = ByteWriter()
    end.writeInteger(ZipFormat.endOfCentralDirectorySignature)
    end.writeInteger(UInt32(0))
    end.writeInteger(UInt16(entries.count))
    end.writeInteger(UInt16(entries.count))
    end.writeInteger(UInt32(central.count))
    end.writeInteger(directoryOffset)
    end.writeInteger(UInt16(0))
    out.append(end.data)
    return out
  }
}

@Suite struct ZipChecksumTests {
  /// Bit by bit, straight from the polynomial: slow and obviously right.
  static func reference(_ bytes: [UInt8], continuing checksum: UInt32 = 0) -> UInt32 {
    var crc = ~checksum
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  @Test func checkValue() {
    // The CRC-32 catalogue's check value for the nine ASCII digits.
    #expect(ZipChecksum.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
    #expect(ZipChecksum.checksum(Data()) == 0)
  }

  @Test func matchesTheBitwiseReferenceAtEveryLengthAndAlignment() {
    var random = SplitMix64(seed: 0xC0C3_2032)
    let bytes = (0..<4099).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    for (start, count) in [(0, 0), (0, 1), (1, 7), (3, 8), (5, 63), (0, 64), (7, 1000), (13, 4086)] {
      let slice = Array(bytes[start..<(start + count)])
      let expected = Self.reference(slice)
      let actual = slice.withUnsafeBytes { ZipChecksum.update(0, $0) }
      #expect(actual == expected, "\(count) bytes from \(start)")
    }
    // Continuing a checksum equals checksumming the concatenation.
    let head = Array(bytes[..<1500]), tail = Array(bytes[1500...])
    let continued = tail.withUnsafeBytes { ZipChecksum.update(head.withUnsafeBytes { ZipChecksum.update(0, $0) }, $0) }
    #expect(continued == Self.reference(bytes))
    #expect(Self.reference(tail, continuing: Self.reference(head)) == Self.reference(bytes))
  }
}
