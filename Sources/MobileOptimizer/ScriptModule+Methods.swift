import TensorCore
import TorchIR
import TorchScriptFrontend

extension ScriptModule {
  /// The root module's methods (or just `only`) as TorchScript source, or as graphs.
  public func describeMethods(only: String? = nil, asGraphs: Bool) throws -> String {
    guard let classType = rootClass else { throw ModuleError.unknownClass(root.typeName, path: "") }
    var methods = classType.methods
    if let only {
      guard let method = classType.method(only) else { throw ModuleError.noSuchMethod(only, typeName: root.typeName) }
      methods = [method]
    }
    var text = ""
    for method in methods {
      guard let graph = method.graph else { continue }
      if asGraphs {
        text += "# \(classType.qualifiedName).\(method.name)\n" + GraphPrinter.print(graph) + "\n"
      } else {
        text += SourcePrinter.methodSource(method, of: classType) + "\n"
      }
    }
    return text
  }

  /// Bundled input `index`, from the model's own `get_all_bundled_inputs()`.
  public func bundledInput(_ index: Int) throws -> [IValue] {
    guard rootClass?.method("get_all_bundled_inputs") != nil else {
      throw ModelIOError.noBundledInput(index: index, available: 0)
    }
    let all = try run("get_all_bundled_inputs", [])
    guard let inputs = all.elements, inputs.indices.contains(index) else {
      throw ModelIOError.noBundledInput(index: index, available: all.elements?.count ?? 0)
    }
    return inputs[index].elements ?? [inputs[index]]
  }
}
