import TensorCore
import TorchIR

/// Compiles an archive's printed TorchScript (`code/**.py`) into a `CompilationUnit`: classes with
/// their attributes, constants and methods, and free functions, each with an SSA graph.
///
/// Two phases, because code refers across files in any order: `declare` registers every class
/// and function signature from every file, then `emitBodies` turns each body into a graph.
public final class ModuleCompiler {
  /// Where classes and functions go.
  public let unit: CompilationUnit
  /// The operator schemas calls resolve against.
  public let registry: OpRegistry
  /// The archive's constant table (`CONSTANTS.cN`).
  public let constants: [IValue]

  private var pendingBodies: [(function: Function, def: FunctionDef, owner: ClassType?)] = []

  public init(unit: CompilationUnit = CompilationUnit(), registry: OpRegistry = .standard, constants: [IValue] = []) {
    self.unit = unit
    self.registry = registry
    self.constants = constants
  }

  /// The qualifier of a code file (`__torch__/torch/nn/modules/conv.py` → `__torch__.torch.nn.modules.conv`).
  public static func qualifier(forCodePath path: String) -> String {
    var trimmed = path
    if trimmed.hasPrefix("code/") { trimmed.removeFirst(5) }
    if trimmed.hasSuffix(".py") { trimmed.removeLast(3) }
    return trimmed.split(separator: "/").joined(separator: ".")
  }

  /// Parses and declares one code file.
  ///
  /// - Parameters:
  ///   - source: the file text.
  ///   - path: its archive path relative to `code/` (locations name it as `code/<path>`).
  public func declare(source: String, path: String) throws {
    let file = try Parser.parse(source, file: "code/" + path)
    try declare(file, qualifier: ModuleCompiler.qualifier(forCodePath: path))
  }

  /// Declares the classes and functions of a parsed file under `qualifier`.
  public func declare(_ file: SourceFile, qualifier: String) throws {
    for statement in file.statements {
      switch statement.kind {
      case .class(let def):
        try declareClass(def, qualifiedName: qualifier + "." + def.name)
      case .def(let def):
        let function = try declareFunction(def, qualifiedName: qualifier + "." + def.name, owner: nil)
        unit.addFunction(function)
      case .pass:
        continue
      default:
        throw SourceError("only classes and functions may appear at the top level of a code file", at: statement.location)
      }
    }
  }

  /// Emits the graph of every declared function and method that has none yet.
  public func emitBodies() throws {
    let pending = pendingBodies
    pendingBodies = []
    for item in pending where item.function.graph == nil {
      let emitter = FunctionEmitter(compiler: self, function: item.function, owner: item.owner)
      let graph = try emitter.emit(item.def)
      // Branch and loop merging creates outputs for every variable a branch assigns; drop the
      // ones nothing reads, as TorchScript's own cleanup does.
      graph.eliminateDeadCode()
      item.function.graph = graph
    }
  }

  // MARK: - Declarations

  private func declareClass(_ def: ClassDef, qualifiedName: String) throws {
    let baseNames = def.bases.compactMap(\.dottedName)
    let kind: ClassKind
    if baseNames.contains("Module") {
      kind = .module
    } else if baseNames.contains("NamedTuple") {
      kind = .namedTuple
    } else if baseNames.contains("Enum") {
      kind = .enumeration
    } else if baseNames.contains("ModuleInterface") {
      kind = .interface(isModule: true)
    } else if baseNames.contains("Interface") {
      kind = .interface(isModule: false)
    } else {
      kind = .scriptClass
    }
    let classType = ClassType(qualifiedName: qualifiedName, kind: kind)
    classType.location = def.location
    var parameters: [String] = []
    var buffers: [String] = []
    var methodDefs: [FunctionDef] = []
    for statement in def.body {
      switch statement.kind {
      case .assign(let targets, let value):
        guard targets.count == 1 else { throw SourceError("unexpected assignment in class body", at: statement.location) }
        let target = targets[0]
        if case .name(let name) = target.kind {
          switch name {
          case "__parameters__": parameters = try stringList(value)
          case "__buffers__": buffers = try stringList(value)
          case "__forward_pre_hooks__": classType.forwardPreHooks = try stringList(value)
          case "__forward_hooks__": classType.forwardHooks = try stringList(value)
          case "__annotations__": continue
          default:
            // Enum members: `RED = 1`.
            classType.enumValues.append((name, try literalValue(value)))
          }
        } else if case .subscript(let base, let items) = target.kind, base.dottedName == "__annotations__",
          items.count == 1, case .string(let name) = items[0].kind
        {
          classType.addAttribute(ClassAttribute(name: name, type: try resolveType(value)))
        } else {
          throw SourceError("unexpected assignment in class body", at: statement.location)
        }
      case .annotatedAssign(let target, let typeExpr, let value):
        guard case .name(let name) = target.kind else {
          throw SourceError("expected an attribute name", at: target.location)
        }
        if case .subscript(let head, let items) = typeExpr.kind, head.dottedName == "Final", items.count == 1 {
          guard let value else { throw SourceError("Final constant \(name) has no value", at: statement.location) }
          let type = try resolveType(items[0])
          classType.constants.append((name, type, try literalValue(value, type: type)))
        } else {
          classType.addAttribute(ClassAttribute(name: name, type: try resolveType(typeExpr)))
        }
      case .def(let method):
        methodDefs.append(method)
      case .pass:
        continue
      case .expression(let expr):
        // Docstrings.
        if case .string = expr.kind { continue }
        throw SourceError("unexpected statement in class body", at: statement.location)
      default:
        throw SourceError("unexpected statement in class body", at: statement.location)
      }
    }
    for index in classType.attributes.indices {
      let name = classType.attributes[index].name
      classType.attributes[index].isParameter = parameters.contains(name)
      classType.attributes[index].isBuffer = buffers.contains(name)
    }
    unit.addClass(classType)
    for method in methodDefs {
      let function = try declareFunction(method, qualifiedName: method.name, owner: classType)
      classType.addMethod(function)
    }
  }

  private func declareFunction(_ def: FunctionDef, qualifiedName: String, owner: ClassType?) throws -> Function {
    var arguments: [FunctionArgument] = []
    for (index, parameter) in def.parameters.enumerated() {
      var type: TorchType
      if let typeExpr = parameter.type {
        type = try resolveType(typeExpr)
      } else if index == 0, let owner {
        type = .class(owner.qualifiedName)
      } else {
        type = .tensor
      }
      var defaultValue: IValue?
      if let expr = parameter.defaultValue {
        defaultValue = try literalValue(expr, type: type)
      }
      arguments.append(FunctionArgument(name: parameter.name, type: type, defaultValue: defaultValue))
    }
    let returnType = try def.returnType.map(resolveType) ?? .none
    let function = Function(qualifiedName: qualifiedName, arguments: arguments, returnType: returnType)
    function.location = def.location
    pendingBodies.append((function, def, owner))
    return function
  }

  private func stringList(_ expr: Expr) throws -> [String] {
    guard case .list(let items) = expr.kind else { throw SourceError("expected a list of strings", at: expr.location) }
    return try items.map { item in
      guard case .string(let text) = item.kind else { throw SourceError("expected a string", at: item.location) }
      return text
    }
  }

  // MARK: - Types and literals

  /// The type an annotation expression names (`List[int]`, `Optional[__torch__.m.Foo]`).
  public func resolveType(_ expr: Expr) throws -> TorchType {
    switch expr.kind {
    case .none:
      return .none
    case .name, .attribute:
      guard let name = expr.dottedName else { break }
      switch name {
      case "Tensor", "torch.Tensor": return .tensor
      case "int": return .int
      case "float": return .float
      case "bool": return .bool
      case "str": return .string
      case "NoneType", "None": return .none
      case "Device", "torch.device": return .device
      case "Any": return .any
      case "number", "Scalar": return .number
      case "complex": return .complex
      case "Generator": return .generator
      case "Storage": return .storage
      case "Stream": return .stream
      case "Capsule": return .capsule
      case "List": return .list(.any)
      case "Dict": return .dict(key: .any, value: .any)
      default:
        if name.hasPrefix("__torch__.") || name.contains(".") { return .class(name) }
        // An unqualified class name.
        return .class(name)
      }
    case .subscript(let head, let items):
      guard let name = head.dottedName else { break }
      let arguments: [Expr]
      if items.count == 1, case .tuple(let elements) = items[0].kind {
        arguments = elements
      } else {
        arguments = items
      }
      switch name {
      case "List":
        guard arguments.count == 1 else { break }
        return .list(try resolveType(arguments[0]))
      case "Optional":
        guard arguments.count == 1 else { break }
        return .optional(try resolveType(arguments[0]))
      case "Future":
        guard arguments.count == 1 else { break }
        return .future(try resolveType(arguments[0]))
      case "Final":
        guard arguments.count == 1 else { break }
        return try resolveType(arguments[0])
      case "Dict":
        guard arguments.count == 2 else { break }
        return .dict(key: try resolveType(arguments[0]), value: try resolveType(arguments[1]))
      case "Tuple":
        return .tuple(try arguments.map(resolveType))
      case "Union":
        return .union(try arguments.map(resolveType))
      default:
        break
      }
    case .tuple(let elements) where elements.isEmpty:
      return .tuple([])
    default:
      break
    }
    throw SourceError("unknown type annotation", at: expr.location)
  }

  /// The value of a literal expression (defaults and class constants).
  func literalValue(_ expr: Expr, type: TorchType? = nil) throws -> IValue {
    switch expr.kind {
    case .int(let value):
      if type?.unwrappingOptional == .float { return .double(Double(value)) }
      return .int(value)
    case .float(let value): return .double(value)
    case .string(let value): return .string(value)
    case .bool(let value): return .bool(value)
    case .none: return .none
    case .name("inf"): return .double(.infinity)
    case .name("nan"): return .double(.nan)
    case .list(let items):
      var elementType: TorchType = .any
      if case .list(let element) = type?.unwrappingOptional { elementType = element }
      let values = try items.map { try literalValue($0, type: elementType == .any ? nil : elementType) }
      if elementType == .any { elementType = values.first.map(Graph.constantType(of:)) ?? .tensor }
      return .list(ListValue(values, elementType: elementType))
    case .tuple(let items):
      var elementTypes: [TorchType?] = Array(repeating: nil, count: items.count)
      if case .tuple(let types) = type?.unwrappingOptional, types.count == items.count { elementTypes = types }
      return .tuple(try zip(items, elementTypes).map { try literalValue($0, type: $1) })
    case .call(let callee, let arguments, _) where callee.dottedName == "torch.device" && arguments.count == 1:
      if case .string(let name) = arguments[0].kind { return .device(name) }
    case .attribute(let base, let name) where base.dottedName == "CONSTANTS":
      guard name.hasPrefix("c"), let index = Int(name.dropFirst()), constants.indices.contains(index) else { break }
      return constants[index]
    default:
      break
    }
    throw SourceError("expected a literal value", at: expr.location)
  }
}
