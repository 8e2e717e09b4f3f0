import TorchIR

/// Parses printed TorchScript source into an AST.
///
/// The input is machine-printed, so the parser is strict: the first problem throws a
/// `SourceError` with file:line:column and what was expected. It covers the Python subset that
/// `torch.jit` prints (classes, defs, if/else, for/while, assignments, calls, subscripts,
/// literals) plus common hand-written forms.
public struct Parser {
  private let tokens: [Token]
  private let file: String
  private var index = 0

  /// Parses a whole file.
  public static func parse(_ source: String, file: String) throws -> SourceFile {
    var parser = Parser(tokens: try Lexer.tokenize(source, file: file), file: file)
    return SourceFile(name: file, statements: try parser.parseFile())
  }

  private init(tokens: [Token], file: String) {
    self.tokens = tokens
    self.file = file
  }

  // MARK: - Token helpers

  private var current: Token { tokens[index] }

  private func location(of token: Token) -> SourceLocation {
    SourceLocation(file: file, line: token.line, column: token.column)
  }

  private var here: SourceLocation { location(of: current) }

  private mutating func advance() {
    if index < tokens.count - 1 { index += 1 }
  }

  private func isOp(_ op: String) -> Bool {
    if case .op(op) = current.kind { return true }
    return false
  }

  private func isName(_ name: String) -> Bool {
    if case .name(name) = current.kind { return true }
    return false
  }

  private mutating func consumeOp(_ op: String) -> Bool {
    guard isOp(op) else { return false }
    advance()
    return true
  }

  private mutating func consumeName(_ name: String) -> Bool {
    guard isName(name) else { return false }
    advance()
    return true
  }

  private mutating func expectOp(_ op: String) throws {
    guard consumeOp(op) else { throw SourceError("expected '\(op)', found \(current)", at: here) }
  }

  private mutating func expectName(_ name: String) throws {
    guard consumeName(name) else { throw SourceError("expected '\(name)', found \(current)", at: here) }
  }

  private mutating func identifier() throws -> String {
    guard case .name(let name) = current.kind, !Parser.keywords.contains(name) else {
      throw SourceError("expected an identifier, found \(current)", at: here)
    }
    advance()
    return name
  }

  private mutating func expectNewline() throws {
    guard current.kind == .newline || current.kind == .end else {
      throw SourceError("expected end of line, found \(current)", at: here)
    }
    if current.kind == .newline { advance() }
  }

  private static let keywords: Set<String> = [
    "def", "class", "if", "else", "elif", "for", "in", "while", "return", "pass", "and", "or", "not", "is",
    "None", "True", "False", "with", "as", "break", "continue", "raise", "assert", "lambda", "del", "global",
    "import", "from",
  ]

  // MARK: - Statements

  private mutating func parseFile() throws -> [Stmt] {
    var statements: [Stmt] = []
    while current.kind != .end {
      let start = index
      if current.kind == .newline {
        advance()
        continue
      }
      statements.append(try parseStatement())
      precondition(index > start, "parser made no progress")
    }
    return statements
  }

  private mutating func parseBlock() throws -> [Stmt] {
    try expectOp(":")
    if current.kind != .newline {
      // A one-line suite: `if x: pass`.
      return try parseSimpleStatements()
    }
    try expectNewline()
    guard current.kind == .indent else { throw SourceError("expected an indented block", at: here) }
    advance()
    var statements: [Stmt] = []
    while current.kind != .dedent && current.kind != .end {
      let start = index
      if current.kind == .newline {
        advance()
        continue
      }
      statements.append(try parseStatement())
      precondition(index > start, "parser made no progress")
    }
    if current.kind == .dedent { advance() }
    return statements
  }

  private mutating func parseStatement() throws -> Stmt {
    let location = here
    if case .name(let keyword) = current.kind {
      switch keyword {
      case "def": return Stmt(.def(try parseDef()), at: location)
      case "class": return Stmt(.class(try parseClass()), at: location)
      case "if": return try parseIf()
      case "for":
        advance()
        let target = try parseTargetList()
        try expectName("in")
        let iterable = try parseExpressionList()
        let body = try parseBlock()
        return Stmt(.for(target: target, iterable: iterable, body: body), at: location)
      case "while":
        advance()
        let condition = try parseExpression()
        let body = try parseBlock()
        return Stmt(.while(condition: condition, body: body), at: location)
      case "with":
        advance()
        var items: [(Expr, Expr?)] = []
        repeat {
          let item = try parseExpression()
          var target: Expr?
          if consumeName("as") { target = try parseTargetList() }
          items.append((item, target))
        } while consumeOp(",")
        let body = try parseBlock()
        return Stmt(.with(items: items, body: body), at: location)
      default:
        break
      }
    }
    let statements = try parseSimpleStatements()
    guard statements.count == 1 else {
      // Several `;`-separated statements: wrap them in an always-true if to keep one statement.
      let trueExpr = Expr(.bool(true), at: location)
      return Stmt(.if(condition: trueExpr, then: statements, otherwise: []), at: location)
    }
    return statements[0]
  }

  private mutating func parseSimpleStatements() throws -> [Stmt] {
    var statements = [try parseSimpleStatement()]
    while consumeOp(";") {
      if current.kind == .newline || current.kind == .end { break }
      statements.append(try parseSimpleStatement())
    }
    try expectNewline()
    return statements
  }

  private mutating func parseSimpleStatement() throws -> Stmt {
    let location = here
    if case .name(let keyword) = current.kind {
      switch keyword {
      case "pass":
        advance()
        return Stmt(.pass, at: location)
      case "break":
        advance()
        return Stmt(.break, at: location)
      case "continue":
        advance()
        return Stmt(.continue, at: location)
      case "return":
        advance()
        if current.kind == .newline || current.kind == .end || isOp(";") {
          return Stmt(.return(nil), at: location)
        }
        return Stmt(.return(try parseExpressionList()), at: location)
      case "raise":
        advance()
        if current.kind == .newline || current.kind == .end { return Stmt(.raise(nil), at: location) }
        return Stmt(.raise(try parseExpression()), at: location)
      case "assert":
        advance()
        let condition = try parseExpression()
        var message: Expr?
        if consumeOp(",") { message = try parseExpression() }
        return Stmt(.assert(condition, message), at: location)
      default:
        break
      }
    }
    let first = try parseExpressionList()
    if consumeOp(":") {
      let type = try parseExpression()
      var value: Expr?
      if consumeOp("=") { value = try parseExpressionList() }
      return Stmt(.annotatedAssign(target: first, type: type, value: value), at: location)
    }
    for op in ["+=", "-=", "*=", "/=", "//=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>="] where isOp(op) {
      advance()
      let value = try parseExpressionList()
      return Stmt(.augmentedAssign(target: first, op: String(op.dropLast()), value: value), at: location)
    }
    if isOp("=") {
      var targets = [first]
      var value = first
      while consumeOp("=") {
        value = try parseExpressionList()
        targets.append(value)
      }
      targets.removeLast()
      return Stmt(.assign(targets: targets, value: value), at: location)
    }
    return Stmt(.expression(first), at: location)
  }

  private mutating func parseIf() throws -> Stmt {
    let location = here
    advance()  // `if` or `elif`
    let condition = try parseExpression()
    let then = try parseBlock()
    var otherwise: [Stmt] = []
    if isName("elif") {
      otherwise = [try parseIf()]
    } else if consumeName("else") {
      otherwise = try parseBlock()
    }
    return Stmt(.if(condition: condition, then: then, otherwise: otherwise), at: location)
  }

  private mutating func parseDef() throws -> FunctionDef {
    let location = here
    try expectName("def")
    let name = try identifier()
    try expectOp("(")
    var parameters: [Parameter] = []
    while !isOp(")") {
      let start = index
      let parameterLocation = here
      if consumeOp("*") {
        // Keyword-only marker; TorchScript prints none, but accept it.
        if !consumeOp(",") { break }
        continue
      }
      let parameterName = try identifier()
      var type: Expr?
      var defaultValue: Expr?
      if consumeOp(":") { type = try parseExpression() }
      if consumeOp("=") { defaultValue = try parseExpression() }
      parameters.append(
        Parameter(name: parameterName, type: type, defaultValue: defaultValue, location: parameterLocation))
      if !consumeOp(",") { break }
      precondition(index > start, "parser made no progress")
    }
    try expectOp(")")
    var returnType: Expr?
    if consumeOp("->") { returnType = try parseExpression() }
    let body = try parseBlock()
    return FunctionDef(name: name, parameters: parameters, returnType: returnType, body: body, location: location)
  }

  private mutating func parseClass() throws -> ClassDef {
    let location = here
    try expectName("class")
    let name = try identifier()
    var bases: [Expr] = []
    if consumeOp("(") {
      while !isOp(")") {
        bases.append(try parseExpression())
        if !consumeOp(",") { break }
      }
      try expectOp(")")
    }
    let body = try parseBlock()
    return ClassDef(name: name, bases: bases, body: body, location: location)
  }

  // MARK: - Expressions

  /// `a, b, c` (a tuple when there is a comma) — assignment right-hand sides and returns.
  private mutating func parseExpressionList() throws -> Expr {
    let location = here
    let first = try parseExpression()
    guard isOp(",") else { return first }
    var items = [first]
    while consumeOp(",") {
      if isOp("=") || isOp(":") || current.kind == .newline || current.kind == .end || isOp(")") { break }
      items.append(try parseExpression())
    }
    return Expr(.tuple(items), at: location)
  }

  /// Targets of `for` (stops before `in`).
  private mutating func parseTargetList() throws -> Expr {
    let location = here
    let first = try parseOr(allowIn: false)
    guard isOp(",") else { return first }
    var items = [first]
    while consumeOp(",") {
      if isName("in") { break }
      items.append(try parseOr(allowIn: false))
    }
    return Expr(.tuple(items), at: location)
  }

  /// A full expression, including `x if c else y`.
  public mutating func parseExpression() throws -> Expr {
    let location = here
    let value = try parseOr(allowIn: true)
    if isName("if") {
      advance()
      let condition = try parseOr(allowIn: true)
      try expectName("else")
      let otherwise = try parseExpression()
      return Expr(.ternary(condition: condition, then: value, otherwise: otherwise), at: location)
    }
    return value
  }

  private mutating func parseOr(allowIn: Bool) throws -> Expr {
    var left = try parseAnd(allowIn: allowIn)
    while isName("or") {
      let location = here
      advance()
      left = Expr(.or(left, try parseAnd(allowIn: allowIn)), at: location)
    }
    return left
  }

  private mutating func parseAnd(allowIn: Bool) throws -> Expr {
    var left = try parseNot(allowIn: allowIn)
    while isName("and") {
      let location = here
      advance()
      left = Expr(.and(left, try parseNot(allowIn: allowIn)), at: location)
    }
    return left
  }

  private mutating func parseNot(allowIn: Bool) throws -> Expr {
    if isName("not") {
      let location = here
      advance()
      return Expr(.unary("not", try parseNot(allowIn: allowIn)), at: location)
    }
    return try parseComparison(allowIn: allowIn)
  }

  private mutating func parseComparison(allowIn: Bool) throws -> Expr {
    var left = try parseBinary(level: 0)
    while true {
      let location = here
      var op: String?
      if case .op(let symbol) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(symbol) {
        op = symbol
        advance()
      } else if isName("is") {
        advance()
        op = consumeName("not") ? "is not" : "is"
      } else if allowIn, isName("in") {
        advance()
        op = "in"
      } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
        advance()
        advance()
        op = "not in"
      }
      guard let found = op else { return left }
      left = Expr(.compare(found, left, try parseBinary(level: 0)), at: location)
    }
  }

  /// The binding level of a binary operator, loosest first; nil for anything else.
  private static func binaryLevel(_ symbol: String) -> Int? {
    switch symbol {
    case "|": 0
    case "^": 1
    case "&": 2
    case "<<", ">>": 3
    case "+", "-": 4
    case "*", "/", "//", "%", "@": 5
    default: nil
    }
  }

  /// Binary operators binding at `level` or tighter, all left-associative (precedence climbing:
  /// one operator lookup per operator, instead of one descent per level for every operand).
  private mutating func parseBinary(level: Int) throws -> Expr {
    var left = try parseUnary()
    while case .op(let symbol) = current.kind, let found = Parser.binaryLevel(symbol), found >= level {
      let location = here
      advance()
      left = Expr(.binary(symbol, left, try parseBinary(level: found + 1)), at: location)
    }
    return left
  }

  private mutating func parseUnary() throws -> Expr {
    let location = here
    if case .op(let symbol) = current.kind, ["-", "+", "~"].contains(symbol) {
      advance()
      let operand = try parseUnary()
      // Fold negative literals so `-1` is an int literal, as torch prints it.
      if symbol == "-" {
        if case .int(let value) = operand.kind { return Expr(.int(-value), at: location) }
        if case .float(let value) = operand.kind { return Expr(.float(-value), at: location) }
        if case .name("inf") = operand.kind { return Expr(.float(-.infinity), at: location) }
      }
      return Expr(.unary(symbol, operand), at: location)
    }
    return try parsePower()
  }

  private mutating func parsePower() throws -> Expr {
    let base = try parsePostfix()
    if isOp("**") {
      let location = here
      advance()
      return Expr(.binary("**", base, try parseUnary()), at: location)
    }
    return base
  }

  private mutating func parsePostfix() throws -> Expr {
    var value = try parseAtom()
    while true {
      let location = here
      if consumeOp(".") {
        value = Expr(.attribute(value, try identifierOrKeyword()), at: location)
      } else if consumeOp("(") {
        var arguments: [Expr] = []
        var keywords: [(name: String, value: Expr)] = []
        while !isOp(")") {
          let start = index
          if case .name(let name) = current.kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
            advance()
            advance()
            keywords.append((name, try parseExpression()))
          } else if consumeOp("*") {
            arguments.append(Expr(.starred(try parseExpression()), at: location))
          } else {
            arguments.append(try parseExpression())
          }
          if !consumeOp(",") { break }
          precondition(index > start, "parser made no progress")
        }
        try expectOp(")")
        value = Expr(.call(value, arguments, keywords), at: location)
      } else if consumeOp("[") {
        var items: [Expr] = []
        while !isOp("]") {
          items.append(try parseSubscriptItem())
          if !consumeOp(",") { break }
        }
        try expectOp("]")
        value = Expr(.subscript(value, items), at: location)
      } else {
        return value
      }
    }
  }

  private mutating func identifierOrKeyword() throws -> String {
    guard case .name(let name) = current.kind else {
      throw SourceError("expected an attribute name, found \(current)", at: here)
    }
    advance()
    return name
  }

  private mutating func parseSubscriptItem() throws -> Expr {
    let location = here
    var lower: Expr?
    if !isOp(":") {
      lower = try parseExpression()
      guard isOp(":") else { return lower! }
    }
    try expectOp(":")
    var upper: Expr?
    var step: Expr?
    if !isOp(":") && !isOp("]") && !isOp(",") { upper = try parseExpression() }
    if consumeOp(":"), !isOp("]"), !isOp(",") { step = try parseExpression() }
    return Expr(.slice(lower, upper, step), at: location)
  }

  private mutating func parseAtom() throws -> Expr {
    let token = current
    let location = here
    switch token.kind {
    case .int(let value):
      advance()
      return Expr(.int(value), at: location)
    case .float(let value):
      advance()
      return Expr(.float(value), at: location)
    case .string(let value):
      advance()
      // Adjacent string literals concatenate.
      var text = value
      while case .string(let more) = current.kind {
        text += more
        advance()
      }
      return Expr(.string(text), at: location)
    case .name("None"):
      advance()
      return Expr(.none, at: location)
    case .name("True"):
      advance()
      return Expr(.bool(true), at: location)
    case .name("False"):
      advance()
      return Expr(.bool(false), at: location)
    case .name(let name) where !Parser.keywords.contains(name):
      advance()
      return Expr(.name(name), at: location)
    case .op("..."):
      advance()
      return Expr(.ellipsis, at: location)
    case .op("("):
      advance()
      if consumeOp(")") { return Expr(.tuple([]), at: location) }
      let first = try parseExpression()
      if consumeOp(")") { return first }
      var items = [first]
      while consumeOp(",") {
        if isOp(")") { break }
        items.append(try parseExpression())
      }
      try expectOp(")")
      return Expr(.tuple(items), at: location)
    case .op("["):
      advance()
      var items: [Expr] = []
      while !isOp("]") {
        items.append(try parseExpression())
        if !consumeOp(",") { break }
      }
      try expectOp("]")
      return Expr(.list(items), at: location)
    case .op("{"):
      advance()
      var entries: [(key: Expr, value: Expr)] = []
      while !isOp("}") {
        let key = try parseExpression()
        try expectOp(":")
        entries.append((key, try parseExpression()))
        if !consumeOp(",") { break }
      }
      try expectOp("}")
      return Expr(.dict(entries), at: location)
    default:
      throw SourceError("expected an expression, found \(token)", at: location)
    }
  }
}
