import Foundation
import Testing
import TorchRuntime
import TensorCore
import TorchIR

@testable import MobileOptimizer

/// The frozen-graph folds: graphs written as IR text with tensor placeholders that the tests
/// fill with real values, run through the pass, and compared numerically with the unfolded graph
/// run in the interpreter.
struct FrozenFoldingTests {
  /// Replaces the `<Tensor>` placeholder of constant `%name`.
  func setTensor(_ graph: Graph, _ name: String, _ tensor: Tensor) throws {
    let node = try #require(graph.allNodes.first { $0.kind == .constant && $0.output.debugName == name })
    node.setAttribute("value", .value(.tensor(tensor)))
  }

  let convBatchNorm = """
    graph(%x : Tensor):
      %w : Tensor = prim::Constant[value=<Tensor>]()
      %b : Tensor = prim::Constant[value=<Tensor>]()
      %gamma : Tensor = prim::Constant[value=<Tensor>]()
      %beta : Tensor = prim::Constant[value=<Tensor>]()
      %mean : Tensor = prim::Constant[value=<Tensor>]()
      %var : Tensor = prim::Constant[value=<Tensor>]()
      %s : int[] = prim::Constant[value=[1, 1]]()
      %p : int[] = prim::Constant[value=[1, 1]]()
      %g : int = prim::Constant[value=1]()
      %f : bool = prim::Constant[value=0]()
      %t : bool = prim::Constant[value=1]()
      %m : float = prim::Constant[value=0.1]()
      %eps : float = prim::Constant[value=1.0000000000000001e-05]()
      %y : Tensor = aten::conv2d(%x, %w, %b, %s, %p, %s, %g)
      %z : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, %f, %m, %eps, %t)
      return (%z)
    """

  func filledConvBatchNorm() throws -> Graph {
    let graph = try IRParser.parse(convBatchNorm)
    try setTensor(graph, "w", Tensor(shape: [2, 1, 3, 3], floats: (0..<18).map { Float($0) * 0.1 - 0.8 }))
    try setTensor(graph, "b", Tensor(shape: [2], floats: [0.5, -0.25]))
    try setTensor(graph, "gamma", Tensor(shape: [2], floats: [1.5, 0.75]))
    try setTensor(graph, "beta", Tensor(shape: [2], floats: [0.1, -0.2]))
    try setTensor(graph, "mean", Tensor(shape: [2], floats: [0.3, -0.4]))
    try setTensor(graph, "var", Tensor(shape: [2], floats: [2.0, 0.5]))
    return graph
  }

  func run(_ graph: Graph, _ input: Tensor) throws -> [Double] {
    let unit = CompilationUnit()
    let function = Function(qualifiedName: "__torch__.test", arguments: [FunctionArgument(name: "x", type: .tensor)], returnType: .tensor)
    function.graph = graph
    unit.addFunction(function)
    let result = try Interpreter(unit: unit).call(function, arguments: [.tensor(input)])
    return try #require(result.tensor).doubles()
  }

  @Test func convBatchNormFoldsAndKeepsTheNumbers() throws {
    let input = Tensor(shape: [1, 1, 4, 4], floats: (0..<16).map { sin(Float($0)) })
    let expected = try run(try filledConvBatchNorm(), input)
    let graph = try filledConvBatchNorm()
    let statistics = try foldFrozenConvBatchNorm.run(on: graph)
    try graph.verify()
    expectChecks(GraphPrinter.print(graph), """
      CHECK: w_fused_bn
      CHECK: aten::conv2d
      CHECK-NOT: aten::batch_norm
      """)
    #expect(statistics.counters["folded"] == 1)
    let actual = try run(graph, input)
    for (a, e) in zip(actual, expected) { #expect(abs(a - e) < 1e-5) }
  }

  @Test func doesNotFoldWhenTheConvOutputHasOtherUses() throws {
    let text = convBatchNorm.replacingOccurrences(
      of: "  return (%z)", with: "  %u : (Tensor, Tensor) = prim::TupleConstruct(%z, %y)\n  return (%u)")
    #expect(text.contains("prim::TupleConstruct"))
    let graph = try IRParser.parse(text)
    let statistics = try foldFrozenConvBatchNorm.run(on: graph)
    #expect(statistics.counters["folded"] == nil)
    expectChecks(GraphPrinter.print(graph), "CHECK: aten::batch_norm")
  }

  @Test func doesNotFoldTrainingBatchNorm() throws {
    let text = convBatchNorm.replacingOccurrences(of: "%var, %f, %m", with: "%var, %t, %m")
    #expect(text.contains("%var, %t, %m"))
    let graph = try IRParser.parse(text)
    let statistics = try foldFrozenConvBatchNorm.run(on: graph)
    #expect(statistics.counters["folded"] == nil)
  }

  @Test func convAddAndMulFoldIntoTheConv() throws {
    let text = """
      graph(%x : Tensor):
        %w : Tensor = prim::Constant[value=<Tensor>]()
        %n : NoneType = prim::Constant()
        %shift : Tensor = prim::Constant[value=<Tensor>]()
        %s : int[] = prim::Constant[value=[1, 1]]()
        %p : int[] = prim::Constant[value=[0, 0]]()
        %g : int = prim::Constant[value=1]()
        %one : int = prim::Constant[value=1]()
        %two : float = prim::Constant[value=2.]()
        %y : Tensor = aten::conv2d(%x, %w, %n, %s, %p, %s, %g)
        %a : Tensor = aten::add(%y, %shift, %one)
        %z : Tensor = aten::mul(%a, %two)
        return (%z)
      """
    func make() throws -> Graph {
      let graph = try IRParser.parse(text)
      try setTensor(graph, "w", Tensor(shape: [3, 2, 1, 1], floats: [1, -1, 0.5, 2, -0.25, 0.75]))
      try setTensor(graph, "shift", Tensor(shape: [1, 3, 1, 1], floats: [0.1, 0.2, 0.3]))
      return graph
    }
    let input = Tensor(shape: [1, 2, 2, 2], floats: [1, 2, 3, 4, -1, -2, 0.5, 0.25])
    let expected = try run(try make(), input)
    let graph = try make()
    try foldFrozenConvAddOrSub.run(on: graph)
    try foldFrozenConvMulOrDiv.run(on: graph)
    try graph.verify()
    expectChecks(GraphPrinter.print(graph), """
      CHECK: aten::conv2d
      CHECK-NOT: aten::add
      CHECK-NOT: aten::mul
      """)
    let actual = try run(graph, input)
    for (a, e) in zip(actual, expected) { #expect(abs(a - e) < 1e-5) }
  }
}
