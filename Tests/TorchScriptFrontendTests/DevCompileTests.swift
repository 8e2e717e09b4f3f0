import Foundation
import Testing
import TorchIR
@testable import TorchScriptFrontend

@Test func devCompileExtractedCode() throws {
  let root = URL(fileURLWithPath: "/tmp/code")
  guard let models = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
  var failures: [String] = []
  for model in models.sorted() {
    let base = root.appendingPathComponent(model)
    let enumerator = FileManager.default.enumerator(atPath: base.path)!
    let compiler = ModuleCompiler()
    do {
      var files: [String] = []
      while let path = enumerator.nextObject() as? String { if path.hasSuffix(".py") { files.append(path) } }
      for path in files.sorted() {
        let source = try String(contentsOfFile: base.appendingPathComponent(path).path, encoding: .utf8)
        try compiler.declare(source: source, path: path)
      }
      try compiler.emitBodies()
      for classType in compiler.unit.classes {
        for method in classType.methods { try method.graph?.verify() }
      }
      for function in compiler.unit.functions { try function.graph?.verify() }
    } catch {
      failures.append("\(model): \(error)")
    }
  }
  for failure in failures { print(failure) }
  #expect(failures.isEmpty)
}

@Test func devGraphTextRoundTrip() throws {
  let root = URL(fileURLWithPath: "/tmp/code")
  guard let models = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
  var failures: [String] = []
  var count = 0
  for model in models.sorted() where !model.contains("torch_mobile") {
    let base = root.appendingPathComponent(model)
    let enumerator = FileManager.default.enumerator(atPath: base.path)!
    let compiler = ModuleCompiler()
    var files: [String] = []
    while let path = enumerator.nextObject() as? String { if path.hasSuffix(".py") { files.append(path) } }
    for path in files.sorted() {
      try compiler.declare(source: try String(contentsOfFile: base.appendingPathComponent(path).path, encoding: .utf8), path: path)
    }
    try compiler.emitBodies()
    var graphs: [Graph] = []
    for classType in compiler.unit.classes { graphs += classType.methods.compactMap(\.graph) }
    graphs += compiler.unit.functions.compactMap(\.graph)
    for graph in graphs {
      count += 1
      let first = GraphPrinter.print(graph)
      do {
        let parsed = try IRParser.parse(first)
        try parsed.verify()
        let second = GraphPrinter.print(parsed)
        if first != second { failures.append("\(model): not a fixed point:\n\(first)\n---\n\(second)") }
      } catch {
        failures.append("\(model): \(error)\n\(first)")
      }
    }
  }
  print("graphs:", count)
  for failure in failures.prefix(3) { print(failure) }
  #expect(failures.isEmpty)
}

func devCompile(_ base: URL) throws -> ModuleCompiler {
  let enumerator = FileManager.default.enumerator(atPath: base.path)!
  let compiler = ModuleCompiler()
  var files: [String] = []
  while let path = enumerator.nextObject() as? String { if path.hasSuffix(".py") { files.append(path) } }
  for path in files.sorted() {
    try compiler.declare(source: try String(contentsOfFile: base.appendingPathComponent(path).path, encoding: .utf8), path: path)
  }
  try compiler.emitBodies()
  return compiler
}

@Test func devSourceRoundTrip() throws {
  let root = URL(fileURLWithPath: "/tmp/code")
  guard let models = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
  var failures: [String] = []
  for model in models.sorted() where !model.contains("torch_mobile") {
    do {
      let first = SourcePrinter.print(try devCompile(root.appendingPathComponent(model)).unit)
      let compiler = ModuleCompiler(constants: first.constants)
      for file in first.files { try compiler.declare(source: file.source, path: file.path) }
      try compiler.emitBodies()
      let second = SourcePrinter.print(compiler.unit)
      for (a, b) in zip(first.files, second.files) where a.source != b.source {
        failures.append("\(model) \(a.path) differs:\n\(a.source)\n---\n\(b.source)")
      }
    } catch {
      failures.append("\(model): \(error)")
    }
  }
  for failure in failures.prefix(2) { print(failure) }
  #expect(failures.isEmpty)
}
