import Foundation
import TensorCore
import Testing
import TorchIR
import TorchScriptFrontend
import _TestSupport

@testable import MobileOptimizer

struct FreezeTests {
  static let evalFixtures = RuntimeFixtureTests.runnable.filter { (try? Fixtures.facts($0).training) == false }

  static func opCounts(_ module: ScriptModule) -> [String: Int] {
    var counts: [String: Int] = [:]
    for method in module.rootClass?.methods ?? [] {
      method.graph?.forEachNode { counts[$0.kind.rawValue, default: 0] += 1 }
    }
    return counts
  }

  @Test(arguments: evalFixtures)
  func frozenModulesMatchPyTorchAndHoldNoParameters(_ name: String) throws {
    let facts = try Fixtures.facts(name)
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    module.verifyAfterEachPass = true
    let before = try module.describeMethods(asGraphs: true)
    let (frozen, report) = try module.frozen(preservedAttributes: facts.preserve)
    #expect(frozen.namedParameters().isEmpty)
    #expect(!report.passes.isEmpty)
    // The input module is unchanged.
    #expect(try module.describeMethods(asGraphs: true) == before)
    // No more batch norm or dropout than PyTorch's own freeze left.
    let counts = Self.opCounts(frozen)
    for op in ["aten::batch_norm", "aten::dropout", "aten::feature_dropout"] {
      #expect(counts[op, default: 0] <= facts.frozen.ops?[op] ?? 0, "\(op)")
    }
    for method in facts.preserve { #expect(frozen.rootClass?.method(method) != nil) }
    try RuntimeFixtureTests.checkCalls(frozen, fixture: name)
  }

  @Test func trainingModulesAreRefusedWithPyTorchsMessage() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("train_mode"))
    let error = #expect(throws: FreezeError.self) { try module.frozen() }
    #expect(
      error?.description
        == "Freezing is currently only implemented for modules in eval mode. Please call .eval() on your module before freezing.")
  }

  @Test func mutatedAttributesStayAttributes() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("counter"))
    let (frozen, report) = try module.frozen()
    #expect(Set(report.mutableAttributes) == ["count", "history", "total"])
    for name in ["count", "history", "total"] { #expect(frozen.root.attribute(name) != nil, "\(name)") }
    // The linear's parameters became constants.
    #expect(frozen.root.attribute("lin") == nil)
  }

  @Test func unknownPreservedNamesAreErrors() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mlp"))
    let error = #expect(throws: FreezeError.self) { try module.frozen(preservedAttributes: ["nope"]) }
    #expect(error?.description == "Unknown name: nope")
  }

  @Test func preservedAttributesAndSubmodulesAreKept() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mlp"))
    let (frozen, _) = try module.frozen(preservedAttributes: ["fc1", "fc2.weight"])
    let fc1 = try #require(frozen.root.attribute("fc1")?.object)
    #expect(fc1.attribute("weight")?.tensor != nil)
    let fc2 = try #require(frozen.root.attribute("fc2")?.object)
    #expect(fc2.attribute("weight")?.tensor != nil)
    #expect(fc2.attribute("bias") == nil)
  }
}

struct SavingTests {
  @Test(arguments: Fixtures.names)
  func savingIsDeterministicAndReloadsToTheSameModule(_ name: String) throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    let first = try module.serialized(rootFolder: "model")
    let second = try module.serialized(rootFolder: "model")
    #expect(first == second)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("save-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent("model.pt")
    try first.write(to: url)
    let reloaded = try ScriptModule.load(contentsOf: url)
    #expect(ModuleReport(reloaded).parameters == ModuleReport(module).parameters)
    #expect(try reloaded.describeMethods(asGraphs: false) == module.describeMethods(asGraphs: false))
    // A reloaded module saves to the same bytes: printing is a fixed point.
    #expect(try reloaded.serialized(rootFolder: "model") == first)
  }

  @Test func failedSavesLeaveNothingBehind() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mlp"))
    let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-dir-\(UUID().uuidString)/out.pt")
    #expect(throws: (any Error).self) { try module.save(to: missing) }
    #expect(!FileManager.default.fileExists(atPath: missing.path))
  }

  @Test func savingOverAnExistingFileReplacesItAndLeavesNothingElse() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("replace-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.pt")
    try Data("previous contents".utf8).write(to: output)
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mlp"))
    try module.save(to: output)
    #expect(try Data(contentsOf: output) == (try module.serialized(rootFolder: "out")))
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["out.pt"])
    // A folder in the way is an error, and stays as it was.
    let blocked = folder.appendingPathComponent("folder.pt")
    try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: false)
    #expect(throws: (any Error).self) { try module.save(to: blocked) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: blocked.path).isEmpty)
    #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)) == ["out.pt", "folder.pt"])
  }
}

struct LeafSpecializationTests {
  /// Inlining shared specialized bodies must freeze to what inlining every plain body gives:
  /// the same methods, the same attributes kept on every module (mutability decided as on the
  /// whole graph), no more nodes, and the same outputs.
  @Test(arguments: FreezeTests.evalFixtures)
  func specializedFreezeMatchesPlainFreeze(_ name: String) throws {
    let facts = try Fixtures.facts(name)
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    let (plain, plainReport) = try module.frozen(
      preservedAttributes: facts.preserve, optimizeNumerics: true, specializeLeaves: false)
    let (specialized, report) = try module.frozen(
      preservedAttributes: facts.preserve, optimizeNumerics: true, specializeLeaves: true)
    #expect(plainReport.passes.allSatisfy { $0.counters["specialized"] == nil })
    #expect(Set(report.mutableAttributes) == Set(plainReport.mutableAttributes))
    func attributes(_ frozen: ScriptModule) -> [String] {
      frozen.namedModules().flatMap { path, object in object.attributeNames.map { "\(path).\($0)" } }
    }
    #expect(attributes(specialized) == attributes(plain))
    #expect(specialized.rootClass?.methods.map(\.name) == plain.rootClass?.methods.map(\.name))
    let nodes = FreezeTests.opCounts(specialized).values.reduce(0, +)
    let plainNodes = FreezeTests.opCounts(plain).values.reduce(0, +)
    #expect(nodes <= plainNodes)
    try RuntimeFixtureTests.checkCalls(specialized, fixture: name)
  }

  /// A module whose buffer goes through a ReLU6-like activation (not in place) and whose
  /// result is then written in place: the activation's `inplace` branch, dead in the frozen
  /// module, returns its input, so PyTorch's whole-graph analysis finds the buffer written and
  /// keeps it an attribute. The specialized body drops that branch; what it did to the argument
  /// and result must still reach the analysis.
  static func moduleWritingThroughAnActivation() throws -> ScriptModule {
    let source = """
      class Model(Module):
        __parameters__ = []
        __buffers__ = ["buf", ]
        buf : Tensor
        training : bool
        act : __torch__.Act
        def forward(self: __torch__.Model,
          x: Tensor) -> Tensor:
          act = self.act
          y = (act).forward(self.buf, )
          _0 = torch.add_(y, 1)
          return torch.add(x, y)
      class Act(Module):
        __parameters__ = []
        __buffers__ = []
        training : bool
        inplace : bool
        def forward(self: __torch__.Act,
          input: Tensor) -> Tensor:
          if self.inplace:
            result = torch.hardtanh_(input, 0., 6.)
          else:
            result = torch.hardtanh(input, 0., 6.)
          return result

      """
    let compiler = ModuleCompiler()
    try compiler.declare(Parser.parse(source, file: "code/__torch__.py"), qualifier: "__torch__")
    try compiler.emitBodies()
    let act = ScriptObject(typeName: "__torch__.Act")
    act.setAttribute("training", .bool(false))
    act.setAttribute("inplace", .bool(false))
    let root = ScriptObject(typeName: "__torch__.Model")
    root.setAttribute("buf", .tensor(Tensor(shape: [3], floats: [1, 2, 3])))
    root.setAttribute("training", .bool(false))
    root.setAttribute("act", .object(act))
    let info = ScriptModule.ArchiveInfo(
      version: 3, rootFolder: "model", extraFiles: [], byteOrder: nil, codeFiles: [], constants: [])
    return ScriptModule(root: root, unit: compiler.unit, archive: info)
  }

  @Test func argumentEffectsOfDeadBranchesStillCount() throws {
    let module = try Self.moduleWritingThroughAnActivation()
    let (plain, plainReport) = try module.frozen(preservedAttributes: [], optimizeNumerics: true, specializeLeaves: false)
    let (specialized, report) = try module.frozen(preservedAttributes: [], optimizeNumerics: true, specializeLeaves: true)
    #expect(report.passes.contains { $0.counters["specialized", default: 0] > 0 })
    #expect(plainReport.mutableAttributes == ["buf"])
    #expect(report.mutableAttributes == plainReport.mutableAttributes)
    #expect(specialized.root.attribute("buf") != nil)
    #expect(plain.root.attribute("buf") != nil)
  }

  @Test func sharingNeedsTheSameStructure() throws {
    // Every BatchNorm2d of mobilenet_v2 has a mangled class of its own, with its own forward
    // graph; those graphs match each other node for node, and none matches a Conv2d's.
    let module = try ScriptModule.load(contentsOf: Fixtures.exampleModel)
    let specializer = LeafSpecializer(module: module) { _, _ in true }
    func forwards(_ suffix: String) -> [Graph] {
      module.unit.classes.filter { $0.qualifiedName.hasSuffix(suffix) }.compactMap { $0.method("forward")?.graph }
    }
    let batchNorms = forwards(".BatchNorm2d")
    let convolutions = forwards(".Conv2d")
    #expect(batchNorms.count > 5)
    #expect(convolutions.count > 5)
    for graph in batchNorms.dropFirst() { #expect(specializer.sameStructure(batchNorms[0], graph)) }
    for graph in convolutions { #expect(!specializer.sameStructure(batchNorms[0], graph)) }
    // Convolutions differ in their constants (stride, padding, groups): not all of them match.
    #expect(!convolutions.dropFirst().allSatisfy { specializer.sameStructure(convolutions[0], $0) })
  }

  @Test func modulesShareSpecializedBodies() throws {
    // mobilenet_v2: 52 convolutions and 52 batch norms in a handful of mangled classes.
    let module = try ScriptModule.load(contentsOf: Fixtures.exampleModel)
    let (_, report) = try module.frozen(preservedAttributes: [], optimizeNumerics: true, specializeLeaves: true)
    let inline = try #require(report.passes.first { $0.pass == "inline" })
    #expect(inline.counters["specialized", default: 0] >= 104)
    // BatchNorm2d's `num_batches_tracked.add_(1)` sits in a `training` branch that is dead in
    // eval mode; as in PyTorch, it still makes the attribute mutable.
    #expect(report.mutableAttributes.contains { $0.hasSuffix(".num_batches_tracked") })
  }
}
