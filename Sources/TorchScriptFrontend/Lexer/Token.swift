import TorchIR

/// A lexical token of printed TorchScript source.
public struct Token: Equatable, CustomStringConvertible {
  /// What kind of token.
  public enum Kind: Equatable {
    case name(String)
    case int(Int)
    case float(Double)
    case string(String)
    case op(String)
    case newline
    case indent
    case dedent
    case end
  }

  /// The token kind and payload.
  public var kind: Kind
  /// 1-based line of the first character.
  public var line: Int
  /// 1-based column of the first character.
  public var column: Int

  public var description: String {
    switch kind {
    case .name(let name): "'\(name)'"
    case .int(let value): "'\(value)'"
    case .float(let value): "'\(value)'"
    case .string(let value): "string \"\(value)\""
    case .op(let op): "'\(op)'"
    case .newline: "newline"
    case .indent: "indent"
    case .dedent: "dedent"
    case .end: "end of file"
    }
  }
}

/// A syntax error in TorchScript source: where, and what was expected.
public struct SourceError: Error, CustomStringConvertible {
  /// Where the error is.
  public var location: SourceLocation
  /// What went wrong, including what was expected.
  public var message: String

  public init(_ message: String, at location: SourceLocation) {
    self.message = message
    self.location = location
  }

  public var description: String { "\(location): \(message)" }
}
