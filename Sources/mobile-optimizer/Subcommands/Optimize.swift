import ArgumentParser
import Foundation
import MobileOptimizer

/// `optimize MODEL --output OUT [--blocklist NAME]... [--preserve NAME]... [--backend cpu]
/// [--report R.json] [--verify]`.
struct Optimize: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "optimize",
    abstract: "Optimize a model for mobile as torch.utils.mobile_optimizer.optimize_for_mobile does, and save it.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Option(name: [.short, .long], help: "Where to write the optimized archive.")
  var output: String

  @Option(help: "A pass to switch off (PyTorch's MobileOptimizerType name, e.g. conv_bn_fusion); repeatable.")
  var blocklist: [String] = []

  @Option(help: "A method or attribute to keep; repeatable.")
  var preserve: [String] = []

  @Option(help: "cpu (vulkan and metal are not yet supported).")
  var backend = "cpu"

  @Option(help: "Write a JSON report of every pass, op counts and sizes here.")
  var report: String?

  @Flag(help: "Run the original and the optimized model on the same inputs and compare.")
  var verify = false

  @Option(help: "Inputs for --verify (.npy, one per argument of forward).")
  var input: [String] = []

  @Option(help: "Shape of a random float32 input for --verify when the model has no bundled inputs, e.g. 1,3,224,224; repeatable.")
  var inputShape: [String] = []

  @Option(help: "Largest relative error --verify accepts.")
  var tolerance = 1e-4

  func run() throws {
    try reportingErrors {
      let blocked = try Set(blocklist.map { name in
        guard let type = MobileOptimizerType(name: name) else { throw OptimizeError.unknownBlocklistName(name) }
        return type
      })
      let backendValue = try MobileBackend(name: backend)
      let inputURL = URL(fileURLWithPath: model)
      let module = try ScriptModule.load(contentsOf: inputURL)
      var (optimized, result) = try module.optimizedForMobile(
        MobileOptimizationOptions(blocklist: blocked, preservedMethods: preserve, backend: backendValue))
      let outputURL = URL(fileURLWithPath: output)
      if verify {
        let inputs = try VerificationInputs.resolve(module, files: input, shapes: inputShape)
        let verification = try Verification.compare(original: module, optimized: optimized, inputs: inputs)
        MobileOptimizerCommand.print(verification.summary(tolerance: tolerance))
        if !verification.passes(tolerance: tolerance) {
          throw OptimizeError.verificationFailed(
            "largest relative error \(verification.worstRelativeError) exceeds \(tolerance); no output written")
        }
      }
      try optimized.save(to: outputURL)
      keepUntilExit(module, optimized)
      result.inputFileBytes = fileSize(model)
      result.outputFileBytes = fileSize(output)
      MobileOptimizerCommand.print("optimized \(model) -> \(output)")
      emit(result.summary())
      if let report {
        try Data((try result.json() + "\n").utf8).write(to: URL(fileURLWithPath: report), options: .atomic)
      }
    }
  }
}

/// `lint MODEL [--json]`.
struct Lint: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lint",
    abstract: "Report mobile-deployment problems as torch.utils.mobile_optimizer.generate_mobile_module_lints does.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Flag(help: "Print a JSON list of {name, message}.")
  var json = false

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      let lints = module.mobileLints()
      if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        emit(String(decoding: try encoder.encode(lints), as: UTF8.self) + "\n")
      } else {
        for lint in lints { MobileOptimizerCommand.print("\(lint.name): \(lint.message)") }
        if lints.isEmpty { MobileOptimizerCommand.print("no lints") }
      }
    }
  }
}
