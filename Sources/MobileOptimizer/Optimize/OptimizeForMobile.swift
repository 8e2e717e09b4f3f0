import Foundation
import TensorCore
import TorchIR

/// Settings of `optimizedForMobile`.
public struct MobileOptimizationOptions: Sendable {
  /// Passes switched off.
  public var blocklist: Set<MobileOptimizerType>
  /// Methods and attributes to keep besides `forward` (bundled-input methods are added).
  public var preservedMethods: [String]
  /// The target backend; only `.cpu` is implemented.
  public var backend: MobileBackend

  public init(blocklist: Set<MobileOptimizerType> = [], preservedMethods: [String] = [], backend: MobileBackend = .cpu) {
    self.blocklist = blocklist
    self.preservedMethods = preservedMethods
    self.backend = backend
  }
}

/// What `optimizedForMobile` did: every pass with its counters and time, op histograms and
/// sizes before and after.
public struct OptimizationReport: Codable {
  /// One pass run on one method.
  public struct PassEntry: Codable {
    public var pass: String
    public var function: String
    public var counters: [String: Int]
    public var milliseconds: Double
  }

  public var passes: [PassEntry] = []
  /// Op histogram of the inlined `forward` before, and of the optimized `forward` after.
  public var opsBefore: [String: Int] = [:]
  public var opsAfter: [String: Int] = [:]
  /// Number and bytes of parameter and buffer tensors before; of tensor constants and
  /// attributes after (weights inside prepacked contexts included).
  public var tensorsBefore = 0
  public var tensorBytesBefore = 0
  public var tensorsAfter = 0
  public var tensorBytesAfter = 0
  /// Archive sizes, when known.
  public var inputFileBytes: Int?
  public var outputFileBytes: Int?
  /// Methods kept.
  public var preservedMethods: [String] = []
  /// Total time of the transformation.
  public var milliseconds: Double = 0

  enum CodingKeys: String, CodingKey {
    case passes
    case opsBefore = "ops_before"
    case opsAfter = "ops_after"
    case tensorsBefore = "tensors_before"
    case tensorBytesBefore = "tensor_bytes_before"
    case tensorsAfter = "tensors_after"
    case tensorBytesAfter = "tensor_bytes_after"
    case inputFileBytes = "input_file_bytes"
    case outputFileBytes = "output_file_bytes"
    case preservedMethods = "preserved_methods"
    case milliseconds
  }

  mutating func record(_ statistics: [PassStatistics]) {
    for entry in statistics {
      passes.append(PassEntry(pass: entry.pass, function: entry.function, counters: entry.counters, milliseconds: entry.milliseconds))
    }
  }

  /// Per pass: totals of each counter over all methods, in first-run order.
  public var totalsByPass: [(pass: String, counters: [(String, Int)], milliseconds: Double)] {
    var order: [String] = []
    var counters: [String: [String: Int]] = [:]
    var times: [String: Double] = [:]
    for entry in passes {
      if counters[entry.pass] == nil {
        order.append(entry.pass)
        counters[entry.pass] = [:]
      }
      for (key, value) in entry.counters { counters[entry.pass]![key, default: 0] += value }
      times[entry.pass, default: 0] += entry.milliseconds
    }
    return order.map { pass in
      (pass, counters[pass]!.filter { $0.value > 0 }.sorted { $0.key < $1.key }, times[pass]!)
    }
  }

  /// A few lines for people.
  public func summary() -> String {
    var lines: [String] = []
    for (pass, counters, milliseconds) in totalsByPass where !counters.isEmpty || milliseconds >= 1 {
      let detail = counters.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
      lines.append("  \(pass): \(detail) (\(OptimizationReport.tenths(milliseconds)) ms)")
    }
    func interesting(_ ops: [String: Int]) -> String {
      ops.filter { !$0.key.hasPrefix("prim::") }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        .prefix(8).map { "\($0.key)×\($0.value)" }.joined(separator: " ")
    }
    lines.append("  ops before: \(interesting(opsBefore))")
    lines.append("  ops after:  \(interesting(opsAfter))")
    lines.append(
      "  tensors: \(tensorsBefore) (\(tensorBytesBefore) bytes) before, \(tensorsAfter) (\(tensorBytesAfter) bytes) after")
    if let input = inputFileBytes, let output = outputFileBytes {
      lines.append("  file: \(input) bytes → \(output) bytes")
    }
    lines.append("  time: \(OptimizationReport.tenths(milliseconds)) ms")
    return lines.joined(separator: "\n") + "\n"
  }

  /// `value` with one decimal, as `%.1f` prints a non-negative number (without going through
  /// `String(format:)`, whose first use costs a tenth of a millisecond of runtime lookups).
  static func tenths(_ value: Double) -> String {
    guard value.isFinite, value >= 0 else { return String(format: "%.1f", value) }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
  }

  /// The report as JSON (sorted keys).
  public func json() throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(self), as: UTF8.self)
  }
}

extension ScriptModule {
  /// Names `optimize_for_mobile` preserves automatically for modules with bundled inputs (SPEC §1.2).
  public func bundledInputNames() throws -> [String] {
    guard let rootClass else { return [] }
    var names: [String] = []
    if rootClass.method("get_all_bundled_inputs") != nil {
      names += ["get_all_bundled_inputs", "get_num_bundled_inputs"]
    }
    if rootClass.method("get_bundled_inputs_functions_and_info") != nil {
      names.append("get_bundled_inputs_functions_and_info")
      if case .dict(let info) = try run("get_bundled_inputs_functions_and_info", []) {
        for key in info.keys {
          guard let function = key.string else { continue }
          names += [function, "get_all_bundled_inputs_for_\(function)", "_bundled_inputs_deflated_\(function)"]
        }
      }
    }
    return names
  }

  /// True when the root module has a method, attribute or submodule called `name`
  /// (Python's `hasattr`).
  func hasMember(_ name: String) -> Bool {
    rootClass?.method(name) != nil || root.attribute(name) != nil || rootClass?.constant(name) != nil
  }

  /// `torch.utils.mobile_optimizer.optimize_for_mobile`: a new module, frozen, with convolutions
  /// and linears as prepacked XNNPACK ops with fused clamps, batch norms folded, dropout removed
  /// and add+relu fused (SPEC §2). This module is not changed.
  public func optimizedForMobile(_ options: MobileOptimizationOptions = MobileOptimizationOptions()) throws -> (
    ScriptModule, OptimizationReport
  ) {
    let start = Date()
    switch options.backend {
    case .cpu: break
    case .vulkan, .metal: throw OptimizeError.unsupportedBackend(options.backend)
    }
    try requireCompleteState()
    // Preserved names: the user's, plus bundled-input methods; each must exist.
    var preserved = options.preservedMethods
    for name in try bundledInputNames() where !preserved.contains(name) { preserved.append(name) }
    let missing = preserved.filter { !hasMember($0) }
    guard missing.isEmpty else { throw OptimizeError.missingPreservedMethods(missing) }

    var report = OptimizationReport()
    // Batch norms fold into convolutions on the background lane meanwhile (Note [Folding ahead]).
    let foldingCache = options.blocklist.contains(.convBatchNormFusion) ? nil : FoldingCache(module: self)
    // The report's "before" figures only read this module, which nothing changes from here on
    // (the work happens on a deep copy): another thread takes them meanwhile.
    nonisolated(unsafe) let original = self
    nonisolated(unsafe) var before: (ops: [String: Int], tensors: Int, bytes: Int) = ([:], 0, 0)
    let measuring = BackgroundLane.shared.submit {
      let parameters = original.namedParameters() + original.namedBuffers()
      before = (
        original.inlinedForwardOps(), parameters.count,
        parameters.reduce(0) { $0 + $1.tensor.count * $1.tensor.dtype.itemSize }
      )
    }
    defer { measuring.wait() }

    // Clone and switch to eval mode, as PyTorch's pipeline does, then freeze.
    let eval = clone()
    for (_, module) in eval.namedModules() where module.attribute("training") != nil {
      module.setAttribute("training", .bool(false))
    }
    eval.verifyAfterEachPass = verifyAfterEachPass
    let (module, freezeReport) = try eval.freezeInPlace(preservedAttributes: preserved, optimizeNumerics: false)
    module.verifyAfterEachPass = verifyAfterEachPass
    report.record(freezeReport.passes)

    let blocked = options.blocklist
    for method in module.rootClass?.methods ?? [] {
      guard let graph = method.graph else { continue }
      func step(_ passes: [GraphPass], _ options: PassOptions = PassOptions()) throws {
        var options = options
        options.foldingCache = foldingCache
        report.record(try module.runPasses(passes, on: graph, function: method.name, options: options))
      }
      if !blocked.contains(.convBatchNormFusion) {
        // Frozen-graph folding covers what PyTorch's module-level fusion does and more
        // (Conv1d+BN1d, Linear+BN1d, functional batch_norm, constant add/sub/mul/div).
        for _ in 0..<8 {
          let before = graph.allNodes.count
          try step([
            foldFrozenConvBatchNorm, foldFrozenConvAddOrSub, foldFrozenConvMulOrDiv, foldFrozenLinearBatchNorm,
          ])
          if graph.allNodes.count == before { break }
        }
      }
      if !blocked.contains(.conv1dToConv2d) {
        try step([convertConv1dToConv2d, propagateConstants])
      }
      if !blocked.contains(.insertFoldPrepackOps) {
        try step([fuseLinear, insertPrepackedOps, fusePrepackedClamp, propagateConstants, foldPrepackOps])
      }
      // runCanonicalOptimizations: runOptimization with user classes folded too.
      try step(ModuleFreezer.cleanupPipeline)
      if !blocked.contains(.removeDropout) { try step([removeDropout]) }
      if !blocked.contains(.fuseAddRelu) { try step([fuseAddRelu]) }
    }
    if blocked.contains(.hoistConvPackedParams) && !blocked.contains(.insertFoldPrepackOps) {
      module.keepPrepackedContextsAsAttributes()
    }
    module.rootClass?.addAttribute(ClassAttribute(name: "mobile_optimized", type: .bool))
    module.root.setAttribute("mobile_optimized", .bool(true))
    module.invalidateCompiledPlans()

    measuring.wait()
    report.opsBefore = before.ops
    report.tensorsBefore = before.tensors
    report.tensorBytesBefore = before.bytes
    report.opsAfter = module.rootClass?.method("forward")?.graph.map(ScriptModule.opHistogram) ?? [:]
    let (count, bytes) = module.tensorFootprint()
    report.tensorsAfter = count
    report.tensorBytesAfter = bytes
    report.preservedMethods = module.rootClass?.methods.map(\.name) ?? []
    report.milliseconds = Date().timeIntervalSince(start) * 1000
    return (module, report)
  }

  /// Op kinds and counts in `graph`, nested blocks included.
  static func opHistogram(_ graph: Graph) -> [String: Int] {
    var counts: [String: Int] = [:]
    graph.forEachNode { counts[$0.kind.rawValue, default: 0] += 1 }
    return counts
  }

  /// The op histogram of `forward` as if every call were inlined: each call counts its callee's
  /// ops (computed once per callee) in place of the call node.
  func inlinedForwardOps() -> [String: Int] {
    var memo: [ObjectIdentifier: [OpName: Int]] = [:]
    func histogram(_ graph: Graph) -> [OpName: Int] {
      if let cached = memo[ObjectIdentifier(graph)] { return cached }
      var counts: [OpName: Int] = [:]
      graph.forEachNode { node in
        var callee: Graph?
        if node.kind == .callMethod, case .class(let name) = node.inputs[0].type, let method = node.name {
          callee = unit.classType(name)?.method(method)?.graph
        } else if node.kind == .callFunction, case .function(let name) = node.inputs[0].type {
          callee = unit.function(name)?.graph
        }
        if let callee {
          for (kind, count) in histogram(callee) { counts[kind, default: 0] += count }
        } else {
          counts[node.kind, default: 0] += 1
        }
      }
      memo[ObjectIdentifier(graph)] = counts
      return counts
    }
    guard let graph = rootClass?.method("forward")?.graph else { return [:] }
    return Dictionary(uniqueKeysWithValues: histogram(graph).map { ($0.key.rawValue, $0.value) })
  }

  /// Tensors held by graph constants, contexts and attributes: count and bytes, each storage once.
  func tensorFootprint() -> (Int, Int) {
    var seen = Set<ObjectIdentifier>()
    var count = 0
    var bytes = 0
    func visit(_ value: IValue) {
      switch value {
      case .tensor(let tensor):
        guard seen.insert(ObjectIdentifier(tensor.storage)).inserted else { return }
        count += 1
        bytes += tensor.storage.byteCount
      case .object(let object):
        for (_, child) in object.attributes { visit(child) }
        if let state = object.state { visit(state) }
      case .list(let list): list.elements.forEach(visit)
      case .tuple(let items): items.forEach(visit)
      case .dict(let dict): dict.values.forEach(visit)
      default: break
      }
    }
    visit(.object(root))
    for classType in unit.classes {
      for method in classType.methods {
        method.graph?.forEachNode { if $0.kind == .constant { visit($0.constantValue) } }
      }
    }
    return (count, bytes)
  }

  /// With HOIST_CONV_PACKED_PARAMS off, PyTorch keeps folded contexts as root attributes named
  /// `prepack_folding_<method>._jit_pass_packed_weight_<n>`, read with `getattr`.
  func keepPrepackedContextsAsAttributes() {
    guard let rootClass else { return }
    for method in rootClass.methods {
      guard let graph = method.graph, let selfValue = graph.inputs.first else { continue }
      var index = 0
      graph.forEachNode { node in
        guard node.kind == .constant, case .object(let object) = node.constantValue,
          object.typeName.hasPrefix("__torch__.torch.classes.xnnpack.")
        else { return }
        let name = "prepack_folding_\(method.name)._jit_pass_packed_weight_\(index)"
        index += 1
        rootClass.addAttribute(ClassAttribute(name: name, type: node.output.type))
        root.setAttribute(name, .object(object))
        let read = graph.create(.getAttr, inputs: [selfValue], outputTypes: [node.output.type])
        read.setAttribute("name", .string(name))
        read.insert(before: node)
        node.output.replaceAllUses(with: read.output)
        node.destroy()
      }
    }
  }
}
