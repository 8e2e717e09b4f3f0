import TensorCore
import TorchIR

// Note [Inlining in printed source]
// A node's single output is printed inline in its user (instead of as `_N = expr`) when the node
// is pure (no side effects), has no blocks, its output is used exactly once by a node in the same
// block, the value has no debug name (or its use is the block's return), and no node with side
// effects lies between the two: moving a pure expression past a mutation could change its value.
// Constants are always inlined.

/// Prints one function or method body as TorchScript source.
struct FunctionPrinter {
  let function: Function
  let name: String
  let table: SourcePrinter.ConstantTable
  let selfType: String?

  private var names: [ObjectIdentifier: String] = [:]
  private var usedNames: Set<String> = []
  private var inlined: Set<ObjectIdentifier> = []
  private var nextTemporary = 0
  private var text = ""

  init(function: Function, name: String, table: SourcePrinter.ConstantTable, selfType: String?) {
    self.function = function
    self.name = name
    self.table = table
    self.selfType = selfType
  }

  private static let reserved: Set<String> = [
    "and", "as", "assert", "break", "class", "continue", "def", "del", "elif", "else", "except", "finally",
    "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield", "None", "True", "False", "_", "aten", "ops", "CONSTANTS", "fork",
    "getattr", "inf", "nan", "infj", "nanj", "__torch__", "uninitialized", "unchecked_cast", "attribute",
    "torch", "annotate", "isinstance", "print", "range", "int", "float", "bool", "str", "len", "self_",
  ]

  mutating func print(indent: Int = 0) -> String {
    guard let graph = function.graph else { return "" }
    let pad = String(repeating: "  ", count: indent)
    var header = "\(pad)def \(name)("
    for (index, input) in graph.inputs.enumerated() {
      let argument = index < function.arguments.count ? function.arguments[index] : nil
      let argumentName = claim(input, preferred: argument?.name ?? input.debugName)
      var piece = "\(argumentName): \(SourcePrinter.typeString(input.type))"
      if let defaultValue = argument?.defaultValue {
        piece += "=\(SourcePrinter.literal(defaultValue, table: table))"
      }
      header += index == 0 ? piece : ",\n\(pad)    \(piece)"
    }
    header += ") -> \(SourcePrinter.typeString(function.returnType)):\n"
    text = header
    printBlock(graph.block, indent: indent + 1)
    let outputs = graph.outputs
    let returned = outputs.count == 1 ? expression(outputs[0]) : "(\(outputs.map { expression($0) }.joined(separator: ", ")))"
    text += String(repeating: "  ", count: indent + 1) + "return \(returned)\n"
    return text
  }

  // MARK: - Names

  private mutating func claim(_ value: Value, preferred: String?) -> String {
    var base = sanitize(preferred ?? "")
    if base.isEmpty {
      base = "_"
    }
    var candidate: String
    if base == "_" {
      repeat {
        candidate = "_\(nextTemporary)"
        nextTemporary += 1
      } while usedNames.contains(candidate)
    } else {
      candidate = base
      var suffix = 0
      while usedNames.contains(candidate) || FunctionPrinter.reserved.contains(candidate) {
        candidate = "\(base)\(suffix)"
        suffix += 1
      }
    }
    usedNames.insert(candidate)
    names[ObjectIdentifier(value)] = candidate
    return candidate
  }

  /// The debug-name base: `x.1` → `x`; invalid characters become `_`; a leading digit gets `_`.
  private func sanitize(_ debugName: String) -> String {
    guard !debugName.isEmpty, Int(debugName) == nil else { return "" }
    var base = debugName
    if let dot = base.firstIndex(of: "."), Int(base[base.index(after: dot)...]) != nil {
      base = String(base[..<dot])
    }
    var result = String(base.map { $0.isLetter || $0.isNumber || $0 == "_" ? ($0.isASCII ? $0 : "_") : "_" })
    if let first = result.first, first.isNumber { result = "_" + result }
    return result
  }

  private mutating func nameOf(_ value: Value) -> String {
    if let name = names[ObjectIdentifier(value)] { return name }
    return claim(value, preferred: value.debugName)
  }

  // MARK: - Blocks and statements

  private func hasSideEffects(_ node: Node) -> Bool {
    // Uninitialized placeholders and unpacks print as statements; keep them in place.
    node.hasSideEffects || node.kind == .uninitialized || node.kind == .tupleUnpack || node.kind == .listUnpack
      || node.kind == .createObject
  }

  /// Decides which nodes of `block` print inline (see Note [Inlining in printed source]).
  private mutating func planInlining(_ block: Block) {
    let nodes = block.nodes
    var position: [ObjectIdentifier: Int] = [:]
    for (index, node) in nodes.enumerated() { position[ObjectIdentifier(node)] = index }
    var effectPrefix = [0]
    for node in nodes { effectPrefix.append(effectPrefix.last! + (hasSideEffects(node) ? 1 : 0)) }
    for (index, node) in nodes.enumerated() {
      guard node.outputs.count == 1, node.blocks.isEmpty else { continue }
      let output = node.outputs[0]
      if node.kind == .constant {
        if isLongString(node) { continue }
        inlined.insert(ObjectIdentifier(node))
        continue
      }
      guard !hasSideEffects(node), node.kind != .isInstance, output.uses.count == 1 else { continue }
      let user = output.uses[0].user
      let usedByReturn = user === block.returnNode
      guard output.debugName == nil || usedByReturn else { continue }
      if usedByReturn {
        if effectPrefix[nodes.count] - effectPrefix[index + 1] == 0 { inlined.insert(ObjectIdentifier(node)) }
        continue
      }
      guard let userIndex = position[ObjectIdentifier(user)], userIndex > index else { continue }
      _ = userIndex
      // Side effects strictly between the node and its user block the move (the user itself may
      // have effects: its operands are evaluated before it runs).
      if effectPrefix[userIndex] - effectPrefix[index + 1] == 0 {
        inlined.insert(ObjectIdentifier(node))
      }
    }
    // The last statement of a block may print directly as the block-output assignment even when
    // it has effects: nothing runs between it and that assignment.
    if let last = nodes.last(where: { !inlined.contains(ObjectIdentifier($0)) }), last.blocks.isEmpty,
      last.outputs.count == 1, last.outputs[0].uses.count == 1, last.outputs[0].uses[0].user === block.returnNode,
      block.returnNode.inputs.filter({ $0 === last.outputs[0] }).count == 1, block !== function.graph?.block,
      last.kind != .isInstance, last.kind != .uninitialized
    {
      inlined.insert(ObjectIdentifier(last))
    }
  }

  private func isLongString(_ node: Node) -> Bool {
    if case .string(let text) = node.constantValue { return text.utf8.count > 40 }
    return false
  }

  private mutating func printBlock(_ block: Block, indent: Int) {
    planInlining(block)
    let start = text.count
    for node in block.nodes where !inlined.contains(ObjectIdentifier(node)) {
      printStatement(node, indent: indent)
    }
    if text.count == start {
      // Keep the block non-empty when nothing but inlined expressions remain.
      _ = start
    }
  }

  private mutating func line(_ content: String, indent: Int) {
    text += String(repeating: "  ", count: indent) + content + "\n"
  }

  private mutating func printStatement(_ node: Node, indent: Int) {
    switch node.kind {
    case .if:
      printIf(node, indent: indent)
    case .loop:
      printLoop(node, indent: indent)
    case .setAttr:
      let object = expression(node.inputs[0])
      let attribute = node.name ?? ""
      let value = expression(node.inputs[1])
      if SourcePrinter.isIdentifier(attribute) {
        line("\(object).\(attribute) = \(value)", indent: indent)
      } else {
        line("setattr(\(object), \(GraphPrinter.quoted(attribute)), \(value))", indent: indent)
      }
    case .tupleUnpack, .listUnpack:
      let source = expression(node.inputs[0])
      let targets = node.outputs.map { nameOf($0) + ", " }.joined()
      line("\(targets)= \(source)", indent: indent)
    default:
      let expr = nodeExpression(node)
      if node.outputs.isEmpty {
        line(expr, indent: indent)
      } else if node.outputs.count == 1 {
        line("\(nameOf(node.outputs[0])) = \(expr)", indent: indent)
      } else {
        let targets = node.outputs.map { nameOf($0) + ", " }.joined()
        line("\(targets)= \(expr)", indent: indent)
      }
    }
  }

  private mutating func assignments(_ targets: [Value], _ sources: [Value], indent: Int) {
    guard !targets.isEmpty else { return }
    var plain: [(String, String)] = []
    for (target, source) in zip(targets, sources) {
      let left = nameOf(target)
      let right = expression(source)
      guard left != right else { continue }
      if target.type != source.type && !source.type.isSubtype(of: target.type) || source.type == .none && target.type != .none {
        // The declared type differs from the value's (a None that is an Optional[T]): annotate it,
        // so that the parser gives the variable the wider type.
        line("\(left): \(SourcePrinter.typeString(target.type)) = \(right)", indent: indent)
      } else {
        plain.append((left, right))
      }
    }
    guard !plain.isEmpty else { return }
    if plain.count == 1 {
      line("\(plain[0].0) = \(plain[0].1)", indent: indent)
    } else {
      line("\(plain.map(\.0).joined(separator: ", ")) = \(plain.map(\.1).joined(separator: ", "))", indent: indent)
    }
  }

  private mutating func printIf(_ node: Node, indent: Int) {
    for output in node.outputs { _ = nameOf(output) }
    line("if \(expression(node.inputs[0])):", indent: indent)
    for (index, block) in node.blocks.enumerated() {
      if index == 1 { line("else:", indent: indent) }
      let before = text.count
      printBlock(block, indent: indent + 1)
      assignments(node.outputs, block.outputs, indent: indent + 1)
      if text.count == before { line("pass", indent: indent + 1) }
    }
  }

  private mutating func printLoop(_ node: Node, indent: Int) {
    let body = node.blocks[0]
    let carried = Array(node.inputs.dropFirst(2))
    // Loop outputs, body parameters and the pre-loop assignment share one name per carried value.
    for (index, output) in node.outputs.enumerated() {
      let name = nameOf(output)
      names[ObjectIdentifier(body.inputs[index + 1])] = name
    }
    assignments(node.outputs, carried, indent: indent)
    let trip = node.inputs[0]
    let condition = node.inputs[1]
    let isForLoop =
      condition.constantValue?.bool == true && body.outputs[0].constantValue?.bool == true
    let counter = body.inputs[0]
    if isForLoop {
      line("for \(nameOf(counter)) in range(\(expression(trip))):", indent: indent)
      let before = text.count
      printBlock(body, indent: indent + 1)
      assignments(node.outputs, Array(body.outputs.dropFirst()), indent: indent + 1)
      if text.count == before { line("pass", indent: indent + 1) }
      return
    }
    // A while loop: the condition is an explicit carried flag; a finite trip count gets a counter.
    let isUnbounded = trip.constantValue?.int == Int.max
    let flag = freshTemporary()
    let counterName = nameOf(counter)
    line("\(flag) = \(expression(condition))", indent: indent)
    if !isUnbounded || counter.hasUses { line("\(counterName) = 0", indent: indent) }
    let test = isUnbounded ? flag : "torch.__and__(torch.lt(\(counterName), \(expression(trip))), \(flag))"
    line("while \(test):", indent: indent)
    printBlock(body, indent: indent + 1)
    var targets = [flag] + node.outputs.map { nameOf($0) }
    var sources = body.outputs.map { expression($0) }
    if !isUnbounded || counter.hasUses {
      targets.append(counterName)
      sources.append("torch.add(\(counterName), 1)")
    }
    line("\(targets.joined(separator: ", ")) = \(sources.joined(separator: ", "))", indent: indent + 1)
  }

  private mutating func freshTemporary() -> String {
    var candidate: String
    repeat {
      candidate = "_\(nextTemporary)"
      nextTemporary += 1
    } while usedNames.contains(candidate)
    usedNames.insert(candidate)
    return candidate
  }

  // MARK: - Expressions

  /// How `value` prints where it is used: inline expression or its name.
  private mutating func expression(_ value: Value) -> String {
    let node = value.node
    if inlined.contains(ObjectIdentifier(node)) {
      return nodeExpression(node)
    }
    return nameOf(value)
  }

  /// Wraps an expression in parentheses unless it is a plain name.
  private mutating func receiver(_ value: Value) -> String {
    let text = expression(value)
    return SourcePrinter.isIdentifier(text) ? text : "(\(text))"
  }

  private mutating func nodeExpression(_ node: Node) -> String {
    switch node.kind {
    case .constant:
      if let function = node.stringAttribute("name"), case .function = node.output.type { return function }
      return SourcePrinter.literal(node.constantValue, table: table)
    case .getAttr:
      let object = expression(node.inputs[0])
      let attribute = node.name ?? ""
      return SourcePrinter.isIdentifier(attribute) ? "\(object).\(attribute)" : "getattr(\(object), \(GraphPrinter.quoted(attribute)))"
    case .callMethod:
      let arguments = node.inputs.dropFirst().map { expression($0) + ", " }.joined()
      return "\(receiver(node.inputs[0])).\(node.name ?? "forward")(\(arguments))"
    case .callFunction:
      let callee = expression(node.inputs[0])
      let arguments = node.inputs.dropFirst().map { expression($0) + ", " }.joined()
      return "\(callee)(\(arguments))"
    case .listConstruct:
      let items = node.inputs.map { expression($0) }
      let literal = "[\(items.joined(separator: ", "))]"
      if items.isEmpty || !listElementsInferable(node) {
        return "annotate(\(SourcePrinter.typeString(node.output.type)), \(literal))"
      }
      return literal
    case .tupleConstruct:
      let items = node.inputs.map { expression($0) }
      if case .class(let name) = node.output.type { return "\(name)(\(items.joined(separator: ", ")))" }
      return items.count == 1 ? "(\(items[0]),)" : "(\(items.joined(separator: ", ")))"
    case .dictConstruct:
      var entries: [String] = []
      var index = 0
      while index + 1 < node.inputs.count {
        entries.append("\(expression(node.inputs[index])): \(expression(node.inputs[index + 1]))")
        index += 2
      }
      let literal = "{\(entries.joined(separator: ", "))}"
      return entries.isEmpty ? "annotate(\(SourcePrinter.typeString(node.output.type)), \(literal))" : literal
    case .tupleIndex:
      return "(\(expression(node.inputs[0])))[\(expression(node.inputs[1]))]"
    case .tupleSlice:
      var begin = 0
      var end = 0
      if case .int(let value) = node.attribute("beg") { begin = value }
      if case .int(let value) = node.attribute("end") { end = value }
      return "(\(expression(node.inputs[0])))[\(begin):\(end)]"
    case .uncheckedCast:
      return "unchecked_cast(\(SourcePrinter.typeString(node.output.type)), \(expression(node.inputs[0])))"
    case .uninitialized:
      return "uninitialized(\(SourcePrinter.typeString(node.output.type)))"
    case .isInstance:
      var types: [TorchType] = []
      if case .types(let list) = node.attribute("types") { types = list }
      let typeText = types.count == 1 ? SourcePrinter.typeString(types[0]) : "(\(types.map(SourcePrinter.typeString).joined(separator: ", ")))"
      return "isinstance(\(expression(node.inputs[0])), \(typeText))"
    case .createObject:
      let name = SourcePrinter.typeString(node.output.type)
      return "\(name).__new__(\(name))"
    case .print:
      return "print(\(node.inputs.map { expression($0) }.joined(separator: ", ")))"
    case "aten::Bool" where node.inputs.count == 1:
      return "bool(\(expression(node.inputs[0])))"
    case "aten::Int" where node.inputs.count == 1:
      return "int(\(expression(node.inputs[0])))"
    case "aten::Float" where node.inputs.count == 1:
      return "float(\(expression(node.inputs[0])))"
    case "aten::__getitem__" where node.inputs.count == 2:
      return "\(receiver(node.inputs[0]))[\(expression(node.inputs[1]))]"
    default:
      return opCall(node)
    }
  }

  /// True when printing a list literal's elements lets the parser infer the list's type.
  private func listElementsInferable(_ node: Node) -> Bool {
    guard case .list(let element) = node.output.type else { return false }
    return node.inputs.allSatisfy { $0.type == element }
  }

  /// `torch.op(args)` / `ops.ns.op(args)`, dropping trailing arguments equal to their defaults
  /// and writing keyword-only arguments as `name=value`.
  private mutating func opCall(_ node: Node) -> String {
    let namespace = node.kind.namespace
    let callee = namespace == "aten" ? "torch.\(node.kind.unqualifiedName)" : "ops.\(namespace).\(node.kind.unqualifiedName)"
    guard let schema = node.schema else {
      return "\(callee)(\(node.inputs.map { expression($0) }.joined(separator: ", ")))"
    }
    var pieces: [String] = []
    let formals = schema.arguments
    // The last positional argument that differs from its default decides how many print.
    var lastPositional = -1
    for (index, formal) in formals.enumerated() where !formal.isKeywordOnly && index < node.inputs.count {
      if !isDefault(node.inputs[index], formal) { lastPositional = index }
    }
    for (index, formal) in formals.enumerated() where index < node.inputs.count {
      let input = node.inputs[index]
      if formal.isKeywordOnly {
        if !isDefault(input, formal) { pieces.append("\(formal.name)=\(expression(input))") }
      } else if index <= lastPositional {
        pieces.append(expression(input))
      }
    }
    if schema.isVararg, node.inputs.count > formals.count {
      for input in node.inputs[formals.count...] { pieces.append(expression(input)) }
    }
    return "\(callee)(\(pieces.joined(separator: ", ")))"
  }

  private func isDefault(_ value: Value, _ formal: SchemaArgument) -> Bool {
    guard let defaultValue = formal.defaultValue, let constant = value.constantValue, value.node.kind == .constant
    else { return false }
    let expected = defaultValue.makeValue(for: formal.type, fixedSize: formal.fixedSize)
    return FunctionPrinter.sameLiteral(constant, expected)
  }

  static func sameLiteral(_ a: IValue, _ b: IValue) -> Bool {
    switch (a, b) {
    case (.none, .none): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.int(let x), .int(let y)): return x == y
    case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
    case (.string(let x), .string(let y)): return x == y
    case (.list(let x), .list(let y)):
      return x.elements.count == y.elements.count && zip(x.elements, y.elements).allSatisfy { sameLiteral($0, $1) }
    default: return false
    }
  }
}
