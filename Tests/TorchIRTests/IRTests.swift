import Testing
import TensorCore

@testable import TorchIR

struct SchemaTests {
  @Test func everyRegisteredSchemaParses() {
    // The registry is built from PyTorch's schema strings; a bad one would trap at first use.
    #expect(OpRegistry.standard.allFullNames.count > 800)
    #expect(OpRegistry.standard.schema(fullName: "aten::add.Tensor") != nil)
    // Parsing is lazy: resolve every overload, by full name and by op name, so that a bad
    // schema string fails here rather than in the middle of a user's job.
    var overloads = 0
    for fullName in OpRegistry.standard.allFullNames {
      let schema = OpRegistry.standard.schema(fullName: fullName)
      #expect(schema?.fullName == fullName)
      if let schema { overloads += OpRegistry.standard.schemas(for: schema.name).contains { $0.fullName == fullName } ? 1 : 0 }
    }
    #expect(overloads == OpRegistry.standard.allFullNames.count)
  }

  @Test func parsesDefaultsKeywordsAndAliases() throws {
    let schema = try SchemaParser.parse(
      "aten::add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)")
    #expect(schema.fullName == "aten::add_.Tensor")
    #expect(schema.arguments.count == 3)
    #expect(schema.arguments[0].isWritten)
    #expect(schema.arguments[2].isKeywordOnly)
    #expect(schema.arguments[2].defaultValue == .int(1))
    #expect(schema.isMutating)
  }

  @Test func fixedSizeListsTakeASingleInt() throws {
    let schema = try SchemaParser.parse(
      "aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, int[2] dilation=1, int groups=1) -> Tensor")
    #expect(schema.arguments[3].fixedSize == 2)
    #expect(schema.arguments[3].defaultValue?.makeValue(for: .list(.int), fixedSize: 2).intList == [1, 1])
  }

  @Test func rejectsMalformedSchemas() {
    #expect(throws: SchemaParseError.self) { try SchemaParser.parse("aten::f(Tensor x -> Tensor") }
  }
}

struct GraphTextTests {
  let text = """
    graph(%x : Tensor,
          %n : int):
      %one : int = prim::Constant[value=1]()
      %y : Tensor = aten::add(%x, %x, %one)
      %c : bool = aten::gt(%n, %one)
      %z : Tensor = prim::If(%c)
        block0():
          %r : Tensor = aten::relu(%y)
          -> (%r)
        block1():
          -> (%y)
      %w : Tensor = prim::Loop(%n, %c, %z)
        block0(%i : int, %acc : Tensor):
          %s : Tensor = aten::mul(%acc, %i)
          -> (%c, %s)
      return (%w)

    """

  @Test func parsesAndPrintsTheSameText() throws {
    let graph = try IRParser.parse(text)
    try graph.verify()
    #expect(GraphPrinter.print(graph) == text)
    let add = try #require(graph.allNodes.first { $0.kind == "aten::add" })
    #expect(add.schema?.fullName == "aten::add.Tensor")
  }

  @Test func reportsUndefinedValuesWithTheirLine() {
    let error = #expect(throws: IRParseError.self) {
      try IRParser.parse("graph(%x : Tensor):\n  %y : Tensor = aten::relu(%q)\n  return (%y)\n")
    }
    #expect(error?.line == 2)
  }

  @Test func verifierCatchesUseBeforeDefinition() throws {
    let graph = try IRParser.parse(text)
    // Move the add after its first user.
    let add = try #require(graph.allNodes.first { $0.kind == "aten::add" })
    let gt = try #require(graph.allNodes.first { $0.kind == "aten::gt" })
    add.move(after: gt)
    add.move(after: try #require(graph.allNodes.first { $0.kind == .if }))
    #expect(throws: IRVerificationError.self) { try graph.verify() }
  }

  @Test func verifierCatchesBlockArity() throws {
    let graph = try IRParser.parse(text)
    let branch = try #require(graph.allNodes.first { $0.kind == .if })
    branch.blocks[0].addOutput(graph.inputs[0])
    #expect(throws: IRVerificationError.self) { try graph.verify() }
  }

  @Test func verifierCatchesSchemaTypeMismatch() throws {
    let graph = try IRParser.parse("graph(%x : Tensor, %s : str):\n  %y : Tensor = aten::relu(%x)\n  return (%y)\n")
    let relu = try #require(graph.allNodes.first)
    relu.replaceInput(0, with: graph.inputs[1])
    #expect(throws: IRVerificationError.self) { try graph.verify() }
  }

  @Test func floatsPrintAsTorchDoes() {
    #expect(FloatFormatting.torchString(2) == "2.")
    #expect(FloatFormatting.torchString(0.1) == "0.10000000000000001")
    #expect(FloatFormatting.torchString(1e-5) == "1.0000000000000001e-05")
    #expect(FloatFormatting.torchString(-.infinity) == "-inf")
    #expect(FloatFormatting.torchString(1e20) == "1e+20")
  }

  @Test func cloningGivesAnIndependentEqualGraph() throws {
    let graph = try IRParser.parse(text)
    let copy = graph.clone()
    try copy.verify()
    #expect(GraphPrinter.print(copy) == GraphPrinter.print(graph))
    copy.allNodes.first { $0.kind == "aten::mul" }?.kind = "aten::div"
    #expect(GraphPrinter.print(copy) != GraphPrinter.print(graph))
  }
}

struct OpNameTests {
  @Test func wellKnownKindsNameTheirOps() {
    // The static members are fixed indices into the intern table; each must name its own op.
    let expected: [(OpName, String)] = [
      (.param, "prim::Param"), (.return, "prim::Return"), (.constant, "prim::Constant"), (.if, "prim::If"),
      (.loop, "prim::Loop"), (.getAttr, "prim::GetAttr"), (.setAttr, "prim::SetAttr"),
      (.callMethod, "prim::CallMethod"), (.callFunction, "prim::CallFunction"),
      (.listConstruct, "prim::ListConstruct"), (.listUnpack, "prim::ListUnpack"),
      (.tupleConstruct, "prim::TupleConstruct"), (.tupleUnpack, "prim::TupleUnpack"),
      (.tupleIndex, "prim::TupleIndex"), (.tupleSlice, "prim::TupleSlice"), (.dictConstruct, "prim::DictConstruct"),
      (.createObject, "prim::CreateObject"), (.uncheckedCast, "prim::unchecked_cast"),
      (.uninitialized, "prim::Uninitialized"), (.raiseException, "prim::RaiseException"),
      (.isInstance, "prim::isinstance"), (.enter, "prim::Enter"), (.exit, "prim::Exit"), (.print, "prim::Print"),
      (.uncheckedUnwrapOptional, "prim::unchecked_unwrap_optional"), (.warn, "aten::warn"), (.is, "aten::__is__"),
      (.isNot, "aten::__isnot__"), (.dim, "aten::dim"), (.len, "aten::len"), (.getItem, "aten::__getitem__"),
      (.add, "aten::add"), (.sub, "aten::sub"), (.mul, "aten::mul"), (.floordiv, "aten::floordiv"),
      (.div, "aten::div"), (.conv1d, "aten::conv1d"), (.conv2d, "aten::conv2d"), (.conv3d, "aten::conv3d"),
      (.batchNorm, "aten::batch_norm"), (.detach, "aten::detach"),
    ]
    #expect(expected.count == OpName.wellKnownNames.count)
    for (kind, name) in expected {
      #expect(kind.rawValue == name)
      #expect(OpName(name) == kind)
      #expect(kind.isPrim == name.hasPrefix("prim::"))
    }
  }

  @Test func internsEveryNameOnce() async {
    // Threads interning the same new names concurrently must agree on every kind.
    let names = (0..<200).map { "test::op\($0)" }
    let results = await withTaskGroup(of: [OpName].self) { group in
      for _ in 0..<4 { group.addTask { names.map { OpName($0) } } }
      var all: [[OpName]] = []
      for await result in group { all.append(result) }
      return all
    }
    for result in results { #expect(result == results[0]) }
    #expect(Set(results[0]).count == names.count)
    #expect(results[0].map(\.rawValue) == names)
    #expect(OpName("test::op1").namespace == "test")
    #expect(OpName("test::op1").unqualifiedName == "op1")
    #expect(!OpName("test::op1").isPrim)
  }
}
