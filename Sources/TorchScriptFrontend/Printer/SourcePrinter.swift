import TensorCore
import TorchIR

/// Prints classes and functions back to TorchScript source in the form torch writes under `code/`,
/// so that `torch.jit.load` accepts the archives we save.
///
/// Values that have no literal form (tensors, objects, non-ASCII strings) go to a constant table
/// and print as `CONSTANTS.cN`. Output is deterministic: files, classes and methods in unit order.
public struct SourcePrinter {
  /// One printed file.
  public struct File {
    /// The path under `code/` (`__torch__/torch/nn/modules/conv.py`).
    public var path: String
    /// The source text.
    public var source: String
  }

  /// Printed files and the constant table they refer to.
  public struct Output {
    public var files: [File]
    public var constants: [IValue]
  }

  /// Collects constants shared by every printed file.
  final class ConstantTable {
    var values: [IValue] = []
    private var tensorIndex: [TensorViewKey: Int] = [:]
    private var objectIndex: [ObjectIdentifier: Int] = [:]

    func index(of value: IValue) -> Int {
      switch value {
      case .tensor(let tensor):
        let key = TensorViewKey(tensor)
        if let index = tensorIndex[key] { return index }
        tensorIndex[key] = values.count
      case .object(let object):
        if let index = objectIndex[ObjectIdentifier(object)] { return index }
        objectIndex[ObjectIdentifier(object)] = values.count
      default:
        break
      }
      values.append(value)
      return values.count - 1
    }
  }

  /// Prints every class and free function of `unit`.
  ///
  /// - Parameter classes: the qualified names to print (default: all but custom C++ classes).
  public static func print(_ unit: CompilationUnit, classes: [String]? = nil) -> Output {
    let table = ConstantTable()
    var fileOrder: [String] = []
    var fileText: [String: String] = [:]
    func append(_ text: String, toQualifier qualifier: String) {
      let path = qualifier.split(separator: ".").joined(separator: "/") + ".py"
      if fileText[path] == nil {
        fileOrder.append(path)
        fileText[path] = ""
      }
      fileText[path]! += text
    }
    let selected = classes.map(Set.init)
    for classType in unit.classes where !CustomClasses.isCustomClass(classType.qualifiedName) {
      if let selected, !selected.contains(classType.qualifiedName) { continue }
      let (qualifier, _) = splitQualified(classType.qualifiedName)
      append(printClass(classType, table: table), toQualifier: qualifier)
    }
    for function in unit.functions where function.graph != nil {
      let (qualifier, name) = splitQualified(function.qualifiedName)
      var printer = FunctionPrinter(function: function, name: name, table: table, selfType: nil)
      append(printer.print(), toQualifier: qualifier)
    }
    let files = fileOrder.map { File(path: $0, source: fileText[$0]!) }
    return Output(files: files, constants: table.values)
  }

  /// One method of `classType` as source (constants print as `CONSTANTS.cN` of a fresh table).
  public static func methodSource(_ method: Function, of classType: ClassType) -> String {
    var printer = FunctionPrinter(function: method, name: method.name, table: ConstantTable(), selfType: classType.qualifiedName)
    return printer.print()
  }

  /// Splits `a.b.C` into (`a.b`, `C`).
  static func splitQualified(_ name: String) -> (String, String) {
    guard let dot = name.lastIndex(of: ".") else { return ("__torch__", name) }
    return (String(name[..<dot]), String(name[name.index(after: dot)...]))
  }

  /// True for a Python identifier.
  static func isIdentifier(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
    return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
  }

  private static func printClass(_ classType: ClassType, table: ConstantTable) -> String {
    var text = ""
    switch classType.kind {
    case .module: text += "class \(classType.name)(Module):\n"
    case .namedTuple: text += "class \(classType.name)(NamedTuple):\n"
    case .enumeration: text += "class \(classType.name)(Enum):\n"
    case .interface(let isModule): text += "class \(classType.name)(\(isModule ? "ModuleInterface" : "Interface")):\n"
    case .scriptClass: text += "class \(classType.name):\n"
    }
    var body = ""
    if case .module = classType.kind {
      let parameters = classType.attributes.filter(\.isParameter).map { GraphPrinter.quoted($0.name) + ", " }
      let buffers = classType.attributes.filter(\.isBuffer).map { GraphPrinter.quoted($0.name) + ", " }
      body += "  __parameters__ = [\(parameters.joined())]\n"
      body += "  __buffers__ = [\(buffers.joined())]\n"
      if !classType.forwardPreHooks.isEmpty {
        body += "  __forward_pre_hooks__ = [\(classType.forwardPreHooks.map { GraphPrinter.quoted($0) + ", " }.joined())]\n"
      }
      if !classType.forwardHooks.isEmpty {
        body += "  __forward_hooks__ = [\(classType.forwardHooks.map { GraphPrinter.quoted($0) + ", " }.joined())]\n"
      }
    }
    if case .enumeration = classType.kind {
      for (name, value) in classType.enumValues {
        body += "  \(name) = \(literal(value, table: table))\n"
      }
    } else {
      if let first = classType.attributes.first, !isIdentifier(first.name) {
        body += "  __annotations__ = []\n"
      }
      for attribute in classType.attributes {
        if isIdentifier(attribute.name) {
          body += "  \(attribute.name) : \(typeString(attribute.type))\n"
        } else {
          body += "  __annotations__[\(GraphPrinter.quoted(attribute.name))] = \(typeString(attribute.type))\n"
        }
      }
      for constant in classType.constants {
        body += "  \(constant.name) : Final[\(typeString(constant.type))] = \(literal(constant.value, table: table))\n"
      }
    }
    for method in classType.methods where method.graph != nil {
      var printer = FunctionPrinter(function: method, name: method.name, table: table, selfType: classType.qualifiedName)
      body += printer.print(indent: 1)
    }
    if body.isEmpty { body = "  pass\n" }
    return text + body
  }

  /// A type as source annotations write it.
  static func typeString(_ type: TorchType) -> String {
    switch type {
    case .enumInt: "int"
    case .list(let element): "List[\(typeString(element))]"
    case .optional(let wrapped): "Optional[\(typeString(wrapped))]"
    case .tuple(let elements):
      elements.isEmpty ? "Tuple[()]" : "Tuple[\(elements.map(typeString).joined(separator: ", "))]"
    case .dict(let key, let value): "Dict[\(typeString(key)), \(typeString(value))]"
    case .future(let element): "Future[\(typeString(element))]"
    case .union(let members): "Union[\(members.map(typeString).joined(separator: ", "))]"
    case .number: "number"
    default: type.description
    }
  }

  /// A value as a source literal, sending what has no literal form to the constant table.
  static func literal(_ value: IValue, table: ConstantTable) -> String {
    switch value {
    case .none: return "None"
    case .bool(let flag): return flag ? "True" : "False"
    case .int(let number): return String(number)
    case .double(let number): return FloatFormatting.torchString(number)
    case .string(let text):
      if text.utf8.allSatisfy({ $0 < 0x80 }) { return GraphPrinter.quoted(text) }
      return "CONSTANTS.c\(table.index(of: value))"
    case .device(let name): return "torch.device(\(GraphPrinter.quoted(name)))"
    case .list(let list):
      if list.elements.isEmpty { return "annotate(\(typeString(.list(list.elementType))), [])" }
      let items = list.elements.map { literal($0, table: table) }
      return "[\(items.joined(separator: ", "))]"
    case .tuple(let elements):
      if elements.count == 1 { return "(\(literal(elements[0], table: table)),)" }
      return "(\(elements.map { literal($0, table: table) }.joined(separator: ", ")))"
    case .tensor, .object, .dict:
      return "CONSTANTS.c\(table.index(of: value))"
    case .function(let name):
      return name
    }
  }
}
