import TensorCore
import TorchIR

/// A named tensor of a module tree, as `named_parameters()` / `named_buffers()` report it.
public struct NamedTensor {
  /// Dotted path from the root (`features.0.0.weight`).
  public var name: String
  /// The tensor.
  public var tensor: Tensor
}

extension ScriptModule {
  /// True when `object` is an `nn.Module` instance.
  public func isModule(_ object: ScriptObject) -> Bool {
    unit.classType(object.typeName)?.isModule ?? false
  }

  /// Every module in the tree, pre-order, each once, with its dotted path (`""` for the root), as
  /// `named_modules()` lists them.
  public func namedModules() -> [(path: String, module: ScriptObject)] {
    var result: [(String, ScriptObject)] = []
    var seen = Set<ObjectIdentifier>()
    func visit(_ object: ScriptObject, _ path: String) {
      guard seen.insert(ObjectIdentifier(object)).inserted else { return }
      result.append((path, object))
      // Slot by slot: the (name, value) pairs of `attributes` would copy every tensor too.
      let names = object.attributeNames
      for slot in names.indices {
        guard case .object(let child) = object.attribute(at: slot), isModule(child) else { continue }
        visit(child, path.isEmpty ? names[slot] : path + "." + names[slot])
      }
    }
    visit(root, "")
    return result
  }

  /// The direct submodules of `object`, in slot order.
  public func children(of object: ScriptObject) -> [(name: String, module: ScriptObject)] {
    object.attributes.compactMap { name, value in
      if case .object(let child) = value, isModule(child) { return (name, child) }
      return nil
    }
  }

  private func namedTensors(where predicate: (ClassAttribute) -> Bool) -> [NamedTensor] {
    var result: [NamedTensor] = []
    var seen = Set<TensorIdentity>()
    for (path, module) in namedModules() {
      guard let classType = unit.classType(module.typeName) else { continue }
      for attribute in classType.attributes where predicate(attribute) {
        guard case .tensor(let tensor) = module.attribute(attribute.name) ?? .none else { continue }
        guard seen.insert(TensorIdentity(tensor)).inserted else { continue }
        result.append(NamedTensor(name: path.isEmpty ? attribute.name : "\(path).\(attribute.name)", tensor: tensor))
      }
    }
    return result
  }

  /// Parameters by dotted name, in PyTorch's `named_parameters()` order, duplicates removed.
  public func namedParameters() -> [NamedTensor] {
    namedTensors { $0.isParameter }
  }

  /// Buffers by dotted name, in PyTorch's `named_buffers()` order, duplicates removed.
  public func namedBuffers() -> [NamedTensor] {
    namedTensors { $0.isBuffer }
  }
}

/// Identifies a tensor view for de-duplication (same storage, offset, shape and strides).
struct TensorIdentity: Hashable {
  let storage: ObjectIdentifier
  let offset: Int
  let shape: [Int]
  let strides: [Int]

  init(_ tensor: Tensor) {
    storage = ObjectIdentifier(tensor.storage)
    offset = tensor.storageOffset
    shape = tensor.shape
    strides = tensor.strides
  }
}
