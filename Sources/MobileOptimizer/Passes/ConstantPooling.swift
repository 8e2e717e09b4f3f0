import Foundation
import TensorCore
import TorchIR

/// Merges equal constants and moves every constant to the top of the graph.
///
///     %1 : int = prim::Constant[value=1]()          %1 : int = prim::Constant[value=1]()
///     ...                                      ->   ...
///     %7 : int = prim::Constant[value=1]()          (uses of %7 now use %1)
///
/// As in TorchScript, each surviving constant moves in front of the current first node, so their
/// order at the top ends up reversed. Constants something may write in place are left alone.
let poolConstants = GraphPass(name: "constant-pooling") { context in
  let graph = context.graph
  let aliases = AliasAnalysis(graph)
  var pooled: [Node] = []
  var buckets: [ConstantKey: [Node]] = [:]
  graph.forEachNode { node in
    guard node.kind == .constant, !aliases.mayBeWritten(node.output) else { return }
    pooled.append(node)
  }
  for node in pooled {
    let key = ConstantKey(node)
    if let existing = buckets[key]?.first(where: { ConstantKey.sameValue($0, node) }) {
      node.output.replaceAllUses(with: existing.output)
      if node.output.debugName != nil, existing.output.debugName == nil {
        existing.output.debugName = node.output.debugName
      }
      node.destroy()
      context.count("merged")
      continue
    }
    buckets[key, default: []].append(node)
    let first = graph.block.firstNode
    if first !== node {
      node.move(before: first)
      context.count("hoisted")
    }
  }
}

/// A cheap hash of a constant (type and a digest of the value); equal keys are compared in full.
struct ConstantKey: Hashable {
  let type: TorchType
  let digest: Int

  init(_ node: Node) {
    type = node.output.type
    var hasher = Hasher()
    if let name = node.stringAttribute("name"), node.attribute("value") == nil {
      hasher.combine(0)
      hasher.combine(name)
    } else {
      ConstantKey.digest(node.constantValue, into: &hasher, depth: 0)
    }
    digest = hasher.finalize()
  }

  /// Hashes what tells values apart cheaply: scalars in full, tensors by dtype and shape,
  /// containers by size and their first elements. Values `IValueEquality` finds equal hash alike.
  static func digest(_ value: IValue, into hasher: inout Hasher, depth: Int) {
    switch value {
    case .none: hasher.combine(1)
    case .bool(let x): hasher.combine(2); hasher.combine(x)
    case .int(let x): hasher.combine(3); hasher.combine(x)
    case .double(let x): hasher.combine(4); hasher.combine(x.bitPattern)
    case .string(let x): hasher.combine(5); hasher.combine(x)
    case .tensor(let tensor):
      hasher.combine(6)
      hasher.combine(tensor.dtype)
      hasher.combine(tensor.shape)
      // A few leading bytes of the contents: weights of one shape (a network has dozens) then
      // land in different buckets instead of being compared in full, pairwise.
      if tensor.isContiguous {
        let start = tensor.storageOffset * tensor.dtype.itemSize
        let length = min(32, tensor.count * tensor.dtype.itemSize)
        tensor.storage.withUnsafeBytes { bytes in
          if start + length <= bytes.count { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])) }
        }
      }
    case .object(let object): hasher.combine(7); hasher.combine(ObjectIdentifier(object))
    case .list(let list):
      hasher.combine(8)
      hasher.combine(list.elements.count)
      if depth < 2 { for element in list.elements.prefix(4) { digest(element, into: &hasher, depth: depth + 1) } }
    case .tuple(let elements):
      hasher.combine(9)
      hasher.combine(elements.count)
      if depth < 2 { for element in elements.prefix(4) { digest(element, into: &hasher, depth: depth + 1) } }
    case .function(let name): hasher.combine(10); hasher.combine(name)
    default: hasher.combine(11)
    }
  }

  /// True when two constants hold equal values of the same type.
  static func sameValue(_ a: Node, _ b: Node) -> Bool {
    guard a.output.type == b.output.type, a.stringAttribute("name") == b.stringAttribute("name") else { return false }
    return IValueEquality.equal(a.constantValue, b.constantValue)
  }
}

/// Structural equality of constant values: tensors by dtype, shape and contents.
enum IValueEquality {
  static func equal(_ a: IValue, _ b: IValue) -> Bool {
    switch (a, b) {
    case (.none, .none): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.int(let x), .int(let y)): return x == y
    case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern
    case (.string(let x), .string(let y)): return x == y
    case (.device(let x), .device(let y)): return x == y
    case (.function(let x), .function(let y)): return x == y
    case (.object(let x), .object(let y)): return x === y
    case (.tuple(let x), .tuple(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
    case (.list(let x), .list(let y)):
      return x.elementType == y.elementType && x.elements.count == y.elements.count
        && zip(x.elements, y.elements).allSatisfy { equal($0, $1) }
    case (.tensor(let x), .tensor(let y)): return tensorsEqual(x, y)
    default: return false
    }
  }

  static func tensorsEqual(_ x: Tensor, _ y: Tensor) -> Bool {
    guard x.dtype == y.dtype, x.shape == y.shape, x.requiresGrad == y.requiresGrad else { return false }
    if x.storage === y.storage, x.storageOffset == y.storageOffset, x.strides == y.strides { return true }
    let a = x.contiguous()
    let b = y.contiguous()
    let bytes = a.count * a.dtype.itemSize
    return a.storage.withUnsafeBytes { ra in
      b.storage.withUnsafeBytes { rb in
        memcmp(ra.baseAddress! + a.storageOffset * a.dtype.itemSize, rb.baseAddress! + b.storageOffset * b.dtype.itemSize, bytes) == 0
      }
    }
  }
}
