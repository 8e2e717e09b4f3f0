import Testing
import TorchIR

@testable import MobileOptimizer

struct DeadCodeTests {
  @Test func removesUnusedPureNodesButKeepsMutations() throws {
    let (text, stats) = try runPass(
      eliminateDeadCode,
      """
      graph(%x : Tensor):
        %one : int = prim::Constant[value=1]()
        %dead : Tensor = aten::relu(%x)
        %kept : Tensor = aten::add_(%x, %x, %one)
        %y : Tensor = aten::sigmoid(%x)
        return (%y)
      """)
    expectChecks(text, """
      CHECK-NOT: aten::relu
      CHECK: aten::add_
      CHECK: aten::sigmoid
      """)
    #expect(stats.counters["removed"] == 1)
  }

  @Test func dropsUnusedIfOutputs() throws {
    let (text, _) = try runPass(
      eliminateDeadCode,
      """
      graph(%x : Tensor, %c : bool):
        %a : Tensor, %b : Tensor = prim::If(%c)
          block0():
            %r : Tensor = aten::relu(%x)
            -> (%r, %x)
          block1():
            -> (%x, %x)
        return (%b)
      """)
    expectChecks(text, """
      CHECK: %b : Tensor = prim::If
      CHECK-NOT: aten::relu
      """)
  }
}

struct ConstantPoolingTests {
  @Test func mergesEqualConstantsAndHoistsThem() throws {
    let (text, stats) = try runPass(
      poolConstants,
      """
      graph(%x : Tensor):
        %r : Tensor = aten::relu(%x)
        %a : int = prim::Constant[value=1]()
        %y : Tensor = aten::add(%r, %x, %a)
        %b : int = prim::Constant[value=1]()
        %z : Tensor = aten::add(%y, %x, %b)
        return (%z)
      """)
    expectChecks(text, """
      CHECK: graph(
      CHECK-NEXT: prim::Constant[value=1]
      CHECK-NEXT: aten::relu
      CHECK-NOT: prim::Constant
      CHECK: return
      """)
    #expect(stats.counters["merged"] == 1)
  }

  @Test func doesNotMergeConstantsOfDifferentTypes() throws {
    let (text, _) = try runPass(
      poolConstants,
      """
      graph():
        %a : int = prim::Constant[value=1]()
        %b : bool = prim::Constant[value=1]()
        %t : (int, bool) = prim::TupleConstruct(%a, %b)
        return (%t)
      """)
    expectChecks(text, """
      CHECK-COUNT-2: prim::Constant[value=1]
      """)
  }
}

struct ConstantPropagationTests {
  @Test func foldsScalarArithmeticAndConstantBranches() throws {
    let (text, stats) = try runPass(
      propagateConstants,
      """
      graph(%x : Tensor):
        %two : int = prim::Constant[value=2]()
        %four : int = aten::mul(%two, %two)
        %c : bool = aten::gt(%four, %two)
        %y : Tensor = prim::If(%c)
          block0():
            %r : Tensor = aten::relu(%x)
            -> (%r)
          block1():
            -> (%x)
        %z : Tensor = aten::add(%y, %x, %four)
        return (%z)
      """)
    expectChecks(text, """
      CHECK: prim::Constant[value=4]
      CHECK-NOT: prim::If
      CHECK: aten::relu
      CHECK: aten::add
      """)
    #expect(stats.counters["branches-inlined"] == 1)
  }

  @Test func doesNotFoldListsThatAreAppendedTo() throws {
    let (text, _) = try runPass(
      propagateConstants,
      """
      graph(%x : Tensor):
        %l : Tensor[] = prim::ListConstruct()
        %a : Tensor[] = aten::append(%l, %x)
        return (%l)
      """)
    expectChecks(text, """
      CHECK: prim::ListConstruct()
      CHECK: aten::append
      """)
  }

  @Test func doesNotFoldSideEffectsOrDropout() throws {
    let (text, _) = try runPass(
      propagateConstants,
      """
      graph():
        %msg : str = prim::Constant[value="boom"]()
        %p : float = prim::Constant[value=0.5]()
        %f : bool = prim::Constant[value=0]()
        %n : NoneType = prim::Constant()
         = prim::RaiseException(%msg, %n)
        return (%p)
      """)
    expectChecks(text, "CHECK: prim::RaiseException")
  }

  @Test func removesLoopsThatNeverRun() throws {
    let (text, _) = try runPass(
      propagateConstants,
      """
      graph(%x : Tensor):
        %zero : int = prim::Constant[value=0]()
        %t : bool = prim::Constant[value=1]()
        %y : Tensor = prim::Loop(%zero, %t, %x)
          block0(%i : int, %acc : Tensor):
            %r : Tensor = aten::relu(%acc)
            -> (%t, %r)
        return (%y)
      """)
    expectChecks(text, """
      CHECK-NOT: prim::Loop
      CHECK: return (%x)
      """)
  }
}

struct CommonSubexpressionTests {
  @Test func mergesIdenticalPureNodes() throws {
    let (text, stats) = try runPass(
      eliminateCommonSubexpressions,
      """
      graph(%x : Tensor):
        %a : Tensor = aten::relu(%x)
        %b : Tensor = aten::relu(%x)
        %one : int = prim::Constant[value=1]()
        %c : Tensor = aten::add(%a, %b, %one)
        return (%c)
      """)
    expectChecks(text, """
      CHECK-COUNT-1: aten::relu
      CHECK-NOT: aten::relu
      CHECK: aten::add(%a, %a, %one)
      """)
    #expect(stats.counters["eliminated"] == 1)
  }

  @Test func doesNotMergeAcrossInPlaceWrites() throws {
    let (text, _) = try runPass(
      eliminateCommonSubexpressions,
      """
      graph(%x : Tensor):
        %one : int = prim::Constant[value=1]()
        %a : Tensor = aten::relu(%x)
        %w : Tensor = aten::add_(%x, %x, %one)
        %b : Tensor = aten::relu(%x)
        %c : Tensor = aten::add(%a, %b, %one)
        return (%c)
      """)
    expectChecks(text, "CHECK-COUNT-2: aten::relu")
  }
}

struct PeepholeTests {
  @Test func foldsNoneChecksOnNonOptionalValues() throws {
    let (text, _) = try runPass(
      peephole,
      """
      graph(%x : Tensor):
        %n : NoneType = prim::Constant()
        %b : bool = aten::__isnot__(%x, %n)
        return (%b)
      """)
    expectChecks(text, """
      CHECK: bool = prim::Constant[value=1]
      CHECK-NOT: aten::__isnot__
      """)
  }

  @Test func knowsTheRankOfConvolutionOutputs() throws {
    let (text, _) = try runPass(
      peephole,
      """
      graph(%x : Tensor, %w : Tensor):
        %n : NoneType = prim::Constant()
        %s : int[] = prim::Constant[value=[1, 1]]()
        %z : int[] = prim::Constant[value=[0, 0]]()
        %g : int = prim::Constant[value=1]()
        %y : Tensor = aten::conv2d(%x, %w, %n, %s, %z, %s, %g)
        %d : int = aten::dim(%y)
        return (%d)
      """)
    expectChecks(text, """
      CHECK: int = prim::Constant[value=4]
      CHECK-NOT: aten::dim
      """)
  }

  @Test func readsLengthsAndElementsOfUnwrittenLists() throws {
    let (text, _) = try runPass(
      peephole,
      """
      graph(%a : int, %b : int):
        %l : int[] = prim::ListConstruct(%a, %b)
        %n : int = aten::len(%l)
        %i : int = prim::Constant[value=1]()
        %e : int = aten::__getitem__(%l, %i)
        %t : (int, int) = prim::TupleConstruct(%n, %e)
        return (%t)
      """)
    expectChecks(text, """
      CHECK: prim::Constant[value=2]
      CHECK-NOT: aten::len
      CHECK-NOT: aten::__getitem__
      CHECK: %b)
      """)
  }
}

struct TupleAndLoopTests {
  @Test func lowersTupleConstructUnpack() throws {
    let (text, _) = try runPass(
      lowerSimpleTuples,
      """
      graph(%a : Tensor, %b : int):
        %t : (Tensor, int) = prim::TupleConstruct(%a, %b)
        %x : Tensor, %y : int = prim::TupleUnpack(%t)
        %z : (int, Tensor) = prim::TupleConstruct(%y, %x)
        return (%z)
      """)
    expectChecks(text, """
      CHECK-NOT: prim::TupleUnpack
      CHECK: prim::TupleConstruct(%b, %a)
      """)
  }

  @Test func unrollsConstantTripCountLoops() throws {
    let (text, stats) = try runPass(
      unrollConstantLoops,
      """
      graph(%x : Tensor):
        %three : int = prim::Constant[value=3]()
        %t : bool = prim::Constant[value=1]()
        %y : Tensor = prim::Loop(%three, %t, %x)
          block0(%i : int, %acc : Tensor):
            %r : Tensor = aten::mul(%acc, %i)
            -> (%t, %r)
        return (%y)
      """)
    expectChecks(text, """
      CHECK-NOT: prim::Loop
      CHECK-COUNT-3: aten::mul
      """)
    #expect(stats.counters["unrolled"] == 1)
  }

  @Test func removesDropoutOnlyWhenNotTraining() throws {
    let (text, stats) = try runPass(
      removeDropout,
      """
      graph(%x : Tensor, %train : bool):
        %p : float = prim::Constant[value=0.5]()
        %f : bool = prim::Constant[value=0]()
        %a : Tensor = aten::dropout(%x, %p, %f)
        %b : Tensor = aten::feature_dropout(%a, %p, %train)
        return (%b)
      """)
    expectChecks(text, """
      CHECK-NOT: aten::dropout(
      CHECK: aten::feature_dropout(%x
      """)
    #expect(stats.counters["removed"] == 1)
  }
}
