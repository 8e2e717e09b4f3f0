import Foundation
import Testing
import TorchArchive
import TorchIR
import _TestSupport

@testable import TorchScriptFrontend

/// Every code file of every fixture archive (PyTorch 1.13 and 2.x, scripted and optimized)
/// parses, emits graphs that verify, and prints back to source and graph text at a fixed point.
struct FixtureCodeTests {
  static let archives: [String] =
    Fixtures.names.map { "\($0)/model.pt" } + Fixtures.torchMobileNames.map { "\($0)/torch_mobile.pt" }

  static func compile(_ archivePath: String) throws -> (ModuleCompiler, TorchScriptArchive) {
    let archive = try TorchScriptArchive(contentsOf: Fixtures.directory.appendingPathComponent(archivePath))
    let compiler = ModuleCompiler(constants: try archive.readConstants())
    for file in archive.codeFiles { try compiler.declare(source: file.source, path: file.path) }
    try compiler.emitBodies()
    return (compiler, archive)
  }

  static func graphs(_ unit: CompilationUnit) -> [(String, Graph)] {
    var result: [(String, Graph)] = []
    for classType in unit.classes {
      for method in classType.methods { if let graph = method.graph { result.append(("\(classType.qualifiedName).\(method.name)", graph)) } }
    }
    for function in unit.functions { if let graph = function.graph { result.append((function.qualifiedName, graph)) } }
    return result
  }

  @Test(arguments: archives)
  func everyMethodEmitsAVerifiedGraph(_ archivePath: String) throws {
    let (compiler, archive) = try Self.compile(archivePath)
    let graphs = Self.graphs(compiler.unit)
    #expect(!graphs.isEmpty)
    // Every class the archive's code defines is declared.
    for file in archive.codeFiles {
      let qualifier = ModuleCompiler.qualifier(forCodePath: file.path)
      for line in file.source.split(separator: "\n") where line.hasPrefix("class ") {
        let name = line.dropFirst(6).prefix { $0 != "(" && $0 != ":" }
        #expect(compiler.unit.classType("\(qualifier).\(name)") != nil, "\(qualifier).\(name)")
      }
    }
    for (name, graph) in graphs {
      #expect(throws: Never.self, "\(name)") { try graph.verify() }
    }
  }

  @Test(arguments: archives)
  func graphTextIsAFixedPoint(_ archivePath: String) throws {
    let (compiler, _) = try Self.compile(archivePath)
    for (name, graph) in Self.graphs(compiler.unit) {
      let first = GraphPrinter.print(graph)
      let parsed = try IRParser.parse(first)
      try parsed.verify()
      #expect(GraphPrinter.print(parsed) == first, "\(name)")
    }
  }

  @Test(arguments: archives)
  func printedSourceIsAFixedPoint(_ archivePath: String) throws {
    let (compiler, _) = try Self.compile(archivePath)
    let first = SourcePrinter.print(compiler.unit)
    let again = ModuleCompiler(constants: first.constants)
    for file in first.files { try again.declare(source: file.source, path: file.path) }
    try again.emitBodies()
    let second = SourcePrinter.print(again.unit)
    #expect(second.files.map(\.path) == first.files.map(\.path))
    for (a, b) in zip(first.files, second.files) {
      #expect(a.source == b.source, "\(a.path)")
    }
    #expect(second.constants.count == first.constants.count)
  }
}
