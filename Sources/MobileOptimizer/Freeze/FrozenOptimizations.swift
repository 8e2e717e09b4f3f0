import TensorCore
import TorchIR

extension ScriptModule {
  /// `run_frozen_optimizations`: dropout removal, then conv/linear batch-norm folding and conv
  /// add/sub/mul/div folding repeated until nothing changes (SPEC §4.4), on each of `methods`.
  func runFrozenOptimizations(methods: [String]) throws -> [PassStatistics] {
    guard let classType = rootClass else { return [] }
    var statistics: [PassStatistics] = []
    for name in methods {
      guard let graph = classType.method(name)?.graph else { continue }
      statistics += try runPasses([removeDropout], on: graph, function: name)
      var changed = true
      var rounds = 0
      while changed && rounds < 16 {
        rounds += 1
        let round = try runPasses(
          [foldFrozenConvBatchNorm, foldFrozenConvAddOrSub, foldFrozenConvMulOrDiv, foldFrozenLinearBatchNorm],
          on: graph, function: name)
        changed = round.contains { ($0.counters["folded"] ?? 0) > 0 }
        statistics += round
      }
    }
    return statistics
  }
}
