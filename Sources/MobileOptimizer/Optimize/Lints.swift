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
  /// (`aten::add.Tensor`), sorted and without duplicates: every op in the root's methods and in
  /// everything they call.
  public func operatorNames() -> [String] {
    var names = Set<String>()
    var visited = Set<ObjectIdentifier>()
    func visit(_ graph: Graph) {
      guard visited.insert(ObjectIdentifier(graph)).inserted else { return }
      graph.forEachNode { node in
        switch node.kind {
        case .callMethod:
          if case .class(let name) = node.inputs[0].type, let method = node.name,
            let graph = unit.classType(name)?.method(method)?.graph
          {
            visit(graph)
          }
        case .callFunction:
          if case .function(let name) = node.inputs[0].type, let graph = unit.function(name)?.graph { visit(graph) }
        default:
          if let schema = node.schema, !schema.name.rawValue.hasPrefix("prim::") { names.insert(schema.fullName) }
        }
      }
    }
    for method in rootClass?.methods ?? [] {
      if let graph = method.graph { visit(graph) }
    }
    return names.sorted()
  }
}
