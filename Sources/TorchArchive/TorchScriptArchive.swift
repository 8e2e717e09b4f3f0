import Foundation
import TensorCore

/// A TorchScript archive (`.pt`, as `torch.jit.save` writes it) opened for reading.
///
/// Opening reads the small records eagerly and checks them: the file-format version
/// (`.data/version` or `version`), `byteorder`, `.data/serialization_id`, `extra/` files and
/// `code/` sources. The pickles are read on request: `readData()` returns the root module object
/// and `readConstants()` the constant table, with tensors over lazy storages that copy their
/// bytes out of the memory-mapped file only on first access ("initial load should be fast").
/// Within one read, all tensors naming the same storage key share one `Storage`.
public struct TorchScriptArchive: Sendable {
  /// The file-format versions torch reads.
  public static let supportedVersions: ClosedRange<Int> = 1...10

  /// The underlying records, for anything beyond the standard layout.
  public let zip: ZipReader
  /// The file-format version.
  public let version: Int
  /// The `byteorder` record (`little`), if present.
  public let byteOrder: String?
  /// The `.data/serialization_id` record, if present.
  public let serializationID: String?
  /// `extra/` files, in archive order.
  public let extraFiles: [ExtraFile]
  /// `code/**/*.py` sources with their debug info, in archive order.
  public let codeFiles: [CodeFile]

  /// The folder every record sits in.
  public var rootFolder: String { zip.rootFolder }

  /// Memory-maps and opens the archive at `url`.
  ///
  /// - Throws: `ArchiveError` for an unreadable file, a malformed zip, a missing or unsupported
  ///   version, a byte order other than `little`, or sources that are not UTF-8.
  public init(contentsOf url: URL) throws(ArchiveError) {
    try self.init(zip: ZipReader(contentsOf: url))
  }

  /// Opens the archive held in `data`.
  ///
  /// - Throws: the errors of `init(contentsOf:)`.
  public init(data: Data) throws(ArchiveError) {
    try self.init(zip: ZipReader(data: data))
  }

  /// Opens the archive whose records `zip` holds.
  ///
  /// - Throws: the errors of `init(contentsOf:)` beyond the zip structure.
  public init(zip: ZipReader) throws(ArchiveError) {
    self.zip = zip
    let versionRecord = zip.contains(".data/version") ? ".data/version" : "version"
    guard zip.contains(versionRecord) else { throw .missingRecord("version") }
    let versionText = try TorchScriptArchive.text(of: versionRecord, in: zip)
    let trimmed = versionText.trimmingCharacters(in: .whitespacesAndNewlines)
    guard let version = Int(trimmed), trimmed.allSatisfy(\.isASCII) else {
      throw .invalidRecordText(record: versionRecord, text: String(trimmed.prefix(40)))
    }
    guard TorchScriptArchive.supportedVersions.contains(version) else {
      throw .unsupportedVersion(version, supported: TorchScriptArchive.supportedVersions)
    }
    self.version = version

    if zip.contains("byteorder") {
      let order = try TorchScriptArchive.text(of: "byteorder", in: zip)
      guard order.trimmingCharacters(in: .whitespacesAndNewlines) == "little" else {
        throw .unsupportedByteOrder(String(order.prefix(40)))
      }
      byteOrder = order
    } else {
      byteOrder = nil
    }
    serializationID =
      zip.contains(".data/serialization_id")
      ? try TorchScriptArchive.text(of: ".data/serialization_id", in: zip) : nil

    var extraFiles: [ExtraFile] = []
    var codeFiles: [CodeFile] = []
    for entry in zip.entries {
      if entry.name.hasPrefix("extra/") {
        // A copy, so that callers get ordinary zero-based `Data`.
        let contents = Data(try zip.contents(of: entry))
        extraFiles.append(ExtraFile(name: String(entry.name.dropFirst("extra/".count)), contents: contents))
      } else if entry.name.hasPrefix("code/"), entry.name.hasSuffix(".py") {
        let source = try TorchScriptArchive.text(of: entry.name, in: zip)
        let debugRecord = entry.name + ".debug_pkl"
        let debugInfo = zip.contains(debugRecord) ? Data(try zip.contents(ofRecord: debugRecord)) : nil
        codeFiles.append(
          CodeFile(path: String(entry.name.dropFirst("code/".count)), source: source, debugInfo: debugInfo))
      }
    }
    self.extraFiles = extraFiles
    self.codeFiles = codeFiles
  }

  /// The root module object from `data.pkl`, with tensors over `data/<key>` records.
  ///
  /// - Throws: `ArchiveError` for a missing record or a malformed pickle.
  public func readData() throws(ArchiveError) -> IValue {
    try unpickle(record: "data.pkl", storageFolder: "data/")
  }

  /// The constant table from `constants.pkl`, with tensors over `constants/<key>` records.
  ///
  /// - Throws: `ArchiveError` for a missing record, a malformed pickle, or a pickle that is not
  ///   a tuple.
  public func readConstants() throws(ArchiveError) -> [IValue] {
    guard case .tuple(let constants) = try unpickle(record: "constants.pkl", storageFolder: "constants/") else {
      throw .invalidPickle(record: "constants.pkl", detail: "constant table is not a tuple", offset: 0)
    }
    return constants
  }

  /// Everything the archive holds, ready to be changed and written back.
  ///
  /// - Throws: the errors of `readData()` and `readConstants()`.
  public func readContents() throws(ArchiveError) -> ArchiveContents {
    ArchiveContents(
      rootFolder: rootFolder, version: version, data: try readData(), constants: try readConstants(),
      codeFiles: codeFiles, extraFiles: extraFiles, byteOrder: byteOrder, serializationID: serializationID)
  }

  /// Unpickles `record`, resolving storage persistent ids to records under `storageFolder`.
  ///
  /// Each storage key becomes one lazy `Storage` over the record bytes, shared by every tensor
  /// that names it; its size is the element count the persistent id gives.
  ///
  /// - Throws: `ArchiveError` for a missing record, a malformed pickle, or a storage record
  ///   smaller than its persistent id says.
  public func unpickle(record: String, storageFolder: String) throws(ArchiveError) -> IValue {
    let bytes = try zip.contents(ofRecord: record)
    var loaded: [String: (storage: Storage, dtype: DType)] = [:]
    let zip = self.zip
    let unpickler = Unpickler(recordName: record) { reference throws(ArchiveError) in
      let name = storageFolder + reference.key
      if let known = loaded[reference.key] {
        guard known.dtype == reference.dtype else {
          throw .storageDTypeConflict(record: name, first: known.dtype, second: reference.dtype)
        }
        return known.storage
      }
      guard let entry = zip.entry(named: name) else { throw .missingRecord(name) }
      let (needed, overflow) = reference.elementCount.multipliedReportingOverflow(by: reference.dtype.itemSize)
      guard !overflow, needed <= entry.uncompressedSize else {
        throw .storageTooSmall(record: name, needed: overflow ? Int.max : needed, available: entry.uncompressedSize)
      }
      // Tensor bytes are not checksummed: that would read every byte of the model up front.
      let contents = try zip.contents(of: entry, verifyChecksum: false)
      let storage = Storage(lazyBytes: contents.prefix(needed), sourceKey: name)
      loaded[reference.key] = (storage, reference.dtype)
      return storage
    }
    return try unpickler.unpickle(bytes)
  }

  /// A record's bytes as UTF-8 text.
  private static func text(of record: String, in zip: ZipReader) throws(ArchiveError) -> String {
    let bytes = try zip.contents(ofRecord: record)
    guard let text = validUTF8(bytes) else { throw .invalidUTF8(record: record) }
    return text
  }
}

/// `bytes` as a string when they are valid UTF-8. (Through a buffer pointer: `String(validating:)`
/// over `Data` itself takes a generic byte-by-byte path, which was most of the cost of opening
/// an archive's code records.)
func validUTF8(_ bytes: Data) -> String? {
  bytes.withUnsafeBytes { raw in String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) }
}
