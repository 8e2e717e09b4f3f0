import TensorCore
import TorchIR

/// One finding of `generateMobileModuleLints`.
public struct MobileLint: Codable, Equatable, Sendable {
  /// `BUNDLED_INPUT`, `REQUIRES_GRAD`, `DROPOUT` or `BATCHNORM`.
  public var name: String
  /// PyTorch's message.
  public var message: String

  public init(name: String, message: String) {
    self.name = name
    self.message = message
  }
}

extension ScriptModule {
  /// `torch.utils.mobile_optimizer.generate_mobile_module_lints` (SPEC §5), with the current
  /// PyTorch's messages: a missing bundled input for `forward`, parameters that require grad,
  /// and dropout or batch-norm operators anywhere in the module's code.
  public func mobileLints() -> [MobileLint] {
    var lints: [MobileLint] = []
    if rootClass?.method("_generate_bundled_inputs_for_forward") == nil {
      lints.append(MobileLint(
        name: "BUNDLED_INPUT",
        message:
          "No bundled input for forward, please add bundled inputs before saving the module using torch.utils.bundled_inputs.augment_model_with_bundled_inputs."
      ))
    }
    for parameter in namedParameters() where parameter.tensor.requiresGrad {
      lints.append(MobileLint(
        name: "REQUIRES_GRAD",
        message:
          "Param \(parameter.name) requires grad, please set torch.no_grad() to reduce memory usage and improve computation speed during inference phase."
      ))
    }
    for op in operatorNames() {
      if op.contains("dropout") {
        lints.append(MobileLint(
          name: "DROPOUT",
          message:
            "Operator \(op) exists, remember to call eval() before saving the module and call torch.utils.mobile_optimizer.optimize_for_mobile to drop dropout operator."
        ))
      }
      if op.contains("batch_norm") {
        lints.append(MobileLint(
          name: "BATCHNORM",
          message:
            "Operator \(op) exists, remember to call eval() before saving the module and call torch.utils.mobile_optimizer.optimize_for_mobile to drop batch_norm operator."
        ))
      }
    }
    return lints
  }

  /// The operators the module's code can run, as `torch.jit.export_opnames` lists them
  /// (`aten::add.Tensor`), sorted and without duplicates.
  ///
  /// Like the mobile exporter, each root method has its calls inlined, where every callee is in
  /// its "optimized" form: itself inlined and then simplified by peephole rules and constant
  /// propagation (so a submodule's `inplace=False` branches are gone); the root method itself
  /// is not simplified further.
  public func operatorNames() -> [String] {
    var optimized: [ObjectIdentifier: Graph] = [:]
    func optimizedGraph(_ function: Function) -> Graph? {
      if let cached = optimized[ObjectIdentifier(function)] { return cached }
      guard let graph = function.graph?.clone() else { return nil }
      inlineOptimizedCallees(graph)
      for pass in [peephole, propagateConstants, poolConstants, eliminateDeadCode] {
        _ = try? pass.run(on: graph, unit: unit)
      }
      optimized[ObjectIdentifier(function)] = graph
      return graph
    }
    func inlineOptimizedCallees(_ graph: Graph) {
      var changed = true
      var rounds = 0
      while changed && rounds < 64 {
        changed = false
        rounds += 1
        graph.forEachNode { node in
          guard node.isInserted else { return }
          if node.kind == .callMethod, case .class(let name) = node.inputs[0].type, let method = node.name,
            let callee = unit.classType(name)?.method(method), !callee.isNative, let body = optimizedGraph(callee)
          {
            node.inline(body)
            changed = true
          } else if node.kind == .callFunction, case .function(let name) = node.inputs[0].type,
            let callee = unit.function(name), let body = optimizedGraph(callee)
          {
            node.inline(body, inputOffset: 1)
            changed = true
          }
        }
      }
    }
    var names = Set<String>()
    for method in rootClass?.methods ?? [] {
      guard let graph = method.graph?.clone() else { continue }
      inlineOptimizedCallees(graph)
      graph.eliminateDeadCode()
      graph.forEachNode { node in
        if let schema = node.schema, !schema.name.rawValue.hasPrefix("prim::") { names.insert(schema.fullName) }
      }
    }
    return names.sorted()
  }
}
