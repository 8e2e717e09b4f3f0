import ArgumentParser
import Foundation
import MobileOptimizer

/// `freeze MODEL --output OUT [--preserve NAME]... [--no-optimize-numerics]`.
struct Freeze: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "freeze",
    abstract: "Freeze a module as torch.jit.freeze does and save it.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Option(name: [.short, .long], help: "Where to write the frozen archive.")
  var output: String

  @Option(help: "An attribute or method to keep (dotted paths allowed); repeatable.")
  var preserve: [String] = []

  @Flag(name: .customLong("optimize-numerics"), inversion: .prefixedNo,
    help: "Fold batch norms and constant add/sub/mul/div into convolutions and linears.")
  var optimizeNumerics = true

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      let (frozen, _) = try module.frozen(preservedAttributes: preserve, optimizeNumerics: optimizeNumerics)
      try frozen.save(to: URL(fileURLWithPath: output))
      keepUntilExit(module, frozen)
    }
  }
}
