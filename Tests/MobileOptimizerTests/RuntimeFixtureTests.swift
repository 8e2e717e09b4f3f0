import Foundation
import MobileOptimizer
import Testing
import TorchRuntime
import _TestSupport

/// Runs every fixture's recorded calls in our runtime and compares with PyTorch's outputs.
struct RuntimeFixtureTests {
  /// Runs the recorded calls of `name` on `module`, checking each against the reference.
  static func checkCalls(_ module: ScriptModule, fixture name: String, tolerance: Double = 1e-4) throws {
    let facts = try Fixtures.facts(name)
    let folder = Fixtures.folder(name)
    for (index, call) in facts.calls.enumerated() {
      let inputs = try call.inputs.map { try ModelIO.readInput(folder.appendingPathComponent($0)) }
      if let expectedError = call.error {
        let error = #expect(throws: RuntimeError.self, "\(name) call \(index)") { try module.run(call.method, inputs) }
        if case .modelRaised(let message, let exceptionClass, _, _)? = error {
          let kind = (exceptionClass ?? "").replacingOccurrences(of: "builtins.", with: "")
          #expect(expectedError == "builtins.\(kind): \(message)", "\(name) call \(index)")
        } else {
          Issue.record("\(name) call \(index): expected the model's exception, got \(String(describing: error))")
        }
        continue
      }
      let outputs = ModelIO.flatten(try module.run(call.method, inputs))
      #expect(outputs.count == call.outputs.count, "\(name) call \(index)")
      for (position, (value, file)) in zip(outputs, call.outputs).enumerated() {
        let expected = try ModelIO.readInput(folder.appendingPathComponent(file))
        try compare(value, expected, "\(name) call \(index) output \(position)", tolerance: tolerance)
      }
    }
  }

  static func compare(_ actual: IValue, _ expected: IValue, _ label: String, tolerance: Double) throws {
    switch (actual, expected) {
    case (.tensor(let a), .tensor(let e)):
      #expect(a.shape == e.shape, "\(label): shape")
      guard a.shape == e.shape else { return }
      if e.dtype.isFloatingPoint {
        let error = maxRelativeError(a.doubles(), e.doubles())
        #expect(error <= tolerance, "\(label): relative error \(error)")
      } else {
        #expect(a.dtype == e.dtype, "\(label): dtype")
        #expect((0..<a.count).map { a.integerElement($0) } == (0..<e.count).map { e.integerElement($0) }, "\(label): values")
      }
    case (.int(let a), .int(let e)):
      #expect(a == e, "\(label)")
    case (.double(let a), .double(let e)):
      #expect(abs(a - e) <= tolerance * max(1, abs(e)), "\(label)")
    case (.bool(let a), .bool(let e)):
      #expect(a == e, "\(label)")
    default:
      Issue.record("\(label): got \(actual.kindName), expected \(expected.kindName)")
    }
  }

  static let runnable = Fixtures.names.filter { $0 != "quantized_conv" }

  @Test(arguments: runnable)
  func forwardMatchesPyTorch(_ name: String) throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
    try Self.checkCalls(module, fixture: name)
  }

  /// Repeated runs of models whose convolutions feed `cat` (Note [Concatenation in place]: from
  /// the second run the convolutions write into the concatenation's buffer and the cat returns
  /// a view of it), with one and two threads, give PyTorch's outputs every time; and the view
  /// really happens: a model that returns such a cat returns, from the second run on, a tensor
  /// whose storage holds exactly the concatenation.
  @Test(arguments: ["squeezenet1_1", "shufflenet_v2"])
  func repeatedRunsWithConcatenationInPlace(_ name: String) throws {
    for threads in [1, 2] {
      let module = try ScriptModule.load(contentsOf: Fixtures.model(name))
      module.executionContext = ExecutionContext(threads: threads)
      for _ in 0..<3 { try Self.checkCalls(module, fixture: name) }
    }
  }

  /// From the second run on, the prepacked convolutions of optimized models run on
  /// channel-blocked activations where their channels allow (Note [Channel-blocked plans]):
  /// every run, with one and two threads, still gives PyTorch's outputs, the later runs the very
  /// floats of the first (NCHW) one, and where expected the blocked layout is really used (the
  /// profile shows rank-5 activations: MobileNetV2's, MnasNet's and MobileNetV3's chains start at
  /// a stem, V3's with hardswish stored blocked and its SE blocks' `scale * x` blocked too;
  /// SqueezeNet's runs through its pools and the cats of its fire modules; the others' chains
  /// would start after a shuffle or on layers that do not take blocks, so they stay NCHW).
  @Test(arguments: [
    "mobilenet_v2", "mnasnet", "mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v2", "squeezenet1_1",
    "resnet_small", "residual",
  ])
  func channelBlockedRunsMatchPyTorch(_ name: String) throws {
    let (optimized, _) = try ScriptModule.load(contentsOf: Fixtures.model(name)).optimizedForMobile()
    let facts = try Fixtures.facts(name)
    let folder = Fixtures.folder(name)
    let inputs = try facts.calls[0].inputs.map { try ModelIO.readInput(folder.appendingPathComponent($0)) }
    for threads in [1, 2] {
      optimized.executionContext = ExecutionContext(threads: threads)
      let first = ModelIO.flatten(try optimized.run("forward", inputs))
      let profile = Profile()
      optimized.executionContext.profile = profile
      for _ in 0..<2 {
        try Self.checkCalls(optimized, fixture: name)
        let again = ModelIO.flatten(try optimized.run("forward", inputs))
        guard case .tensor(let a)? = again.first, case .tensor(let b)? = first.first else {
          Issue.record("\(name): no tensor output")
          return
        }
        #expect(a.doubles() == b.doubles(), "\(name), \(threads) threads: blocked run differs from the NCHW run")
      }
      optimized.executionContext.profile = nil
      let blocked = profile.entries.values.filter { $0.shapes.contains(", 8]") }
      if ["mobilenet_v3_small", "mobilenet_v3_large"].contains(name) {
        // Every SE block scales a blocked x, and the stem (with hardswish) writes blocked.
        let scales = profile.entries.values.filter { $0.kind == "aten::mul.Tensor" }
        #expect(!scales.isEmpty && scales.allSatisfy { $0.shapes.contains(", 8]") },
          "\(name), \(threads) threads: an SE block's mul did not run blocked: \(scales.map(\.shapes))")
        // The stem: the one node whose input is a 3-channel image (rank 4).
        let stem = profile.entries.values.filter {
          $0.shapes.hasPrefix("[1, 3, ") && $0.shapes.prefix(while: { $0 != "]" }).split(separator: ",").count == 4
        }
        #expect(stem.count == 1 && stem.allSatisfy { $0.shapes.hasSuffix(", 8]") },
          "\(name), \(threads) threads: the stem did not write blocked: \(stem.map(\.shapes))")
      }
      if name == "squeezenet1_1" {
        // From the stem on, through the pools and the fire modules on planes of 15×15 and 7×7
        // (3×3 layers on the blocked Winograd kernel, their cats joining blocked slices); the
        // last four fire modules' 3×3 planes are too small for Winograd and go back to NCHW.
        let pools = profile.entries.values.filter { $0.kind == "aten::max_pool2d" }
        #expect(pools.count == 3 && pools.allSatisfy { $0.shapes.hasSuffix(", 8]") },
          "\(name), \(threads) threads: a max pool did not run blocked: \(pools.map(\.shapes))")
        let cats = profile.entries.values.filter { $0.kind == "aten::cat" && $0.shapes.hasSuffix(", 8]") }
        #expect(cats.count == 4, "\(name), \(threads) threads: \(cats.count) of the cats ran blocked, not 4")
      }
      if ["mobilenet_v2", "mnasnet", "mobilenet_v3_small", "mobilenet_v3_large"].contains(name) {
        #expect(!blocked.isEmpty, "\(name), \(threads) threads: no convolution ran on blocked activations")
        // The last convolution stays blocked: the classifier's pool averages its blocked output.
        let pools = profile.entries.values.filter { ["aten::adaptive_avg_pool2d", "aten::mean.dim"].contains($0.kind) }
        #expect(!pools.isEmpty && pools.allSatisfy { $0.shapes.hasPrefix("[1, ") && $0.shapes.contains(", 8]") },
          "\(name), \(threads) threads: the pool did not take a blocked input: \(pools.map(\.shapes))")
      }
    }
  }

  /// A batch of two images through MobileNetV2's blocked chain: each image's output is the one it
  /// gets alone, the NCHW first run's and the blocked later runs' alike.
  @Test func channelBlockedBatchesMatchSingleImages() throws {
    let (optimized, _) = try ScriptModule.load(contentsOf: Fixtures.model("mobilenet_v2")).optimizedForMobile()
    let facts = try Fixtures.facts("mobilenet_v2")
    let input = try ModelIO.readInput(Fixtures.folder("mobilenet_v2").appendingPathComponent(facts.calls[0].inputs[0]))
    guard case .tensor(let image) = input else {
      Issue.record("the fixture's input is not a tensor")
      return
    }
    let first = image.floats()
    let second = first.map { 0.5 - $0 }
    let batch = Tensor(shape: [2] + image.shape.dropFirst(), floats: first + second)
    func outputs(_ value: IValue) -> [Float] {
      guard case .tensor(let tensor)? = ModelIO.flatten(value).first else { return [] }
      return tensor.floats()
    }
    for threads in [1, 2] {
      optimized.executionContext = ExecutionContext(threads: threads)
      var alone: [Float] = []
      for single in [first, second] {
        alone += outputs(try optimized.run("forward", [.tensor(Tensor(shape: image.shape, floats: single))]))
      }
      let profile = Profile()
      for run in 0..<3 {
        // The last run is profiled: its convolutions must have run blocked.
        if run == 2 { optimized.executionContext.profile = profile }
        let together = outputs(try optimized.run("forward", [.tensor(batch.copy())]))
        #expect(together.count == alone.count && !together.isEmpty)
        #expect(zip(together, alone).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(threads) threads")
      }
      optimized.executionContext.profile = nil
      #expect(profile.entries.values.contains { $0.shapes.contains("[2, ") && $0.shapes.contains(", 8]") })
    }
  }

  @Test(arguments: Fixtures.torchMobileNames)
  func archivesPyTorchOptimizedRunHere(_ name: String) throws {
    let module = try ScriptModule.load(contentsOf: Fixtures.folder(name).appendingPathComponent("torch_mobile.pt"))
    try Self.checkCalls(module, fixture: name)
  }
}
