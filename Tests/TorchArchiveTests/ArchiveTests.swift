import Foundation
import TensorCore
import Testing

@testable import TorchArchive

@Suite struct ArchiveReadingTests {
  @Test func findsEveryFixture() {
    #expect(Fixtures.names.count >= 26)
    #expect(Fixtures.mobileNames.count >= 5)
  }

  @Test(arguments: Fixtures.allArchives)
  func readsEveryArchive(_ url: URL) throws {
    let archive = try TorchScriptArchive(contentsOf: url)
    #expect(archive.rootFolder == url.deletingPathExtension().lastPathComponent)
    #expect(TorchScriptArchive.supportedVersions.contains(archive.version))
    #expect(!archive.codeFiles.isEmpty)
    #expect(archive.codeFiles.contains { $0.source.contains("def forward(") })
    #expect(archive.codeFiles.allSatisfy { !$0.path.hasPrefix("code/") && $0.path.hasSuffix(".py") })
    #expect(archive.codeFiles.contains { $0.debugInfo != nil })
    let root = try #require(try archive.readData().object)
    #expect(root.typeName.hasPrefix("__torch__."))
    _ = try archive.readConstants()
    // torch 2.x adds the byte order and a 40-digit serialization id.
    if let id = archive.serializationID {
      #expect(archive.byteOrder == "little")
      #expect(id.count == 40 && id.allSatisfy(\.isNumber))
    }
  }

  @Test(arguments: Fixtures.names)
  func holdsEveryParameterAndBufferTorchReports(_ name: String) throws {
    let facts = try Fixtures.facts(name)
    let archive = try TorchScriptArchive(contentsOf: Fixtures.model(name))
    let data = try archive.readData()
    #expect((archive.serializationID != nil) == facts.saved_by.hasPrefix("2."))

    // The multiset of (dtype, shape) torch reports is contained in what data.pkl reaches.
    var available: [String: Int] = [:]
    for tensor in reachableTensors(data) { available["\(tensor.dtype) \(tensor.shape)", default: 0] += 1 }
    for fact in facts.parameters + facts.buffers {
      let key = "\(fact.dtype) \(fact.shape)"
      #expect(available[key, default: 0] > 0, "\(name): no tensor for \(fact.name) \(key)")
      available[key, default: 0] -= 1
    }
    // And each one sits at its attribute path, with torch's requires_grad.
    for fact in facts.parameters + facts.buffers {
      let tensor = try #require(attribute(fact.name, of: data)?.tensor, "\(name): \(fact.name)")
      #expect(tensor.dtype.name == fact.dtype && tensor.shape == fact.shape, "\(name): \(fact.name)")
      #expect(tensor.requiresGrad == fact.requires_grad, "\(name): \(fact.name)")
    }
    for module in facts.modules {
      #expect(attribute(module.path, of: data)?.object?.typeName == module.type, "\(name): module '\(module.path)'")
    }
  }

  @Test(arguments: Fixtures.mobileNames)
  func xnnpackContextsHaveTheDocumentedLayouts(_ name: String) throws {
    let constants = try TorchScriptArchive(contentsOf: Fixtures.mobile(name)).readConstants()
    let contexts = constants.compactMap(\.object).filter { $0.typeName.hasPrefix("__torch__.torch.classes.xnnpack.") }
    #expect(!contexts.isEmpty)
    for context in contexts {
      guard case .tuple(let state)? = context.state else {
        Issue.record("\(name): \(context.typeName) has no tuple state")
        continue
      }
      #expect(context.attributeCount == 0)
      let isOptionalTensor = { (value: IValue) in value.isNone || value.tensor != nil }
      let isClampBound = { (value: IValue) in value.isNone || value.number != nil }
      let isIntList = { (value: IValue) -> Bool in
        guard case .list(let list) = value else { return false }
        return list.elementType == .int && list.elements.count == 2
      }
      switch context.typeName.dropFirst("__torch__.torch.classes.xnnpack.".count) {
      case "LinearOpContext":
        // (weight [out, in], bias?, output_min?, output_max?)
        #expect(state.count == 4)
        #expect(state[0].tensor?.rank == 2 && isOptionalTensor(state[1]))
        #expect(isClampBound(state[2]) && isClampBound(state[3]))
      case "Conv2dOpContext":
        // (weight [O, I/g, kH, kW], bias?, stride, padding, dilation, groups, output_min?, output_max?)
        #expect(state.count == 8)
        #expect(state[0].tensor?.rank == 4 && isOptionalTensor(state[1]))
        #expect(isIntList(state[2]) && isIntList(state[3]) && isIntList(state[4]))
        #expect((state[5].int ?? 0) >= 1)
        #expect(isClampBound(state[6]) && isClampBound(state[7]))
      case "TransposeConv2dOpContext":
        // (weight [I, O/g, kH, kW], bias?, stride, padding, output_padding, dilation, groups, min?, max?)
        #expect(state.count == 9)
        #expect(state[0].tensor?.rank == 4 && isOptionalTensor(state[1]))
        #expect(isIntList(state[2]) && isIntList(state[3]) && isIntList(state[4]) && isIntList(state[5]))
        #expect((state[6].int ?? 0) >= 1)
        #expect(isClampBound(state[7]) && isClampBound(state[8]))
      default:
        Issue.record("\(name): unexpected class \(context.typeName)")
      }
      if let weight = state[0].tensor {
        #expect(weight.dtype == .float32 && !weight.requiresGrad)
        touch(weight)
      }
    }
  }

  /// The prepacked conv weights torch wrote are the model's conv weights with its BatchNorm
  /// folded in (SPEC §6.2), which checks the float data of both archives.
  @Test func prepackedWeightsAreFoldedModelWeights() throws {
    let model = try TorchScriptArchive(contentsOf: Fixtures.model("conv_bn_relu")).readData()
    let constants = try TorchScriptArchive(contentsOf: Fixtures.mobile("conv_bn_relu")).readConstants()
    let contexts = constants.compactMap(\.object).filter { $0.typeName.hasSuffix("Conv2dOpContext") }
    guard case .tuple(let state)? = contexts.first?.state, let folded = state[0].tensor, let foldedBias = state[1].tensor
    else {
      throw Failure("expected a first Conv2dOpContext with weight and bias")
    }
    let weight = try #require(attribute("conv1.weight", of: model)?.tensor)
    let gamma = try #require(attribute("bn1.weight", of: model)?.tensor).doubles()
    let beta = try #require(attribute("bn1.bias", of: model)?.tensor).doubles()
    let mean = try #require(attribute("bn1.running_mean", of: model)?.tensor).doubles()
    let variance = try #require(attribute("bn1.running_var", of: model)?.tensor).doubles()
    #expect(folded.shape == weight.shape)
    // BatchNorm2d's eps, as the fixture's code prints it.
    let scale = zip(gamma, variance).map { $0 / ($1 + 1e-5).squareRoot() }
    let perChannel = weight.count / weight.shape[0]
    let expected = weight.doubles().enumerated().map { $0.element * scale[$0.offset / perChannel] }
    let expectedBias = (0..<gamma.count).map { beta[$0] - mean[$0] * scale[$0] }
    let pairs = Array(zip(folded.doubles(), expected)) + Array(zip(foldedBias.doubles(), expectedBias))
    #expect(pairs.count == weight.count + gamma.count)
    for (actual, wanted) in pairs {
      let tolerance: Double = 1e-5 * Swift.max(1, Swift.abs(wanted))
      #expect(Swift.abs(actual - wanted) <= tolerance)
    }
    // conv1 has stride 1, padding 1 and is fused with relu: clamp from 0.
    #expect(state[2].intList == [1, 1] && state[3].intList == [1, 1] && state[5].int == 1)
    #expect(state[6].number == 0)
    // The depthwise conv (groups 16) is fused with hardtanh(-1.5, 2.5).
    let depthwise = contexts.compactMap { context -> [IValue]? in
      guard case .tuple(let state)? = context.state, state[5].int == 16 else { return nil }
      return state
    }
    #expect(depthwise.count == 1 && depthwise.first?[6].number == -1.5 && depthwise.first?[7].number == 2.5)
  }

  @Test func readsQuantizedModules() throws {
    let data = try TorchScriptArchive(contentsOf: Fixtures.model("quantized_conv")).readData()
    let objects = reachableObjects(data)
    let conv = try #require(objects.first { $0.typeName.hasSuffix("quantized.modules.conv.Conv2d") })
    guard case .tuple(let convState)? = conv.state else { throw Failure("quantized Conv2d keeps a tuple state") }
    let convWeight = try #require(convState.compactMap(\.tensor).first { $0.dtype == .qint8 })
    guard case .perTensorAffine(let scale, _)? = convWeight.quantization else {
      throw Failure("expected per-tensor quantization")
    }
    #expect(scale > 0 && convWeight.rank == 4)
    let packed = try #require(objects.first { $0.typeName == "__torch__.torch.classes.quantized.LinearPackedParamsBase" })
    guard case .tuple(let packedState)? = packed.state, packedState.count == 2 else {
      throw Failure("LinearPackedParamsBase keeps (weight, bias)")
    }
    #expect(packedState[0].tensor?.dtype == .qint8 && packedState[0].tensor?.shape == [3, 4])
    #expect(packedState[1].tensor?.dtype == .float32 && packedState[1].tensor?.shape == [3])
    for tensor in reachableTensors(data) { touch(tensor) }
  }

  @Test func readsTensorBytesLazily() throws {
    let archive = try TorchScriptArchive(contentsOf: Fixtures.example)
    let tensors = reachableTensors(try archive.readData())
    #expect(tensors.count > 300)
    #expect(tensors.allSatisfy { !$0.storage.isLoaded })
    #expect(tensors.allSatisfy { $0.storage.sourceKey?.hasPrefix("data/") == true })
    touch(tensors[0])
    #expect(tensors[0].storage.isLoaded)
  }

  @Test func sharesOneStoragePerKey() throws {
    let storage = Storage(byteCount: 64)
    let whole = Tensor(storage: storage, dtype: .float32, shape: [4, 4], strides: [4, 1])
    let column = Tensor(storage: storage, dtype: .float32, shape: [4], strides: [4], storageOffset: 1)
    let module = ScriptObject(typeName: "__torch__.M")
    module.setAttribute("a", .tensor(whole))
    module.setAttribute("b", .tensor(column))
    let constant = Tensor(storage: storage, dtype: .float32, shape: [2], strides: [1], storageOffset: 2)
    let contents = ArchiveContents(version: 3, data: .object(module), constants: [.tensor(constant), .tensor(constant)])
    let archive = try TorchScriptArchive(data: contents.serialized())
    #expect(archive.zip.recordNames.filter { $0.hasPrefix("data/") } == ["data/0"])
    #expect(archive.zip.recordNames.filter { $0.hasPrefix("constants/") } == ["constants/0"])
    let root = try #require(try archive.readData().object)
    let a = try #require(root.attribute("a")?.tensor)
    let b = try #require(root.attribute("b")?.tensor)
    #expect(a.sharesStorage(with: b) && b.storageOffset == 1 && b.strides == [4])
    let constants = try archive.readConstants().compactMap(\.tensor)
    #expect(constants.count == 2 && constants[0].sharesStorage(with: constants[1]))
    // data.pkl and constants.pkl name their own records.
    #expect(!constants[0].sharesStorage(with: a))
  }

  // MARK: - Bad archives

  /// The fixture's records with some replaced, removed or added, as a new archive.
  private func variant(
    of name: String = "counter", replacing replacements: [String: Data?] = [:]
  ) throws -> Data {
    let zip = try ZipReader(contentsOf: Fixtures.model(name))
    var records: [(name: String, data: Data)] = []
    for entry in zip.entries {
      if let replacement = replacements[entry.name] {
        if let replacement { records.append((entry.name, replacement)) }
      } else {
        records.append((entry.name, try zip.contents(of: entry)))
      }
    }
    for (name, data) in replacements where zip.entry(named: name) == nil {
      if let data { records.append((name, data)) }
    }
    return try ZipWriter.archive(rootFolder: zip.rootFolder, records: records)
  }

  @Test func rejectsMissingOrUnsupportedVersions() throws {
    #expect(archiveError { _ = try TorchScriptArchive(data: variant(replacing: ["version": nil])) } == .missingRecord("version"))
    #expect(
      archiveError { _ = try TorchScriptArchive(data: variant(replacing: ["version": Data("11\n".utf8)])) }
        == .unsupportedVersion(11, supported: 1...10))
    #expect(
      archiveError { _ = try TorchScriptArchive(data: variant(replacing: ["version": Data("0".utf8)])) }
        == .unsupportedVersion(0, supported: 1...10))
    #expect(
      archiveError { _ = try TorchScriptArchive(data: variant(replacing: ["version": Data("three\n".utf8)])) }
        == .invalidRecordText(record: "version", text: "three"))
    // `.data/version` wins over `version`, as in torch.
    let both = try TorchScriptArchive(data: variant(replacing: [".data/version": Data("7\n".utf8)]))
    #expect(both.version == 7)
    #expect(
      (archiveError { _ = try TorchScriptArchive(data: variant(replacing: ["version": Data("11\n".utf8)])) })?
        .description == "version: unsupported file format version 11 (supported 1...10)")
  }

  @Test func rejectsBigEndianArchives() {
    #expect(
      archiveError { _ = try TorchScriptArchive(data: variant(replacing: ["byteorder": Data("big".utf8)])) }
        == .unsupportedByteOrder("big"))
  }

  @Test func rejectsMissingPicklesAndStorages() throws {
    let noData = try TorchScriptArchive(data: variant(replacing: ["data.pkl": nil]))
    #expect(archiveError { _ = try noData.readData() } == .missingRecord("data.pkl"))
    let noStorage = try TorchScriptArchive(data: variant(replacing: ["data/0": nil]))
    #expect(archiveError { _ = try noStorage.readData() } == .missingRecord("data/0"))
    // counter's first storage holds one float.
    let shortStorage = try TorchScriptArchive(data: variant(replacing: ["data/0": Data([1, 2])]))
    #expect(archiveError { _ = try shortStorage.readData() } == .storageTooSmall(record: "data/0", needed: 4, available: 2))
    let notTuple = try TorchScriptArchive(data: variant(replacing: ["constants.pkl": Data([0x80, 0x02, 0x4E, 0x2E])]))
    #expect(
      archiveError { _ = try notTuple.readConstants() }
        == .invalidPickle(record: "constants.pkl", detail: "constant table is not a tuple", offset: 0))
    let badCode = try variant(replacing: ["code/__torch__.py": Data([0xFF, 0xFE])])
    #expect(archiveError { _ = try TorchScriptArchive(data: badCode) } == .invalidUTF8(record: "code/__torch__.py"))
  }

  @Test func rejectsFlippedBytesInAPickle() throws {
    var data = try Data(contentsOf: Fixtures.model("mlp"))
    let entry = try #require(try ZipReader(data: data).entry(named: "data.pkl"))
    data[entry.dataOffset + entry.compressedSize / 2] ^= 0x10
    let archive = try TorchScriptArchive(data: data)
    let error = archiveError { _ = try archive.readData() }
    guard case .checksumMismatch(record: "data.pkl", expected: entry.crc32, actual: _) = error else {
      throw Failure("expected a data.pkl checksum mismatch, got \(String(describing: error))")
    }
  }

  @Test func rejectsOneStorageKeyWithTwoDTypes() throws {
    var p = PickleBuilder()
    p.op(.mark)
    p.tensor(.float32, key: "0", count: 2, shape: [2], strides: [1])
    p.tensor(.int32, key: "0", count: 2, shape: [2], strides: [1])
    p.op(.tuple)
    let archive = try TorchScriptArchive(
      data: ZipWriter.archive(
        rootFolder: "m", records: [("data/0", Data(count: 8)), ("data.pkl", p.finished()), ("version", Data("3\n".utf8))]))
    #expect(archiveError { _ = try archive.readData() } == .storageDTypeConflict(record: "data/0", first: .float32, second: .int32))
  }
}

@Suite struct ArchiveWritingTests {
  /// Reading and writing back an unmodified archive reproduces torch's records, in torch's order.
  @Test(arguments: Fixtures.allArchives)
  func rewriteReproducesEveryRecord(_ url: URL) throws {
    let original = try TorchScriptArchive(contentsOf: url)
    let rewritten = try ZipReader(data: original.readContents().serialized())
    #expect(rewritten.rootFolder == original.rootFolder)
    #expect(rewritten.recordNames == original.zip.recordNames, "\(Fixtures.label(url))")
    for entry in original.zip.entries {
      #expect(
        try rewritten.contents(ofRecord: entry.name) == original.zip.contents(of: entry),
        "\(Fixtures.label(url)) \(entry.name)")
    }
  }

  /// Load → write → load gives equal values.
  @Test(arguments: Fixtures.allArchives)
  func loadWriteLoadGivesEqualValues(_ url: URL) throws {
    let first = try TorchScriptArchive(contentsOf: url).readContents()
    let second = try TorchScriptArchive(data: first.serialized()).readContents()
    #expect(difference(first.data, second.data) == nil)
    #expect(difference(.tuple(first.constants), .tuple(second.constants)) == nil)
    #expect(second.codeFiles == first.codeFiles)
    #expect(second.extraFiles == first.extraFiles)
    #expect(second.version == first.version && second.rootFolder == first.rootFolder)
    #expect(second.byteOrder == first.byteOrder && second.serializationID == first.serializationID)
  }

  @Test func writesDeterministically() throws {
    let contents = try TorchScriptArchive(contentsOf: Fixtures.model("bundled_inputs")).readContents()
    let first = try contents.serialized()
    #expect(try contents.serialized() == first)
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("model.pt")
    try contents.write(to: file)
    #expect(try Data(contentsOf: file) == first)
    try contents.write(to: file)
    #expect(try Data(contentsOf: file) == first)
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.pt"])
  }

  @Test func writesExtraFilesAndTheDataVersionRecord() throws {
    let module = ScriptObject(typeName: "__torch__.M")
    module.setAttribute("training", .bool(false))
    let contents = ArchiveContents(
      rootFolder: "custom", version: 8, data: .object(module),
      codeFiles: [CodeFile(path: "__torch__.py", source: "class M(Module):\n  training : bool\n")],
      extraFiles: [ExtraFile(name: "b.json", contents: Data("{}".utf8)), ExtraFile(name: "a.txt", contents: Data([0, 1]))],
      byteOrder: "little", serializationID: "0123456789012345678901234567890123456789")
    let archive = try TorchScriptArchive(data: contents.serialized())
    #expect(
      archive.zip.recordNames == [
        "extra/b.json", "extra/a.txt", "data.pkl", "code/__torch__.py", "constants.pkl", ".data/version", "byteorder",
        ".data/serialization_id",
      ])
    #expect(try archive.zip.contents(ofRecord: ".data/version") == Data("8\n".utf8))
    #expect(archive.version == 8 && archive.rootFolder == "custom")
    #expect(archive.extraFiles == contents.extraFiles)
    #expect(archive.codeFiles == contents.codeFiles)
    #expect(archive.serializationID == contents.serializationID && archive.byteOrder == "little")
    #expect(try archive.readConstants().isEmpty)
  }

  @Test func failedWritesLeaveNothingBehind() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("model.pt")
    try Data("previous".utf8).write(to: file)
    let module = ScriptObject(typeName: "__torch__.M")
    module.setAttribute("f", .function("__torch__.f"))
    let unpicklable = ArchiveContents(version: 3, data: .object(module))
    #expect(archiveError { try unpicklable.write(to: file) } == .cannotPickle(detail: "function '__torch__.f' cannot be pickled"))
    let badVersion = ArchiveContents(version: 12, data: .none)
    #expect(archiveError { try badVersion.write(to: file) } == .unsupportedVersion(12, supported: 1...10))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.pt"])
    #expect(try Data(contentsOf: file) == Data("previous".utf8))
    let missing = directory.appendingPathComponent("absent/model.pt")
    guard case .cannotWrite? = archiveError({ try ArchiveContents(version: 3, data: .none).write(to: missing) }) else {
      throw Failure("expected cannotWrite")
    }
  }

  private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("TorchArchiveTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}
