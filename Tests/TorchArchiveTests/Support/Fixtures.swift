import Foundation
import TensorCore
import Testing

@testable import TorchArchive

/// Paths to the committed PyTorch fixtures and what `facts.json` says about them.
enum Fixtures {
  /// The repository root: three levels above this file's folder (`Tests/TorchArchiveTests/Support`).
  static let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static let folder = root.appendingPathComponent("Fixtures")

  /// Fixture names that have a `model.pt`, sorted.
  static let names: [String] = {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return entries.filter { FileManager.default.fileExists(atPath: model($0).path) }.sorted()
  }()

  /// Fixture names that also have PyTorch's own `torch_mobile.pt`.
  static let mobileNames: [String] = names.filter { FileManager.default.fileExists(atPath: mobile($0).path) }

  static func model(_ name: String) -> URL { folder.appendingPathComponent(name).appendingPathComponent("model.pt") }
  static func mobile(_ name: String) -> URL {
    folder.appendingPathComponent(name).appendingPathComponent("torch_mobile.pt")
  }

  static let example = root.appendingPathComponent("Examples/mobilenet_v2.pt")

  /// Every archive: each `model.pt`, each `torch_mobile.pt` and the example model.
  static let allArchives: [URL] = names.map(model) + mobileNames.map(mobile) + [example]

  /// A short label for test output (`conv_bn_relu/model.pt`).
  static func label(_ url: URL) -> String {
    url.pathComponents.suffix(2).joined(separator: "/")
  }

  /// Every `.npy` file under `Fixtures/` and `Examples/`.
  static let npyFiles: [URL] = {
    var files: [URL] = []
    for name in names {
      let directory = folder.appendingPathComponent(name)
      let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
      files += entries.filter { $0.hasSuffix(".npy") }.sorted().map { directory.appendingPathComponent($0) }
    }
    let examples = root.appendingPathComponent("Examples")
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
    files += entries.filter { $0.hasSuffix(".npy") }.sorted().map { examples.appendingPathComponent($0) }
    return files
  }()

  struct TensorFact: Decodable {
    var name: String
    var dtype: String
    var shape: [Int]
    var requires_grad: Bool
  }

  struct ModuleFact: Decodable {
    var path: String
    var type: String
  }

  struct Facts: Decodable {
    var parameters: [TensorFact]
    var buffers: [TensorFact]
    var modules: [ModuleFact]
    var saved_by: String
  }

  static func facts(_ name: String) throws -> Facts {
    let url = folder.appendingPathComponent(name).appendingPathComponent("facts.json")
    return try JSONDecoder().decode(Facts.self, from: Data(contentsOf: url))
  }
}

// MARK: - Walking values

/// Every tensor reachable from `value` (object attributes and state, containers), each
/// container visited once.
func reachableTensors(_ value: IValue) -> [Tensor] {
  var tensors: [Tensor] = []
  var visited: Set<ObjectIdentifier> = []
  func visit(_ value: IValue) {
    switch value {
    case .tensor(let tensor): tensors.append(tensor)
    case .tuple(let elements): elements.forEach(visit)
    case .list(let list):
      if visited.insert(ObjectIdentifier(list)).inserted { list.elements.forEach(visit) }
    case .dict(let dict):
      if visited.insert(ObjectIdentifier(dict)).inserted {
        dict.keys.forEach(visit)
        dict.values.forEach(visit)
      }
    case .object(let object):
      if visited.insert(ObjectIdentifier(object)).inserted {
        object.attributes.forEach { visit($0.value) }
        if let state = object.state { visit(state) }
      }
    default: break
    }
  }
  visit(value)
  return tensors
}

/// Every object reachable from `value`, each once, in first-seen order.
func reachableObjects(_ value: IValue) -> [ScriptObject] {
  var objects: [ScriptObject] = []
  var visited: Set<ObjectIdentifier> = []
  func visit(_ value: IValue) {
    switch value {
    case .tuple(let elements): elements.forEach(visit)
    case .list(let list): list.elements.forEach(visit)
    case .dict(let dict): dict.values.forEach(visit)
    case .object(let object):
      guard visited.insert(ObjectIdentifier(object)).inserted else { return }
      objects.append(object)
      object.attributes.forEach { visit($0.value) }
      if let state = object.state { visit(state) }
    default: break
    }
  }
  visit(value)
  return objects
}

/// The value at a dotted attribute path (`features.0.weight`) from a module object.
func attribute(_ path: String, of value: IValue) -> IValue? {
  var current = value
  for component in path.split(separator: ".") where !component.isEmpty {
    guard let object = current.object, let next = object.attribute(String(component)) else { return nil }
    current = next
  }
  return current
}

/// Reads every element of `tensor` that a kernel could (first and last), materializing its
/// storage, so that a bad view or storage would trap here.
func touch(_ tensor: Tensor) {
  _ = tensor.storage.baseAddress
  guard tensor.count > 0, tensor.dtype != .complex64, tensor.dtype != .complex128 else { return }
  _ = tensor.element(0)
  _ = tensor.element(tensor.count - 1)
  if case .perChannelAffine(let scales, let zeroPoints, _) = tensor.quantization {
    touch(scales)
    touch(zeroPoints)
  }
}

// MARK: - Comparing values

/// The first difference between two values, as a path and a description; nil when equal.
///
/// Tensors compare by dtype, view, flags, quantization and the bytes of their whole storage.
func difference(_ a: IValue, _ b: IValue, at path: String = "root") -> String? {
  var visited: Set<[ObjectIdentifier]> = []
  func compare(_ a: IValue, _ b: IValue, _ path: String) -> String? {
    switch (a, b) {
    case (.none, .none): return nil
    case (.bool(let x), .bool(let y)): return x == y ? nil : "\(path): \(x) != \(y)"
    case (.int(let x), .int(let y)): return x == y ? nil : "\(path): \(x) != \(y)"
    case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern ? nil : "\(path): \(x) != \(y)"
    case (.string(let x), .string(let y)): return x == y ? nil : "\(path): '\(x)' != '\(y)'"
    case (.device(let x), .device(let y)): return x == y ? nil : "\(path): device \(x) != \(y)"
    case (.function(let x), .function(let y)): return x == y ? nil : "\(path): function \(x) != \(y)"
    case (.tensor(let x), .tensor(let y)): return tensorDifference(x, y, path)
    case (.tuple(let x), .tuple(let y)):
      guard x.count == y.count else { return "\(path): tuple of \(x.count) != \(y.count)" }
      for index in x.indices {
        if let found = compare(x[index], y[index], "\(path).\(index)") { return found }
      }
      return nil
    case (.list(let x), .list(let y)):
      guard visited.insert([ObjectIdentifier(x), ObjectIdentifier(y)]).inserted else { return nil }
      guard x.elementType == y.elementType else { return "\(path): List[\(x.elementType)] != List[\(y.elementType)]" }
      return compare(.tuple(x.elements), .tuple(y.elements), path)
    case (.dict(let x), .dict(let y)):
      guard visited.insert([ObjectIdentifier(x), ObjectIdentifier(y)]).inserted else { return nil }
      guard x.keyType == y.keyType, x.valueType == y.valueType else { return "\(path): dict types differ" }
      if let found = compare(.tuple(x.keys), .tuple(y.keys), "\(path).keys") { return found }
      return compare(.tuple(x.values), .tuple(y.values), "\(path).values")
    case (.object(let x), .object(let y)):
      guard visited.insert([ObjectIdentifier(x), ObjectIdentifier(y)]).inserted else { return nil }
      guard x.typeName == y.typeName else { return "\(path): \(x.typeName) != \(y.typeName)" }
      guard x.attributeNames == y.attributeNames else { return "\(path): attributes \(x.attributeNames) != \(y.attributeNames)" }
      for (name, value) in x.attributes {
        if let found = compare(value, y.attribute(name)!, "\(path).\(name)") { return found }
      }
      switch (x.state, y.state) {
      case (nil, nil): return nil
      case (let s?, let t?): return compare(s, t, "\(path).__state__")
      default: return "\(path): state present in one only"
      }
    default:
      return "\(path): \(a.kindName) != \(b.kindName)"
    }
  }
  return compare(a, b, path)
}

private func tensorDifference(_ x: Tensor, _ y: Tensor, _ path: String) -> String? {
  guard x.dtype == y.dtype, x.shape == y.shape, x.strides == y.strides, x.storageOffset == y.storageOffset,
    x.requiresGrad == y.requiresGrad
  else {
    return "\(path): tensor \(x.dtype)\(x.shape)/\(x.strides)+\(x.storageOffset) != \(y.dtype)\(y.shape)/\(y.strides)+\(y.storageOffset)"
  }
  guard x.storage.data == y.storage.data else { return "\(path): tensor storage bytes differ" }
  switch (x.quantization, y.quantization) {
  case (nil, nil): return nil
  case (.perTensorAffine(let s1, let z1)?, .perTensorAffine(let s2, let z2)?):
    return s1.bitPattern == s2.bitPattern && z1 == z2 ? nil : "\(path): quantization differs"
  case (.perChannelAffine(let s1, let z1, let a1)?, .perChannelAffine(let s2, let z2, let a2)?):
    guard a1 == a2 else { return "\(path): quantization axis differs" }
    return tensorDifference(s1, s2, "\(path).scales") ?? tensorDifference(z1, z2, "\(path).zero_points")
  default:
    return "\(path): quantization differs"
  }
}

// MARK: - Building test pickles

/// Writes pickle opcodes by name, for hand-made test inputs.
struct PickleBuilder {
  var bytes: [UInt8] = []

  init(protocol version: UInt8? = 2) {
    if let version { bytes += [0x80, version] }
  }

  mutating func op(_ opcode: PickleOpcode) { bytes.append(opcode.rawValue) }
  mutating func raw(_ more: [UInt8]) { bytes += more }
  mutating func line(_ text: String) { bytes += Array(text.utf8) + [0x0A] }

  mutating func global(_ module: String, _ name: String) {
    op(.global)
    line(module)
    line(name)
  }

  mutating func int(_ value: Int) {
    if (0...255).contains(value) {
      op(.binInt1)
      bytes.append(UInt8(value))
    } else {
      op(.binInt)
      bytes += withUnsafeBytes(of: Int32(value).littleEndian, Array.init)
    }
  }

  mutating func string(_ text: String) {
    op(.binUnicode)
    bytes += withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian, Array.init)
    bytes += Array(text.utf8)
  }

  /// `('storage', torch.<Type>Storage, key, 'cpu', count)` then BINPERSID.
  mutating func storage(_ dtype: DType, key: String, count: Int) {
    op(.mark)
    string("storage")
    global("torch", dtype.storageClassName)
    string(key)
    string("cpu")
    int(count)
    op(.tuple)
    op(.binPersID)
  }

  /// A `_rebuild_tensor_v2` call over a storage pushed by `storage`.
  mutating func tensor(_ dtype: DType, key: String, count: Int, offset: Int = 0, shape: [Int], strides: [Int]) {
    global("torch._utils", "_rebuild_tensor_v2")
    op(.mark)
    storage(dtype, key: key, count: count)
    int(offset)
    op(.mark)
    shape.forEach { int($0) }
    op(.tuple)
    op(.mark)
    strides.forEach { int($0) }
    op(.tuple)
    op(.newFalse)
    global("collections", "OrderedDict")
    op(.emptyTuple)
    op(.reduce)
    op(.tuple)
    op(.reduce)
  }

  var data: Data { Data(bytes) }

  func finished() -> Data { Data(bytes + [PickleOpcode.stop.rawValue]) }
}

/// A storage loader serving zeroed storages of the size each persistent id asks for, one per
/// key, and counting the calls.
final class StorageTable {
  var storages: [String: Storage] = [:]
  var calls = 0

  var loader: Unpickler.StorageLoader {
    { reference in
      self.calls += 1
      if let storage = self.storages[reference.key] { return storage }
      let storage = Storage(byteCount: reference.elementCount * reference.dtype.itemSize)
      self.storages[reference.key] = storage
      return storage
    }
  }
}

/// The `ArchiveError` a throwing call produced, for matching its case.
func archiveError(_ body: () throws -> Void) -> ArchiveError? {
  do {
    try body()
    return nil
  } catch let error as ArchiveError {
    return error
  } catch {
    Issue.record("unexpected error type: \(error)")
    return nil
  }
}
