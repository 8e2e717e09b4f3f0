import ArgumentParser
import Foundation
import MobileOptimizer

/// `run MODEL [--method NAME] [--input X.npy]... [--output Y.npy]... [--bundled N]`.
struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run a method of the model on .npy inputs and print or save its outputs.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Option(help: "The method to run.")
  var method = "forward"

  @Option(help: "An input .npy file per argument, in order (0-d int64, float64 and bool arrays pass ints, floats and bools).")
  var input: [String] = []

  @Option(name: [.short, .long], help: "Where to save each output, in order (tuples, lists and dicts are flattened).")
  var output: [String] = []

  @Option(help: "Run bundled input N instead of --input files.")
  var bundled: Int?

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      let arguments: [IValue]
      if let bundled {
        guard input.isEmpty else { throw ModelIOError.conflictingInputs }
        arguments = try module.bundledInput(bundled)
      } else {
        arguments = try input.map { try ModelIO.readInput(URL(fileURLWithPath: $0)) }
      }
      let flat = ModelIO.flatten(try module.run(method, arguments))
      if output.isEmpty {
        for (index, value) in flat.enumerated() {
          MobileOptimizerCommand.print("output \(index): \(ModelIO.summary(value))")
        }
        return
      }
      guard output.count == flat.count else {
        throw ModelIOError.outputCountMismatch(produced: flat.count, files: output.count)
      }
      for (value, path) in zip(flat, output) {
        try ModelIO.write(value, to: URL(fileURLWithPath: path))
      }
    }
  }
}
