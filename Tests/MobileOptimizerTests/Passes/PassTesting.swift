import Testing
import TorchIR
import _TestSupport

@testable import MobileOptimizer

/// Parses `ir`, runs `pass`, verifies the graph, and returns the printed result with statistics.
func runPass(
  _ pass: GraphPass, _ ir: String, unit: CompilationUnit? = nil, options: PassOptions = PassOptions()
) throws -> (String, PassStatistics) {
  let graph = try IRParser.parse(ir)
  let statistics = try pass.run(on: graph, unit: unit, options: options)
  try graph.verify()
  return (GraphPrinter.print(graph), statistics)
}

/// Expects `checks` to hold on `text`.
func expectChecks(_ text: String, _ checks: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
  if let failure = fileCheck(text, checks) {
    Issue.record(Comment(rawValue: failure), sourceLocation: sourceLocation)
  }
}
