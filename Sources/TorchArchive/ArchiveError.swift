import TensorCore

/// Bad input met while reading or writing zip records, pickles, `.npy` files or TorchScript
/// archives.
///
/// Every case names where the problem is: the record (`data.pkl`, `zip`, `version`, a `.npy`
/// file name) and, for byte-level problems, the offset within that record. `description` is the
/// user-facing message, lower-case without a final period, for example
/// `data.pkl: unknown pickle opcode 0x99 at offset 1234`.
public enum ArchiveError: Error, Equatable, CustomStringConvertible {
  // MARK: - Files

  /// A file could not be read (missing, a directory, no permission).
  case cannotRead(path: String, reason: String)
  /// A file could not be written, renamed or removed.
  case cannotWrite(path: String, reason: String)

  // MARK: - Bytes and zip structure

  /// Fewer bytes remain than `what` needs, starting at `offset` of `record`.
  case truncated(record: String, what: String, offset: Int)
  /// No end-of-central-directory record was found: the input is empty or not a zip archive.
  case notAZipArchive(byteCount: Int)
  /// A zip structure at `offset` starts with `found` instead of its signature `expected`.
  case badSignature(what: String, offset: Int, expected: UInt32, found: UInt32)
  /// A zip structure at `offset` holds inconsistent values, described by `detail`.
  case malformedZip(detail: String, offset: Int)
  /// The zip uses something this reader does not support (encryption, a compression method,
  /// multiple disks).
  case unsupportedZipFeature(record: String, feature: String)
  /// An entry lies outside the archive's single root folder.
  case outsideRootFolder(entry: String, root: String)
  /// Two entries have the same name.
  case duplicateRecord(String)
  /// A record's contents do not match the CRC-32 stored in the zip directory.
  case checksumMismatch(record: String, expected: UInt32, actual: UInt32)
  /// A deflated record could not be inflated, or inflated to the wrong size.
  case badCompressedData(record: String, detail: String)

  // MARK: - Pickles

  /// An opcode byte that is not part of pickle protocols 0–5.
  case unknownPickleOpcode(record: String, opcode: UInt8, offset: Int)
  /// A pickle opcode that exists but that TorchScript pickles never contain (`INST`, `EXT1`, …).
  case unsupportedPickleOpcode(record: String, name: String, offset: Int)
  /// A `GLOBAL` or `STACK_GLOBAL` that is not in the table of known torch globals.
  case forbiddenGlobal(record: String, module: String, name: String, offset: Int)
  /// An opcode needed more stack items (above the current mark) than there were.
  case stackUnderflow(record: String, opcode: String, offset: Int)
  /// An opcode that consumes a mark found none.
  case missingMark(record: String, opcode: String, offset: Int)
  /// A memo read of an index that was never stored.
  case badMemoIndex(record: String, index: Int, offset: Int)
  /// The pickle is well formed but its values do not fit together, described by `detail`.
  case invalidPickle(record: String, detail: String, offset: Int)
  /// An integer that does not fit in 64 bits.
  case integerOverflow(record: String, offset: Int)
  /// Values nest deeper than `limit` (or form a cycle).
  case nestingTooDeep(record: String, limit: Int, offset: Int)
  /// The value tree expands to more than `limit` nodes.
  case valueTooLarge(record: String, limit: Int, offset: Int)
  /// A tensor whose metadata does not fit its storage (or is otherwise impossible).
  case invalidTensor(record: String, offset: Int, TensorError)
  /// A value that cannot be pickled the way torch pickles values, described by `detail`.
  case cannotPickle(detail: String)

  // MARK: - Archive layout

  /// A record the archive layout requires is absent.
  case missingRecord(String)
  /// The file-format version is outside what torch reads.
  case unsupportedVersion(Int, supported: ClosedRange<Int>)
  /// A record that should hold a decimal number or a fixed word holds something else.
  case invalidRecordText(record: String, text: String)
  /// A `byteorder` record other than `little`.
  case unsupportedByteOrder(String)
  /// A record that should be UTF-8 text is not.
  case invalidUTF8(record: String)
  /// A tensor storage needs more bytes than its record holds.
  case storageTooSmall(record: String, needed: Int, available: Int)
  /// One storage key is used with two different dtypes.
  case storageDTypeConflict(record: String, first: DType, second: DType)
  /// A record name that cannot be written (empty, absolute, or with empty components).
  case invalidRecordName(String)

  // MARK: - npy

  /// A `.npy` file that is malformed or uses an unsupported layout, described by `detail`.
  case invalidNPY(name: String, detail: String)

  /// The message: lower-case, no final period, saying where the problem is.
  public var description: String {
    switch self {
    case .cannotRead(let path, let reason):
      "\(path): cannot read: \(reason)"
    case .cannotWrite(let path, let reason):
      "\(path): cannot write: \(reason)"
    case .truncated(let record, let what, let offset):
      "\(record): truncated \(what) at offset \(offset)"
    case .notAZipArchive(let byteCount):
      byteCount == 0
        ? "zip: file is empty"
        : "zip: no end of central directory record in \(byteCount) bytes (not a zip archive)"
    case .badSignature(let what, let offset, let expected, let found):
      "zip: bad \(what) signature \(hex(found)) at offset \(offset) (expected \(hex(expected)))"
    case .malformedZip(let detail, let offset):
      "zip: \(detail) at offset \(offset)"
    case .unsupportedZipFeature(let record, let feature):
      "\(record): unsupported zip feature: \(feature)"
    case .outsideRootFolder(let entry, let root):
      "zip: entry '\(entry)' is outside the root folder '\(root)/'"
    case .duplicateRecord(let name):
      "zip: duplicate record '\(name)'"
    case .checksumMismatch(let record, let expected, let actual):
      "\(record): checksum \(hex(actual)) does not match \(hex(expected)) in the zip directory"
    case .badCompressedData(let record, let detail):
      "\(record): bad compressed data: \(detail)"
    case .unknownPickleOpcode(let record, let opcode, let offset):
      "\(record): unknown pickle opcode \(hex(opcode)) at offset \(offset)"
    case .unsupportedPickleOpcode(let record, let name, let offset):
      "\(record): unsupported pickle opcode \(name) at offset \(offset)"
    case .forbiddenGlobal(let record, let module, let name, let offset):
      "\(record): forbidden global '\(module) \(name)' at offset \(offset)"
    case .stackUnderflow(let record, let opcode, let offset):
      "\(record): pickle stack underflow in \(opcode) at offset \(offset)"
    case .missingMark(let record, let opcode, let offset):
      "\(record): \(opcode) without a mark at offset \(offset)"
    case .badMemoIndex(let record, let index, let offset):
      "\(record): memo index \(index) was never stored, at offset \(offset)"
    case .invalidPickle(let record, let detail, let offset):
      "\(record): \(detail) at offset \(offset)"
    case .integerOverflow(let record, let offset):
      "\(record): integer does not fit in 64 bits at offset \(offset)"
    case .nestingTooDeep(let record, let limit, let offset):
      "\(record): values nest deeper than \(limit) levels at offset \(offset)"
    case .valueTooLarge(let record, let limit, let offset):
      "\(record): value expands to more than \(limit) nodes at offset \(offset)"
    case .invalidTensor(let record, let offset, let error):
      "\(record): \(error) at offset \(offset)"
    case .cannotPickle(let detail):
      "pickle: \(detail)"
    case .missingRecord(let name):
      "archive: missing record '\(name)'"
    case .unsupportedVersion(let version, let supported):
      "version: unsupported file format version \(version) (supported \(supported.lowerBound)...\(supported.upperBound))"
    case .invalidRecordText(let record, let text):
      "\(record): unexpected contents '\(text)'"
    case .unsupportedByteOrder(let order):
      "byteorder: unsupported byte order '\(order)' (expected 'little')"
    case .invalidUTF8(let record):
      "\(record): not valid UTF-8"
    case .storageTooSmall(let record, let needed, let available):
      "\(record): storage needs \(needed) bytes but the record holds \(available)"
    case .storageDTypeConflict(let record, let first, let second):
      "\(record): storage used as both \(first) and \(second)"
    case .invalidRecordName(let name):
      "archive: invalid record name '\(name)'"
    case .invalidNPY(let name, let detail):
      "\(name): \(detail)"
    }
  }
}

/// `0x` and lower-case hex digits, at least two.
private func hex<T: BinaryInteger>(_ value: T) -> String {
  let digits = String(value, radix: 16)
  return "0x" + (digits.count < 2 ? "0" + digits : digits)
}
