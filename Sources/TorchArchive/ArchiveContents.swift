import Foundation
import TensorCore

/// A TorchScript source file under `code/`.
public struct CodeFile: Sendable, Equatable {
  /// The path relative to `code/`, for example `__torch__/torch/nn/modules/conv.py`.
  public var path: String
  /// The source text.
  public var source: String
  /// The raw `<path>.debug_pkl` record (source ranges for error messages), kept so that writing
  /// an unmodified file back reproduces it; nil when absent or when the source changed.
  public var debugInfo: Data?

  /// A source file at `path` (relative to `code/`).
  public init(path: String, source: String, debugInfo: Data? = nil) {
    self.path = path
    self.source = source
    self.debugInfo = debugInfo
  }
}

/// A file stored under `extra/` (torch's `_extra_files`).
public struct ExtraFile: Sendable, Equatable {
  /// The name relative to `extra/`.
  public var name: String
  /// The raw bytes.
  public var contents: Data

  /// An extra file called `name` holding `contents`.
  public init(name: String, contents: Data) {
    self.name = name
    self.contents = contents
  }
}

/// Everything a TorchScript archive holds, as read by `TorchScriptArchive.readContents()` or to
/// be written by `write(to:)`.
///
/// Records not described here (`bytecode.pkl` of lite-interpreter files, `traced_inputs.pkl`)
/// are not carried over; `TorchScriptArchive.zip` still reads them.
public struct ArchiveContents {
  /// The folder every record sits in (torch uses the file stem).
  public var rootFolder: String
  /// The file-format version (see SPEC §7.3): 3, or more when the code uses an operator with an
  /// upgrader.
  public var version: Int
  /// `extra/` files, in archive order.
  public var extraFiles: [ExtraFile]
  /// Source files under `code/`, in archive order.
  public var codeFiles: [CodeFile]
  /// The root module object (`data.pkl`).
  public var data: IValue
  /// The constant table (`constants.pkl`), indexed by `CONSTANTS.cN` in the code.
  public var constants: [IValue]
  /// The `byteorder` record torch 2.x writes (`little`), if any.
  public var byteOrder: String?
  /// The `.data/serialization_id` record torch 2.x writes, if any.
  public var serializationID: String?

  /// Contents with the given pieces.
  public init(
    rootFolder: String = "archive", version: Int, data: IValue, constants: [IValue] = [],
    codeFiles: [CodeFile] = [], extraFiles: [ExtraFile] = [], byteOrder: String? = nil,
    serializationID: String? = nil
  ) {
    self.rootFolder = rootFolder
    self.version = version
    self.data = data
    self.constants = constants
    self.codeFiles = codeFiles
    self.extraFiles = extraFiles
    self.byteOrder = byteOrder
    self.serializationID = serializationID
  }
}
