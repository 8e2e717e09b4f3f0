import Foundation
import TensorCore
import TorchArchive
import TorchIR
import TorchScriptFrontend

extension ScriptModule {
  /// Writes the module as a `.pt` archive that `torch.jit.load` accepts.
  ///
  /// The code is printed from the method graphs; classes and functions nothing reaches are left
  /// out. The output is deterministic (same module, same bytes) and written to a temporary file
  /// first, so a failure never leaves a partial archive.
  ///
  /// - Parameter rootFolder: the folder inside the zip; by default the file name's stem, as
  ///   `torch.jit.save` does.
  public func save(to url: URL, rootFolder: String? = nil) throws {
    try archiveContents(rootFolder: rootFolder ?? ScriptModule.rootFolder(for: url)).write(to: url)
  }

  /// The archive bytes `save` would write.
  public func serialized(rootFolder: String = "archive") throws -> Data {
    try archiveContents(rootFolder: rootFolder).serialized()
  }

  static func rootFolder(for url: URL) -> String {
    let stem = url.deletingPathExtension().lastPathComponent
    let cleaned = String(stem.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
    return cleaned.isEmpty ? "archive" : cleaned
  }

  /// The records of the archive for this module.
  public func archiveContents(rootFolder: String) throws -> ArchiveContents {
    let (classes, functions) = reachableDefinitions()
    let printUnit = CompilationUnit()
    for classType in unit.classes where classes.contains(classType.qualifiedName) { printUnit.addClass(classType) }
    for function in unit.functions where functions.contains(function.qualifiedName) { printUnit.addFunction(function) }
    let printed = SourcePrinter.print(printUnit)
    let code = printed.files.map { CodeFile(path: $0.path, source: $0.source) }
    return ArchiveContents(
      rootFolder: rootFolder, version: fileFormatVersion(), data: .object(root), constants: printed.constants,
      codeFiles: code, extraFiles: archive.extraFiles, byteOrder: archive.byteOrder)
  }

  /// The file-format version torch would write for the printed ops (SPEC §7.3): 3, raised to the
  /// newest upgrader version of any op used.
  public func fileFormatVersion() -> Int {
    let upgraded: [OpName: Int] = [
      "aten::div": 4, "aten::div_": 4, "aten::full": 5, "aten::linspace": 8, "aten::logspace": 9, "aten::gelu": 10,
    ]
    var version = 3
    let (classes, functions) = reachableDefinitions()
    var graphs: [Graph] = []
    for classType in unit.classes where classes.contains(classType.qualifiedName) {
      graphs += classType.methods.compactMap(\.graph)
    }
    for function in unit.functions where functions.contains(function.qualifiedName) {
      if let graph = function.graph { graphs.append(graph) }
    }
    for graph in graphs {
      graph.forEachNode { node in
        if let minimum = upgraded[node.kind] { version = max(version, minimum) }
      }
    }
    return version
  }

  /// Qualified names of the classes and functions the object tree and the code refer to.
  func reachableDefinitions() -> (classes: Set<String>, functions: Set<String>) {
    var classes = Set<String>()
    var functions = Set<String>()
    var pendingClasses: [String] = []
    var pendingFunctions: [String] = []
    func addType(_ type: TorchType) {
      switch type {
      case .class(let name):
        if !CustomClasses.isCustomClass(name), unit.classType(name) != nil, classes.insert(name).inserted {
          pendingClasses.append(name)
        }
      case .list(let element), .optional(let element), .future(let element): addType(element)
      case .tuple(let elements), .union(let elements): elements.forEach(addType)
      case .dict(let key, let value):
        addType(key)
        addType(value)
      case .function(let name):
        if unit.function(name) != nil, functions.insert(name).inserted { pendingFunctions.append(name) }
      default: break
      }
    }
    func addGraph(_ graph: Graph) {
      for input in graph.inputs { addType(input.type) }
      graph.forEachNode { node in
        for output in node.outputs { addType(output.type) }
        if case .types(let types) = node.attribute("isinstance") { types.forEach(addType) }
        if case .types(let types) = node.attribute("types") { types.forEach(addType) }
        for block in node.blocks { for input in block.inputs { addType(input.type) } }
      }
    }
    var seen = Set<ObjectIdentifier>()
    func visit(_ value: IValue) {
      switch value {
      case .object(let object):
        guard seen.insert(ObjectIdentifier(object)).inserted else { return }
        addType(.class(object.typeName))
        for (_, child) in object.attributes { visit(child) }
        if let state = object.state { visit(state) }
      case .list(let list):
        addType(list.elementType)
        list.elements.forEach(visit)
      case .tuple(let items): items.forEach(visit)
      case .dict(let dict):
        addType(dict.keyType)
        addType(dict.valueType)
        dict.values.forEach(visit)
      default: break
      }
    }
    visit(.object(root))
    while !pendingClasses.isEmpty || !pendingFunctions.isEmpty {
      if let name = pendingClasses.popLast(), let classType = unit.classType(name) {
        for attribute in classType.attributes { addType(attribute.type) }
        for constant in classType.constants { addType(constant.type) }
        for method in classType.methods {
          method.arguments.forEach { addType($0.type) }
          addType(method.returnType)
          if let graph = method.graph { addGraph(graph) }
        }
      }
      if let name = pendingFunctions.popLast(), let function = unit.function(name) {
        function.arguments.forEach { addType($0.type) }
        addType(function.returnType)
        if let graph = function.graph { addGraph(graph) }
      }
    }
    return (classes, functions)
  }
}
