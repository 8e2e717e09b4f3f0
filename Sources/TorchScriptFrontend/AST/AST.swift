import TorchIR

/// An expression of printed TorchScript, with its source location.
public final class Expr {
  /// The expression forms the printer writes (and a few more that hand-written code uses).
  public indirect enum Kind {
    case name(String)
    case int(Int)
    case float(Double)
    case string(String)
    case bool(Bool)
    case none
    case ellipsis
    case attribute(Expr, String)
    case call(Expr, [Expr], [(name: String, value: Expr)])
    case `subscript`(Expr, [Expr])
    case slice(Expr?, Expr?, Expr?)
    case list([Expr])
    case tuple([Expr])
    case dict([(key: Expr, value: Expr)])
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case compare(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case ternary(condition: Expr, then: Expr, otherwise: Expr)
    case starred(Expr)
  }

  /// The form.
  public let kind: Kind
  /// Where it starts.
  public let location: SourceLocation

  public init(_ kind: Kind, at location: SourceLocation) {
    self.kind = kind
    self.location = location
  }

  /// The dotted name of a name or attribute chain (`torch.nn.functional.relu`), or nil.
  public var dottedName: String? {
    // Parts gathered innermost-last and joined once (qualified type names have half a dozen).
    var parts: [String] = []
    var current = self
    while true {
      switch current.kind {
      case .name(let name):
        if parts.isEmpty { return name }
        parts.append(name)
        return parts.reversed().joined(separator: ".")
      case .attribute(let base, let name):
        parts.append(name)
        current = base
      default:
        return nil
      }
    }
  }
}

/// A parameter of a `def`.
public struct Parameter {
  public var name: String
  public var type: Expr?
  public var defaultValue: Expr?
  public var location: SourceLocation
}

/// A `def`.
public final class FunctionDef {
  public let name: String
  public let parameters: [Parameter]
  public let returnType: Expr?
  public let body: [Stmt]
  public let location: SourceLocation

  public init(name: String, parameters: [Parameter], returnType: Expr?, body: [Stmt], location: SourceLocation) {
    self.name = name
    self.parameters = parameters
    self.returnType = returnType
    self.body = body
    self.location = location
  }
}

/// A `class`.
public final class ClassDef {
  public let name: String
  public let bases: [Expr]
  public let body: [Stmt]
  public let location: SourceLocation

  public init(name: String, bases: [Expr], body: [Stmt], location: SourceLocation) {
    self.name = name
    self.bases = bases
    self.body = body
    self.location = location
  }
}

/// A statement of printed TorchScript, with its source location.
public final class Stmt {
  public indirect enum Kind {
    case expression(Expr)
    case assign(targets: [Expr], value: Expr)
    case annotatedAssign(target: Expr, type: Expr, value: Expr?)
    case augmentedAssign(target: Expr, op: String, value: Expr)
    case `if`(condition: Expr, then: [Stmt], otherwise: [Stmt])
    case `for`(target: Expr, iterable: Expr, body: [Stmt])
    case `while`(condition: Expr, body: [Stmt])
    case `return`(Expr?)
    case raise(Expr?)
    case assert(Expr, Expr?)
    case pass
    case `break`
    case `continue`
    case with(items: [(Expr, Expr?)], body: [Stmt])
    case def(FunctionDef)
    case `class`(ClassDef)
  }

  public let kind: Kind
  public let location: SourceLocation

  public init(_ kind: Kind, at location: SourceLocation) {
    self.kind = kind
    self.location = location
  }
}

/// A parsed source file: its top-level statements.
public struct SourceFile {
  /// The file name used in locations (`code/__torch__/torch/nn/modules/conv.py`).
  public var name: String
  /// Top-level statements (class and function definitions, imports are not allowed).
  public var statements: [Stmt]
}
