import CSystem
import Foundation
import TensorCore

extension ArchiveContents {
  /// The archive as bytes, records in the order torch writes them (SPEC §7.2).
  ///
  /// - Throws: `ArchiveError` for an unsupported version or byte order, a value that cannot be
  ///   pickled, or an invalid root folder or file name.
  public func serialized() throws(ArchiveError) -> Data {
    var bytes = Data()
    var writer = try ZipWriter(rootFolder: rootFolder) { chunk in bytes.append(chunk) }
    try writeRecords(to: &writer)
    try writer.finish()
    return bytes
  }

  /// Writes the archive to `url` through a temporary file in the same folder, renamed into
  /// place once complete; on any failure the temporary file is removed and `url` is untouched.
  ///
  /// - Throws: the errors of `serialized()`, or `ArchiveError.cannotWrite`.
  public func write(to url: URL) throws(ArchiveError) {
    let temporary = url.deletingLastPathComponent()
      .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw .cannotWrite(path: url.path, reason: "cannot create a temporary file in its folder")
    }
    do throws(ArchiveError) {
      let handle = try ArchiveContents.attempt(temporary) { try FileHandle(forWritingTo: temporary) }
      defer { try? handle.close() }
      var writer = try ZipWriter(rootFolder: rootFolder) { chunk throws(ArchiveError) in
        try ArchiveContents.attempt(temporary) { try handle.write(contentsOf: chunk) }
      }
      try writeRecords(to: &writer)
      try writer.finish()
      // No fsync: the rename below is what guarantees readers never see a partial file, and
      // flushing 14 MB to disk took longer than the whole optimization (torch does not either).
      try ArchiveContents.attempt(temporary) { try handle.close() }
      try ArchiveContents.replace(url, with: temporary)
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw error
    }
  }

  /// Moves `temporary` to `url` atomically, replacing what is there.
  ///
  /// An existing file is swapped out and then removed, rather than renamed over: ext4 treats
  /// renaming over a file as a replace-via-rename and first forces the new file's delayed
  /// allocations to disk (`auto_da_alloc`), which made saving over a previous output take
  /// 7–8 ms longer than saving to a new path. The swap is just as atomic for readers of `url`.
  private static func replace(_ url: URL, with temporary: URL) throws(ArchiveError) {
    // Only a file or a link is swapped out: renaming onto anything else fails, as it should.
    var status = stat()
    let replacesFile = lstat(url.path, &status) == 0 && (status.st_mode & S_IFMT == S_IFREG || status.st_mode & S_IFMT == S_IFLNK)
    if replacesFile, mo_rename_exchange(temporary.path, url.path) == 0 {
      // `temporary` now names the previous file.
      unlink(temporary.path)
      return
    }
    guard rename(temporary.path, url.path) == 0 else {
      throw ArchiveError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
    }
  }

  /// Runs a file operation, reporting its failure as `cannotWrite`.
  private static func attempt<T>(_ path: URL, _ body: () throws -> T) throws(ArchiveError) -> T {
    do {
      return try body()
    } catch {
      throw .cannotWrite(path: path.path, reason: error.localizedDescription)
    }
  }

  /// Appends every record, in torch's order: `extra/`, `data/<key>`, `data.pkl`, `code/`,
  /// `constants/<key>`, `constants.pkl`, the version, `byteorder`, `.data/serialization_id`.
  func writeRecords(to writer: inout ZipWriter) throws(ArchiveError) {
    guard TorchScriptArchive.supportedVersions.contains(version) else {
      throw .unsupportedVersion(version, supported: TorchScriptArchive.supportedVersions)
    }
    if let byteOrder, byteOrder.trimmingCharacters(in: .whitespacesAndNewlines) != "little" {
      throw .unsupportedByteOrder(byteOrder)
    }
    for file in extraFiles {
      try writer.append("extra/" + file.name, file.contents)
    }

    let data = try Pickler().pickle(self.data)
    let dataChecksums = ChecksumPipeline(data.storages.map(\.storage))
    for (index, storage) in data.storages.enumerated() {
      try writer.append("data/" + storage.key, storage.storage.data, crc32: dataChecksums.checksum(index))
    }
    try writer.append("data.pkl", data.bytes)

    for file in codeFiles {
      try writer.append("code/" + file.path, Data(file.source.utf8))
      if let debugInfo = file.debugInfo {
        try writer.append("code/" + file.path + ".debug_pkl", debugInfo)
      }
    }

    let constants = try Pickler().pickleConstantTable(self.constants)
    let constantChecksums = ChecksumPipeline(constants.storages.map(\.storage))
    for (index, storage) in constants.storages.enumerated() {
      try writer.append("constants/" + storage.key, storage.storage.data, crc32: constantChecksums.checksum(index))
    }
    try writer.append("constants.pkl", constants.bytes)

    // torch moved the version record under `.data/` from version 6 on (SPEC §7.3).
    try writer.append(version < 6 ? "version" : ".data/version", Data("\(version)\n".utf8))
    if let byteOrder {
      try writer.append("byteorder", Data(byteOrder.utf8))
    }
    if let serializationID {
      try writer.append(".data/serialization_id", Data(serializationID.utf8))
    }
  }
}

/// The CRC-32s of a list of storages, computed in order on another thread while the caller
/// writes the records: a zip local header needs its record's checksum, so without this the
/// checksums (about 3.6 ms for MobileNetV2's 14 MB) and the writes (about 4 ms of copying into
/// the page cache) would take turns instead of overlapping.
final class ChecksumPipeline: @unchecked Sendable {
  private let storages: [Storage]
  // Raw memory rather than an array: the worker writes one slot while the caller reads another,
  // and each slot is published by its semaphore.
  private let results: UnsafeMutablePointer<UInt32>
  private let ready: [DispatchSemaphore]

  init(_ storages: [Storage]) {
    self.storages = storages
    results = .allocate(capacity: max(storages.count, 1))
    ready = storages.map { _ in DispatchSemaphore(value: 0) }
    guard !storages.isEmpty else { return }
    // The closure keeps the pipeline alive until every checksum is done.
    BackgroundLane.shared.submit { [self] in
      for index in storages.indices {
        results[index] = storages[index].withUnsafeBytes { ZipChecksum.update(0, $0) }
        ready[index].signal()
      }
    }
  }

  deinit {
    results.deallocate()
  }

  /// The checksum of storage `index`, waiting for it if need be.
  func checksum(_ index: Int) -> UInt32 {
    ready[index].wait()
    // Signalled once: give it back, so that asking twice does not block.
    ready[index].signal()
    return results[index]
  }
}
