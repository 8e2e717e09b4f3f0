import TensorCore

/// An argument of a script function or method, as declared in its `def` line.
public struct FunctionArgument {
  /// The argument name.
  public var name: String
  /// The declared type.
  public var type: TorchType
  /// The default value, when declared (`inplace: bool=False`).
  public var defaultValue: IValue?

  public init(name: String, type: TorchType, defaultValue: IValue? = nil) {
    self.name = name
    self.type = type
    self.defaultValue = defaultValue
  }
}

/// A script function: a method of a class (first argument `self`) or a free function.
public final class Function {
  /// The qualified name: `__torch__.torch.nn.functional.relu`, or the method's name for methods.
  public let qualifiedName: String
  /// The declared arguments, `self` included for methods.
  public var arguments: [FunctionArgument]
  /// The declared return type.
  public var returnType: TorchType
  /// The body. Nil until the frontend emits it (bodies are emitted on first use).
  public var graph: Graph?
  /// Where the `def` is in source.
  public var location: SourceLocation?
  /// True for methods implemented natively (custom C++ classes); they never have a graph.
  public var isNative = false

  /// The unqualified name (`relu`). (Stored: method lookups compare it for every call.)
  public let name: String

  public init(qualifiedName: String, arguments: [FunctionArgument], returnType: TorchType) {
    self.qualifiedName = qualifiedName
    self.arguments = arguments
    self.returnType = returnType
    if let dot = qualifiedName.lastIndex(of: ".") {
      name = String(qualifiedName[qualifiedName.index(after: dot)...])
    } else {
      name = qualifiedName
    }
  }
}

/// A declared attribute slot of a class (`weight : Tensor`).
public struct ClassAttribute {
  /// The attribute name.
  public var name: String
  /// The declared type.
  public var type: TorchType
  /// True when listed in `__parameters__`.
  public var isParameter: Bool
  /// True when listed in `__buffers__`.
  public var isBuffer: Bool

  public init(name: String, type: TorchType, isParameter: Bool = false, isBuffer: Bool = false) {
    self.name = name
    self.type = type
    self.isParameter = isParameter
    self.isBuffer = isBuffer
  }
}

/// What kind of class a declaration is.
public enum ClassKind: Sendable {
  /// `class X(Module):`
  case module
  /// `class X:` (a script class)
  case scriptClass
  /// `class X(NamedTuple):`
  case namedTuple
  /// `class X(Enum):`
  case enumeration
  /// `class X(Interface):` or `class X(ModuleInterface):`
  case interface(isModule: Bool)
}

/// A class declared in an archive's code: its attributes, constants and methods.
public final class ClassType {
  /// The qualified name (`__torch__.torch.nn.modules.conv.Conv2d`).
  public let qualifiedName: String
  /// Module, script class, named tuple, enum or interface.
  public var kind: ClassKind
  /// Attribute slots in declaration order.
  public var attributes: [ClassAttribute] = []
  /// `Final` class constants in declaration order (`eps : Final[float] = 1e-05`).
  public var constants: [(name: String, type: TorchType, value: IValue)] = []
  /// Methods in declaration order.
  public private(set) var methods: [Function] = []
  /// Names from `__forward_pre_hooks__` and `__forward_hooks__`.
  public var forwardPreHooks: [String] = []
  public var forwardHooks: [String] = []
  /// Enum members (`RED = 1`).
  public var enumValues: [(name: String, value: IValue)] = []
  /// Where the class is declared.
  public var location: SourceLocation?

  public init(qualifiedName: String, kind: ClassKind) {
    self.qualifiedName = qualifiedName
    self.kind = kind
  }

  /// True for `nn.Module` subclasses.
  public var isModule: Bool {
    if case .module = kind { return true }
    return false
  }

  /// The unqualified name (`Conv2d`).
  public var name: String {
    guard let dot = qualifiedName.lastIndex(of: ".") else { return qualifiedName }
    return String(qualifiedName[qualifiedName.index(after: dot)...])
  }

  /// The attribute slot called `name`.
  public func attribute(_ name: String) -> ClassAttribute? {
    attributes.first { $0.name == name }
  }

  /// The index of attribute slot `name`.
  public func attributeIndex(_ name: String) -> Int? {
    attributes.firstIndex { $0.name == name }
  }

  /// The class constant called `name`.
  public func constant(_ name: String) -> IValue? {
    constants.first { $0.name == name }?.value
  }

  /// The method called `name`.
  public func method(_ name: String) -> Function? {
    methods.first { $0.name == name }
  }

  /// Adds a method (replacing one with the same name).
  public func addMethod(_ function: Function) {
    if let index = methods.firstIndex(where: { $0.name == function.name }) {
      methods[index] = function
    } else {
      methods.append(function)
    }
  }

  /// Removes the method called `name`.
  public func removeMethod(_ name: String) {
    methods.removeAll { $0.name == name }
  }

  /// Adds an attribute slot, or updates an existing one's type and flags.
  public func addAttribute(_ attribute: ClassAttribute) {
    if let index = attributeIndex(attribute.name) {
      attributes[index] = attribute
    } else {
      attributes.append(attribute)
    }
  }

  /// Removes the attribute slot called `name`.
  public func removeAttribute(_ name: String) {
    attributes.removeAll { $0.name == name }
  }
}

/// All classes and free functions of a model, by qualified name, in definition order.
public final class CompilationUnit {
  /// Classes in the order they were added.
  public private(set) var classes: [ClassType] = []
  /// Free functions in the order they were added.
  public private(set) var functions: [Function] = []
  private var classIndex: [String: Int] = [:]
  private var functionIndex: [String: Int] = [:]

  public init() {}

  /// The class called `qualifiedName`; custom C++ classes are added on first lookup.
  public func classType(_ qualifiedName: String) -> ClassType? {
    if let index = classIndex[qualifiedName] { return classes[index] }
    if let custom = CustomClasses.classType(qualifiedName) {
      addClass(custom)
      return custom
    }
    return nil
  }

  /// The free function called `qualifiedName`.
  public func function(_ qualifiedName: String) -> Function? {
    functionIndex[qualifiedName].map { functions[$0] }
  }

  /// Adds a class, replacing one with the same name.
  public func addClass(_ classType: ClassType) {
    if let index = classIndex[classType.qualifiedName] {
      classes[index] = classType
    } else {
      classIndex[classType.qualifiedName] = classes.count
      classes.append(classType)
    }
  }

  /// Adds a free function, replacing one with the same name.
  public func addFunction(_ function: Function) {
    if let index = functionIndex[function.qualifiedName] {
      functions[index] = function
    } else {
      functionIndex[function.qualifiedName] = functions.count
      functions.append(function)
    }
  }

  /// Removes the class called `qualifiedName`.
  public func removeClass(_ qualifiedName: String) {
    guard classIndex[qualifiedName] != nil else { return }
    classes.removeAll { $0.qualifiedName == qualifiedName }
    classIndex = [:]
    for (index, item) in classes.enumerated() { classIndex[item.qualifiedName] = index }
  }

  /// Removes the free function called `qualifiedName`.
  public func removeFunction(_ qualifiedName: String) {
    guard functionIndex[qualifiedName] != nil else { return }
    functions.removeAll { $0.qualifiedName == qualifiedName }
    functionIndex = [:]
    for (index, item) in functions.enumerated() { functionIndex[item.qualifiedName] = index }
  }
}
