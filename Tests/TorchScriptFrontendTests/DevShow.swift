import Foundation
import Testing
import TorchIR
@testable import TorchScriptFrontend

@Test func devShow() throws {
  guard let spec = ProcessInfo.processInfo.environment["DEV_SHOW"] else { return }
  let parts = spec.split(separator: ":").map(String.init)
  let base = URL(fileURLWithPath: "/tmp/code/" + parts[0])
  let enumerator = FileManager.default.enumerator(atPath: base.path)!
  let compiler = ModuleCompiler()
  while let path = enumerator.nextObject() as? String {
    if path.hasSuffix(".py") { try compiler.declare(source: try String(contentsOfFile: base.appendingPathComponent(path).path, encoding: .utf8), path: path) }
  }
  try compiler.emitBodies()
  let cls = compiler.unit.classType(parts[1])!
  print(GraphPrinter.print(cls.method(parts[2])!.graph!))
}
