import Foundation
import Synchronization
import TensorCore
import TorchArchive
import TorchIR
import TorchRuntime
import TorchScriptFrontend

/// A TorchScript module loaded from a `.pt` archive: its object tree, classes with method graphs,
/// and what is needed to write it back.
///
/// Loading parses the code, emits a graph per method, and unpickles the object tree (tensor data
/// is read lazily). `run` executes methods with the built-in interpreter.
public final class ScriptModule {
  /// The root module object.
  public let root: ScriptObject
  /// Classes and free functions, with method graphs.
  public let unit: CompilationUnit
  /// The archive the module came from: version, root folder, extra files.
  public var archive: ArchiveInfo
  private var cachedInterpreter: Interpreter?
  /// Verify every graph after each pass (tests turn this on).
  public var verifyAfterEachPass = false
  /// Problems found while loading that do not stop it (an object whose `__setstate__` could not
  /// run here); running the affected methods reports them again.
  public private(set) var loadWarnings: [String] = []

  /// Facts about the archive a module was read from, kept for writing it back.
  public struct ArchiveInfo {
    /// The file-format version the archive declared.
    public var version: Int
    /// The folder all records were under.
    public var rootFolder: String
    /// `extra/` files.
    public var extraFiles: [ExtraFile]
    /// `byteorder` (torch 2.x writes `little`).
    public var byteOrder: String?
    /// The code files as they were in the archive.
    public var codeFiles: [CodeFile]
    /// The constant table the code refers to.
    public var constants: [IValue]
  }

  /// A module from its parts.
  public init(root: ScriptObject, unit: CompilationUnit, archive: ArchiveInfo) {
    self.root = root
    self.unit = unit
    self.archive = archive
  }

  /// Reads the archive at `url`.
  ///
  /// - Throws: `ArchiveError` for a damaged archive, `SourceError` for code that does not parse
  ///   or type-check, `ModuleError` for objects that do not match their classes.
  public static func load(contentsOf url: URL) throws -> ScriptModule {
    _ = BackgroundLane.shared  // Its thread starts while the archive opens.
    let archive = try TorchScriptArchive(contentsOf: url)
    return try load(archive)
  }

  /// Builds a module from an opened archive.
  public static func load(_ archive: TorchScriptArchive) throws -> ScriptModule {
    let constants = try archive.readConstants()
    let files = parseCode(archive)
    // The object tree unpickles on another thread while the code compiles here: the two are
    // independent, and each is about a third of loading. Unpickling is the shorter, so that
    // thread then builds the runtime's operator table (about a millisecond, needed by whatever
    // comes next: running, or constant propagation in freeze and optimize).
    nonisolated(unsafe) var data: Result<IValue, any Error> = .failure(CancellationError())
    let unpickling = BackgroundLane.shared.submit {
      data = Result { try archive.readData() }
      _ = OperatorTable.standard
    }
    let compiled = Result {
      let compiler = ModuleCompiler(constants: constants)
      for (file, parsed) in zip(archive.codeFiles, files) {
        try compiler.declare(try parsed.get(), qualifier: ModuleCompiler.qualifier(forCodePath: file.path))
      }
      try compiler.emitBodies()
      return compiler
    }
    unpickling.wait()
    let compiler = try compiled.get()
    guard case .object(let root) = try data.get() else {
      throw ModuleError.rootIsNotAnObject
    }
    let info = ArchiveInfo(
      version: archive.version, rootFolder: archive.rootFolder, extraFiles: archive.extraFiles,
      byteOrder: archive.byteOrder, codeFiles: archive.codeFiles, constants: constants)
    let module = ScriptModule(root: root, unit: compiler.unit, archive: info)
    try module.checkObjects()
    try module.restoreStates()
    return module
  }

  /// Parses every code file, on two threads, largest files first. Results come back in file
  /// order, so the first error reported is the same as when done one by one.
  private static func parseCode(_ archive: TorchScriptArchive) -> [Result<SourceFile, any Error>] {
    let codeFiles = archive.codeFiles
    nonisolated(unsafe) var files = [Result<SourceFile, any Error>](
      repeating: .failure(CancellationError()), count: codeFiles.count)
    let next = Atomic<Int>(0)
    let order = codeFiles.indices.sorted { codeFiles[$0].source.utf8.count > codeFiles[$1].source.utf8.count }
    let helped = ProcessInfo.processInfo.activeProcessorCount > 1 && codeFiles.count > 1
    files.withUnsafeMutableBufferPointer { fileResults in
      nonisolated(unsafe) let fileResults = fileResults
      let work: @Sendable () -> Void = {
        while true {
          let task = next.add(1, ordering: .relaxed).oldValue
          guard task < order.count else { return }
          let index = order[task]
          let file = codeFiles[index]
          fileResults[index] = Result { try Parser.parse(file.source, file: "code/" + file.path) }
        }
      }
      let helper = helped ? BackgroundLane.shared.submit(work) : nil
      work()
      helper?.wait()
    }
    return files
  }

  /// Throws when loading could not restore some object's state (transformations would lose it).
  public func requireCompleteState() throws {
    if let first = loadWarnings.first { throw ModuleError.incompleteState(first) }
  }

  /// The root module's class.
  public var rootClass: ClassType? { unit.classType(root.typeName) }

  /// Threads, buffer pool and profile used when running methods.
  public var executionContext = ExecutionContext() {
    didSet { cachedInterpreter = nil }
  }

  /// The interpreter running this module's methods (created on first use).
  public var interpreter: Interpreter {
    if let cachedInterpreter { return cachedInterpreter }
    let interpreter = Interpreter(unit: unit, context: executionContext)
    cachedInterpreter = interpreter
    return interpreter
  }

  /// Forgets compiled plans after graphs changed.
  public func invalidateCompiledPlans() {
    cachedInterpreter = nil
  }

  /// Runs method `name` of the root module.
  public func run(_ name: String = "forward", _ arguments: [IValue]) throws -> IValue {
    try interpreter.callMethod(name, on: root, arguments: arguments)
  }

  // MARK: - Loading checks

  /// Every object reachable from the root must have a known class (custom C++ classes aside).
  private func checkObjects() throws {
    var seen = Set<ObjectIdentifier>()
    func visit(_ value: IValue, path: String) throws {
      switch value {
      case .object(let object):
        guard seen.insert(ObjectIdentifier(object)).inserted else { return }
        guard unit.classType(object.typeName) != nil || CustomClasses.isCustomClass(object.typeName) else {
          throw ModuleError.unknownClass(object.typeName, path: path)
        }
        for (name, child) in object.attributes { try visit(child, path: path.isEmpty ? name : "\(path).\(name)") }
        if let state = object.state { try visit(state, path: path) }
      case .list(let list):
        for item in list.elements { try visit(item, path: path) }
      case .tuple(let items):
        for item in items { try visit(item, path: path) }
      case .dict(let dict):
        for item in dict.values { try visit(item, path: path) }
      default:
        break
      }
    }
    try visit(.object(root), path: "")
  }

  /// Objects pickled through `__getstate__` get their attributes from their class's
  /// `__setstate__`, as `torch.jit.load` does.
  private func restoreStates() throws {
    var pending: [ScriptObject] = []
    var seen = Set<ObjectIdentifier>()
    func visit(_ value: IValue) {
      switch value {
      case .object(let object):
        guard seen.insert(ObjectIdentifier(object)).inserted else { return }
        for (_, child) in object.attributes { visit(child) }
        if let state = object.state {
          visit(state)
          if let classType = unit.classType(object.typeName), classType.method("__setstate__") != nil {
            pending.append(object)
          }
        }
      case .list(let list): list.elements.forEach(visit)
      case .tuple(let items): items.forEach(visit)
      case .dict(let dict): dict.values.forEach(visit)
      default: break
      }
    }
    visit(.object(root))
    for object in pending {
      guard let classType = unit.classType(object.typeName), let state = object.state else { continue }
      // Slots start as None, in declaration order, before __setstate__ fills them.
      for attribute in classType.attributes where object.slot(of: attribute.name) == nil {
        object.setAttribute(attribute.name, .none)
      }
      do {
        _ = try interpreter.callMethod("__setstate__", on: object, arguments: [state])
      } catch {
        loadWarnings.append("could not restore the state of a \(object.typeName): \(error)")
      }
    }
  }
}

/// Errors in the object tree of an archive.
public enum ModuleError: Error, CustomStringConvertible {
  /// data.pkl does not hold an object.
  case rootIsNotAnObject
  /// An object's class has no code in the archive.
  case unknownClass(String, path: String)
  /// A method that does not exist.
  case noSuchMethod(String, typeName: String)
  /// An object's `__setstate__` could not run here, so its attributes are unknown.
  case incompleteState(String)

  public var description: String {
    switch self {
    case .rootIsNotAnObject: "data.pkl: the root value is not a module object"
    case .unknownClass(let name, let path):
      "data.pkl: object \(path.isEmpty ? "<root>" : path) has class \(name), which no code file defines"
    case .noSuchMethod(let name, let typeName): "\(typeName) has no method '\(name)'"
    case .incompleteState(let detail): "cannot transform this module: \(detail)"
    }
  }
}
