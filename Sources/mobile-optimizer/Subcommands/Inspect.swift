import ArgumentParser
import Foundation
import MobileOptimizer

/// `inspect MODEL [--json]`: what an archive holds.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect",
    abstract: "Show an archive's version, module tree, parameters, buffers, attributes and methods.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Flag(help: "Print one JSON object.")
  var json = false

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      for warning in module.loadWarnings {
        FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
      }
      let report = ModuleReport(module)
      if json {
        emit(try report.json() + "\n")
      } else {
        emit(report.text(archiveName: model))
      }
    }
  }
}
