import Foundation
import TensorCore
import Testing

@testable import TorchArchive

@Suite struct UnpicklerOpcodeTests {
  private func unpickle(_ builder: PickleBuilder, storages: StorageTable? = nil) throws -> IValue {
    try Unpickler(recordName: "test.pkl", storageLoader: storages?.loader).unpickle(builder.finished())
  }

  private func error(_ builder: PickleBuilder, configure: (inout Unpickler) -> Void = { _ in }) -> ArchiveError? {
    var unpickler = Unpickler(recordName: "test.pkl", storageLoader: StorageTable().loader)
    configure(&unpickler)
    return archiveError { _ = try unpickler.unpickle(builder.finished()) }
  }

  @Test func readsProtocol0TextOpcodes() throws {
    var p = PickleBuilder(protocol: nil)
    p.op(.mark)
    p.op(.list)
    p.op(.put); p.line("0")
    p.op(.int); p.line("-5"); p.op(.append)
    p.op(.int); p.line("01"); p.op(.append)
    p.op(.long); p.line("12345678901L"); p.op(.append)
    p.op(.float); p.line("1.5"); p.op(.append)
    p.op(.string); p.line(#"'a\nb\x41\'\101'"#); p.op(.put); p.line("1"); p.op(.append)
    p.op(.unicode); p.line(#"caf\u00e9 \U0001F600"#); p.op(.append)
    p.op(.get); p.line("1"); p.op(.append)
    p.op(.mark); p.op(.string); p.line("\"k\""); p.op(.int); p.line("7"); p.op(.dict); p.op(.append)
    p.op(.mark); p.op(.none); p.op(.int); p.line("00"); p.op(.tuple); p.op(.append)
    let value = try unpickle(p)
    let list = try #require(value.elements)
    #expect(list.count == 9)
    #expect(list[0].int == -5)
    #expect(list[1].bool == true)
    #expect(list[2].int == 12_345_678_901)
    #expect(list[3].number == 1.5)
    #expect(list[4].string == "a\nbA'A")
    #expect(list[5].string == "café 😀")
    #expect(list[6].string == "a\nbA'A")
    guard case .dict(let dict) = list[7] else { throw Failure("expected a dict") }
    #expect(dict[.string("k")]?.int == 7)
    guard case .tuple(let pair) = list[8] else { throw Failure("expected a tuple") }
    #expect(pair[0].isNone && pair[1].bool == false)
  }

  @Test func readsBinaryOpcodesOfProtocols2To5() throws {
    var p = PickleBuilder(protocol: 4)
    p.op(.frame); p.raw([0x40, 0, 0, 0, 0, 0, 0, 0])
    p.op(.emptyList); p.op(.memoize)
    p.op(.mark)
    p.op(.binInt); p.raw([0xFE, 0xFF, 0xFF, 0xFF])  // -2
    p.op(.binInt2); p.raw([0x34, 0x12])
    p.op(.long1); p.raw([2, 0x00, 0x80])  // -32768
    p.op(.long1); p.raw([9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00])  // Int64.max
    p.op(.long4); p.raw([1, 0, 0, 0, 0xFF])  // -1
    p.op(.long1); p.raw([0])  // 0
    p.op(.binFloat); p.raw([0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18])  // pi
    p.op(.shortBinUnicode); p.raw([2]); p.raw(Array("hi".utf8))
    p.op(.binUnicode8); p.raw([3, 0, 0, 0, 0, 0, 0, 0]); p.raw(Array("abc".utf8))
    p.op(.shortBinString); p.raw([1]); p.raw([0x7A])
    p.op(.binString); p.raw([1, 0, 0, 0]); p.raw([0x79])
    p.op(.newTrue)
    p.op(.dup)
    p.op(.pop)
    p.op(.appends)
    p.op(.pop)  // the list stays in memo 0
    p.op(.emptySet); p.op(.mark); p.int(1); p.int(2); p.op(.addItems)
    p.op(.mark); p.int(3); p.op(.frozenSet)
    p.op(.tuple2)
    p.op(.longBinPut); p.raw([0x2C, 0x01, 0, 0])  // memo 300
    p.op(.pop)
    p.op(.longBinGet); p.raw([0x2C, 0x01, 0, 0])
    p.op(.mark); p.op(.emptyTuple); p.op(.popMark)
    p.op(.emptyDict); p.string("a"); p.int(1); p.op(.setItem)
    p.op(.shortBinBytes); p.raw([3, 1, 2, 3])
    p.op(.byteArray8); p.raw([2, 0, 0, 0, 0, 0, 0, 0, 9, 8]); p.op(.readonlyBuffer)
    p.op(.binBytes); p.raw([0, 0, 0, 0])
    p.op(.tuple3)
    p.op(.tuple2)
    p.op(.binGet); p.raw([0])
    p.op(.tuple3)
    let value = try unpickle(p)
    guard case .tuple(let top) = value, case .tuple(let sets) = top[0], case .tuple(let misc) = top[1] else {
      throw Failure("unexpected shape \(value.kindName)")
    }
    let list = try #require(top[2].elements)
    #expect(list.map(\.kindName) == ["int", "int", "int", "int", "int", "int", "float", "str", "str", "str", "str", "bool"])
    #expect(list.prefix(6).compactMap(\.int) == [-2, 0x1234, -32768, Int.max, -1, 0])
    #expect(list[6].number == Double.pi)
    #expect(list.dropFirst(7).prefix(4).compactMap(\.string) == ["hi", "abc", "z", "y"])
    #expect(sets[0].intList == [1, 2])
    #expect(sets[1].intList == [3])
    guard case .dict(let dict) = misc[0] else { throw Failure("expected a dict") }
    #expect(dict[.string("a")]?.int == 1)
    // Bytes become uint8 tensors holding them.
    let buffers = try #require(misc[1].elements)
    #expect(buffers.count == 3)
    let bytes = try #require(buffers[0].tensor)
    #expect(bytes.dtype == .uint8 && bytes.shape == [3] && bytes.storage.data == Data([1, 2, 3]))
    #expect(buffers[1].tensor?.storage.data == Data([9, 8]))
    #expect(buffers[2].tensor?.shape == [0])
  }

  @Test func buildsObjectsFromAttributeDictsAndState() throws {
    var p = PickleBuilder()
    p.global("__torch__.m", "Module")
    p.op(.emptyTuple); p.op(.newObj)
    p.op(.emptyDict); p.op(.mark)
    p.string("b"); p.int(2)
    p.string("a"); p.op(.newTrue)
    p.string("child")
    p.global("__torch__.torch.classes.xnnpack", "LinearOpContext")
    p.op(.emptyTuple); p.op(.newObj)
    p.op(.none); p.op(.binFloat); p.raw([0, 0, 0, 0, 0, 0, 0, 0]); p.op(.tuple2)
    p.op(.build)
    p.string("tagged")
    p.global("__torch__", "Stateful")
    p.op(.emptyTuple); p.op(.newObj)
    p.global("torch.jit._pickle", "restore_type_tag")
    p.op(.emptyDict); p.op(.mark); p.string("k"); p.int(3); p.op(.setItems)
    p.string("Dict[str, int]"); p.op(.tuple2); p.op(.reduce)
    p.op(.build)
    p.op(.setItems)
    p.op(.build)
    let root = try #require(try unpickle(p).object)
    #expect(root.typeName == "__torch__.m.Module")
    #expect(root.attributeNames == ["b", "a", "child", "tagged"])
    #expect(root.state == nil)
    let child = try #require(root.attribute("child")?.object)
    #expect(child.typeName == "__torch__.torch.classes.xnnpack.LinearOpContext")
    #expect(child.attributeCount == 0)
    guard case .tuple(let state)? = child.state else { throw Failure("expected tuple state") }
    #expect(state[0].isNone && state[1].number == 0)
    // A type-tagged dict is `__getstate__` state, not attributes.
    let tagged = try #require(root.attribute("tagged")?.object)
    #expect(tagged.attributeCount == 0)
    guard case .dict(let dict)? = tagged.state else { throw Failure("expected dict state") }
    #expect(dict.keyType == .string && dict.valueType == .int && dict[.string("k")]?.int == 3)
  }

  @Test func readsSpecializedAndTaggedLists() throws {
    var p = PickleBuilder()
    p.op(.mark)
    let builders: [(String, [UInt8])] = [("build_intlist", [0x4B, 5]), ("build_boollist", [0x88]), ("build_doublelist", [0x47, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0])]
    for (builder, items) in builders {
      p.global("torch.jit._pickle", builder)
      p.op(.mark); p.op(.emptyList); p.op(.mark); p.raw(items); p.op(.appends); p.op(.tuple); p.op(.reduce)
    }
    p.global("torch.jit._pickle", "restore_type_tag")
    p.op(.emptyList); p.op(.mark); p.string("x"); p.op(.appends)
    p.string("List[str]"); p.op(.tuple2); p.op(.reduce)
    p.global("torch", "device"); p.string("cpu"); p.op(.tuple1); p.op(.reduce)
    p.op(.emptyList)
    p.op(.tuple)
    let elements = try #require(try unpickle(p).elements)
    let types = elements.prefix(4).map { value -> TorchType? in
      if case .list(let list) = value { return list.elementType }
      return nil
    }
    #expect(types == [.int, .bool, .float, .string])
    #expect(elements[0].intList == [5])
    #expect(elements[2].elements?.first?.number == 1.0)
    guard case .device("cpu") = elements[4] else { throw Failure("expected a device") }
    guard case .list(let untagged) = elements[5] else { throw Failure("expected a list") }
    #expect(untagged.elementType == .any)
  }

  @Test func sharesStoragesBetweenViews() throws {
    var p = PickleBuilder()
    p.op(.mark)
    p.tensor(.float32, key: "0", count: 12, shape: [3, 4], strides: [4, 1])
    p.tensor(.float32, key: "0", count: 12, offset: 4, shape: [4], strides: [1])
    p.tensor(.float32, key: "1", count: 2, shape: [2], strides: [1])
    p.op(.tuple)
    let storages = StorageTable()
    let tensors = try #require(try unpickle(p, storages: storages).elements?.compactMap(\.tensor))
    #expect(tensors.count == 3)
    #expect(tensors[0].sharesStorage(with: tensors[1]))
    #expect(!tensors[0].sharesStorage(with: tensors[2]))
    #expect(tensors[1].storageOffset == 4)
  }

  @Test func readsQuantizedTensors() throws {
    var p = PickleBuilder()
    p.op(.mark)
    p.global("torch._utils", "_rebuild_qtensor")
    p.op(.mark)
    p.storage(.qint8, key: "0", count: 6)
    p.int(0)
    p.op(.mark); p.int(2); p.int(3); p.op(.tuple)
    p.op(.mark); p.int(3); p.int(1); p.op(.tuple)
    p.op(.mark)
    p.global("torch", "per_channel_affine")
    p.tensor(.float64, key: "1", count: 2, shape: [2], strides: [1])
    p.tensor(.int64, key: "2", count: 2, shape: [2], strides: [1])
    p.int(0)
    p.op(.tuple)
    p.op(.newFalse)
    p.global("collections", "OrderedDict"); p.op(.emptyTuple); p.op(.reduce)
    p.op(.tuple)
    p.op(.reduce)
    p.op(.tuple)
    let tensor = try #require(try unpickle(p, storages: StorageTable()).elements?.first?.tensor)
    #expect(tensor.dtype == .qint8 && tensor.shape == [2, 3])
    guard case .perChannelAffine(let scales, let zeroPoints, 0)? = tensor.quantization else {
      throw Failure("expected per-channel quantization")
    }
    #expect(scales.dtype == .float64 && zeroPoints.dtype == .int64)
  }

  // MARK: - Bad input

  @Test func rejectsUnknownOpcode() {
    var p = PickleBuilder()
    p.raw([0x99])
    #expect(error(p) == .unknownPickleOpcode(record: "test.pkl", opcode: 0x99, offset: 2))
    #expect(error(p)?.description == "test.pkl: unknown pickle opcode 0x99 at offset 2")
  }

  @Test func rejectsForbiddenGlobals() {
    var p = PickleBuilder()
    p.global("os", "system")
    #expect(error(p) == .forbiddenGlobal(record: "test.pkl", module: "os", name: "system", offset: 2))
    #expect(error(p)?.description == "test.pkl: forbidden global 'os system' at offset 2")
    var eval = PickleBuilder(protocol: 4)
    eval.string("builtins")
    eval.string("eval")
    eval.op(.stackGlobal)
    #expect(error(eval) == .forbiddenGlobal(record: "test.pkl", module: "builtins", name: "eval", offset: eval.bytes.count - 1))
  }

  @Test func rejectsStackUnderflowAcrossMarks() {
    var p = PickleBuilder()
    p.op(.none)
    p.op(.mark)
    p.op(.tuple1)
    #expect(error(p) == .stackUnderflow(record: "test.pkl", opcode: "TUPLE1", offset: 4))
    var empty = PickleBuilder()
    empty.op(.reduce)
    #expect(error(empty) == .stackUnderflow(record: "test.pkl", opcode: "REDUCE", offset: 2))
  }

  @Test func rejectsMissingMark() {
    var p = PickleBuilder()
    p.op(.none)
    p.op(.tuple)
    #expect(error(p) == .missingMark(record: "test.pkl", opcode: "TUPLE", offset: 3))
  }

  @Test func rejectsBadMemoIndex() {
    var p = PickleBuilder()
    p.op(.binGet)
    p.raw([7])
    #expect(error(p) == .badMemoIndex(record: "test.pkl", index: 7, offset: 2))
  }

  @Test func rejectsIntegersBeyond64Bits() {
    var p = PickleBuilder()
    p.op(.long1)
    p.raw([9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0])
    #expect(error(p) == .integerOverflow(record: "test.pkl", offset: 2))
    var text = PickleBuilder(protocol: nil)
    text.op(.long)
    text.line("99999999999999999999L")
    #expect(error(text) == .integerOverflow(record: "test.pkl", offset: 0))
  }

  @Test func rejectsLengthsBeyondTheData() {
    var p = PickleBuilder()
    p.op(.binUnicode)
    p.raw([0xFF, 0xFF, 0xFF, 0x7F])
    #expect(error(p) == .truncated(record: "test.pkl", what: "BINUNICODE argument", offset: 2))
    var huge = PickleBuilder()
    huge.op(.binBytes8)
    huge.raw([0, 0, 0, 0, 0, 0, 0, 0x80])
    #expect(error(huge) == .truncated(record: "test.pkl", what: "BINBYTES8 argument", offset: 2))
  }

  @Test func rejectsMissingStop() {
    var p = PickleBuilder()
    p.op(.none)
    #expect(archiveError { _ = try Unpickler(recordName: "x").unpickle(p.data) } == .truncated(record: "x", what: "pickle (no STOP opcode)", offset: 3))
  }

  @Test func rejectsUnsupportedOpcodes() {
    var p = PickleBuilder()
    p.op(.ext1)
    p.raw([1])
    #expect(error(p) == .unsupportedPickleOpcode(record: "test.pkl", name: "EXT1", offset: 2))
    var inst = PickleBuilder(protocol: nil)
    inst.op(.mark)
    inst.op(.inst); inst.line("os"); inst.line("system")
    #expect(error(inst) == .unsupportedPickleOpcode(record: "test.pkl", name: "INST", offset: 1))
    // torch's storages are BINPERSID tuples; a text persistent id names nothing we can load.
    var persID = PickleBuilder(protocol: nil)
    persID.op(.persID); persID.line("0")
    #expect(error(persID) == .invalidPickle(record: "test.pkl", detail: "persistent id '0' is not a ('storage', …) tuple", offset: 0))
  }

  @Test func rejectsDeepNesting() {
    var p = PickleBuilder()
    p.op(.none)
    for _ in 0..<300 { p.op(.tuple1) }
    #expect(error(p) == .nestingTooDeep(record: "test.pkl", limit: 256, offset: 2 + 256))
    var lists = PickleBuilder()
    for _ in 0..<10 { lists.op(.emptyList); lists.op(.mark) }
    for _ in 0..<9 { lists.op(.appends) }
    // The first APPENDS fills the innermost list with nothing; the sixth makes depth 6.
    #expect(error(lists) { $0.maximumDepth = 5 } == .nestingTooDeep(record: "test.pkl", limit: 5, offset: 2 + 20 + 5))
  }

  @Test func rejectsValuesThatExpandExponentially() {
    var p = PickleBuilder()
    p.op(.emptyTuple)
    for _ in 0..<40 {
      p.op(.dup)
      p.op(.tuple2)
    }
    let error = error(p)
    guard case .valueTooLarge(record: "test.pkl", limit: 10_000_000, _) = error else {
      Issue.record("expected valueTooLarge, got \(String(describing: error))")
      return
    }
  }

  @Test func rejectsCycles() {
    var p = PickleBuilder()
    p.op(.emptyList)
    p.op(.binPut); p.raw([0])
    p.op(.binGet); p.raw([0])
    p.op(.append)
    #expect(error(p) == .invalidPickle(record: "test.pkl", detail: "APPEND puts a value inside itself", offset: 7))
    // A list nested in another may not grow afterwards (that is how longer cycles form).
    var q = PickleBuilder()
    q.op(.emptyList); q.op(.binPut); q.raw([0])
    q.op(.emptyList); q.op(.binGet); q.raw([0]); q.op(.append)
    q.op(.binPut); q.raw([1])
    q.op(.binGet); q.raw([0]); q.op(.binGet); q.raw([1]); q.op(.append)
    #expect(
      error(q)
        == .invalidPickle(record: "test.pkl", detail: "APPEND changes a value that is already nested in another", offset: q.bytes.count - 1))
    var object = PickleBuilder()
    object.global("__torch__", "A"); object.op(.emptyTuple); object.op(.newObj); object.op(.binPut); object.raw([0])
    object.op(.emptyDict); object.op(.mark); object.string("me"); object.op(.binGet); object.raw([0]); object.op(.setItems)
    object.op(.build)
    // Putting the object in its own state dict nested it, so BUILD may not change it.
    #expect(
      error(object)
        == .invalidPickle(
          record: "test.pkl", detail: "BUILD changes a value that is already nested in another",
          offset: object.bytes.count - 1))
  }

  @Test func rejectsTensorViewPastItsStorage() {
    var p = PickleBuilder()
    p.tensor(.float32, key: "0", count: 6, offset: 1, shape: [2, 3], strides: [3, 1])
    let expected = TensorError.viewOutOfBounds(shape: [2, 3], strides: [3, 1], offset: 1, storageElements: 6)
    #expect(error(p) == .invalidTensor(record: "test.pkl", offset: p.bytes.count - 1, expected))
  }

  @Test func rejectsShapesWhoseElementCountOverflows() {
    var p = PickleBuilder()
    p.tensor(.float32, key: "0", count: 4, shape: [1 << 30, 1 << 30, 1 << 30], strides: [0, 0, 0])
    #expect(error(p) == .invalidTensor(record: "test.pkl", offset: p.bytes.count - 1, .elementCountOverflow([1 << 30, 1 << 30, 1 << 30])))
  }

  @Test func rejectsMalformedTorchCalls() {
    var noLoader = PickleBuilder()
    noLoader.storage(.float32, key: "0", count: 1)
    #expect(
      archiveError { _ = try Unpickler(recordName: "a").unpickle(noLoader.finished()) }
        == .invalidPickle(record: "a", detail: "storage '0' but no storage loader", offset: noLoader.bytes.count - 1))
    var list = PickleBuilder()
    list.global("torch.jit._pickle", "build_intlist")
    list.op(.mark); list.op(.emptyList); list.op(.mark); list.string("x"); list.op(.appends); list.op(.tuple)
    list.op(.reduce)
    #expect(error(list) == .invalidPickle(record: "test.pkl", detail: "build_intlist holds a str", offset: list.bytes.count - 1))
    var tag = PickleBuilder()
    tag.global("torch.jit._pickle", "restore_type_tag")
    tag.op(.emptyList); tag.string("List[int"); tag.op(.tuple2); tag.op(.reduce)
    #expect(
      error(tag) == .invalidPickle(record: "test.pkl", detail: "restore_type_tag annotation 'List[int' does not parse", offset: tag.bytes.count - 1))
    var newObj = PickleBuilder()
    newObj.global("torch", "device"); newObj.op(.emptyTuple); newObj.op(.newObj)
    #expect(
      error(newObj) == .invalidPickle(record: "test.pkl", detail: "NEWOBJ of something that is not a __torch__ class", offset: newObj.bytes.count - 1))
  }
}

/// A test failure with a message, for `throw` in tests.
struct Failure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
