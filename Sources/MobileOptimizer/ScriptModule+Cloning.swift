import TensorCore
import TorchIR
import TorchRuntime

extension ClassType {
  /// A copy with the same name, kind, attributes, constants, and copies of the method graphs.
  public func clone() -> ClassType {
    let copy = ClassType(qualifiedName: qualifiedName, kind: kind)
    copy.attributes = attributes
    copy.constants = constants
    copy.forwardPreHooks = forwardPreHooks
    copy.forwardHooks = forwardHooks
    copy.enumValues = enumValues
    copy.location = location
    for method in methods { copy.addMethod(method.clone()) }
    return copy
  }
}

extension Function {
  /// A copy with its own graph.
  public func clone() -> Function {
    let copy = Function(qualifiedName: qualifiedName, arguments: arguments, returnType: returnType)
    copy.graph = graph?.clone()
    copy.location = location
    copy.isNative = isNative
    return copy
  }
}

extension ScriptModule {
  /// A deep copy that passes may change freely: new module objects, classes and method graphs.
  ///
  /// Tensors, and non-module objects such as packed weights, are shared: passes never change
  /// them in place (they build new ones).
  public func clone() -> ScriptModule {
    let unitCopy = CompilationUnit()
    for classType in unit.classes { unitCopy.addClass(classType.clone()) }
    for function in unit.functions { unitCopy.addFunction(function.clone()) }
    var copies: [ObjectIdentifier: ScriptObject] = [:]
    func copyObject(_ object: ScriptObject) -> ScriptObject {
      if let existing = copies[ObjectIdentifier(object)] { return existing }
      guard isModule(object) else { return object }
      let copy = ScriptObject(typeName: object.typeName)
      copies[ObjectIdentifier(object)] = copy
      copy.state = object.state
      for (name, value) in object.attributes {
        switch value {
        case .object(let child): copy.setAttribute(name, .object(copyObject(child)))
        case .list, .dict: copy.setAttribute(name, Interpreter.freshCopy(value))
        default: copy.setAttribute(name, value)
        }
      }
      return copy
    }
    let module = ScriptModule(root: copyObject(root), unit: unitCopy, archive: archive)
    return module
  }
}
