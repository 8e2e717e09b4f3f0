import ArgumentParser
import Foundation
import MobileOptimizer

/// `bench MODEL [--input X.npy]... [--threads N] [--iterations N] [--json] [--profile] [--nchw]`.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure a model's latency in this runtime: warm-up, then median and spread.")

  @Argument(help: "The TorchScript archive (.pt).")
  var model: String

  @Option(help: "An input .npy file per argument of forward.")
  var input: [String] = []

  @Option(help: "Shape of a random float32 input when no --input is given, e.g. 1,3,224,224; repeatable.")
  var inputShape: [String] = []

  @Option(help: "Threads (default: all cores).")
  var threads: Int?

  @Option(help: "Timed runs after the warm-up.")
  var iterations = 20

  @Option(help: "Untimed runs first.")
  var warmup = 3

  @Flag(help: "Print one JSON object.")
  var json = false

  @Flag(help: "Also print time per op kind and the slowest nodes.")
  var profile = false

  @Option(help: "How many of the slowest nodes --profile prints.")
  var profileNodes = 20

  @Flag(help: "Keep every activation NCHW (no channel-blocked chains), to compare.")
  var nchw = false

  func validate() throws {
    guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    guard profileNodes >= 0 else { throw ValidationError("--profile-nodes must not be negative") }
  }

  func run() throws {
    try reportingErrors {
      let module = try ScriptModule.load(contentsOf: URL(fileURLWithPath: model))
      if let threads { module.executionContext = ExecutionContext(threads: threads) }
      module.executionContext.channelBlockedLayout = !nchw
      let inputs = try VerificationInputs.resolve(module, files: input, shapes: inputShape)
      let result = try module.benchmark(arguments: inputs[0], iterations: iterations, warmup: warmup)
      if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        emit(String(decoding: try encoder.encode(result), as: UTF8.self) + "\n")
      } else {
        emit(
          String(
            format: "%@: median %.3f ms (min %.3f, p90 %.3f, max %.3f) over %d runs, %d threads\n",
            model as NSString, result.median, result.minimum, result.percentile(0.9), result.maximum, result.iterations,
            result.threads))
      }
      if profile {
        let recorder = Profile()
        module.executionContext.profile = recorder
        _ = try module.benchmark(arguments: inputs[0], iterations: iterations, warmup: 0)
        let total = recorder.byKind().reduce(0) { $0 + $1.seconds }
        emit("time per op kind (\(iterations) runs):\n")
        for entry in recorder.byKind() {
          emit(String(format: "  %8.3f ms  %5.1f%%  %6d calls  %@\n", entry.seconds * 1000 / Double(iterations),
            total > 0 ? entry.seconds / total * 100 : 0, entry.calls / iterations, entry.kind as NSString))
        }
        emit("slowest nodes:\n")
        for entry in recorder.topNodes(profileNodes) {
          emit(String(format: "  %8.3f ms  %@  %@  %@\n", entry.seconds * 1000 / Double(iterations), entry.kind as NSString,
            entry.location as NSString, entry.shapes as NSString))
        }
      }
    }
  }
}
