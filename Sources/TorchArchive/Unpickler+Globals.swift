import Foundation
import TensorCore

/// The globals a TorchScript pickle may name, and what calling them builds.
extension UnpicklerMachine {
  /// Every global the unpickler resolves, keyed `"<module> <name>"`. Storage classes
  /// (`torch FloatStorage`, …) and `__torch__` classes are matched by rule instead.
  static let knownGlobals: [String: PickleGlobal] = [
    "torch._utils _rebuild_tensor_v2": .rebuildTensor,
    "torch._utils _rebuild_qtensor": .rebuildQuantizedTensor,
    "torch per_tensor_affine": .perTensorAffine,
    "torch per_channel_affine": .perChannelAffine,
    "collections OrderedDict": .orderedDict,
    "torch.jit._pickle build_intlist": .buildIntList,
    "torch.jit._pickle build_doublelist": .buildDoubleList,
    "torch.jit._pickle build_boollist": .buildBoolList,
    "torch.jit._pickle build_tensorlist": .buildTensorList,
    "torch.jit._pickle build_tensor_from_id": .buildTensorFromID,
    "torch.jit._pickle restore_type_tag": .restoreTypeTag,
    "torch device": .device,
  ]

  mutating func pushGlobal(module: String, name: String) throws(ArchiveError) {
    let global: PickleGlobal
    if (module == "__torch__" || module.hasPrefix("__torch__.")) && !name.isEmpty {
      global = .scriptClass(module + "." + name)
    } else if module == "torch", let dtype = DType(storageClassName: name) {
      global = .storageType(dtype)
    } else if let known = UnpicklerMachine.knownGlobals[module + " " + name] {
      global = known
    } else {
      throw .forbiddenGlobal(record: record, module: module, name: name, offset: opcodeOffset)
    }
    stack.append(PickleEntry(item: .global(global), size: .leaf))
  }

  // MARK: - REDUCE and NEWOBJ

  mutating func reduce(_ callable: PickleEntry, _ arguments: PickleEntry) throws(ArchiveError) {
    guard case .global(let global) = callable.item else { throw invalid("REDUCE of something that is not a global") }
    let args = try tupleItems(arguments, of: "REDUCE")
    switch global {
    case .rebuildTensor:
      try pushValue(tensor: rebuildTensor(args, quantized: false))
    case .rebuildQuantizedTensor:
      try pushValue(tensor: rebuildTensor(args, quantized: true))
    case .orderedDict:
      guard args.isEmpty else { throw invalid("OrderedDict with arguments") }
      pushContainer(.dict(DictValue(keyType: .any, valueType: .any)))
    case .buildIntList:
      try pushTypedList(args, arguments, elementType: .int, name: "build_intlist") {
        if case .int = $0 { true } else { false }
      }
    case .buildDoubleList:
      try pushTypedList(args, arguments, elementType: .float, name: "build_doublelist") {
        if case .double = $0 { true } else { false }
      }
    case .buildBoolList:
      try pushTypedList(args, arguments, elementType: .bool, name: "build_boollist") {
        if case .bool = $0 { true } else { false }
      }
    case .buildTensorList:
      try pushTypedList(args, arguments, elementType: .tensor, name: "build_tensorlist") {
        if case .tensor = $0 { true } else { false }
      }
    case .buildTensorFromID:
      guard args.count == 1, case .value(.int(let id)) = args[0] else {
        throw invalid("build_tensor_from_id takes one int")
      }
      guard configuration.tensorTable.indices.contains(id) else {
        throw invalid("build_tensor_from_id(\(id)) outside a table of \(configuration.tensorTable.count) tensors")
      }
      try pushValue(tensor: configuration.tensorTable[id])
    case .restoreTypeTag:
      try restoreTypeTag(args)
    case .device:
      guard args.count == 1, case .value(.string(let device)) = args[0] else {
        throw invalid("torch.device takes one string")
      }
      stack.append(PickleEntry(item: .value(.device(device)), size: .leaf))
    case .scriptClass(let name):
      throw invalid("REDUCE of class '\(name)' (enum values are not supported)")
    case .storageType, .perTensorAffine, .perChannelAffine:
      throw invalid("REDUCE of '\(global.name)', which is not callable")
    }
  }

  mutating func newObject(_ type: PickleEntry, _ arguments: PickleEntry) throws(ArchiveError) {
    guard case .global(.scriptClass(let name)) = type.item else {
      throw invalid("\(opcodeName) of something that is not a __torch__ class")
    }
    guard case .value(.tuple(let elements)) = arguments.item, elements.isEmpty else {
      throw invalid("\(opcodeName) of '\(name)' with arguments")
    }
    pushContainer(.object(ScriptObject(typeName: name)))
  }

  // MARK: - Storages and tensors

  /// Resolves `('storage', torch.<Type>Storage, key, location, element count)`.
  mutating func pushStorage(persistentID entry: PickleEntry) throws(ArchiveError) {
    guard case .tuple(let items) = entry.item, items.count == 5,
      case .value(.string("storage")) = items[0],
      case .global(.storageType(let dtype)) = items[1],
      case .value(.string(let key)) = items[2],
      case .value(.string(let location)) = items[3],
      case .value(.int(let count)) = items[4], count >= 0
    else {
      throw invalid("persistent id is not a ('storage', torch.<Type>Storage, key, location, size) tuple")
    }
    guard let loader = configuration.storageLoader else {
      throw invalid("storage '\(key)' but no storage loader")
    }
    let storage = try loader(Unpickler.StorageReference(key: key, dtype: dtype, location: location, elementCount: count))
    stack.append(PickleEntry(item: .storage(storage, dtype), size: .leaf))
  }

  private mutating func pushValue(tensor: Tensor) throws(ArchiveError) {
    stack.append(PickleEntry(item: .value(.tensor(tensor)), size: .leaf))
  }

  /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
  /// metadata])` or `_rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params,
  /// requires_grad, backward_hooks)`.
  private func rebuildTensor(_ args: [PickleItem], quantized: Bool) throws(ArchiveError) -> Tensor {
    let function = quantized ? "_rebuild_qtensor" : "_rebuild_tensor_v2"
    guard quantized ? args.count == 7 : (args.count == 6 || args.count == 7) else {
      throw invalid("\(function) takes \(quantized ? "7" : "6 or 7") arguments, got \(args.count)")
    }
    guard case .storage(let storage, let dtype) = args[0] else {
      throw invalid("\(function) needs a storage first")
    }
    let offset = try int(args[1], "\(function) storage offset")
    let shape = try intTuple(args[2], "\(function) size")
    let strides = try intTuple(args[3], "\(function) stride")
    var tensor: Tensor
    do {
      tensor = try Tensor.validated(storage: storage, dtype: dtype, shape: shape, strides: strides, storageOffset: offset)
    } catch {
      throw .invalidTensor(record: record, offset: opcodeOffset, error)
    }
    let gradientIndex = quantized ? 5 : 4
    guard case .value(.bool(let requiresGrad)) = args[gradientIndex] else {
      throw invalid("\(function) requires_grad is not a bool")
    }
    tensor.requiresGrad = requiresGrad
    if quantized {
      guard dtype.isQuantized else { throw invalid("\(function) over a \(dtype) storage") }
      tensor.quantization = try quantization(args[4], shape: shape)
    } else if args.count == 7 {
      // torch writes math-bit metadata (conj, neg) only when set; dropping it would change values.
      guard case .value(.dict(let metadata)) = args[6], metadata.count == 0 else {
        throw invalid("\(function) tensor metadata is not supported")
      }
    }
    return tensor
  }

  /// `(torch.per_tensor_affine, scale, zero_point)` or
  /// `(torch.per_channel_affine, scales, zero_points, axis)`.
  private func quantization(_ item: PickleItem, shape: [Int]) throws(ArchiveError) -> Quantization {
    guard case .tuple(let items) = item, let scheme = items.first, case .global(let global) = scheme else {
      throw invalid("_rebuild_qtensor quantizer parameters do not start with a qscheme")
    }
    switch global {
    case .perTensorAffine:
      guard items.count == 3, case .value(let scaleValue) = items[1], let scale = scaleValue.number,
        case .value(.int(let zeroPoint)) = items[2]
      else {
        throw invalid("per_tensor_affine takes (scale, zero_point)")
      }
      return .perTensorAffine(scale: scale, zeroPoint: zeroPoint)
    case .perChannelAffine:
      guard items.count == 4, case .value(.tensor(let scales)) = items[1],
        case .value(.tensor(let zeroPoints)) = items[2], case .value(.int(let axis)) = items[3]
      else {
        throw invalid("per_channel_affine takes (scales, zero_points, axis)")
      }
      guard shape.indices.contains(axis), scales.shape == [shape[axis]], zeroPoints.shape == [shape[axis]] else {
        throw invalid("per_channel_affine parameters do not match tensor shape \(shape) on axis \(axis)")
      }
      return .perChannelAffine(scales: scales, zeroPoints: zeroPoints, axis: axis)
    default:
      throw invalid("unsupported qscheme '\(global.name)'")
    }
  }

  // MARK: - Lists and type tags

  /// `build_intlist([…])` and friends: a list of one element type.
  private mutating func pushTypedList(
    _ args: [PickleItem], _ arguments: PickleEntry, elementType: TorchType, name: String,
    accepts: (IValue) -> Bool
  ) throws(ArchiveError) {
    guard args.count == 1, case .value(.list(let source)) = args[0] else {
      throw invalid("\(name) takes one list")
    }
    for element in source.elements where !accepts(element) {
      throw invalid("\(name) holds a \(element.kindName)")
    }
    let list = ListValue(source.elements, elementType: elementType)
    pushContainer(.list(list))
    containerSizes[ObjectIdentifier(list)] = size(of: arguments)
  }

  /// `restore_type_tag(list_or_dict, "List[str]")`: sets element types and returns the same
  /// container.
  private mutating func restoreTypeTag(_ args: [PickleItem]) throws(ArchiveError) {
    guard args.count == 2, case .value(let container) = args[0], case .value(.string(let annotation)) = args[1] else {
      throw invalid("restore_type_tag takes a container and an annotation")
    }
    guard let type = TorchType(annotation: annotation) else {
      throw invalid("restore_type_tag annotation '\(annotation)' does not parse")
    }
    switch (container, type) {
    case (.list(let list), .list(let element)):
      list.elementType = element
    case (.dict(let dict), .dict(let key, let value)):
      dict.keyType = key
      dict.valueType = value
      taggedDicts.insert(ObjectIdentifier(dict))
    default:
      throw invalid("restore_type_tag of a \(container.kindName) as '\(annotation)'")
    }
    stack.append(PickleEntry(item: args[0], size: .leaf))
  }

  // MARK: - Argument helpers

  /// The items of a tuple argument.
  private func tupleItems(_ entry: PickleEntry, of opcode: String) throws(ArchiveError) -> [PickleItem] {
    switch entry.item {
    case .value(.tuple(let elements)): return elements.map { .value($0) }
    case .tuple(let items): return items
    default: throw invalid("\(opcode) arguments are not a tuple")
    }
  }

  private func int(_ item: PickleItem, _ what: String) throws(ArchiveError) -> Int {
    guard case .value(.int(let value)) = item else { throw invalid("\(what) is not an int") }
    return value
  }

  private func intTuple(_ item: PickleItem, _ what: String) throws(ArchiveError) -> [Int] {
    guard case .value(.tuple(let elements)) = item else { throw invalid("\(what) is not a tuple of ints") }
    var result: [Int] = []
    result.reserveCapacity(elements.count)
    for element in elements {
      guard case .int(let value) = element else { throw invalid("\(what) is not a tuple of ints") }
      result.append(value)
    }
    return result
  }
}
