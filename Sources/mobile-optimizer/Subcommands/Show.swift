import ArgumentParser
import Foundation
import MobileOptimizer

/// `show MODEL [--method NAME] [--graph]`: the root module's methods as source or graphs.
struct Show: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show",
    abstract: "Print the root module's methods as TorchScript source, or as IR graphs.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Option(help: "Only this method (default: all).")
  var method: String?

  @Flag(help: "Print graphs in torch.jit's text form instead of source.")
  var graph = false

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      emit(try module.describeMethods(only: method, asGraphs: graph))
    }
  }
}
