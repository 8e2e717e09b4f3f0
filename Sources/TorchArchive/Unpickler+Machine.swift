import Foundation
import TensorCore

// Note [Bounding unpickled values]
// A pickle can build values that are cheap to write but ruinous to use: a list that contains
// itself, a million nested tuples (freeing them alone recurses a million deep), or tuples that
// repeat the previous tuple twice, thirty times over (2^30 nodes to anyone who walks them).
// So every value carries its depth and its node count as a tree, and construction fails once
// either passes its limit.
//
// Tuples, scalars and tensors are immutable, so their numbers are fixed when built. Lists,
// dicts and objects are references that APPEND, SETITEM and BUILD can still grow, so their
// numbers live in a table keyed by identity. To keep those numbers exact, a container is
// *sealed* once it is put inside another value, and mutating a sealed container is an error.
// Ordinary pickles never do that (they fill a container before nesting it); only cycles and
// these tricks need it. An unsealed container is inside nothing, so the one cycle left to
// refuse is a container put inside itself.

/// The result of `GLOBAL` and friends: what a resolved global stands for.
enum PickleGlobal {
  case rebuildTensor
  case rebuildQuantizedTensor
  case storageType(DType)
  case perTensorAffine
  case perChannelAffine
  case orderedDict
  case buildIntList
  case buildDoubleList
  case buildBoolList
  case buildTensorList
  case buildTensorFromID
  case restoreTypeTag
  case device
  /// A `__torch__.…` class, by qualified name.
  case scriptClass(String)

  /// The global as a pickle names it, for messages.
  var name: String {
    switch self {
    case .rebuildTensor: "torch._utils._rebuild_tensor_v2"
    case .rebuildQuantizedTensor: "torch._utils._rebuild_qtensor"
    case .storageType(let dtype): "torch.\(dtype.storageClassName)"
    case .perTensorAffine: "torch.per_tensor_affine"
    case .perChannelAffine: "torch.per_channel_affine"
    case .orderedDict: "collections.OrderedDict"
    case .buildIntList: "torch.jit._pickle.build_intlist"
    case .buildDoubleList: "torch.jit._pickle.build_doublelist"
    case .buildBoolList: "torch.jit._pickle.build_boollist"
    case .buildTensorList: "torch.jit._pickle.build_tensorlist"
    case .buildTensorFromID: "torch.jit._pickle.build_tensor_from_id"
    case .restoreTypeTag: "torch.jit._pickle.restore_type_tag"
    case .device: "torch.device"
    case .scriptClass(let name): name
    }
  }
}

/// An unpickler stack item: a value, or one of the intermediate things torch pickles use to
/// build values (globals, storages, tuples holding those).
indirect enum PickleItem {
  case value(IValue)
  /// A tuple holding at least one non-value item, such as a storage persistent id.
  case tuple([PickleItem])
  case global(PickleGlobal)
  case storage(Storage, DType)
}

/// Depth and node count of a value seen as a tree. See Note [Bounding unpickled values].
struct ValueSize {
  var depth: Int
  var nodes: Int

  static let leaf = ValueSize(depth: 1, nodes: 1)
}

/// A stack or memo entry.
struct PickleEntry {
  var item: PickleItem
  /// The size when the item is immutable; identity containers look theirs up instead.
  var size: ValueSize
}

/// The running state of one `Unpickler.unpickle` call.
struct UnpicklerMachine {
  let configuration: Unpickler
  var reader: ByteReader<[UInt8]>
  var stack: [PickleEntry] = []
  var marks: [Int] = []
  var memo: [Int: PickleEntry] = [:]
  /// Sizes of lists, dicts and objects, by identity.
  var containerSizes: [ObjectIdentifier: ValueSize] = [:]
  /// Containers that sit inside another value and may no longer change.
  var sealed: Set<ObjectIdentifier> = []
  /// Dicts that went through `restore_type_tag`: a `BUILD` with one is `__getstate__` state.
  var taggedDicts: Set<ObjectIdentifier> = []
  /// Where the current opcode starts, for errors.
  var opcodeOffset = 0
  var opcodeName = ""

  init(configuration: Unpickler, bytes: [UInt8]) {
    self.configuration = configuration
    self.reader = ByteReader(bytes, record: configuration.recordName)
  }

  var record: String { configuration.recordName }

  // MARK: - Main loop

  mutating func run() throws(ArchiveError) -> IValue {
    while true {
      opcodeOffset = reader.offset
      guard !reader.isAtEnd else {
        throw .truncated(record: record, what: "pickle (no STOP opcode)", offset: opcodeOffset)
      }
      let byte = try reader.readByte(what: "opcode")
      guard let opcode = PickleOpcode(rawValue: byte) else {
        throw .unknownPickleOpcode(record: record, opcode: byte, offset: opcodeOffset)
      }
      opcodeName = opcode.name
      if opcode == .stop {
        return try value(of: pop())
      }
      try execute(opcode)
    }
  }

  private mutating func execute(_ opcode: PickleOpcode) throws(ArchiveError) {
    switch opcode {
    case .stop:
      preconditionFailure("STOP is handled by run()")

    // Framing.
    case .proto:
      let version = try reader.readByte(what: "protocol version")
      guard version <= 5 else { throw invalid("unsupported pickle protocol \(version)") }
    case .frame:
      let length = try reader.readInteger(as: UInt64.self, what: "frame length")
      guard length <= UInt64(reader.remaining) else {
        throw .truncated(record: record, what: "frame", offset: opcodeOffset)
      }

    // Stack and marks.
    case .mark:
      marks.append(stack.count)
    case .pop:
      // Python pops a mark when nothing sits above it.
      if stack.count > markFloor {
        stack.removeLast()
      } else if !marks.isEmpty {
        marks.removeLast()
      } else {
        throw underflow()
      }
    case .popMark:
      _ = try popToMark()
    case .dup:
      guard stack.count > markFloor else { throw underflow() }
      stack.append(stack[stack.count - 1])

    // Scalars.
    case .none: pushValue(.none)
    case .newTrue: pushValue(.bool(true))
    case .newFalse: pushValue(.bool(false))
    case .int: try pushValue(parseTextInt(readText(what: "INT argument")))
    case .binInt: pushValue(.int(Int(try reader.readInteger(as: Int32.self, what: "BININT argument"))))
    case .binInt1: pushValue(.int(Int(try reader.readByte(what: "BININT1 argument"))))
    case .binInt2: pushValue(.int(Int(try reader.readInteger(as: UInt16.self, what: "BININT2 argument"))))
    case .long: try pushValue(.int(parseTextLong(readText(what: "LONG argument"))))
    case .long1:
      let length = Int(try reader.readByte(what: "LONG1 length"))
      pushValue(.int(try decodeLong(reader.readSlice(length: length, what: "LONG1 argument"))))
    case .long4:
      let length = try readLength(as: Int32.self, what: "LONG4")
      pushValue(.int(try decodeLong(reader.readSlice(length: length, what: "LONG4 argument"))))
    case .float:
      let text = try readText(what: "FLOAT argument")
      guard let number = Double(text.trimmingCharacters(in: .whitespaces)) else {
        throw invalid("FLOAT argument '\(text)' is not a number")
      }
      pushValue(.double(number))
    case .binFloat:
      let bits = try reader.readInteger(as: UInt64.self, endianness: .big, what: "BINFLOAT argument")
      pushValue(.double(Double(bitPattern: bits)))

    // Strings and bytes.
    case .string:
      let line = try reader.readLine(what: "STRING argument")
      pushValue(.string(try utf8(PickleText.unescapeQuoted(Array(line), record: record, offset: opcodeOffset))))
    case .binString:
      let length = try readLength(as: Int32.self, what: "BINSTRING")
      pushValue(.string(try utf8(reader.readSlice(length: length, what: "BINSTRING argument"))))
    case .shortBinString:
      let length = Int(try reader.readByte(what: "SHORT_BINSTRING length"))
      pushValue(.string(try utf8(reader.readSlice(length: length, what: "SHORT_BINSTRING argument"))))
    case .unicode:
      let line = try reader.readLine(what: "UNICODE argument")
      pushValue(.string(try PickleText.decodeRawUnicodeEscape(Array(line), record: record, offset: opcodeOffset)))
    case .binUnicode:
      let length = try readLength(as: UInt32.self, what: "BINUNICODE")
      pushValue(.string(try utf8(reader.readSlice(length: length, what: "BINUNICODE argument"))))
    case .shortBinUnicode:
      let length = Int(try reader.readByte(what: "SHORT_BINUNICODE length"))
      pushValue(.string(try utf8(reader.readSlice(length: length, what: "SHORT_BINUNICODE argument"))))
    case .binUnicode8:
      let length = try readLength(as: UInt64.self, what: "BINUNICODE8")
      pushValue(.string(try utf8(reader.readSlice(length: length, what: "BINUNICODE8 argument"))))
    case .binBytes:
      let length = try readLength(as: UInt32.self, what: "BINBYTES")
      pushBytes(try reader.readSlice(length: length, what: "BINBYTES argument"))
    case .shortBinBytes:
      let length = Int(try reader.readByte(what: "SHORT_BINBYTES length"))
      pushBytes(try reader.readSlice(length: length, what: "SHORT_BINBYTES argument"))
    case .binBytes8, .byteArray8:
      let length = try readLength(as: UInt64.self, what: opcodeName)
      pushBytes(try reader.readSlice(length: length, what: "\(opcodeName) argument"))

    // Tuples.
    case .emptyTuple: try pushTuple([])
    case .tuple1: try pushTuple(popMany(1))
    case .tuple2: try pushTuple(popMany(2))
    case .tuple3: try pushTuple(popMany(3))
    case .tuple: try pushTuple(popToMark())

    // Lists and sets (sets become lists).
    case .emptyList, .emptySet:
      pushContainer(.list(ListValue([], elementType: .any)))
    case .list, .frozenSet:
      let items = try popToMark()
      pushContainer(.list(ListValue([], elementType: .any)))
      try appendToTop(items)
    case .append:
      let item = try pop()
      try appendToTop([item])
    case .appends, .addItems:
      let items = try popToMark()
      try appendToTop(items)

    // Dicts.
    case .emptyDict:
      pushContainer(.dict(DictValue(keyType: .any, valueType: .any)))
    case .dict:
      let items = try popToMark()
      pushContainer(.dict(DictValue(keyType: .any, valueType: .any)))
      try setItemsOnTop(items)
    case .setItem:
      let value = try pop()
      let key = try pop()
      try setItemsOnTop([key, value])
    case .setItems:
      try setItemsOnTop(popToMark())

    // Globals and objects.
    case .global:
      let module = try readText(what: "GLOBAL module")
      let name = try readText(what: "GLOBAL name")
      try pushGlobal(module: module, name: name)
    case .stackGlobal:
      let nameEntry = try pop()
      let moduleEntry = try pop()
      guard case .value(.string(let module)) = moduleEntry.item, case .value(.string(let name)) = nameEntry.item else {
        throw invalid("STACK_GLOBAL needs two strings")
      }
      try pushGlobal(module: module, name: name)
    case .reduce:
      let arguments = try pop()
      let callable = try pop()
      try reduce(callable, arguments)
    case .newObj:
      let arguments = try pop()
      let type = try pop()
      try newObject(type, arguments)
    case .newObjEx:
      let keywords = try pop()
      let arguments = try pop()
      let type = try pop()
      guard case .value(.dict(let dict)) = keywords.item, dict.count == 0 else {
        throw invalid("NEWOBJ_EX with keyword arguments")
      }
      try newObject(type, arguments)
    case .build:
      let state = try pop()
      try build(state)
    case .binPersID:
      try pushStorage(persistentID: pop())
    case .persID:
      let text = try readText(what: "PERSID argument")
      throw invalid("persistent id '\(text)' is not a ('storage', …) tuple")

    // Memo.
    case .get:
      try pushMemo(parseMemoIndex(readText(what: "GET argument")))
    case .binGet:
      try pushMemo(Int(reader.readByte(what: "BINGET argument")))
    case .longBinGet:
      try pushMemo(Int(reader.readInteger(as: UInt32.self, what: "LONG_BINGET argument")))
    case .put:
      try storeMemo(parseMemoIndex(readText(what: "PUT argument")))
    case .binPut:
      try storeMemo(Int(reader.readByte(what: "BINPUT argument")))
    case .longBinPut:
      try storeMemo(Int(reader.readInteger(as: UInt32.self, what: "LONG_BINPUT argument")))
    case .memoize:
      try storeMemo(memo.count)

    // Out-of-band buffers: marking one read-only changes nothing here.
    case .readonlyBuffer:
      guard stack.count > markFloor else { throw underflow() }
    case .inst, .obj, .ext1, .ext2, .ext4, .nextBuffer:
      throw .unsupportedPickleOpcode(record: record, name: opcodeName, offset: opcodeOffset)
    }
  }

  // MARK: - Errors

  func invalid(_ detail: String) -> ArchiveError {
    .invalidPickle(record: record, detail: detail, offset: opcodeOffset)
  }

  private func underflow() -> ArchiveError {
    .stackUnderflow(record: record, opcode: opcodeName, offset: opcodeOffset)
  }

  // MARK: - Stack

  /// Items below the innermost mark belong to an enclosing construct.
  private var markFloor: Int { marks.last ?? 0 }

  mutating func pop() throws(ArchiveError) -> PickleEntry {
    guard stack.count > markFloor else { throw underflow() }
    return stack.removeLast()
  }

  private mutating func popMany(_ count: Int) throws(ArchiveError) -> [PickleEntry] {
    guard stack.count - markFloor >= count else { throw underflow() }
    let items = Array(stack[(stack.count - count)...])
    stack.removeLast(count)
    return items
  }

  private mutating func popToMark() throws(ArchiveError) -> [PickleEntry] {
    guard let mark = marks.popLast() else {
      throw .missingMark(record: record, opcode: opcodeName, offset: opcodeOffset)
    }
    let items = Array(stack[mark...])
    stack.removeSubrange(mark...)
    return items
  }

  private mutating func pushValue(_ value: IValue) {
    stack.append(PickleEntry(item: .value(value), size: .leaf))
  }

  private mutating func pushBytes(_ bytes: ArraySlice<UInt8>) {
    let storage = Storage(lazyBytes: Data(bytes))
    let tensor = Tensor(storage: storage, dtype: .uint8, shape: [bytes.count], strides: [1])
    pushValue(.tensor(tensor))
  }

  // MARK: - Sizes and sealing (see Note [Bounding unpickled values])

  /// The identity of a list, dict or object item.
  func identity(of item: PickleItem) -> ObjectIdentifier? {
    switch item {
    case .value(.list(let list)): ObjectIdentifier(list)
    case .value(.dict(let dict)): ObjectIdentifier(dict)
    case .value(.object(let object)): ObjectIdentifier(object)
    default: nil
    }
  }

  func size(of entry: PickleEntry) -> ValueSize {
    if let id = identity(of: entry.item), let size = containerSizes[id] { return size }
    return entry.size
  }

  /// The size of a new value holding `children`, checked against the limits.
  func combinedSize(_ base: ValueSize, _ children: [PickleEntry]) throws(ArchiveError)
    -> ValueSize
  {
    var result = base
    for child in children {
      let childSize = size(of: child)
      result.depth = max(result.depth, childSize.depth + 1)
      let (nodes, overflow) = result.nodes.addingReportingOverflow(childSize.nodes)
      result.nodes = overflow ? Int.max : nodes
    }
    guard result.depth <= configuration.maximumDepth else {
      throw .nestingTooDeep(record: record, limit: configuration.maximumDepth, offset: opcodeOffset)
    }
    guard result.nodes <= configuration.maximumNodes else {
      throw .valueTooLarge(record: record, limit: configuration.maximumNodes, offset: opcodeOffset)
    }
    return result
  }

  /// Marks the containers in `children` as nested, so they can no longer change.
  mutating func seal(_ children: [PickleEntry]) {
    for child in children {
      if let id = identity(of: child.item) { sealed.insert(id) }
    }
  }

  /// Pushes a new list, dict or object.
  mutating func pushContainer(_ value: IValue) {
    let entry = PickleEntry(item: .value(value), size: .leaf)
    // A freed container's identity can be reused; a new container starts clean.
    if let id = identity(of: entry.item) {
      containerSizes[id] = .leaf
      sealed.remove(id)
      taggedDicts.remove(id)
    }
    stack.append(entry)
  }

  /// Checks that the container on top of the stack may take `children`, then records its growth.
  private mutating func growTop(with children: [PickleEntry]) throws(ArchiveError) {
    let target = stack[stack.count - 1]
    guard let id = identity(of: target.item) else { return }
    guard !sealed.contains(id) else {
      throw invalid("\(opcodeName) changes a value that is already nested in another")
    }
    for child in children where identity(of: child.item) == id {
      throw invalid("\(opcodeName) puts a value inside itself")
    }
    containerSizes[id] = try combinedSize(size(of: target), children)
    seal(children)
  }

  // MARK: - Values

  /// The `IValue` an item stands for; globals and storages are not values.
  func value(of entry: PickleEntry) throws(ArchiveError) -> IValue {
    try value(of: entry.item)
  }

  func value(of item: PickleItem) throws(ArchiveError) -> IValue {
    switch item {
    case .value(let value):
      return value
    case .tuple(let items):
      var elements: [IValue] = []
      elements.reserveCapacity(items.count)
      for element in items { elements.append(try value(of: element)) }
      return .tuple(elements)
    case .global(let global):
      throw invalid("global '\(global.name)' used as a value")
    case .storage:
      throw invalid("storage used as a value")
    }
  }

  private mutating func pushTuple(_ items: [PickleEntry]) throws(ArchiveError) {
    let size = try combinedSize(.leaf, items)
    seal(items)
    var values: [IValue] = []
    values.reserveCapacity(items.count)
    for entry in items {
      guard case .value(let value) = entry.item else {
        stack.append(PickleEntry(item: .tuple(items.map(\.item)), size: size))
        return
      }
      values.append(value)
    }
    stack.append(PickleEntry(item: .value(.tuple(values)), size: size))
  }

  private mutating func appendToTop(_ items: [PickleEntry]) throws(ArchiveError) {
    guard stack.count > markFloor, case .value(.list(let list)) = stack[stack.count - 1].item else {
      throw invalid("\(opcodeName) needs a list below its items")
    }
    try growTop(with: items)
    list.elements.reserveCapacity(list.elements.count + items.count)
    for item in items { list.elements.append(try value(of: item)) }
  }

  private mutating func setItemsOnTop(_ items: [PickleEntry]) throws(ArchiveError) {
    guard stack.count > markFloor, case .value(.dict(let dict)) = stack[stack.count - 1].item else {
      throw invalid("\(opcodeName) needs a dict below its items")
    }
    guard items.count % 2 == 0 else { throw invalid("\(opcodeName) has an odd number of keys and values") }
    try growTop(with: items)
    for index in stride(from: 0, to: items.count, by: 2) {
      let key = try value(of: items[index])
      guard dict.set(key, try value(of: items[index + 1])) else {
        throw invalid("a \(key.kindName) cannot be a dict key")
      }
    }
  }

  private mutating func build(_ state: PickleEntry) throws(ArchiveError) {
    guard stack.count > markFloor, case .value(.object(let object)) = stack[stack.count - 1].item else {
      throw invalid("BUILD needs an object below its state")
    }
    // A plain dict is the attribute slots; anything else is `__getstate__` state.
    if case .value(.dict(let dict)) = state.item, !taggedDicts.contains(ObjectIdentifier(dict)) {
      var names: [String] = []
      for key in dict.keys {
        guard case .string(let name) = key else { throw invalid("BUILD attribute name is a \(key.kindName)") }
        names.append(name)
      }
      // The dict's size already counts its values, which the object now holds instead.
      try growTop(with: [state])
      for (name, value) in zip(names, dict.values) { object.setAttribute(name, value) }
    } else {
      try growTop(with: [state])
      object.state = try value(of: state)
    }
  }

  // MARK: - Memo

  private mutating func pushMemo(_ index: Int) throws(ArchiveError) {
    guard let entry = memo[index] else {
      throw .badMemoIndex(record: record, index: index, offset: opcodeOffset)
    }
    stack.append(entry)
  }

  private mutating func storeMemo(_ index: Int) throws(ArchiveError) {
    guard stack.count > markFloor else { throw underflow() }
    memo[index] = stack[stack.count - 1]
  }

  private func parseMemoIndex(_ text: String) throws(ArchiveError) -> Int {
    guard let index = Int(text), index >= 0 else { throw invalid("memo index '\(text)' is not a number") }
    return index
  }

  // MARK: - Arguments

  /// Reads a text line (protocol 0 arguments, GLOBAL names) as UTF-8.
  private mutating func readText(what: String) throws(ArchiveError) -> String {
    try utf8(reader.readLine(what: what))
  }

  private func utf8(_ bytes: ArraySlice<UInt8>) throws(ArchiveError) -> String {
    guard let text = String(validating: bytes, as: UTF8.self) else { throw invalid("string is not valid UTF-8") }
    return text
  }

  private func utf8(_ bytes: [UInt8]) throws(ArchiveError) -> String {
    try utf8(bytes[...])
  }

  /// Reads a length prefix and checks it against the remaining bytes before anything is read.
  private mutating func readLength<T: FixedWidthInteger>(as _: T.Type, what: String) throws(ArchiveError) -> Int {
    let raw = try reader.readInteger(as: T.self, what: "\(what) length")
    guard raw >= 0, UInt64(raw) <= UInt64(reader.remaining) else {
      throw .truncated(record: record, what: "\(what) argument", offset: opcodeOffset)
    }
    return Int(raw)
  }

  /// `INT`'s argument: a decimal, or `00`/`01` for protocol 0 booleans.
  private func parseTextInt(_ text: String) throws(ArchiveError) -> IValue {
    switch text {
    case "00": return .bool(false)
    case "01": return .bool(true)
    default: return .int(try parseTextLong(text))
    }
  }

  /// A protocol 0 decimal, with the `L` suffix Python 2 longs carry.
  private func parseTextLong(_ text: String) throws(ArchiveError) -> Int {
    let digits = text.hasSuffix("L") ? String(text.dropLast()) : text
    let body = digits.hasPrefix("-") || digits.hasPrefix("+") ? digits.dropFirst() : Substring(digits)
    guard !body.isEmpty, body.allSatisfy(\.isASCII), body.allSatisfy(\.isNumber) else {
      throw invalid("integer argument '\(text)' is not a number")
    }
    guard let value = Int(digits) else { throw .integerOverflow(record: record, offset: opcodeOffset) }
    return value
  }

  /// A little-endian two's-complement integer of any length that fits in 64 bits.
  private func decodeLong(_ bytes: ArraySlice<UInt8>) throws(ArchiveError) -> Int {
    guard let last = bytes.last else { return 0 }
    let negative = last & 0x80 != 0
    if bytes.count > 8 {
      // Bytes past the eighth may only repeat the sign.
      let signByte: UInt8 = negative ? 0xFF : 0x00
      let low = bytes[bytes.startIndex..<(bytes.startIndex + 8)]
      guard bytes[(bytes.startIndex + 8)...].allSatisfy({ $0 == signByte }),
        (low.last! & 0x80 != 0) == negative
      else {
        throw .integerOverflow(record: record, offset: opcodeOffset)
      }
      return try decodeLong(low)
    }
    var value: UInt64 = negative ? UInt64.max : 0
    for (index, byte) in bytes.enumerated() {
      value &= ~(UInt64(0xFF) << (8 * index))
      value |= UInt64(byte) << (8 * index)
    }
    return Int(Int64(bitPattern: value))
  }
}
