import Foundation
import TensorCore
import Testing

@testable import TorchArchive

@Suite struct PicklerFixtureTests {
  /// "No jitter": pickling what was read from an unmodified torch archive gives torch's bytes.
  @Test(arguments: Fixtures.allArchives)
  func reproducesTorchPickleBytes(_ url: URL) throws {
    let archive = try TorchScriptArchive(contentsOf: url)
    let data = try Pickler().pickle(archive.readData())
    #expect(data.bytes == (try archive.zip.contents(ofRecord: "data.pkl")), "\(Fixtures.label(url)) data.pkl")
    let constants = try Pickler().pickleConstantTable(archive.readConstants())
    #expect(
      constants.bytes == (try archive.zip.contents(ofRecord: "constants.pkl")), "\(Fixtures.label(url)) constants.pkl")
    // Storage keys come out in first-pickled order, as torch names them.
    #expect(data.storages.map(\.key) == data.storages.indices.map(String.init))
  }

  /// unpickle ∘ pickle ∘ unpickle equals unpickle, for every pickle in every archive.
  @Test(arguments: Fixtures.allArchives)
  func roundTripsEveryPickleRecord(_ url: URL) throws {
    let archive = try TorchScriptArchive(contentsOf: url)
    for entry in archive.zip.entries where entry.name.hasSuffix(".pkl") || entry.name.hasSuffix(".debug_pkl") {
      let original: IValue =
        switch entry.name {
        case "data.pkl": try archive.readData()
        case "constants.pkl": .tuple(try archive.readConstants())
        default: try Unpickler(recordName: entry.name).unpickle(archive.zip.contents(of: entry))
        }
      let output = try Pickler().pickle(original)
      let storages = Dictionary(uniqueKeysWithValues: output.storages.map { ($0.key, $0.storage) })
      let again = try Unpickler(recordName: entry.name) { reference in storages[reference.key]! }.unpickle(output.bytes)
      #expect(difference(original, again) == nil, "\(Fixtures.label(url)) \(entry.name)")
    }
  }
}

@Suite struct PicklerValueTests {
  private func roundTrip(_ value: IValue) throws -> IValue {
    let output = try Pickler().pickle(value)
    let storages = Dictionary(uniqueKeysWithValues: output.storages.map { ($0.key, $0.storage) })
    return try Unpickler(recordName: "test.pkl") { reference in storages[reference.key]! }.unpickle(output.bytes)
  }

  @Test func picklesAnEmptyConstantTableAsTorchDoes() throws {
    // SPEC §7.2: an empty table is PROTO 2, EMPTY_TUPLE, STOP.
    #expect(try Pickler().pickleConstantTable([]).bytes == Data([0x80, 0x02, 0x29, 0x2E]))
  }

  @Test func choosesTorchIntegerAndFloatEncodings() throws {
    func opcodes(_ value: IValue) throws -> [UInt8] { Array(try Pickler().pickle(value).bytes.dropFirst(2).dropLast()) }
    #expect(try opcodes(.int(255)) == [0x4B, 0xFF])
    #expect(try opcodes(.int(256)) == [0x4D, 0x00, 0x01])
    #expect(try opcodes(.int(-1)) == [0x4A, 0xFF, 0xFF, 0xFF, 0xFF])
    #expect(try opcodes(.int(1 << 31)) == [0x8A, 8, 0, 0, 0, 0x80, 0, 0, 0, 0])
    #expect(try opcodes(.double(1)) == [0x47, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0])
    #expect(try opcodes(.bool(true)) == [0x88])
    #expect(try opcodes(.none) == [0x4E])
  }

  @Test func roundTripsScalarsAtEncodingBoundaries() throws {
    let ints = [0, 255, 256, 65_535, 65_536, -1, Int(Int32.min), Int(Int32.max), Int(Int32.max) + 1, Int.min, Int.max]
    let doubles = [0.0, -0.0, .infinity, -.infinity, .nan, 1e-300, .pi]
    let value = IValue.tuple(ints.map(IValue.int) + doubles.map(IValue.double) + [.string(""), .string("ünï\u{0}"), .bool(false)])
    #expect(difference(value, try roundTrip(value)) == nil)
  }

  @Test func roundTripsContainersWithTheirTypes() throws {
    let strings = ListValue([.string("a"), .string("b")], elementType: .string)
    let tensors = ListValue([.tensor(Tensor(shape: [2], floats: [1, 2]))], elementType: .tensor)
    let nested = DictValue(keyType: .string, valueType: .list(.tensor))
    nested.set(.string("weights"), .list(tensors))
    let byInt = DictValue(keyType: .int, valueType: .optional(.float))
    byInt.set(.int(3), .double(0.5))
    byInt.set(.int(1), .none)
    let value = IValue.tuple([
      .list(strings), .list(ListValue([.int(1), .int(2)], elementType: .int)),
      .list(ListValue([.double(1.5)], elementType: .float)), .list(ListValue([.bool(true)], elementType: .bool)),
      .dict(nested), .dict(byInt), .device("cpu"), .device("cpu"), .tuple([]), .tuple([.int(1)]),
      .list(ListValue([.tuple([.int(1), .string("x")])], elementType: .tuple([.int, .string]))),
    ])
    let back = try roundTrip(value)
    #expect(difference(value, back) == nil)
  }

  @Test func roundTripsObjectsWithAttributesAndState() throws {
    let module = ScriptObject(typeName: "__torch__.a.b.Module")
    module.setAttribute("training", .bool(false))
    module.setAttribute("weight", .tensor(Tensor(shape: [2, 2], floats: [1, 2, 3, 4])))
    let context = ScriptObject(typeName: "__torch__.torch.classes.xnnpack.LinearOpContext")
    context.state = .tuple([module.attribute("weight")!, .none, .double(0), .none])
    module.setAttribute("packed", .object(context))
    let stateful = ScriptObject(typeName: "__torch__.Stateful")
    stateful.state = .list(ListValue([.int(1)], elementType: .int))
    module.setAttribute("stateful", .object(stateful))
    let back = try roundTrip(.object(module))
    #expect(difference(.object(module), back) == nil)
    // The context's weight is the module's weight: one storage, and the same view.
    let root = try #require(back.object)
    let weight = try #require(root.attribute("weight")?.tensor)
    guard case .tuple(let state)? = root.attribute("packed")?.object?.state, let packed = state.first?.tensor else {
      throw Failure("expected the context state")
    }
    #expect(weight.sharesStorage(with: packed))
  }

  @Test func keepsAliasedListsAliased() throws {
    let shared = ListValue([.int(1)], elementType: .int)
    let module = ScriptObject(typeName: "__torch__.M")
    module.setAttribute("a", .list(shared))
    module.setAttribute("b", .list(shared))
    module.setAttribute("c", .list(ListValue([.int(1)], elementType: .int)))
    let root = try #require(try roundTrip(.object(module)).object)
    guard case .list(let a)? = root.attribute("a"), case .list(let b)? = root.attribute("b"),
      case .list(let c)? = root.attribute("c")
    else { throw Failure("expected lists") }
    #expect(a === b)
    #expect(a !== c)
  }

  @Test func writesEachStorageOnceWithCallerKeys() throws {
    let storage = Storage(byteCount: 48)
    let whole = Tensor(storage: storage, dtype: .float32, shape: [3, 4], strides: [4, 1])
    let row = Tensor(storage: storage, dtype: .float32, shape: [4], strides: [1], storageOffset: 4)
    let other = Tensor(shape: [1], floats: [7])
    var pickler = Pickler()
    pickler.storageKey = { _, index in "s\(index)" }
    let output = try pickler.pickle(.tuple([.tensor(whole), .tensor(row), .tensor(other), .tensor(whole)]))
    #expect(output.storages.map(\.key) == ["s0", "s1"])
    #expect(output.storages[0].storage === storage && output.storages[0].dtype == .float32)
    let back = try Unpickler { reference in output.storages.first { $0.key == reference.key }!.storage }
      .unpickle(output.bytes)
    let tensors = back.elements?.compactMap(\.tensor) ?? []
    #expect(tensors.count == 4)
    #expect(tensors[0].sharesStorage(with: tensors[1]) && tensors[0].sharesStorage(with: tensors[3]))
    #expect(tensors[1].storageOffset == 4)
  }

  @Test func roundTripsQuantizedTensors() throws {
    var perTensor = Tensor(zeros: [2, 2], dtype: .qint8)
    perTensor.quantization = .perTensorAffine(scale: 0.25, zeroPoint: -3)
    var perChannel = Tensor(zeros: [3, 2], dtype: .quint8)
    perChannel.quantization = .perChannelAffine(
      scales: Tensor(shape: [3], dtype: .float64, doubles: [0.1, 0.2, 0.3]),
      zeroPoints: Tensor(shape: [3], int64s: [0, 1, 2]), axis: 0)
    let value = IValue.tuple([.tensor(perTensor), .tensor(perChannel)])
    #expect(difference(value, try roundTrip(value)) == nil)
  }

  @Test func isDeterministic() throws {
    let dict = DictValue(keyType: .string, valueType: .int)
    for index in 0..<100 { dict.set(.string("key\(index * 7919 % 101)"), .int(index)) }
    let module = ScriptObject(typeName: "__torch__.M")
    module.setAttribute("table", .dict(dict))
    module.setAttribute("weight", .tensor(Tensor(shape: [3], floats: [1, 2, 3])))
    let first = try Pickler().pickle(.object(module)).bytes
    let second = try Pickler().pickle(.object(module)).bytes
    #expect(first == second)
    guard case .dict(let back)? = try roundTrip(.object(module)).object?.attribute("table") else {
      throw Failure("expected a dict")
    }
    #expect(back.keys.compactMap(\.string) == dict.keys.compactMap(\.string))
  }

  @Test func refusesValuesTorchCannotPickle() {
    let cyclic = ScriptObject(typeName: "__torch__.Loop")
    cyclic.setAttribute("me", .object(cyclic))
    var deep = IValue.none
    for _ in 0..<300 { deep = .tuple([deep]) }
    let storage = Storage(byteCount: 8)
    let asFloat = Tensor(storage: storage, dtype: .float32, shape: [2], strides: [1])
    let asInt = Tensor(storage: storage, dtype: .int32, shape: [2], strides: [1])
    let cases: [(IValue, String)] = [
      (.function("__torch__.f"), "function '__torch__.f' cannot be pickled"),
      (.object(cyclic), "value nests deeper than 256 levels or contains itself"),
      (deep, "value nests deeper than 256 levels or contains itself"),
      (.list(ListValue([.string("x")], elementType: .int)), "List[int] holds a str"),
      (.tuple([.tensor(asFloat), .tensor(asInt)]), "one storage viewed as both float32 and int32"),
      (.tensor(Tensor(zeros: [1], dtype: .qint8)), "qint8 tensor without quantization parameters"),
      (.object(ScriptObject(typeName: "Unqualified")), "class name 'Unqualified' is not qualified"),
    ]
    for (value, detail) in cases {
      #expect(archiveError { _ = try Pickler().pickle(value) } == .cannotPickle(detail: detail))
    }
  }
}
