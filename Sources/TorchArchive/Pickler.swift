import Foundation
import TensorCore

/// Pickles `IValue`s into protocol-2 pickles exactly the way torch's C++ `Pickler` does for
/// `data.pkl` and `constants.pkl`.
///
/// The layout of every value follows SPEC §7.4: objects as `GLOBAL`, `EMPTY_TUPLE`, `NEWOBJ`,
/// then their attribute dict in slot order or their `state`, then `BUILD`; tensors through
/// `torch._utils._rebuild_tensor_v2` (quantized ones through `_rebuild_qtensor`) with one storage
/// persistent id per storage; int, float, bool and tensor lists through the `build_*list`
/// functions and other lists and dicts through `restore_type_tag` with their annotation. The
/// memo is used the way torch uses it (see Note [Pickle memoization]), so pickling an unmodified
/// value read from a torch archive gives back torch's bytes.
///
/// Output is deterministic: it depends only on the value, never on hashing or addresses.
public struct Pickler {
  /// A storage the pickle refers to by key; the caller writes its bytes as a record.
  public struct PickledStorage {
    /// The key in the persistent id (`"0"` for `data/0`).
    public let key: String
    /// The storage.
    public let storage: Storage
    /// The dtype its storage class names.
    public let dtype: DType
  }

  /// The bytes of a pickle and the storages it names, in first-pickled order.
  public struct Output {
    /// The pickle, from `PROTO 2` to `STOP`.
    public var bytes: Data
    /// Every storage the pickle names, in the order their persistent ids appear.
    public var storages: [PickledStorage]
  }

  /// Names a storage the first time it is pickled; `index` counts storages from 0.
  public typealias StorageKeyProvider = (_ storage: Storage, _ index: Int) -> String

  /// Names storages; by default `"0"`, `"1"`, … in first-pickled order, as torch does.
  public var storageKey: StorageKeyProvider
  /// Whether generic lists and dicts carry `restore_type_tag` annotations (torch tags them in
  /// archives).
  public var tagsAggregates = true
  /// How deep values may nest; deeper values, or values that contain themselves, are an error.
  public var maximumDepth = 256

  /// A pickler naming storages with `storageKey`.
  public init(storageKey: @escaping StorageKeyProvider = { _, index in String(index) }) {
    self.storageKey = storageKey
  }

  /// Pickles `value` as a pickle's root (for `data.pkl`, the root module object).
  ///
  /// - Throws: `ArchiveError.cannotPickle` for values torch cannot pickle either (functions,
  ///   cycles, lists whose elements do not match their element type, …).
  public func pickle(_ value: IValue) throws(ArchiveError) -> Output {
    var writer = PickleWriter(configuration: self)
    try writer.countReferences(value, depth: 0)
    writer.begin()
    try writer.push(value, context: .root, depth: 0)
    return writer.end()
  }

  /// Pickles a constant table (for `constants.pkl`): a tuple of the constants in index order.
  ///
  /// The tuple itself is written like any tuple; its entries are memoized because torch's graph
  /// still holds them while it pickles.
  public func pickleConstantTable(_ constants: [IValue]) throws(ArchiveError) -> Output {
    var writer = PickleWriter(configuration: self)
    try writer.countReferences(.tuple(constants), depth: 0)
    writer.begin()
    try writer.pushTuple(constants, elementContext: .constant, depth: 0)
    return writer.end()
  }
}
