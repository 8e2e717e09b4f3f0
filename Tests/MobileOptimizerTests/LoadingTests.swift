import Foundation
import MobileOptimizer
import Testing
import _TestSupport

/// Loading every fixture: the parameters and buffers we list are exactly PyTorch's.
struct LoadingTests {
  @Test(arguments: Fixtures.names)
  func listsTheParametersAndBuffersPyTorchLists(_ name: String) throws {
    let facts = try Fixtures.facts(name)
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    let report = ModuleReport(module)
    let expectedParameters = facts.parameters.map {
      ModuleReport.TensorEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape)
    }
    let expectedBuffers = facts.buffers.map {
      ModuleReport.TensorEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape)
    }
    #expect(report.parameters == expectedParameters)
    #expect(report.buffers == expectedBuffers)
    // The root's methods are PyTorch's (it lists them sorted).
    let rootMethods = report.methods.first { $0.class == module.root.typeName }?.methods ?? []
    #expect(rootMethods.sorted() == facts.methods)
  }

  @Test func loadsTheExampleModel() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.exampleModel)
    let report = ModuleReport(module)
    #expect(report.parameters.count == 158)
    #expect(report.parameters.first == ModuleReport.TensorEntry(name: "features.0.0.weight", dtype: "float32", shape: [32, 3, 3, 3]))
    #expect(report.version == 3)
  }

  @Test(arguments: Fixtures.torchMobileNames)
  func loadsArchivesPyTorchOptimized(_ name: String) throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.folder(name).appendingPathComponent("torch_mobile.pt"))
    #expect(module.root.attribute("mobile_optimized")?.bool == true)
    #expect(module.namedParameters().isEmpty)
  }
}
