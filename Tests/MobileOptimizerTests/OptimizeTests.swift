import Foundation
import Testing
import TorchIR
import TorchRuntime
import _TestSupport

@testable import MobileOptimizer

struct OptimizeTests {
  static let optimizable = RuntimeFixtureTests.runnable

  static func ops(_ module: ScriptModule) -> [String: Int] {
    module.rootClass?.method("forward")?.graph.map(ScriptModule.opHistogram) ?? [:]
  }

  @Test(arguments: optimizable)
  func optimizedModelsMatchPyTorchsReferenceAndOpCounts(_ name: String) throws {
    let facts = try Fixtures.facts(name)
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    module.verifyAfterEachPass = true
    let (optimized, report) = try module.optimizedForMobile(MobileOptimizationOptions(preservedMethods: facts.preserve))
    #expect(optimized.root.attribute("mobile_optimized")?.bool == true)
    #expect(optimized.namedParameters().isEmpty)
    #expect(!report.passes.isEmpty)
    let ours = Self.ops(optimized)
    if let theirs = facts.observed["1.13"]?.mobile?.ops {
      for op in ["prepacked::conv2d_clamp_run", "prepacked::linear_clamp_run", "prepacked::conv2d_transpose_clamp_run"] {
        #expect(ours[op, default: 0] >= theirs[op, default: 0], "\(op)")
      }
      let fusedOurs = ours["aten::_add_relu", default: 0] + ours["aten::_add_relu_", default: 0]
      let fusedTheirs = theirs["aten::_add_relu", default: 0] + theirs["aten::_add_relu_", default: 0]
      #expect(fusedOurs >= fusedTheirs)
      for op in ["aten::batch_norm", "aten::dropout", "aten::feature_dropout"] {
        #expect(ours[op, default: 0] <= theirs[op, default: 0], "\(op)")
      }
    }
    for method in facts.observed["1.13"]?.mobile?.methods ?? [] {
      #expect(optimized.rootClass?.method(method) != nil, "\(method)")
    }
    try RuntimeFixtureTests.checkCalls(optimized, fixture: name)
  }

  /// MobileNetV3-Small's squeeze-and-excitation pools take the channel means their depthwise
  /// convolution computed (Note [Pooled side output]) where its channel-blocked kernel runs
  /// (this fixture's 16×16 and 4×4 planes), the others compute them, and the outputs still
  /// match PyTorch's.
  @Test func squeezeAndExcitationPoolsTakeTheConvolutionsMeans() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mobilenet_v3_small"))
    let (optimized, _) = try module.optimizedForMobile()
    let profile = Profile()
    optimized.executionContext.profile = profile
    try RuntimeFixtureTests.checkCalls(optimized, fixture: "mobilenet_v3_small")
    let pools = profile.entries.values.filter { $0.kind == "aten::adaptive_avg_pool2d" && $0.calls > 0 }
    #expect(pools.filter { $0.seconds == 0 }.count >= 4, "pools that took the means: \(pools.map(\.shapes))")
    #expect(pools.contains { $0.seconds > 0 }, "the pools of 2×2 planes and the classifier's compute")
  }

  @Test func batchNormsFoldAheadExactly() throws {
    // Every conv–batch-norm fold of mobilenet_v2 is computed ahead on the background lane, and
    // each equals, bit for bit, what the pass computes itself (Note [Folding ahead]).
    let module = try ScriptModule.load(contentsOf: Fixtures.exampleModel)
    let (_, report) = try module.optimizedForMobile(MobileOptimizationOptions())
    let folding = report.passes.filter { $0.pass == "fold-frozen-conv-bn" }
    let folded = folding.reduce(0) { $0 + $1.counters["folded", default: 0] }
    #expect(folded == 52)
    #expect(folding.reduce(0) { $0 + $1.counters["folded-ahead", default: 0] } == folded)

    let cache = FoldingCache(module: module)
    var compared = 0
    for (_, object) in module.namedModules() {
      let children = module.children(of: object)
      for (conv, bn) in zip(children, children.dropFirst()) where bn.module.typeName.hasSuffix("BatchNorm2d") {
        guard case .tensor(let weight) = conv.module.attribute("weight") ?? .none,
          case .tensor(let mean) = bn.module.attribute("running_mean") ?? .none,
          case .tensor(let variance) = bn.module.attribute("running_var") ?? .none,
          case .tensor(let gamma) = bn.module.attribute("weight") ?? .none,
          case .tensor(let beta) = bn.module.attribute("bias") ?? .none,
          let eps = module.unit.classType(bn.module.typeName)?.constant("eps")?.number
        else { continue }
        let batchNorm = FoldingMath.BatchNorm(runningMean: mean, runningVar: variance, weight: gamma, bias: beta, eps: eps)
        let ahead = try #require(cache.folded(weight: weight, bias: nil, batchNorm: batchNorm))
        let direct = try FoldingMath.convBatchNorm(weight: weight, bias: nil, batchNorm: batchNorm)
        #expect(IValueEquality.tensorsEqual(ahead.0, direct.0) && IValueEquality.tensorsEqual(ahead.1, direct.1))
        compared += 1
      }
    }
    #expect(compared == 52)
    // A different eps is a different fold: not found.
    let (conv, bn) = try #require(module.namedModules().lazy.compactMap { _, object -> (ScriptObject, ScriptObject)? in
      let children = module.children(of: object)
      guard children.count >= 2, children[1].module.typeName.hasSuffix("BatchNorm2d") else { return nil }
      return (children[0].module, children[1].module)
    }.first)
    guard case .tensor(let weight) = conv.attribute("weight") ?? .none,
      case .tensor(let mean) = bn.attribute("running_mean") ?? .none,
      case .tensor(let variance) = bn.attribute("running_var") ?? .none
    else { Issue.record("no batch norm"); return }
    let other = FoldingMath.BatchNorm(
      runningMean: mean, runningVar: variance, weight: nil, bias: nil, eps: 2e-5)
    #expect(cache.folded(weight: weight, bias: nil, batchNorm: other) == nil)
  }

  @Test func theInputModuleIsNotChanged() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("conv_bn_relu"))
    let before = try module.serialized()
    _ = try module.optimizedForMobile()
    #expect(try module.serialized() == before)
  }

  @Test func bundledInputMethodsArePreserved() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("bundled_inputs"))
    let (optimized, _) = try module.optimizedForMobile()
    for method in ["get_all_bundled_inputs", "get_num_bundled_inputs", "get_bundled_inputs_functions_and_info",
      "get_all_bundled_inputs_for_forward"]
    {
      #expect(optimized.rootClass?.method(method) != nil, "\(method)")
    }
    #expect(optimized.root.attribute("_bundled_inputs_deflated_forward") != nil)
    // The preserved methods still work: bundled input 1 runs through the optimized forward.
    let input = try optimized.bundledInput(1)
    let expected = try module.run("forward", input)
    let actual = try optimized.run("forward", try optimized.bundledInput(1))
    #expect(maxRelativeError(try #require(actual.tensor).doubles(), try #require(expected.tensor).doubles()) < 1e-4)
  }

  @Test func missingPreservedMethodsAreListed() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mlp"))
    let error = #expect(throws: OptimizeError.self) {
      try module.optimizedForMobile(MobileOptimizationOptions(preservedMethods: ["nope", "fc1", "also_missing"]))
    }
    #expect(error?.description == "The following methods to preserve do not exist in script_module: nope, also_missing")
  }

  @Test func backendsOtherThanCPU() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("mlp"))
    for backend in [MobileBackend.vulkan, .metal] {
      let error = #expect(throws: OptimizeError.self) { try module.optimizedForMobile(MobileOptimizationOptions(backend: backend)) }
      #expect(error?.description.contains("not yet supported") == true)
    }
    #expect(throws: OptimizeError.self) { try MobileBackend(name: "opencl") }
    #expect((try? MobileBackend(name: "CPU")) == .cpu)
    #expect(OptimizeError.unknownBackend.description == "Unknown backend, must be one of 'CPU', 'Vulkan' or 'Metal'")
  }
}

/// Each blocklist entry switches exactly its pass off; the others still run.
struct BlocklistTests {
  func optimize(_ fixture: String, blocking blocked: Set<MobileOptimizerType>) throws -> [String: Int] {
    let module = try ScriptModule.load(contentsOf: Fixtures.model(fixture))
    let (optimized, _) = try module.optimizedForMobile(MobileOptimizationOptions(blocklist: blocked))
    try RuntimeFixtureTests.checkCalls(optimized, fixture: fixture)
    return OptimizeTests.ops(optimized)
  }

  @Test func convBatchNormFusion() throws {
    let on = try optimize("conv_bn_relu", blocking: [])
    let off = try optimize("conv_bn_relu", blocking: [.convBatchNormFusion])
    #expect(on["aten::batch_norm"] == nil)
    #expect(off["aten::batch_norm"] == 2)
    #expect(off["prepacked::conv2d_clamp_run"] == 4)
  }

  @Test func insertFoldPrepackOps() throws {
    let off = try optimize("conv_bn_relu", blocking: [.insertFoldPrepackOps])
    #expect(off["prepacked::conv2d_clamp_run"] == nil)
    #expect(off["aten::conv2d"] == 4)
    #expect(off["aten::batch_norm"] == nil)
  }

  @Test func removeDropout() throws {
    let on = try optimize("dropout_net", blocking: [])
    let off = try optimize("dropout_net", blocking: [.removeDropout])
    #expect(on["aten::dropout", default: 0] + on["aten::feature_dropout", default: 0] == 0)
    #expect(off["aten::dropout", default: 0] + off["aten::feature_dropout", default: 0] > 0)
    #expect(off["prepacked::conv2d_clamp_run"] == 1)
  }

  @Test func fuseAddRelu() throws {
    let on = try optimize("residual", blocking: [])
    let off = try optimize("residual", blocking: [.fuseAddRelu])
    #expect(on["aten::_add_relu", default: 0] + on["aten::_add_relu_", default: 0] == 3)
    #expect(off["aten::_add_relu", default: 0] + off["aten::_add_relu_", default: 0] == 0)
    #expect(off["prepacked::conv2d_clamp_run"] == 2)
  }

  @Test func hoistConvPackedParamsKeepsContextsAsAttributes() throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model("conv_bn_relu"))
    let (optimized, _) = try module.optimizedForMobile(MobileOptimizationOptions(blocklist: [.hoistConvPackedParams]))
    #expect(optimized.root.attribute("prepack_folding_forward._jit_pass_packed_weight_0") != nil)
    try RuntimeFixtureTests.checkCalls(optimized, fixture: "conv_bn_relu")
    let source = try optimized.describeMethods(asGraphs: false)
    #expect(source.contains("getattr(self, \"prepack_folding_forward._jit_pass_packed_weight_0\")"))
  }

  @Test func conv1dToConv2d() throws {
    let on = try optimize("conv1d_bn", blocking: [])
    let off = try optimize("conv1d_bn", blocking: [.conv1dToConv2d])
    #expect(on["prepacked::conv2d_clamp_run"] == 2)
    #expect(off["aten::conv1d"] == 2)
    #expect(off["prepacked::conv2d_clamp_run"] == nil)
  }

  @Test func namesAreCaseInsensitiveAndUnknownOnesAreErrors() {
    #expect(MobileOptimizerType(name: "conv_bn_fusion") == .convBatchNormFusion)
    #expect(MobileOptimizerType(name: "FUSE_ADD_RELU") == .fuseAddRelu)
    #expect(MobileOptimizerType(name: "nope") == nil)
  }
}

struct LintTests {
  @Test(arguments: Fixtures.names)
  func lintsEqualPyTorchs(_ name: String) throws {
    let facts = try Fixtures.facts(name)
    let expected = try #require(facts.observed["2"]?.lints)
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    #expect(module.mobileLints() == expected.map { MobileLint(name: $0.name, message: $0.message) })
  }
}
