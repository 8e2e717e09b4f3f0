import Foundation
import TensorCore

/// Prints graphs in the text form of `torch.jit`'s `.graph`:
///
///     graph(%self : __torch__.M,
///           %x.1 : Tensor):
///       %2 : int = prim::Constant[value=1]()
///       %y.1 : Tensor = aten::add(%x.1, %x.1, %2)
///       return (%y.1)
///
/// Names come from value debug names, made unique with `.N` suffixes; unnamed values print as
/// numbers in definition order. The output is deterministic and `IRParser` reads it back.
public struct GraphPrinter {
  private var names: [ObjectIdentifier: String] = [:]
  private var taken: Set<String> = []
  private var nextNumber = 0
  private var output = ""
  private let includeLocations: Bool

  /// Prints `graph`; with `includeLocations`, nodes end with `# file:line:column` comments.
  public static func print(_ graph: Graph, includeLocations: Bool = false) -> String {
    var printer = GraphPrinter(includeLocations: includeLocations)
    printer.reserveNames(in: graph.block)
    printer.printGraph(graph)
    return printer.output
  }

  private init(includeLocations: Bool) {
    self.includeLocations = includeLocations
  }

  // MARK: - Naming

  private mutating func reserveNames(in block: Block) {
    // Named values claim their names first (in program order) so that numbering never collides.
    for value in block.inputs { claimName(value) }
    for node in block.nodes {
      for value in node.outputs { claimName(value) }
      for sub in node.blocks { reserveNames(in: sub) }
    }
  }

  private mutating func claimName(_ value: Value) {
    guard let base = value.debugName, !base.isEmpty else { return }
    var candidate = base
    var suffix = 1
    while taken.contains(candidate) {
      candidate = "\(base).\(suffix)"
      suffix += 1
    }
    taken.insert(candidate)
    names[ObjectIdentifier(value)] = candidate
  }

  private mutating func name(_ value: Value) -> String {
    if let name = names[ObjectIdentifier(value)] { return "%" + name }
    while taken.contains(String(nextNumber)) { nextNumber += 1 }
    let name = String(nextNumber)
    nextNumber += 1
    taken.insert(name)
    names[ObjectIdentifier(value)] = name
    return "%" + name
  }

  // MARK: - Printing

  private mutating func printGraph(_ graph: Graph) {
    output += "graph("
    let inputs = graph.inputs
    for (index, value) in inputs.enumerated() {
      if index > 0 { output += ",\n      " }
      output += "\(name(value)) : \(GraphPrinter.typeString(value.type))"
    }
    output += "):\n"
    printNodes(graph.block, indent: 2)
    output += "  return (\(graph.outputs.map { name($0) }.joined(separator: ", ")))\n"
  }

  private mutating func printNodes(_ block: Block, indent: Int) {
    for node in block.nodes {
      printNode(node, indent: indent)
    }
  }

  private mutating func printNode(_ node: Node, indent: Int) {
    let pad = String(repeating: " ", count: indent)
    output += pad
    if node.outputs.isEmpty {
      // torch prints ` = kind(...)` for nodes without outputs.
      output += " = "
    } else {
      output += node.outputs.map { "\(name($0)) : \(GraphPrinter.typeString($0.type))" }.joined(separator: ", ")
      output += " = "
    }
    output += node.kind.rawValue
    if !node.attributes.isEmpty {
      output += "["
      output += node.attributes.map { "\($0.name)=\(GraphPrinter.attributeString($0.value))" }
        .joined(separator: ", ")
      output += "]"
    }
    output += "(\(node.inputs.map { name($0) }.joined(separator: ", ")))"
    if includeLocations, let location = node.sourceLocation {
      output += " # \(location)"
    }
    output += "\n"
    for (index, block) in node.blocks.enumerated() {
      output += pad + "  block\(index)("
      output += block.inputs.map { "\(name($0)) : \(GraphPrinter.typeString($0.type))" }.joined(separator: ", ")
      output += "):\n"
      printNodes(block, indent: indent + 4)
      output += pad + "    -> (\(block.outputs.map { name($0) }.joined(separator: ", ")))\n"
    }
  }

  /// A type as graph dumps print it: `int[]`, `Tensor?`, `(Tensor, int)`, `Dict(str, Tensor)`.
  public static func typeString(_ type: TorchType) -> String {
    switch type {
    case .list(let element): return typeString(element) + "[]"
    case .optional(let wrapped): return typeString(wrapped) + "?"
    case .tuple(let elements): return "(" + elements.map(typeString).joined(separator: ", ") + ")"
    case .dict(let key, let value): return "Dict(\(typeString(key)), \(typeString(value)))"
    case .future(let element): return "Future(\(typeString(element)))"
    case .union(let members): return "Union(" + members.map(typeString).joined(separator: ", ") + ")"
    case .enumInt: return "int"
    case .function: return "Function"
    default: return type.description
    }
  }

  static func attributeString(_ attribute: NodeAttribute) -> String {
    switch attribute {
    case .value(let value): return valueString(value)
    case .string(let text): return quoted(text)
    case .strings(let texts): return "[" + texts.map(quoted).joined(separator: ", ") + "]"
    case .types(let types): return "[" + types.map(typeString).joined(separator: ", ") + "]"
    case .int(let value): return String(value)
    }
  }

  /// A value as constant attributes print it (`1`, `2.`, `"s"`, `[1, 2]`, `<Tensor>`).
  public static func valueText(_ value: IValue) -> String { valueString(value) }

  static func valueString(_ value: IValue) -> String {
    switch value {
    case .none: return "None"
    case .bool(let flag): return flag ? "1" : "0"
    case .int(let number): return String(number)
    case .double(let number): return FloatFormatting.torchString(number)
    case .string(let text): return quoted(text)
    case .device(let text): return quoted(text)
    case .list(let list): return "[" + list.elements.map(valueString).joined(separator: ", ") + "]"
    case .tuple(let elements): return "(" + elements.map(valueString).joined(separator: ", ") + ")"
    case .tensor: return "<Tensor>"
    case .object: return "<Object>"
    case .dict: return "<Dict>"
    case .function(let name): return quoted(name)
    }
  }

  /// A double-quoted string with the escapes TorchScript's printer uses.
  public static func quoted(_ text: String) -> String {
    var result = "\""
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\\"): result += "\\\\"
      case UInt8(ascii: "\""): result += "\\\""
      case UInt8(ascii: "'"): result += "\\'"
      case 0x07: result += "\\a"
      case 0x08: result += "\\b"
      case 0x0C: result += "\\f"
      case 0x0A: result += "\\n"
      case 0x0D: result += "\\r"
      case 0x09: result += "\\t"
      case 0x0B: result += "\\v"
      case 0x20..<0x7F: result.append(Character(Unicode.Scalar(byte)))
      default:
        // Non-printable and non-ASCII bytes use 3-digit octal, as torch prints them.
        let octal = String(byte, radix: 8)
        result += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
      }
    }
    return result + "\""
  }
}

/// Float formatting as TorchScript prints floats.
public enum FloatFormatting {
  /// `2.`, `0.10000000000000001`, `1.0000000000000001e-05`, `inf`, `-inf`, `nan`.
  ///
  /// Integral values below 1e10 in magnitude print as `<int>.`; everything else with 17
  /// significant digits in `%g` style, so that the value reads back exactly.
  public static func torchString(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value == value.rounded(), abs(value) < 1e10 {
      if value == 0 { return value.sign == .minus ? "-0." : "0." }
      return String(Int64(value)) + "."
    }
    return formatG17(value)
  }

  /// C's `%.17g`.
  public static func formatG17(_ value: Double) -> String {
    String(format: "%.17g", value)
  }
}

extension Graph: CustomStringConvertible {
  /// The graph in `torch.jit`'s text form.
  public var description: String { GraphPrinter.print(self) }
}
