import TensorCore
import Testing
import TorchIR
import _TestSupport

@testable import TorchRuntime

/// The fast executors (Note [Fast paths]) against the reference executors of the same ops, on
/// odd sizes, every convolution kind, in-place forms, broadcasts and fallbacks, with one and two
/// threads. A wrong packing, split, clamp or aliasing rule shows up as a mismatch here.
struct FastPathTests {
  /// Deterministic values in [-1, 1).
  static func tensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    let count = shape.reduce(1, *)
    var values: [Float] = []
    values.reserveCapacity(count)
    for _ in 0..<count {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      values.append(Float(state >> 40) / Float(1 << 23) - 1)
    }
    return Tensor(shape: shape, floats: values)
  }

  static func ints(_ values: [Int]) -> IValue {
    .list(ListValue(values.map { .int($0) }, elementType: .int))
  }

  /// Copies tensors so in-place ops on one run cannot leak into the other.
  static func copies(_ arguments: [IValue]) -> [IValue] {
    arguments.map { value in
      if case .tensor(let tensor) = value { return .tensor(Tensor(shape: tensor.shape, floats: tensor.floats())) }
      return value
    }
  }

  /// Runs `op` through the reference table and the standard (fast) table with 1 and 2 threads.
  static func check(_ op: String, _ arguments: [IValue], tolerance: Double = 2e-6, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    let expected = try OperatorTable.reference.executor(for: op)!(copies(arguments))
    guard case .contextual(let fast)? = OperatorTable.standard.kernel(for: op) else {
      Issue.record("\(op) has no fast executor", sourceLocation: sourceLocation)
      return
    }
    for threads in [1, 2] {
      let context = ExecutionContext(threads: threads)
      // Twice: the second run reads weights from the cache.
      for _ in 0..<2 {
        let actual = try fast(context, copies(arguments))
        guard case .tensor(let a) = actual[0], case .tensor(let e) = expected[0] else {
          Issue.record("\(op) did not return a tensor", sourceLocation: sourceLocation)
          return
        }
        #expect(a.shape == e.shape, "\(op) shape", sourceLocation: sourceLocation)
        guard a.shape == e.shape else { return }
        let error = maxRelativeError(a.floats().map(Double.init), e.floats().map(Double.init))
        #expect(error <= tolerance, "\(op) with \(threads) threads: relative error \(error)", sourceLocation: sourceLocation)
      }
    }
  }

  static func conv(_ input: [Int], _ weight: [Int], bias: Bool, stride: [Int], padding: [Int], dilation: [Int] = [1, 1], groups: Int = 1)
    throws
  {
    let x = tensor(input, seed: 1)
    let w = tensor(weight, seed: 2)
    let b: IValue = bias ? .tensor(tensor([weight[0]], seed: 3)) : .none
    try check(
      "aten::conv2d", [.tensor(x), .tensor(w), b, ints(stride), ints(padding), ints(dilation), .int(groups)], tolerance: 1e-5)
  }

  @Test func convolutionsOfEveryKind() throws {
    try Self.conv([1, 16, 9, 11], [24, 16, 1, 1], bias: true, stride: [1, 1], padding: [0, 0])  // pointwise
    try Self.conv([2, 8, 13, 17], [12, 8, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])  // batch 2, im2col
    try Self.conv([1, 8, 13, 17], [12, 4, 3, 3], bias: false, stride: [2, 2], padding: [1, 1], groups: 2)
    try Self.conv([1, 3, 32, 30], [8, 3, 7, 7], bias: true, stride: [2, 2], padding: [3, 3])  // a ResNet stem
    try Self.conv([1, 6, 20, 20], [6, 6, 3, 3], bias: true, stride: [1, 1], padding: [2, 2], dilation: [2, 2])
    try Self.conv([1, 16, 15, 15], [16, 1, 3, 3], bias: true, stride: [1, 1], padding: [1, 1], groups: 16)  // depthwise
    try Self.conv([2, 16, 15, 14], [16, 1, 3, 3], bias: false, stride: [2, 2], padding: [1, 1], groups: 16)
    try Self.conv([1, 10, 17, 19], [10, 1, 5, 5], bias: true, stride: [2, 2], padding: [2, 2], groups: 10)
    try Self.conv([1, 40, 64, 64], [64, 40, 1, 1], bias: true, stride: [1, 1], padding: [0, 0])  // splits pixels
    try Self.conv([1, 64, 3, 3], [96, 64, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])  // splits channels
    // Wide outputs run on phase planes (Note [Phase-plane GEMM]): a batch, and a stem.
    try Self.conv([2, 8, 13, 40], [12, 8, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])
    try Self.conv([1, 3, 64, 64], [10, 3, 3, 3], bias: false, stride: [2, 2], padding: [1, 1])
    // 3×3 stride 1 with 8+ input and 16+ output channels run by Winograd F(2×2, 3×3), the
    // channel-blocked kernel for whole blocks of at most 128 input channels (Note
    // [Channel-blocked Winograd]; at two threads these small planes are one chunk whose steps the
    // threads share): a batch on odd sizes, no padding without a bias, padding 2; and the NCHW
    // kernel for channels not in blocks of eight or deeper inputs.
    try Self.conv([1, 12, 16, 16], [20, 12, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])
    try Self.conv([2, 72, 15, 15], [16, 72, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])
    try Self.conv([1, 128, 10, 12], [24, 128, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])
    try Self.conv([1, 136, 9, 9], [16, 136, 3, 3], bias: false, stride: [1, 1], padding: [1, 1])
    try Self.conv([2, 16, 13, 17], [24, 16, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])
    try Self.conv([1, 32, 30, 9], [48, 32, 3, 3], bias: false, stride: [1, 1], padding: [0, 0])
    try Self.conv([1, 8, 7, 6], [16, 8, 3, 3], bias: true, stride: [1, 1], padding: [2, 2])
    // Eight chunks of tile rows (Cin + Cout = 64 on 30 tile columns: two tile rows per chunk).
    try Self.conv([1, 24, 30, 60], [40, 24, 3, 3], bias: true, stride: [1, 1], padding: [1, 1])
    // Deep projections on the transposed-tile GEMM (Note [Transposed tiles]), split by pixels:
    // two panels of 24 channels (a batch, the last panel partial), four, and four panels of 16.
    try Self.conv([2, 256, 11, 12], [40, 256, 1, 1], bias: true, stride: [1, 1], padding: [0, 0])
    try Self.conv([1, 320, 10, 10], [96, 320, 1, 1], bias: false, stride: [1, 1], padding: [0, 0])
    try Self.conv([1, 256, 13, 13], [64, 256, 1, 1], bias: true, stride: [1, 1], padding: [0, 0])
  }

  @Test func prepackedRunsClampAndReadTheirContext() throws {
    let weight = Self.tensor([12, 8, 3, 3], seed: 4)
    let bias = Self.tensor([12], seed: 5)
    let state: [IValue] = [
      .tensor(weight), .tensor(bias), Self.ints([1, 1]), Self.ints([1, 1]), Self.ints([1, 1]), .int(1), .double(0),
      .double(0.5),
    ]
    let context = ConvolutionExecutors.context("Conv2dOpContext", state)
    try Self.check("prepacked::conv2d_clamp_run", [.tensor(Self.tensor([1, 8, 10, 9], seed: 6)), .object(context)], tolerance: 1e-5)

    let linear = ConvolutionExecutors.context(
      "LinearOpContext", [.tensor(Self.tensor([37, 64], seed: 7)), .tensor(Self.tensor([37], seed: 8)), .double(-0.25), .none])
    try Self.check("prepacked::linear_clamp_run", [.tensor(Self.tensor([1, 64], seed: 9)), .object(linear)], tolerance: 1e-5)
    try Self.check("prepacked::linear_clamp_run", [.tensor(Self.tensor([5, 64], seed: 10)), .object(linear)], tolerance: 1e-5)
  }

  /// A prepacked convolution keeps its prepared shape and weights per context object (Note
  /// [Prepared convolutions]): inputs of another shape, a non-contiguous view and an unbatched
  /// input on the same object, in turns, each match the reference.
  @Test func preparedConvolutionFollowsTheInput() throws {
    let state: [IValue] = [
      .tensor(Self.tensor([12, 8, 3, 3], seed: 21)), .tensor(Self.tensor([12], seed: 22)), Self.ints([1, 1]),
      Self.ints([1, 1]), Self.ints([1, 1]), .int(1), .none, .double(0.75),
    ]
    let object = ConvolutionExecutors.context("Conv2dOpContext", state)
    guard case .contextual(let fast)? = OperatorTable.standard.kernel(for: "prepacked::conv2d_clamp_run") else {
      Issue.record("prepacked::conv2d_clamp_run has no fast executor")
      return
    }
    let reference = try #require(OperatorTable.reference.executor(for: "prepacked::conv2d_clamp_run"))
    let inputs = [
      Self.tensor([1, 8, 10, 9], seed: 24), Self.tensor([2, 8, 5, 7], seed: 25),
      try Self.tensor([1, 8, 9, 10], seed: 23).transposed(2, 3), Self.tensor([1, 8, 10, 9], seed: 26),
      Self.tensor([8, 10, 9], seed: 27),
    ]
    let context = ExecutionContext(threads: 1)
    for (index, input) in (inputs + inputs).enumerated() {
      let actual = try fast(context, [.tensor(input), .object(object)])
      let expected = try reference([.tensor(input), .object(object)])
      guard case .tensor(let a) = actual[0], case .tensor(let e) = expected[0] else {
        Issue.record("call \(index) did not return a tensor")
        return
      }
      #expect(a.shape == e.shape && a.dtype == e.dtype, "call \(index): \(a.shape) \(a.dtype)")
      guard a.shape == e.shape else { continue }
      let error = maxRelativeError(a.doubles(), e.doubles())
      #expect(error <= 1e-5, "call \(index): relative error \(error)")
    }
  }

  @Test func transposedConvolution() throws {
    let x = Self.tensor([1, 8, 7, 6], seed: 11)
    let w = Self.tensor([8, 3, 3, 3], seed: 12)
    try Self.check(
      "aten::conv_transpose2d.input",
      [.tensor(x), .tensor(w), .tensor(Self.tensor([6], seed: 13)), Self.ints([2, 2]), Self.ints([1, 1]), Self.ints([1, 1]), .int(2),
       Self.ints([1, 1])], tolerance: 1e-5)
  }

  @Test func linearWithoutBiasAndWithRows() throws {
    try Self.check("aten::linear", [.tensor(Self.tensor([3, 4, 50], seed: 14)), .tensor(Self.tensor([19, 50], seed: 15)), .none], tolerance: 1e-5)
    try Self.check("aten::linear", [.tensor(Self.tensor([1, 1280], seed: 16)), .tensor(Self.tensor([100, 1280], seed: 17)), .none], tolerance: 1e-5)
  }

  @Test func weightsAreCachedPerStorage() throws {
    // Two weights of one shape in one context: the second must not reuse the first's packing.
    let context = ExecutionContext(threads: 1)
    let x = Self.tensor([1, 4, 6, 6], seed: 18)
    for seed in [19, 20] as [UInt64] {
      let w = Self.tensor([5, 4, 3, 3], seed: seed)
      let arguments: [IValue] = [.tensor(x), .tensor(w), .none, Self.ints([1, 1]), Self.ints([1, 1]), Self.ints([1, 1]), .int(1)]
      let fast = try FastExecutors.conv2d(
        context, x, w, nil, stride: [1, 1], padding: .explicit([1, 1]), dilation: [1, 1], groups: 1, clamp: .none)
      guard case .tensor(let expected)? = try OperatorTable.reference.executor(for: "aten::conv2d")!(arguments).first else {
        Issue.record("no reference result")
        return
      }
      #expect(maxRelativeError(fast.floats().map(Double.init), expected.floats().map(Double.init)) <= 1e-5)
    }
  }

  @Test func activationsInAndOutOfPlace() throws {
    for count in [1037, 70_001] {
      let x = Self.tensor([count], seed: 21)
      for op in ["relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu"] {
        try Self.check("aten::\(op)", [.tensor(x)])
        try Self.check("aten::\(op)_", [.tensor(x)])
      }
      try Self.check("aten::hardtanh_", [.tensor(x), .double(-0.5), .double(0.25)])
    }
  }

  @Test func arithmeticSameShapeBroadcastAndFallbacks() throws {
    let a = Self.tensor([2, 5, 7, 9], seed: 22)
    let b = Self.tensor([2, 5, 7, 9], seed: 23)
    let s = Self.tensor([2, 5, 1, 1], seed: 24)
    for op in ["add", "sub", "_add_relu"] {
      try Self.check("aten::\(op).Tensor", [.tensor(a), .tensor(b), .double(0.5)])
      try Self.check("aten::\(op)_.Tensor", [.tensor(a), .tensor(b), .int(1)])
      try Self.check("aten::\(op).Tensor", [.tensor(a), .tensor(s), .int(1)])
    }
    for op in ["mul", "div"] {
      try Self.check("aten::\(op).Tensor", [.tensor(a), .tensor(b)])
      try Self.check("aten::\(op)_.Tensor", [.tensor(a), .tensor(s)])
      try Self.check("aten::\(op).Tensor", [.tensor(a), .tensor(s)])
    }
    // s · x (torchvision's `scale * input`) takes the channel broadcast too; the operations that
    // do not commute must not swap their operands.
    try Self.check("aten::mul.Tensor", [.tensor(s), .tensor(a)])
    try Self.check("aten::div.Tensor", [.tensor(s), .tensor(a)])
    try Self.check("aten::sub.Tensor", [.tensor(s), .tensor(a), .double(0.5)])
    // Broadcasts the fast path does not take: row vectors, a [1, C, 1, 1] against batch 2, a
    // transposed (non-contiguous) operand.
    try Self.check("aten::add.Tensor", [.tensor(a), .tensor(Self.tensor([9], seed: 25)), .int(1)])
    try Self.check("aten::mul.Tensor", [.tensor(a), .tensor(Self.tensor([1, 5, 1, 1], seed: 26))])
    let transposed = try Self.tensor([9, 7], seed: 27).transposed(0, 1)
    try Self.check("aten::add.Tensor", [.tensor(Self.tensor([7, 9], seed: 28)), .tensor(transposed), .int(1)])
  }

  /// A channel shuffle's transposed view, a permutation with no contiguous trailing run, a
  /// strided slice, and an already contiguous tensor, with one and two threads: the values of
  /// the view read element by element through its strides, not through `Tensor.copy`, which
  /// shares `copyRuns` with the fast path. (`check` would copy the views first.)
  @Test func contiguousCopies() throws {
    guard case .contextual(let fast)? = OperatorTable.standard.kernel(for: "aten::contiguous") else {
      Issue.record("aten::contiguous has no fast executor")
      return
    }
    let views = [
      try Self.tensor([1, 2, 58, 28, 28], seed: 51).transposed(1, 2),
      try Self.tensor([3, 5, 7, 40], seed: 52).permuted([3, 0, 2, 1]),
      try Self.tensor([4, 9, 300], seed: 53).slice(dim: 2, start: 1, end: nil, step: 3),
      Self.tensor([5, 6], seed: 54),
    ]
    for view in views {
      for threads in [1, 2] {
        let result = try fast(ExecutionContext(threads: threads), [.tensor(view), .int(0)])
        guard case .tensor(let copy)? = result.first else {
          Issue.record("aten::contiguous did not return a tensor")
          return
        }
        #expect(copy.isContiguous && copy.shape == view.shape)
        #expect(copy.floats() == view.floats(), "\(view.shape) with \(threads) threads")
      }
    }
  }

  /// Concatenation along every dim, of two and three inputs of different sizes, split across
  /// threads; views and mixed
  /// dtypes fall back to the reference (the results must not change).
  @Test func concatenation() throws {
    let list = { (tensors: [Tensor]) -> IValue in .list(ListValue(tensors.map { .tensor($0) }, elementType: .tensor)) }
    try Self.check("aten::cat", [list([Self.tensor([1, 3, 5, 4], seed: 40), Self.tensor([1, 7, 5, 4], seed: 41)]), .int(1)], tolerance: 0)
    try Self.check(
      "aten::cat",
      [list([Self.tensor([2, 3, 5], seed: 42), Self.tensor([2, 3, 1], seed: 43), Self.tensor([2, 3, 6], seed: 44)]), .int(-1)],
      tolerance: 0)
    try Self.check("aten::cat", [list([Self.tensor([2, 3], seed: 45), Self.tensor([4, 3], seed: 46)]), .int(0)], tolerance: 0)
    // Large enough that two threads split the output in blocks that cross inputs and rows.
    try Self.check(
      "aten::cat", [list([Self.tensor([2, 37, 30, 31], seed: 50), Self.tensor([2, 5, 30, 31], seed: 51)]), .int(1)],
      tolerance: 0)
    try Self.check(
      "aten::cat",
      [list([Self.tensor([3, 1500, 7], seed: 52), Self.tensor([3, 1500, 1], seed: 53), Self.tensor([3, 1500, 5], seed: 54)]), .int(2)],
      tolerance: 0)
    let transposed = try Self.tensor([5, 2], seed: 47).transposed(0, 1)
    try Self.check("aten::cat", [list([Self.tensor([2, 5], seed: 48), transposed]), .int(0)], tolerance: 0)
    let ints = Tensor(shape: [2, 5], dtype: .int64, doubles: Array(repeating: 3, count: 10))
    try Self.check("aten::cat", [list([Self.tensor([2, 5], seed: 49), ints]), .int(1)], tolerance: 0)
  }

  @Test func pooling() throws {
    let x = Self.tensor([2, 3, 17, 16], seed: 29)
    for (padding, ceil) in [([1, 1], false), ([0, 0], true), ([0, 0], false)] {
      try Self.check("aten::max_pool2d", [.tensor(x), Self.ints([3, 3]), Self.ints([2, 2]), Self.ints(padding), Self.ints([1, 1]), .bool(ceil)])
    }
    try Self.check("aten::max_pool2d", [.tensor(x), Self.ints([2, 2]), Self.ints([]), Self.ints([0, 0]), Self.ints([1, 1]), .bool(false)])
    try Self.check("aten::adaptive_avg_pool2d", [.tensor(x), Self.ints([1, 1])], tolerance: 1e-6)
    try Self.check("aten::adaptive_avg_pool2d", [.tensor(x), Self.ints([2, 3])])
    try Self.check("aten::mean.dim", [.tensor(x), Self.ints([2, 3]), .bool(true), .none], tolerance: 1e-6)
    try Self.check("aten::mean.dim", [.tensor(x), Self.ints([-1, -2]), .bool(false), .none], tolerance: 1e-6)
    try Self.check("aten::mean.dim", [.tensor(x), Self.ints([1]), .bool(false), .none])
    // A squeeze-and-excitation block's passes, large enough to split across threads (Note [Plane
    // passes]): the average of each channel, then each channel scaled.
    let block = Self.tensor([1, 48, 14, 14], seed: 30)
    try Self.check("aten::adaptive_avg_pool2d", [.tensor(block), Self.ints([1, 1])], tolerance: 1e-6)
    try Self.check("aten::mul.Tensor", [.tensor(block), .tensor(Self.tensor([1, 48, 1, 1], seed: 31))])
  }
}

/// Note [Epilogue fusion]: a convolution followed by an activation on its only result runs as
/// one instruction with the reference numbers; a result with other uses is not fused.
struct EpilogueFusionTests {
  static func graph(activation: String, alsoReturnConv: Bool) -> String {
    """
    graph(%x : Tensor, %w : Tensor, %b : Tensor):
      %one : int = prim::Constant[value=1]()
      %s : int[] = prim::ListConstruct(%one, %one)
      %y : Tensor = aten::conv2d(%x, %w, %b, %s, %s, %s, %one)
      %z : Tensor = \(activation)(%y)
      \(alsoReturnConv ? "%t : (Tensor, Tensor) = prim::TupleConstruct(%z, %y)\n  return (%t)" : "return (%z)")
    """
  }

  /// An interpreter over a unit holding one function `__torch__.<name>`: the IR `text`, whose
  /// inputs are the tensors `arguments`.
  static func function(
    _ text: String, name: String, arguments: [String], operators: OperatorTable, context: ExecutionContext
  ) throws -> (Interpreter, Function) {
    let graph = try IRParser.parse(text)
    let unit = CompilationUnit()
    let function = Function(
      qualifiedName: "__torch__.\(name)", arguments: arguments.map { FunctionArgument(name: $0, type: .tensor) },
      returnType: graph.outputs[0].type)
    function.graph = graph
    unit.addFunction(function)
    return (Interpreter(unit: unit, operators: operators, context: context), function)
  }

  static func run(
    _ text: String, operators: OperatorTable, threads: Int, profile: Profile? = nil,
    channels: (input: Int, output: Int) = (6, 10)
  ) throws -> [IValue] {
    let context = ExecutionContext(threads: threads)
    context.profile = profile
    let (interpreter, function) = try Self.function(
      text, name: "fused", arguments: ["x", "w", "b"], operators: operators, context: context)
    let arguments: [IValue] = [
      .tensor(FastPathTests.tensor([1, channels.input, 23, 40], seed: 31)),
      .tensor(FastPathTests.tensor([channels.output, channels.input, 3, 3], seed: 32)),
      .tensor(FastPathTests.tensor([channels.output], seed: 33)),
    ]
    let result = try interpreter.call(function, arguments: arguments)
    return result.elements ?? [result]
  }

  /// Within rounding of the reference: 1e-4 of max(1, |reference|), since the 3×3 layers on
  /// planes of 14×14 and more take Winograd F(4×4, 3×3), which rounds to a few 1e-5 on these
  /// unscaled random values (Note [Winograd F(4×4, 3×3)]); a wrong term is off by 0.1 or more.
  static func close(_ a: IValue, _ b: IValue) throws -> Bool {
    zip(try a.tensor!.doubles(), try b.tensor!.doubles()).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }
  }

  /// The fused pair gives exactly the unfused fast kernels' result (the same graph with the
  /// convolution also returned is not fused), and the reference's within rounding.
  @Test(arguments: ["aten::hardswish_", "aten::hardswish", "aten::hardsigmoid", "aten::sigmoid_", "aten::silu"])
  func fusedMatchesUnfused(activation: String) throws {
    for threads in [1, 2] {
      let profile = Profile()
      let fused = try Self.run(
        Self.graph(activation: activation, alsoReturnConv: false), operators: .standard, threads: threads,
        profile: profile)
      #expect(profile.byKind().map(\.kind) == ["aten::conv2d"], "the activation ran as its own instruction")
      let unfusedProfile = Profile()
      let unfused = try Self.run(
        Self.graph(activation: activation, alsoReturnConv: true), operators: .standard, threads: threads,
        profile: unfusedProfile)
      #expect(unfusedProfile.byKind().count == 2, "conv2d and the activation: nothing fused")
      #expect(try fused[0].tensor!.doubles() == unfused[0].tensor!.doubles())
      let reference = try Self.run(
        Self.graph(activation: activation, alsoReturnConv: false), operators: .reference, threads: 1)
      #expect(try Self.close(fused[0], reference[0]))
    }
  }

  /// The Winograd path (16 output channels) activates each thread's output channels after its
  /// output transform.
  @Test func fusedAfterWinograd() throws {
    let text = Self.graph(activation: "aten::hardswish_", alsoReturnConv: false)
    let reference = try Self.run(text, operators: .reference, threads: 1, channels: (8, 16))
    for threads in [1, 2] {
      let profile = Profile()
      let fused = try Self.run(text, operators: .standard, threads: threads, profile: profile, channels: (8, 16))
      #expect(profile.byKind().map(\.kind) == ["aten::conv2d"], "the activation ran as its own instruction")
      #expect(try Self.close(fused[0], reference[0]))
    }
  }
}

/// Note [Concatenation in place]: convolutions whose only use is one list joined by `cat` write
/// into the concatenation's buffer from the second run on, and the cat returns a view of it;
/// anything else still copies.
struct ConcatenationInPlaceTests {
  /// `cat([conv(x, w1), conv(x, w2)], dim)`, and with `alsoReturn` the first convolution's
  /// output returned too (another use: no group).
  static func graph(dim: Int, alsoReturn: Bool) -> String {
    """
    graph(%x : Tensor, %w1 : Tensor, %w2 : Tensor):
      %one : int = prim::Constant[value=1]()
      %dim : int = prim::Constant[value=\(dim)]()
      %none : NoneType = prim::Constant()
      %s : int[] = prim::ListConstruct(%one, %one)
      %a : Tensor = aten::conv2d(%x, %w1, %none, %s, %s, %s, %one)
      %b : Tensor = aten::conv2d(%x, %w2, %none, %s, %s, %s, %one)
      %l : Tensor[] = prim::ListConstruct(%a, %b)
      %y : Tensor = aten::cat(%l, %dim)
      \(alsoReturn ? "%t : (Tensor, Tensor) = prim::TupleConstruct(%y, %a)\n  return (%t)" : "return (%y)")
    """
  }

  /// Runs the graph `runs` times on one interpreter (the last run profiled); every run's
  /// results, and the cat's time in the last run.
  static func run(
    _ text: String, operators: OperatorTable, threads: Int, runs: Int, secondChannels: Int = 4
  ) throws -> (results: [[IValue]], catSeconds: Double) {
    let context = ExecutionContext(threads: threads)
    let (interpreter, function) = try EpilogueFusionTests.function(
      text, name: "joined", arguments: ["x", "w1", "w2"], operators: operators, context: context)
    let arguments: [IValue] = [
      .tensor(FastPathTests.tensor([1, 5, 9, 11], seed: 41)), .tensor(FastPathTests.tensor([7, 5, 3, 3], seed: 42)),
      .tensor(FastPathTests.tensor([secondChannels, 5, 3, 3], seed: 43)),
    ]
    var results: [[IValue]] = []
    let profile = Profile()
    for run in 0..<runs {
      if run == runs - 1 { context.profile = profile }
      let result = try interpreter.call(function, arguments: arguments)
      results.append(result.elements ?? [result])
    }
    let cat = profile.byKind().first { $0.kind == "aten::cat" }
    return (results, cat?.seconds ?? .nan)
  }

  @Test func convolutionsWriteIntoTheConcatenation() throws {
    let text = Self.graph(dim: 1, alsoReturn: false)
    let reference = try Self.run(text, operators: .reference, threads: 1, runs: 1).results[0][0]
    for threads in [1, 2] {
      let (results, catSeconds) = try Self.run(text, operators: .standard, threads: threads, runs: 4)
      // The first run learns the size and copies; later ones return a view of the buffer the
      // convolutions wrote (the cat takes no time). Each run's result keeps its values while
      // later runs go on: their buffers are new.
      #expect(catSeconds == 0, "the cat copied")
      let values = try results.map { try $0[0].tensor!.doubles() }
      #expect(results[3][0].tensor!.shape == [1, 11, 9, 11])
      #expect(values.allSatisfy { $0 == values[0] })
      #expect(try EpilogueFusionTests.close(results[3][0], reference))
      #expect(results[2][0].tensor!.storage !== results[3][0].tensor!.storage)
    }
  }

  @Test func otherUsesOrDimensionsStillCopy() throws {
    // The first convolution's output is also returned: the cat must not alias it.
    let shared = Self.graph(dim: 1, alsoReturn: true)
    let (results, catSeconds) = try Self.run(shared, operators: .standard, threads: 1, runs: 3)
    #expect(catSeconds > 0)
    #expect(results[2][0].tensor!.storage !== results[2][1].tensor!.storage)
    let reference = try Self.run(shared, operators: .reference, threads: 1, runs: 1).results[0]
    #expect(try EpilogueFusionTests.close(results[2][0], reference[0]))
    // Along the height the outputs are not back to back in the concatenation: a copy.
    let height = Self.graph(dim: 2, alsoReturn: false)
    let (heightResults, heightSeconds) = try Self.run(height, operators: .standard, threads: 1, runs: 3, secondChannels: 7)
    #expect(heightSeconds > 0)
    #expect(heightResults[2][0].tensor!.shape == [1, 7, 18, 11])
    let heightReference = try Self.run(height, operators: .reference, threads: 1, runs: 1, secondChannels: 7).results[0]
    #expect(try EpilogueFusionTests.close(heightResults[2][0], heightReference[0]))
  }
}

/// Note [Residual fusion]: a convolution whose only result is added to another tensor (add,
/// add_ and _add_relu, the convolution first or, with alpha 1, second) runs as one instruction
/// with the unfused numbers; `x + alpha·conv` with another alpha or a broadcast operand runs the
/// op as written.
struct ResidualFusionTests {
  /// `op(conv(x), r)` (or `op(r, conv(x))` when `convFirst` is false), alpha's constant between
  /// the two as torch.jit places it, and with `alsoReturnConv` the convolution's output returned
  /// too (another use: not fused).
  static func graph(
    op: String, convFirst: Bool, alpha: String, kernel: Int, groups: Int, alsoReturnConv: Bool
  ) -> String {
    let operands = convFirst ? "%y, %r" : "%r, %y"
    return """
      graph(%x : Tensor, %w : Tensor, %b : Tensor, %r : Tensor):
        %one : int = prim::Constant[value=1]()
        %groups : int = prim::Constant[value=\(groups)]()
        %pad : int = prim::Constant[value=\(kernel / 2)]()
        %s : int[] = prim::ListConstruct(%one, %one)
        %p : int[] = prim::ListConstruct(%pad, %pad)
        %y : Tensor = aten::conv2d(%x, %w, %b, %s, %p, %s, %groups)
        %alpha : \(alpha.contains(".") ? "float" : "int") = prim::Constant[value=\(alpha)]()
        %z : Tensor = \(op)(\(operands), %alpha)
        \(alsoReturnConv ? "%t : (Tensor, Tensor) = prim::TupleConstruct(%z, %y)\n  return (%t)" : "return (%z)")
      """
  }

  static func run(
    _ text: String, operators: OperatorTable, threads: Int, kernel: Int, groups: Int, residual: [Int]? = nil,
    profile: Profile? = nil
  ) throws -> [IValue] {
    let context = ExecutionContext(threads: threads)
    context.profile = profile
    let (interpreter, function) = try EpilogueFusionTests.function(
      text, name: "residual", arguments: ["x", "w", "b", "r"], operators: operators, context: context)
    let channels = 16
    let arguments: [IValue] = [
      .tensor(FastPathTests.tensor([1, channels, 23, 40], seed: 41)),
      .tensor(FastPathTests.tensor([channels, channels / groups, kernel, kernel], seed: 42)),
      .tensor(FastPathTests.tensor([channels], seed: 43)),
      .tensor(FastPathTests.tensor(residual ?? [1, channels, 23, 40], seed: 44)),
    ]
    let result = try interpreter.call(function, arguments: arguments)
    return result.elements ?? [result]
  }

  /// Fused: one instruction, exactly the unfused fast kernels' result and the reference's within
  /// rounding, for a 1×1 convolution (the GEMM), a 3×3 one and a depthwise one, at 1 and 2
  /// threads.
  @Test(arguments: [
    ("aten::add", true), ("aten::add", false), ("aten::add_", true), ("aten::_add_relu", true),
    ("aten::_add_relu", false),
  ])
  func fusedMatchesUnfused(op: String, convFirst: Bool) throws {
    for (kernel, groups) in [(1, 1), (3, 1), (3, 16)] {
      for threads in [1, 2] {
        let text = Self.graph(
          op: op, convFirst: convFirst, alpha: "1", kernel: kernel, groups: groups, alsoReturnConv: false)
        let profile = Profile()
        let fused = try Self.run(text, operators: .standard, threads: threads, kernel: kernel, groups: groups, profile: profile)
        #expect(profile.byKind().map(\.kind) == ["aten::conv2d"], "\(op) ran as its own instruction")
        let unfusedProfile = Profile()
        let unfused = try Self.run(
          Self.graph(op: op, convFirst: convFirst, alpha: "1", kernel: kernel, groups: groups, alsoReturnConv: true),
          operators: .standard, threads: threads, kernel: kernel, groups: groups, profile: unfusedProfile)
        #expect(unfusedProfile.byKind().count == 2, "conv2d and \(op): nothing fused")
        #expect(try fused[0].tensor!.doubles() == unfused[0].tensor!.doubles(), "\(op) k\(kernel) g\(groups) t\(threads)")
        let reference = try Self.run(text, operators: .reference, threads: 1, kernel: kernel, groups: groups)
        #expect(try EpilogueFusionTests.close(fused[0], reference[0]))
      }
    }
  }

  /// A residual fused into a projection on the transposed-tile GEMM (Note [Transposed tiles]),
  /// for a batch of two: each image's sum added once, at 1 and 2 threads.
  @Test func fusedIntoTransposedTiles() throws {
    let text = Self.graph(op: "aten::add", convFirst: true, alpha: "1", kernel: 1, groups: 1, alsoReturnConv: false)
    let arguments: [IValue] = [
      .tensor(FastPathTests.tensor([2, 256, 10, 11], seed: 51)),
      .tensor(FastPathTests.tensor([40, 256, 1, 1], seed: 52)),
      .tensor(FastPathTests.tensor([40], seed: 53)),
      .tensor(FastPathTests.tensor([2, 40, 10, 11], seed: 54)),
    ]
    func run(_ operators: OperatorTable, threads: Int, profile: Profile? = nil) throws -> IValue {
      let context = ExecutionContext(threads: threads)
      context.profile = profile
      let (interpreter, function) = try EpilogueFusionTests.function(
        text, name: "residual", arguments: ["x", "w", "b", "r"], operators: operators, context: context)
      return try interpreter.call(function, arguments: arguments)
    }
    let reference = try run(.reference, threads: 1)
    for threads in [1, 2] {
      let profile = Profile()
      let fused = try run(.standard, threads: threads, profile: profile)
      #expect(profile.byKind().map(\.kind) == ["aten::conv2d"])
      #expect(try EpilogueFusionTests.close(fused, reference), "\(threads) threads")
    }
  }

  /// A residual that cannot broadcast fails with the op's error, naming the op (the fused
  /// instruction reports as the convolution).
  @Test func mismatchedResidualNamesTheOp() throws {
    let text = Self.graph(op: "aten::add", convFirst: false, alpha: "1", kernel: 1, groups: 1, alsoReturnConv: false)
    #expect {
      _ = try Self.run(text, operators: .standard, threads: 1, kernel: 1, groups: 1, residual: [1, 16, 5, 7])
    } throws: { error in
      "\(error)".contains("aten::add.Tensor on the convolution's result") && "\(error)".contains("size")
    }
  }

  /// Alpha other than 1 and an operand that broadcasts give the op's own result: fused for
  /// `conv + alpha·x`, as written for `x + alpha·conv` and the broadcast.
  @Test(arguments: [(true, false), (false, false), (true, true), (false, true)])
  func otherAlphaAndBroadcastRunTheOp(convFirst: Bool, broadcast: Bool) throws {
    for op in ["aten::add", "aten::_add_relu"] {
      let text = Self.graph(
        op: op, convFirst: convFirst, alpha: broadcast ? "1" : "2.5", kernel: 1, groups: 1, alsoReturnConv: false)
      let residual = broadcast ? [1, 16, 1, 1] : nil
      let profile = Profile()
      let fast = try Self.run(
        text, operators: .standard, threads: 2, kernel: 1, groups: 1, residual: residual, profile: profile)
      let reference = try Self.run(text, operators: .reference, threads: 1, kernel: 1, groups: 1, residual: residual)
      #expect(fast[0].tensor!.shape == [1, 16, 23, 40])
      #expect(try EpilogueFusionTests.close(fast[0], reference[0]), "\(op) convFirst \(convFirst) broadcast \(broadcast)")
      // One instruction either way (the plan fuses by op names; the kernel falls back inside).
      #expect(profile.byKind().map(\.kind) == ["aten::conv2d"])
    }
  }
}
