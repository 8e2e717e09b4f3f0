import Testing
import TorchIR

@testable import TorchScriptFrontend

/// Emission details: overload resolution, defaults, control flow, errors with locations.
struct EmitterTests {
  func emit(_ source: String, _ function: String = "f") throws -> Graph {
    let compiler = ModuleCompiler()
    try compiler.declare(source: source, path: "__torch__/test.py")
    try compiler.emitBodies()
    let graph = try #require(compiler.unit.function("__torch__.test.\(function)")?.graph)
    try graph.verify()
    return graph
  }

  @Test func conv2dResolvesWithDefaultsForDilationAndGroups() throws {
    let graph = try emit(
      """
      def f(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return torch.conv2d(x, w, b, [2, 2], [1, 1])
      """)
    let conv = try #require(graph.allNodes.first { $0.kind == "aten::conv2d" })
    #expect(conv.schema?.fullName == "aten::conv2d")
    #expect(conv.inputs.count == 7)
    #expect(conv.inputs[5].constantValue?.intList == [1, 1])
    #expect(conv.inputs[6].constantValue?.int == 1)
  }

  @Test func overloadsFollowArgumentTypes() throws {
    let graph = try emit(
      """
      def f(x: Tensor, n: int) -> Tensor:
        a = torch.add(x, x)
        b = torch.add(x, 2)
        c = torch.add(n, 3)
        d = torch.add(x, x, alpha=2)
        return torch.mul(torch.add(a, b), torch.add(d, c))
      """)
    let adds = graph.allNodes.filter { $0.kind == "aten::add" }.map { $0.schema?.fullName ?? "?" }
    #expect(adds == ["aten::add.Tensor", "aten::add.Scalar", "aten::add.int", "aten::add.Tensor", "aten::add.Tensor", "aten::add.Scalar"])
  }

  @Test func ifAndLoopCarryReassignedVariables() throws {
    let graph = try emit(
      """
      def f(x: Tensor, n: int) -> Tensor:
        y = x
        for i in range(n):
          y = torch.add(y, i)
        if torch.gt(n, 2):
          z = torch.relu(y)
        else:
          z = y
        return z
      """)
    let loop = try #require(graph.allNodes.first { $0.kind == .loop })
    #expect(loop.outputs.count == 1)
    #expect(loop.blocks[0].inputs.count == 2)
    let branch = try #require(graph.allNodes.first { $0.kind == .if })
    #expect(branch.outputs.count == 1)
    #expect(graph.outputs[0] === branch.outputs[0])
  }

  @Test func aRaisingBranchYieldsPlaceholders() throws {
    let graph = try emit(
      """
      def f(x: Tensor, flag: bool) -> Tensor:
        if flag:
          y = torch.relu(x)
        else:
          ops.prim.RaiseException("bad", "builtins.ValueError")
        return y
      """)
    let branch = try #require(graph.allNodes.first { $0.kind == .if })
    #expect(branch.outputs.count == 1)
    #expect(branch.blocks[1].nodes.contains { $0.kind == .uninitialized })
  }

  @Test func errorsNameFileLineAndColumn() throws {
    let compiler = ModuleCompiler()
    let source = """
      def f(x: Tensor) -> Tensor:
        return torch.conv2d(x, "nope")
      """
    try compiler.declare(source: source, path: "__torch__/bad.py")
    let error = try #require(throws: SourceError.self) { try compiler.emitBodies() }
    #expect(error.location.file == "code/__torch__/bad.py")
    #expect(error.location.line == 2)
    #expect(error.description.contains("no overload of aten::conv2d"))
  }

  @Test func syntaxErrorsSayWhatWasExpected() throws {
    let error = try #require(throws: SourceError.self) {
      _ = try Parser.parse("def f(x: Tensor) -> Tensor:\n  return (x\n", file: "t.py")
    }
    #expect(error.message.contains("expected"))
    #expect(error.location.line >= 2)
  }

  @Test func unknownOpsPassThroughAndNameThemselves() throws {
    let graph = try emit(
      """
      def f(x: Tensor) -> Tensor:
        return ops.myns.my_op(x)
      """)
    let node = try #require(graph.allNodes.first { $0.kind == "myns::my_op" })
    #expect(node.schema == nil)
    #expect(node.sourceLocation?.line == 2)
  }

  @Test func lexerEmitsIndentsAndDedents() throws {
    let tokens = try Lexer.tokenize("if x:\n  y = 1\nz = 2\n", file: "t.py").map(\.kind)
    #expect(tokens.contains(.indent))
    #expect(tokens.contains(.dedent))
    #expect(tokens.last == .end)
  }

  @Test func floatsAndStringsReadAsTorchPrintsThem() throws {
    let graph = try emit(
      """
      def f() -> Tuple[float, float, float, str]:
        return (2., 1.0000000000000001e-05, inf, "q\\"uo\\te\\\\n\\n")
      """)
    let values = graph.allNodes.filter { $0.kind == .constant }.map(\.constantValue)
    #expect(values.compactMap(\.number).contains(2))
    #expect(values.compactMap(\.number).contains(1.0000000000000001e-05))
    #expect(values.compactMap(\.number).contains(.infinity))
    #expect(values.compactMap(\.string).contains("q\"uo\te\\n\n"))
  }
}
