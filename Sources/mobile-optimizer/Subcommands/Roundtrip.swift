import ArgumentParser
import Foundation
import MobileOptimizer

/// `roundtrip MODEL --output OUT`: load and save with no change.
struct Roundtrip: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "roundtrip",
    abstract: "Load an archive and save it again unchanged (code re-printed from the IR).")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Option(name: [.short, .long], help: "Where to write the archive.")
  var output: String

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      try module.save(to: URL(fileURLWithPath: output))
    }
  }
}
