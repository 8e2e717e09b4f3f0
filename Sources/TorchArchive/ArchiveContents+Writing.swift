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
    let dataChecksums = ArchiveContents.checksums(of: data.storages.map(\.storage))
    for (storage, checksum) in zip(data.storages, dataChecksums) {
      try writer.append("data/" + storage.key, storage.storage.data, crc32: checksum)
    }
    try writer.append("data.pkl", data.bytes)

    for file in codeFiles {
      try writer.append("code/" + file.path, Data(file.source.utf8))
      if let debugInfo = file.debugInfo {
        try writer.append("code/" + file.path + ".debug_pkl", debugInfo)
      }
    }

    let constants = try Pickler().pickleConstantTable(self.constants)
    let constantChecksums = ArchiveContents.checksums(of: constants.storages.map(\.storage))
    for (storage, checksum) in zip(constants.storages, constantChecksums) {
      try writer.append("constants/" + storage.key, storage.storage.data, crc32: checksum)
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

  /// The CRC-32 of every storage, computed on all cores: checksumming is most of the cost of
  /// writing tensor records.
  static func checksums(of storages: [Storage]) -> [UInt32] {
    var results = [UInt32](repeating: 0, count: storages.count)
    guard !storages.isEmpty else { return results }
    // Largest first, dealt round-robin to a few workers, balances well enough.
    let order = storages.indices.sorted { storages[$0].byteCount > storages[$1].byteCount }
    let workers = min(ProcessInfo.processInfo.activeProcessorCount, 4, storages.count)
    results.withUnsafeMutableBufferPointer { output in
      nonisolated(unsafe) let output = output
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for position in stride(from: worker, to: order.count, by: workers) {
          let index = order[position]
          output[index] = storages[index].withUnsafeBytes { ZipChecksum.update(0, $0) }
        }
      }
    }
    return results
  }
}
