/// A TorchScript runtime value: what module attributes, constants, inputs and outputs hold.
///
/// Scalars, strings and tuples are values; lists, dicts and objects are references (shared and
/// mutable, as in TorchScript: a list appended to through one alias changes for all).
public enum IValue: @unchecked Sendable {
  case none
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case device(String)
  case tensor(Tensor)
  case tuple([IValue])
  case list(ListValue)
  case dict(DictValue)
  case object(ScriptObject)
  /// A reference to a script function by qualified name, as `prim::Constant` holds it.
  case function(String)

  /// A short name of the value's kind for error messages (`Tensor`, `int`, `List`, ...).
  public var kindName: String {
    switch self {
    case .none: "None"
    case .bool: "bool"
    case .int: "int"
    case .double: "float"
    case .string: "str"
    case .device: "Device"
    case .tensor: "Tensor"
    case .tuple: "Tuple"
    case .list: "List"
    case .dict: "Dict"
    case .object(let object): object.typeName
    case .function(let name): "Function \(name)"
    }
  }

  /// True for `.none`.
  public var isNone: Bool {
    if case .none = self { return true }
    return false
  }

  /// The tensor, if this is one.
  public var tensor: Tensor? {
    if case .tensor(let tensor) = self { return tensor }
    return nil
  }

  /// The int, if this is one (bools are not ints here).
  public var int: Int? {
    if case .int(let value) = self { return value }
    return nil
  }

  /// The value as a Double, for ints, floats and bools.
  public var number: Double? {
    switch self {
    case .int(let value): Double(value)
    case .double(let value): value
    case .bool(let value): value ? 1 : 0
    default: nil
    }
  }

  /// The bool, if this is one.
  public var bool: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }

  /// The string, if this is one.
  public var string: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  /// The object, if this is one.
  public var object: ScriptObject? {
    if case .object(let value) = self { return value }
    return nil
  }

  /// List or tuple elements, if this is either.
  public var elements: [IValue]? {
    switch self {
    case .list(let list): list.elements
    case .tuple(let elements): elements
    default: nil
    }
  }

  /// The elements as ints, if this is a list or tuple of ints.
  public var intList: [Int]? {
    guard let elements else { return nil }
    var result: [Int] = []
    result.reserveCapacity(elements.count)
    for element in elements {
      guard case .int(let value) = element else { return nil }
      result.append(value)
    }
    return result
  }

  /// The most specific static type of this value (generic containers report their tag).
  public var staticType: TorchType {
    switch self {
    case .none: .none
    case .bool: .bool
    case .int: .int
    case .double: .float
    case .string: .string
    case .device: .device
    case .tensor: .tensor
    case .tuple(let elements): .tuple(elements.map(\.staticType))
    case .list(let list): .list(list.elementType)
    case .dict(let dict): .dict(key: dict.keyType, value: dict.valueType)
    case .object(let object): .class(object.typeName)
    case .function: .any
    }
  }
}

/// A TorchScript list: a shared, mutable array with a declared element type.
public final class ListValue {
  /// The elements, in order.
  public var elements: [IValue]
  /// The declared element type (`int` for `List[int]`).
  public var elementType: TorchType

  public init(_ elements: [IValue], elementType: TorchType) {
    self.elements = elements
    self.elementType = elementType
  }
}

/// A key of a TorchScript dict: strings, ints, floats, bools and tensors (by identity).
public enum DictKey: Hashable {
  case string(String)
  case int(Int)
  case double(Double)
  case bool(Bool)
  case none
  case identity(ObjectIdentifier, Int)

  /// The key for `value`, or nil if the value cannot key a dict.
  public init?(_ value: IValue) {
    switch value {
    case .string(let v): self = .string(v)
    case .int(let v): self = .int(v)
    case .double(let v): self = .double(v)
    case .bool(let v): self = .bool(v)
    case .none: self = .none
    case .tensor(let t): self = .identity(ObjectIdentifier(t.storage), t.storageOffset)
    case .object(let o): self = .identity(ObjectIdentifier(o), 0)
    default: return nil
    }
  }
}

/// A TorchScript dict: shared, mutable, ordered by insertion, with declared key and value types.
public final class DictValue {
  /// The keys, in insertion order.
  public private(set) var keys: [IValue] = []
  /// The values, parallel to `keys`.
  public private(set) var values: [IValue] = []
  /// Declared key type.
  public var keyType: TorchType
  /// Declared value type.
  public var valueType: TorchType
  private var index: [DictKey: Int] = [:]

  public init(keyType: TorchType, valueType: TorchType) {
    self.keyType = keyType
    self.valueType = valueType
  }

  /// Number of entries.
  public var count: Int { keys.count }

  /// The value stored under `key`.
  public subscript(key: IValue) -> IValue? {
    guard let hashed = DictKey(key), let position = index[hashed] else { return nil }
    return values[position]
  }

  /// Stores `value` under `key`, keeping the original position of an existing key.
  /// Returns false when the key kind cannot key a dict.
  @discardableResult
  public func set(_ key: IValue, _ value: IValue) -> Bool {
    guard let hashed = DictKey(key) else { return false }
    if let position = index[hashed] {
      values[position] = value
    } else {
      index[hashed] = keys.count
      keys.append(key)
      values.append(value)
    }
    return true
  }

  /// Removes `key`; returns its value.
  @discardableResult
  public func remove(_ key: IValue) -> IValue? {
    guard let hashed = DictKey(key), let position = index[hashed] else { return nil }
    let value = values[position]
    keys.remove(at: position)
    values.remove(at: position)
    index = [:]
    for (offset, key) in keys.enumerated() { index[DictKey(key)!] = offset }
    return value
  }

  /// Removes every entry.
  public func removeAll() {
    keys = []
    values = []
    index = [:]
  }
}

/// An instance of a script class, module or custom C++ class.
///
/// Attributes are ordered slots, in the order of the class declaration (which is also the
/// order torch pickles them). Objects that pickle through `__getstate__` (custom classes such as
/// XNNPACK contexts, quantized packed params) keep that state in `state` instead.
public final class ScriptObject {
  /// The qualified class name, for example `__torch__.torch.nn.modules.conv.Conv2d`.
  public var typeName: String
  /// Attribute names in slot order.
  public private(set) var attributeNames: [String] = []
  /// Attribute values, parallel to `attributeNames`.
  public private(set) var attributeValues: [IValue] = []
  /// The `__getstate__` value for objects that pickle their state as one value.
  public var state: IValue?
  /// Derived data that the runtime attaches (for example prepacked weights); never saved.
  public var runtimeCache: AnyObject?
  private var slotIndex: [String: Int] = [:]

  public init(typeName: String) {
    self.typeName = typeName
  }

  /// Number of attribute slots.
  public var attributeCount: Int { attributeNames.count }

  /// The slot of attribute `name`.
  public func slot(of name: String) -> Int? { slotIndex[name] }

  /// The value of attribute `name`.
  public func attribute(_ name: String) -> IValue? {
    guard let slot = slotIndex[name] else { return nil }
    return attributeValues[slot]
  }

  /// The value in `slot`.
  public func attribute(at slot: Int) -> IValue { attributeValues[slot] }

  /// Sets attribute `name`, appending a new slot when it does not exist.
  public func setAttribute(_ name: String, _ value: IValue) {
    if let slot = slotIndex[name] {
      attributeValues[slot] = value
    } else {
      slotIndex[name] = attributeNames.count
      attributeNames.append(name)
      attributeValues.append(value)
    }
  }

  /// Sets the value in an existing `slot`.
  public func setAttribute(at slot: Int, _ value: IValue) {
    attributeValues[slot] = value
  }

  /// Removes attribute `name` if present.
  public func removeAttribute(_ name: String) {
    guard let slot = slotIndex[name] else { return }
    attributeNames.remove(at: slot)
    attributeValues.remove(at: slot)
    slotIndex = [:]
    for (offset, name) in attributeNames.enumerated() { slotIndex[name] = offset }
  }

  /// Attributes as (name, value) pairs in slot order.
  public var attributes: [(name: String, value: IValue)] {
    attributeNames.indices.map { (name: attributeNames[$0], value: attributeValues[$0]) }
  }
}
