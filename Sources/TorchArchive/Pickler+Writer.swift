import Foundation
import TensorCore

// Note [Pickle memoization]
// torch's Pickler memoizes strings by value, globals by name, storages by identity and devices
// by string, always. Every other pointer-typed value (tensor, tuple, list, dict, object) gets a
// BINPUT after it only when its C++ use_count is above one, that is when something besides the
// value being pickled holds it; a later occurrence of the same pointer is then a BINGET.
// use_count does not exist here, so the writer reproduces what it is for each place a value
// can sit in, as observed in archives saved by torch 1.13 and 2.x:
// - Tensors and objects: always memoized. Python's wrappers hold parameters, buffers and
//   modules; the graph holds constant tensors and custom-class objects.
// - An object's `state` (its `__getstate__` result): memoized.
// - Entries of the constant table: memoized (the graph holds them).
// - Elements of a TorchScript class's state tuple: memoized, because `__getstate__` returns
//   attribute values that the object also holds (quantized Conv2d's kernel_size, …). Elements of
//   a C++ custom class's state (`__torch__.torch.classes.*`) are fresh (XNNPACK contexts' int
//   lists) and are not.
// - Everything else (attribute values, container elements, the root): lists and dicts only when
//   this value refers to the same one more than once, which also keeps aliasing on a round
//   trip; tuples never, as they have no identity here.
// The per-channel scale and zero-point tensors of a quantized tensor are pushed without a memo
// entry, as torch pushes them directly rather than as values.

/// Where a value sits, which decides whether it is memoized. See Note [Pickle memoization].
enum PickleContext {
  case root
  case constant
  case slot
  case state
  case scriptStateElement
  case element
}

/// A tensor view, so that the same view pickled twice becomes one memo entry.
private struct TensorKey: Hashable {
  enum QuantizationKey: Hashable {
    case perTensor(scaleBits: UInt64, zeroPoint: Int)
    case perChannel(scales: ObjectIdentifier, scalesOffset: Int, zeroPoints: ObjectIdentifier, zeroPointsOffset: Int, axis: Int)
  }

  var view: TensorViewKey
  var requiresGrad: Bool
  var quantization: QuantizationKey?

  init(_ tensor: Tensor) {
    view = TensorViewKey(tensor)
    requiresGrad = tensor.requiresGrad
    switch tensor.quantization {
    case nil:
      quantization = nil
    case .perTensorAffine(let scale, let zeroPoint):
      quantization = .perTensor(scaleBits: scale.bitPattern, zeroPoint: zeroPoint)
    case .perChannelAffine(let scales, let zeroPoints, let axis):
      quantization = .perChannel(
        scales: ObjectIdentifier(scales.storage), scalesOffset: scales.storageOffset,
        zeroPoints: ObjectIdentifier(zeroPoints.storage), zeroPointsOffset: zeroPoints.storageOffset, axis: axis)
    }
  }
}

/// The state of one pickling.
struct PickleWriter {
  let configuration: Pickler
  private var out = ByteWriter()
  private var memoCount: UInt32 = 0
  private var strings: [String: UInt32] = [:]
  private var globals: [String: UInt32] = [:]
  private var devices: [String: UInt32] = [:]
  private var storageMemo: [ObjectIdentifier: (id: UInt32, dtype: DType)] = [:]
  private var containers: [ObjectIdentifier: UInt32] = [:]
  private var tensors: [TensorKey: UInt32] = [:]
  /// How often each list and dict is referred to; see `countReferences`.
  private var references: [ObjectIdentifier: Int] = [:]
  /// Objects, lists and dicts being written, to refuse values that contain themselves.
  private var inProgress: Set<ObjectIdentifier> = []
  private var storages: [Pickler.PickledStorage] = []

  init(configuration: Pickler) {
    self.configuration = configuration
  }

  mutating func begin() {
    out.writeByte(PickleOpcode.proto.rawValue)
    out.writeByte(2)
  }

  mutating func end() -> Pickler.Output {
    op(.stop)
    return Pickler.Output(bytes: out.data, storages: storages)
  }

  // MARK: - Reference counting

  /// Counts references to lists and dicts, descending into each list, dict and object once,
  /// as the writer will (later occurrences are memo reads).
  mutating func countReferences(_ value: IValue, depth: Int) throws(ArchiveError) {
    guard depth <= configuration.maximumDepth else { throw tooDeep() }
    switch value {
    case .tuple(let elements):
      for element in elements { try countReferences(element, depth: depth + 1) }
    case .list(let list):
      let id = ObjectIdentifier(list)
      references[id, default: 0] += 1
      if references[id] == 1 {
        for element in list.elements { try countReferences(element, depth: depth + 1) }
      }
    case .dict(let dict):
      let id = ObjectIdentifier(dict)
      references[id, default: 0] += 1
      if references[id] == 1 {
        for (key, element) in zip(dict.keys, dict.values) {
          try countReferences(key, depth: depth + 1)
          try countReferences(element, depth: depth + 1)
        }
      }
    case .object(let object):
      let id = ObjectIdentifier(object)
      references[id, default: 0] += 1
      if references[id] == 1 {
        if let state = object.state {
          try countReferences(state, depth: depth + 1)
        } else {
          for index in 0..<object.attributeCount {
            try countReferences(object.attribute(at: index), depth: depth + 1)
          }
        }
      }
    default:
      break
    }
  }

  private func tooDeep() -> ArchiveError {
    .cannotPickle(detail: "value nests deeper than \(configuration.maximumDepth) levels or contains itself")
  }

  // MARK: - Values

  mutating func push(_ value: IValue, context: PickleContext, depth: Int) throws(ArchiveError) {
    guard depth <= configuration.maximumDepth else { throw tooDeep() }
    switch value {
    case .none:
      op(.none)
    case .bool(let flag):
      op(flag ? .newTrue : .newFalse)
    case .int(let number):
      pushInt(number)
    case .double(let number):
      op(.binFloat)
      out.writeInteger(number.bitPattern, endianness: .big)
    case .string(let text):
      try pushString(text)
    case .device(let name):
      if let id = devices[name] { return binGet(id) }
      try pushGlobal("torch", "device")
      try pushString(name)
      op(.tuple1)
      op(.reduce)
      devices[name] = binPut()
    case .tensor(let tensor):
      let key = TensorKey(tensor)
      if let id = tensors[key] { return binGet(id) }
      try pushTensor(tensor)
      tensors[key] = binPut()
    case .tuple(let elements):
      try pushTuple(elements, elementContext: .element, depth: depth)
      if context == .constant || context == .state || context == .scriptStateElement { _ = binPut() }
    case .list(let list):
      try pushContainer(ObjectIdentifier(list), context: context) { writer throws(ArchiveError) in
        try writer.pushList(list, depth: depth)
      }
    case .dict(let dict):
      try pushContainer(ObjectIdentifier(dict), context: context) { writer throws(ArchiveError) in
        try writer.pushDict(dict, depth: depth)
      }
    case .object(let object):
      try pushContainer(ObjectIdentifier(object), context: context, alwaysMemoize: true) {
        writer throws(ArchiveError) in
        try writer.pushObject(object, depth: depth)
      }
    case .function(let name):
      throw .cannotPickle(detail: "function '\(name)' cannot be pickled")
    }
  }

  /// Writes a list, dict or object once, memoizing it as Note [Pickle memoization] says.
  private mutating func pushContainer(
    _ id: ObjectIdentifier, context: PickleContext, alwaysMemoize: Bool = false,
    body: (inout PickleWriter) throws(ArchiveError) -> Void
  ) throws(ArchiveError) {
    if let memoID = containers[id] { return binGet(memoID) }
    guard inProgress.insert(id).inserted else { throw tooDeep() }
    try body(&self)
    inProgress.remove(id)
    let shared = context == .constant || context == .state || context == .scriptStateElement
    if alwaysMemoize || shared || references[id, default: 0] > 1 {
      containers[id] = binPut()
    }
  }

  mutating func pushTuple(_ elements: [IValue], elementContext: PickleContext, depth: Int) throws(ArchiveError) {
    switch elements.count {
    case 0:
      op(.emptyTuple)
    case 1...3:
      for element in elements { try push(element, context: elementContext, depth: depth + 1) }
      op([.tuple1, .tuple2, .tuple3][elements.count - 1])
    default:
      op(.mark)
      for element in elements { try push(element, context: elementContext, depth: depth + 1) }
      op(.tuple)
    }
  }

  private mutating func pushList(_ list: ListValue, depth: Int) throws(ArchiveError) {
    let builder: String
    switch list.elementType {
    case .int: builder = "build_intlist"
    case .float: builder = "build_doublelist"
    case .bool: builder = "build_boollist"
    case .tensor: builder = "build_tensorlist"
    default:
      if configuration.tagsAggregates { try pushGlobal("torch.jit._pickle", "restore_type_tag") }
      op(.emptyList)
      op(.mark)
      for element in list.elements { try push(element, context: .element, depth: depth + 1) }
      op(.appends)
      if configuration.tagsAggregates { try pushTypeTag(.list(list.elementType)) }
      return
    }
    try pushGlobal("torch.jit._pickle", builder)
    op(.mark)
    op(.emptyList)
    op(.mark)
    for element in list.elements {
      switch (list.elementType, element) {
      case (.int, .int), (.float, .double), (.bool, .bool), (.tensor, .tensor):
        try push(element, context: .element, depth: depth + 1)
      default:
        throw .cannotPickle(detail: "\(TorchType.list(list.elementType)) holds a \(element.kindName)")
      }
    }
    op(.appends)
    op(.tuple)
    op(.reduce)
  }

  private mutating func pushDict(_ dict: DictValue, depth: Int) throws(ArchiveError) {
    if configuration.tagsAggregates { try pushGlobal("torch.jit._pickle", "restore_type_tag") }
    op(.emptyDict)
    op(.mark)
    for (key, value) in zip(dict.keys, dict.values) {
      try push(key, context: .element, depth: depth + 1)
      try push(value, context: .element, depth: depth + 1)
    }
    op(.setItems)
    if configuration.tagsAggregates { try pushTypeTag(.dict(key: dict.keyType, value: dict.valueType)) }
  }

  /// The annotation string of `restore_type_tag`, then the call.
  private mutating func pushTypeTag(_ type: TorchType) throws(ArchiveError) {
    try pushString(type.description)
    op(.tuple2)
    op(.reduce)
  }

  private mutating func pushObject(_ object: ScriptObject, depth: Int) throws(ArchiveError) {
    guard let dot = object.typeName.lastIndex(of: "."), dot != object.typeName.startIndex,
      object.typeName.index(after: dot) != object.typeName.endIndex
    else {
      throw .cannotPickle(detail: "class name '\(object.typeName)' is not qualified")
    }
    try pushGlobal(String(object.typeName[..<dot]), String(object.typeName[object.typeName.index(after: dot)...]))
    op(.emptyTuple)
    op(.newObj)
    if let state = object.state {
      let isCustomClass = object.typeName.hasPrefix("__torch__.torch.classes.")
      if case .tuple(let elements) = state {
        try pushTuple(elements, elementContext: isCustomClass ? .element : .scriptStateElement, depth: depth + 1)
        _ = binPut()
      } else {
        try push(state, context: .state, depth: depth + 1)
      }
    } else {
      op(.emptyDict)
      op(.mark)
      for index in 0..<object.attributeCount {
        try pushString(object.attributeNames[index])
        try push(object.attribute(at: index), context: .slot, depth: depth + 1)
      }
      op(.setItems)
    }
    op(.build)
  }

  // MARK: - Tensors

  private mutating func pushTensor(_ tensor: Tensor) throws(ArchiveError) {
    let quantized = tensor.quantization != nil
    guard quantized == tensor.dtype.isQuantized else {
      throw .cannotPickle(
        detail: "\(tensor.dtype) tensor \(quantized ? "with" : "without") quantization parameters")
    }
    try pushGlobal("torch._utils", quantized ? "_rebuild_qtensor" : "_rebuild_tensor_v2")
    op(.mark)
    try pushStorage(of: tensor)
    pushInt(tensor.storageOffset)
    op(.mark)
    for size in tensor.shape { pushInt(size) }
    op(.tuple)
    op(.mark)
    for stride in tensor.strides { pushInt(stride) }
    op(.tuple)
    if let quantization = tensor.quantization {
      op(.mark)
      switch quantization {
      case .perTensorAffine(let scale, let zeroPoint):
        try pushGlobal("torch", "per_tensor_affine")
        try push(.double(scale), context: .element, depth: 0)
        pushInt(zeroPoint)
      case .perChannelAffine(let scales, let zeroPoints, let axis):
        try pushGlobal("torch", "per_channel_affine")
        // See Note [Pickle memoization]: torch pushes these without a memo entry.
        try pushTensor(scales)
        try pushTensor(zeroPoints)
        pushInt(axis)
      }
      op(.tuple)
    }
    op(tensor.requiresGrad ? .newTrue : .newFalse)
    try pushGlobal("collections", "OrderedDict")
    op(.emptyTuple)
    op(.reduce)
    op(.tuple)
    op(.reduce)
  }

  /// The persistent id `('storage', torch.<Type>Storage, key, 'cpu', element count)`, once per
  /// storage.
  private mutating func pushStorage(of tensor: Tensor) throws(ArchiveError) {
    let storage = tensor.storage
    let id = ObjectIdentifier(storage)
    if let memo = storageMemo[id] {
      guard memo.dtype == tensor.dtype else {
        throw .cannotPickle(detail: "one storage viewed as both \(memo.dtype) and \(tensor.dtype)")
      }
      return binGet(memo.id)
    }
    let itemSize = tensor.dtype.itemSize
    guard storage.byteCount % itemSize == 0 else {
      throw .cannotPickle(detail: "storage of \(storage.byteCount) bytes does not hold whole \(tensor.dtype) elements")
    }
    op(.mark)
    try pushString("storage")
    try pushGlobal("torch", tensor.dtype.storageClassName)
    let key = configuration.storageKey(storage, storages.count)
    try pushString(key)
    try pushString("cpu")
    pushInt(storage.byteCount / itemSize)
    op(.tuple)
    op(.binPersID)
    storageMemo[id] = (binPut(), tensor.dtype)
    storages.append(Pickler.PickledStorage(key: key, storage: storage, dtype: tensor.dtype))
  }

  // MARK: - Primitives

  private mutating func op(_ opcode: PickleOpcode) {
    out.writeByte(opcode.rawValue)
  }

  /// The smallest of BININT1, BININT2, BININT and LONG1, as torch chooses.
  private mutating func pushInt(_ value: Int) {
    switch value {
    case 0...0xFF:
      op(.binInt1)
      out.writeByte(UInt8(value))
    case 0x100...0xFFFF:
      op(.binInt2)
      out.writeInteger(UInt16(value))
    case Int(Int32.min)...Int(Int32.max):
      op(.binInt)
      out.writeInteger(Int32(value))
    default:
      op(.long1)
      out.writeByte(8)
      out.writeInteger(Int64(value))
    }
  }

  private mutating func pushString(_ text: String) throws(ArchiveError) {
    if let id = strings[text] { return binGet(id) }
    let utf8 = Array(text.utf8)
    guard utf8.count <= Int(UInt32.max) else { throw .cannotPickle(detail: "string of \(utf8.count) bytes") }
    op(.binUnicode)
    out.writeInteger(UInt32(utf8.count))
    out.writeBytes(utf8)
    strings[text] = binPut()
  }

  private mutating func pushGlobal(_ module: String, _ name: String) throws(ArchiveError) {
    let key = module + "\n" + name + "\n"
    if let id = globals[key] { return binGet(id) }
    guard !module.contains("\n"), !name.contains("\n") else {
      throw .cannotPickle(detail: "global name '\(module) \(name)' contains a newline")
    }
    op(.global)
    out.writeString(key)
    globals[key] = binPut()
  }

  private mutating func binPut() -> UInt32 {
    let id = memoCount
    if id <= 0xFF {
      op(.binPut)
      out.writeByte(UInt8(id))
    } else {
      op(.longBinPut)
      out.writeInteger(id)
    }
    memoCount += 1
    return id
  }

  private mutating func binGet(_ id: UInt32) {
    if id <= 0xFF {
      op(.binGet)
      out.writeByte(UInt8(id))
    } else {
      op(.longBinGet)
      out.writeInteger(id)
    }
  }
}
