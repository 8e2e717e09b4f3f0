import Foundation
import TensorCore

/// A safe unpickler for the pickles TorchScript archives contain (`data.pkl`, `constants.pkl`,
/// `*.debug_pkl`), producing `IValue`s.
///
/// It is a stack machine with a memo and marks, covering the opcodes of pickle protocols 0–5 that
/// such pickles can hold. Nothing is ever executed: a global resolves only through a fixed table
/// of torch names (tensor and list builders, storage classes, quantization schemes, `torch
/// device`, `collections OrderedDict`) or is a `__torch__.…` class reference; anything else, such
/// as `os system`, is an error naming the global.
///
/// How pickled values map to `IValue`s:
/// - `__torch__.<qualified name>` classes (including `__torch__.torch.classes.*` custom classes)
///   become `ScriptObject`s. `BUILD` with a plain dict sets attributes in dict order; with any
///   other state (a tuple, a type-tagged dict, …) it stores `ScriptObject.state`.
/// - `_rebuild_tensor_v2` and `_rebuild_qtensor` become tensors over the storage their
///   persistent id names, checked with `Tensor.validated`. Storages come from `storageLoader`,
///   which should return one shared `Storage` per key so that views stay views.
/// - `build_intlist`, `build_doublelist`, `build_boollist`, `build_tensorlist` become lists of
///   that element type; `restore_type_tag` sets a list's or dict's element types from its
///   annotation. Untagged lists and dicts have element type `Any`.
/// - Sets and frozensets, which TorchScript lacks, become `Any` lists in pickle order.
/// - `bytes` and `bytearray` values become one-dimensional `uint8` tensors holding the bytes
///   (TorchScript has no bytes type; a tensor keeps them exactly).
/// - Integers must fit in 64 bits; Python 2 `str` (`STRING`, `BINSTRING`) must be UTF-8.
///
/// Untrusted input is bounded: every length is checked against the bytes that remain before
/// anything is allocated, and values may nest at most `maximumDepth` levels and expand to at
/// most `maximumNodes` nodes when walked as a tree (see Note [Bounding unpickled values]), so
/// code that recurses over the result cannot overflow the stack or run for ever.
public struct Unpickler {
  /// A storage named by a pickle's persistent id
  /// `('storage', torch.<Type>Storage, key, location, element count)`.
  public struct StorageReference: Sendable, Hashable {
    /// The record key (`"0"` for `data/0`).
    public var key: String
    /// The element type its storage class names.
    public var dtype: DType
    /// The device torch recorded (`cpu`); storages always load on the CPU.
    public var location: String
    /// The number of elements (not bytes) in the storage.
    public var elementCount: Int

    /// A reference with the given fields.
    public init(key: String, dtype: DType, location: String, elementCount: Int) {
      self.key = key
      self.dtype = dtype
      self.location = location
      self.elementCount = elementCount
    }
  }

  /// Returns the storage a persistent id names.
  public typealias StorageLoader = (StorageReference) throws(ArchiveError) -> Storage

  /// The record name used in error messages (`data.pkl`).
  public var recordName: String
  /// Resolves storage persistent ids; without one, a pickle that holds tensors is an error.
  public var storageLoader: StorageLoader?
  /// The tensors `torch.jit._pickle.build_tensor_from_id` indexes.
  public var tensorTable: [Tensor]
  /// How deep values may nest.
  public var maximumDepth = 256
  /// How many nodes the result may expand to when walked as a tree.
  public var maximumNodes = 10_000_000

  /// An unpickler for the record `recordName`.
  ///
  /// - Parameters:
  ///   - recordName: the name used in errors.
  ///   - tensorTable: tensors for `build_tensor_from_id`.
  ///   - storageLoader: resolves storage persistent ids.
  public init(recordName: String = "pickle", tensorTable: [Tensor] = [], storageLoader: StorageLoader? = nil) {
    self.recordName = recordName
    self.tensorTable = tensorTable
    self.storageLoader = storageLoader
  }

  /// Unpickles `data`.
  ///
  /// - Returns: the value `STOP` returns.
  /// - Throws: `ArchiveError` naming the record and opcode offset of the first problem.
  public func unpickle(_ data: Data) throws(ArchiveError) -> IValue {
    var machine = UnpicklerMachine(configuration: self, bytes: [UInt8](data))
    return try machine.run()
  }
}
