import Foundation
import TensorCore
import TorchIR

/// What `mobile-optimizer inspect` reports about a module: archive version, module tree,
/// parameters, buffers, other attributes with their values, and the methods of each class.
public struct ModuleReport: Codable {
  /// A parameter or buffer.
  public struct TensorEntry: Codable, Equatable {
    public var name: String
    public var dtype: String
    public var shape: [Int]

    public init(name: String, dtype: String, shape: [Int]) {
      self.name = name
      self.dtype = dtype
      self.shape = shape
    }
  }

  /// A non-tensor, non-module attribute.
  public struct AttributeEntry: Codable {
    public var name: String
    public var type: String
    public var value: String
  }

  /// One module of the tree.
  public struct ModuleEntry: Codable {
    /// Dotted path, empty for the root.
    public var path: String
    /// Qualified class name.
    public var type: String
    /// Other attributes with values.
    public var attributes: [AttributeEntry]
  }

  /// The methods a class defines.
  public struct ClassMethods: Codable {
    public var `class`: String
    public var methods: [String]
  }

  /// The archive's file-format version.
  public var version: Int
  /// The root module's class.
  public var rootType: String
  public var parameters: [TensorEntry]
  public var buffers: [TensorEntry]
  public var modules: [ModuleEntry]
  public var methods: [ClassMethods]

  enum CodingKeys: String, CodingKey {
    case version
    case rootType = "root_type"
    case parameters, buffers, modules, methods
  }

  /// The report for `module`.
  public init(_ module: ScriptModule) {
    version = module.archive.version
    rootType = module.root.typeName
    parameters = module.namedParameters().map {
      TensorEntry(name: $0.name, dtype: $0.tensor.dtype.name, shape: $0.tensor.shape)
    }
    buffers = module.namedBuffers().map {
      TensorEntry(name: $0.name, dtype: $0.tensor.dtype.name, shape: $0.tensor.shape)
    }
    var modules: [ModuleEntry] = []
    var methods: [ClassMethods] = []
    var listedClasses = Set<String>()
    for (path, object) in module.namedModules() {
      let classType = module.unit.classType(object.typeName)
      var attributes: [AttributeEntry] = []
      for (name, value) in object.attributes {
        if case .tensor = value { continue }
        if case .object(let child) = value, module.isModule(child) { continue }
        let declared = classType?.attribute(name)?.type ?? value.staticType
        attributes.append(AttributeEntry(name: name, type: declared.description, value: ModuleReport.render(value)))
      }
      modules.append(ModuleEntry(path: path, type: object.typeName, attributes: attributes))
      if let classType, listedClasses.insert(classType.qualifiedName).inserted {
        methods.append(ClassMethods(class: classType.qualifiedName, methods: classType.methods.map(\.name)))
      }
    }
    self.modules = modules
    self.methods = methods
  }

  /// A short Python-like rendering of an attribute value.
  public static func render(_ value: IValue) -> String {
    switch value {
    case .none: return "None"
    case .bool(let flag): return flag ? "True" : "False"
    case .int(let number): return String(number)
    case .double(let number): return FloatFormatting.torchString(number)
    case .string(let text): return GraphPrinter.quoted(text)
    case .device(let name): return "device(\(GraphPrinter.quoted(name)))"
    case .tensor(let tensor): return "Tensor(\(tensor.dtype), \(tensor.shape))"
    case .tuple(let items):
      return items.count == 1 ? "(\(render(items[0])),)" : "(" + items.map(render).joined(separator: ", ") + ")"
    case .list(let list):
      let shown = list.elements.prefix(16).map(render)
      return "[" + shown.joined(separator: ", ") + (list.elements.count > 16 ? ", ..." : "") + "]"
    case .dict(let dict):
      let shown = zip(dict.keys, dict.values).prefix(8).map { "\(render($0)): \(render($1))" }
      return "{" + shown.joined(separator: ", ") + (dict.count > 8 ? ", ..." : "") + "}"
    case .object(let object): return "<\(object.typeName)>"
    case .function(let name): return "<function \(name)>"
    }
  }

  /// The report as JSON (keys sorted, so output is byte-stable).
  public func json() throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(self), as: UTF8.self)
  }

  /// The report as text for people.
  public func text(archiveName: String) -> String {
    var lines: [String] = []
    lines.append("\(archiveName): TorchScript archive, file-format version \(version)")
    lines.append("")
    lines.append("modules:")
    for entry in modules {
      let depth = entry.path.isEmpty ? 0 : entry.path.split(separator: ".").count
      let label = entry.path.isEmpty ? "<root>" : String(entry.path.split(separator: ".").last!)
      lines.append(String(repeating: "  ", count: depth + 1) + "\(label): \(entry.type)")
    }
    let parameterCount = parameters.reduce(0) { $0 + $1.shape.reduce(1, *) }
    lines.append("")
    lines.append("parameters (\(parameters.count) tensors, \(parameterCount) elements):")
    for entry in parameters { lines.append("  \(entry.name)  \(entry.dtype)  \(entry.shape)") }
    lines.append("")
    lines.append("buffers (\(buffers.count)):")
    for entry in buffers { lines.append("  \(entry.name)  \(entry.dtype)  \(entry.shape)") }
    lines.append("")
    lines.append("attributes:")
    for entry in modules {
      for attribute in entry.attributes {
        let name = entry.path.isEmpty ? attribute.name : "\(entry.path).\(attribute.name)"
        lines.append("  \(name) : \(attribute.type) = \(attribute.value)")
      }
    }
    lines.append("")
    lines.append("methods:")
    for entry in methods { lines.append("  \(entry.class): \(entry.methods.joined(separator: ", "))") }
    return lines.joined(separator: "\n") + "\n"
  }
}
