import Foundation
import TensorCore
import TorchIR

/// Executors for TorchScript's non-tensor builtins: int/float/bool arithmetic and comparisons,
/// strings, lists and dicts (`aten::add.int`, `aten::append.t`, `aten::format`, ...).
enum BuiltinExecutors {
  static var entries: [(String, OpExecutor)] {
    scalarArithmetic + lists + dicts + strings + conversions + misc
  }

  // MARK: - Scalars

  /// Every scalar overload of the arithmetic and comparison ops, built from the schemas so that
  /// the result type (int, float or bool) follows each overload's declared return.
  private static var scalarArithmetic: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    let ops = [
      "aten::add", "aten::sub", "aten::mul", "aten::div", "aten::floordiv", "aten::remainder", "aten::pow",
      "aten::eq", "aten::ne", "aten::lt", "aten::le", "aten::gt", "aten::ge", "prim::min", "prim::max",
      "aten::min", "aten::max", "aten::__round_to_zero_floordiv",
    ]
    let scalarTypes: Set<TorchType> = [.int, .float, .number, .bool]
    for name in ops {
      for schema in OpRegistry.standard.schemas(for: OpName(name)) {
        guard schema.arguments.count == 2, schema.returns.count == 1,
          schema.arguments.allSatisfy({ scalarTypes.contains($0.type) })
        else { continue }
        let op = String(OpName(name).unqualifiedName)
        let returnType = schema.returns[0].type
        result.append((schema.fullName, { arguments in [try scalarBinary(op, arguments[0], arguments[1], returnType)] }))
      }
    }
    for schema in OpRegistry.standard.schemas(for: "aten::neg") where schema.arguments.first?.type != .tensor {
      result.append((schema.fullName, { arguments in
        switch arguments[0] {
        case .int(let value): return [.int(0 &- value)]
        default: return [.double(-(try arguments.double(0)))]
        }
      }))
    }
    for name in ["aten::floor", "aten::ceil", "aten::round", "aten::sqrt", "aten::exp", "aten::log", "prim::abs", "aten::abs"] {
      for schema in OpRegistry.standard.schemas(for: OpName(name))
      where schema.arguments.count == 1 && scalarTypes.contains(schema.arguments[0].type) {
        let op = String(OpName(name).unqualifiedName)
        let returnType = schema.returns.first?.type ?? .float
        result.append((schema.fullName, { arguments in [try scalarUnary(op, arguments[0], returnType)] }))
      }
    }
    return result
  }

  private static func scalarUnary(_ op: String, _ value: IValue, _ returnType: TorchType) throws -> IValue {
    if case .int(let integer) = value, op == "abs" { return .int(Swift.abs(integer)) }
    guard let number = value.number else { throw OpError("\(op) expects a number, got \(value.kindName)") }
    let result: Double
    switch op {
    case "floor": result = Foundation.floor(number)
    case "ceil": result = Foundation.ceil(number)
    case "round": result = number.rounded(.toNearestOrEven)
    case "sqrt": result = number.squareRoot()
    case "exp": result = Foundation.exp(number)
    case "log": result = Foundation.log(number)
    case "abs": result = Swift.abs(number)
    default: throw OpError("unsupported scalar op \(op)")
    }
    if returnType == .int {
      guard result.isFinite, Swift.abs(result) < 9.2e18 else { throw OpError("\(op) result \(result) is not an int") }
      return .int(Int(result))
    }
    return .double(result)
  }

  /// `a op b` on ints, floats and bools with Python semantics.
  static func scalarBinary(_ op: String, _ a: IValue, _ b: IValue, _ returnType: TorchType) throws -> IValue {
    let bothInts: Bool
    if case .int = a, case .int = b { bothInts = true } else if case .bool = a, case .bool = b { bothInts = true } else { bothInts = false }
    guard let x = a.number, let y = b.number else {
      throw OpError("\(op) expects numbers, got \(a.kindName) and \(b.kindName)")
    }
    switch op {
    case "eq": return .bool(x == y)
    case "ne": return .bool(x != y)
    case "lt": return .bool(x < y)
    case "le": return .bool(x <= y)
    case "gt": return .bool(x > y)
    case "ge": return .bool(x >= y)
    default: break
    }
    if bothInts, returnType == .int || returnType == .number || op == "min" || op == "max" {
      let i = try integer(a)
      let j = try integer(b)
      switch op {
      case "add": return .int(i &+ j)
      case "sub": return .int(i &- j)
      case "mul": return .int(i &* j)
      case "floordiv":
        guard j != 0 else { throw OpError("ZeroDivisionError: integer division by zero") }
        let quotient = i / j
        return .int((i % j != 0 && (i < 0) != (j < 0)) ? quotient - 1 : quotient)
      case "__round_to_zero_floordiv":
        guard j != 0 else { throw OpError("ZeroDivisionError: integer division by zero") }
        return .int(i / j)
      case "remainder":
        guard j != 0 else { throw OpError("ZeroDivisionError: integer modulo by zero") }
        let r = i % j
        return .int(r != 0 && (r < 0) != (j < 0) ? r + j : r)
      case "pow":
        guard j >= 0 else { return .double(Foundation.pow(x, y)) }
        var result = 1
        for _ in 0..<j { result = result &* i }
        return .int(result)
      case "min": return .int(Swift.min(i, j))
      case "max": return .int(Swift.max(i, j))
      case "div": break
      default: throw OpError("unsupported scalar op \(op)")
      }
    }
    let value: Double
    switch op {
    case "add": value = x + y
    case "sub": value = x - y
    case "mul": value = x * y
    case "div":
      guard y != 0 else { throw OpError("ZeroDivisionError: float division by zero") }
      value = x / y
    case "floordiv":
      guard y != 0 else { throw OpError("ZeroDivisionError: float floor division by zero") }
      value = Foundation.floor(x / y)
    case "remainder":
      guard y != 0 else { throw OpError("ZeroDivisionError: float modulo") }
      value = x - Foundation.floor(x / y) * y
    case "pow": value = Foundation.pow(x, y)
    case "min": value = Swift.min(x, y)
    case "max": value = Swift.max(x, y)
    default: throw OpError("unsupported scalar op \(op)")
    }
    if returnType == .int, value.isFinite { return .int(Int(value)) }
    return .double(value)
  }

  private static func integer(_ value: IValue) throws -> Int {
    switch value {
    case .int(let v): return v
    case .bool(let v): return v ? 1 : 0
    default: throw OpError("expected an int, got \(value.kindName)")
    }
  }

  // MARK: - Lists

  private static func wrapIndex(_ index: Int, count: Int) throws -> Int {
    let wrapped = index < 0 ? index + count : index
    guard wrapped >= 0, wrapped < count else { throw OpError("list index \(index) out of range for \(count) elements") }
    return wrapped
  }

  private static var lists: [(String, OpExecutor)] {
    [
      ("aten::len.t", { a in [.int(try a.list(0).elements.count)] }),
      ("aten::len.any", { a in [.int(a[0].elements?.count ?? 0)] }),
      ("aten::__getitem__.t", { a in
        let list = try a.list(0)
        return [list.elements[try wrapIndex(try a.int(1), count: list.elements.count)]]
      }),
      ("aten::append.t", { a in
        let list = try a.list(0)
        list.elements.append(a[1])
        return [.list(list)]
      }),
      ("aten::extend.t", { a in
        let list = try a.list(0)
        list.elements += try a.list(1).elements
        return []
      }),
      ("aten::insert.t", { a in
        let list = try a.list(0)
        let index = try a.int(1)
        let count = list.elements.count
        let position = Swift.min(Swift.max(index < 0 ? index + count : index, 0), count)
        list.elements.insert(a[2], at: position)
        return []
      }),
      ("aten::pop.t", { a in
        let list = try a.list(0)
        let index = try wrapIndex(try a.int(1), count: list.elements.count)
        return [list.elements.remove(at: index)]
      }),
      ("aten::clear.t", { a in
        try a.list(0).elements.removeAll()
        return []
      }),
      ("aten::_set_item.t", { a in
        let list = try a.list(0)
        list.elements[try wrapIndex(try a.int(1), count: list.elements.count)] = a[2]
        return [.list(list)]
      }),
      ("aten::list.t", { a in
        let list = try a.list(0)
        return [.list(ListValue(list.elements, elementType: list.elementType))]
      }),
      ("aten::add.t", { a in
        let first = try a.list(0)
        return [.list(ListValue(first.elements + (try a.list(1).elements), elementType: first.elementType))]
      }),
      ("aten::slice.t", { a in
        let list = try a.list(0)
        let count = list.elements.count
        let step = try a.int(3)
        guard step > 0 else { throw OpError("list slice step must be positive") }
        var start = try a.optionalInt(1) ?? 0
        var end = try a.optionalInt(2) ?? count
        if start < 0 { start += count }
        if end < 0 { end += count }
        start = Swift.min(Swift.max(start, 0), count)
        end = Swift.min(Swift.max(end, start), count)
        let items = Swift.stride(from: start, to: end, by: step).map { list.elements[$0] }
        return [.list(ListValue(items, elementType: list.elementType))]
      }),
      ("aten::__contains__.int_list", { a in [.bool(try a.intList(0).contains(try a.int(1)))] }),
      ("aten::__contains__.str_list", { a in
        [.bool(try a.list(0).elements.contains { $0.string == a[1].string })]
      }),
      ("aten::eq.int_list", { a in [.bool(try a.intList(0) == a.intList(1))] }),
      ("aten::ne.int_list", { a in [.bool(try a.intList(0) != a.intList(1))] }),
      ("aten::eq.str_list", { a in
        [.bool(try a.list(0).elements.map(\.string) == a.list(1).elements.map(\.string))]
      }),
      ("aten::reverse.t", { a in
        try a.list(0).elements.reverse()
        return []
      }),
      ("aten::sorted.int", { a in [.list(ListValue(try a.intList(0).sorted().map { .int($0) }, elementType: .int))] }),
      ("prim::max.self_int", { a in
        guard let value = try a.intList(0).max() else { throw OpError("max() arg is an empty sequence") }
        return [.int(value)]
      }),
      ("prim::min.self_int", { a in
        guard let value = try a.intList(0).min() else { throw OpError("min() arg is an empty sequence") }
        return [.int(value)]
      }),
    ]
  }

  // MARK: - Dicts

  private static var dicts: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    for suffix in ["str", "int", "bool", "float", "Tensor"] {
      result.append(("aten::__getitem__.Dict_\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        guard let value = dict[a[1]] else { throw OpError("KeyError: \(Interpreter.display(a[1]))") }
        return [value]
      }))
      result.append(("aten::_set_item.\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        dict.set(a[1], a[2])
        return []
      }))
      result.append(("aten::len.Dict_\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        return [.int(dict.count)]
      }))
      result.append(("aten::__contains__.\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        return [.bool(dict[a[1]] != nil)]
      }))
      result.append(("aten::keys.\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        return [.list(ListValue(dict.keys, elementType: dict.keyType))]
      }))
      result.append(("aten::values.\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        return [.list(ListValue(dict.values, elementType: dict.valueType))]
      }))
      result.append(("aten::get.\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        return [dict[a[1]] ?? .none]
      }))
      result.append(("aten::get.default_\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        return [dict[a[1]] ?? a[2]]
      }))
      result.append(("aten::items.\(suffix)", { a in
        guard case .dict(let dict) = a[0] else { throw OpError("expected a dict") }
        let pairs = zip(dict.keys, dict.values).map { IValue.tuple([$0, $1]) }
        return [.list(ListValue(pairs, elementType: .tuple([dict.keyType, dict.valueType])))]
      }))
    }
    return result
  }

  // MARK: - Strings

  private static var strings: [(String, OpExecutor)] {
    [
      ("aten::format", { a in [.string(try format(try a.string(0), Array(a.dropFirst())))] }),
      ("aten::str", { a in [.string(display(a[0]))] }),
      ("aten::len.str", { a in [.int(try a.string(0).count)] }),
      ("aten::eq.str", { a in [.bool(try a.string(0) == a.string(1))] }),
      ("aten::ne.str", { a in [.bool(try a.string(0) != a.string(1))] }),
      ("aten::add.str", { a in [.string(try a.string(0) + a.string(1))] }),
      ("aten::__getitem__.str", { a in
        let text = Array(try a.string(0))
        return [.string(String(text[try wrapIndex(try a.int(1), count: text.count)]))]
      }),
      ("aten::startswith", { a in [.bool(try a.string(0).hasPrefix(try a.string(1)))] }),
      ("aten::endswith", { a in [.bool(try a.string(0).hasSuffix(try a.string(1)))] }),
      ("aten::__contains__.str", { a in [.bool(try a.string(0).contains(try a.string(1)))] }),
    ]
  }

  /// Python `str.format` for `{}` and `{N}` fields, as `torch.format` uses it in messages.
  static func format(_ template: String, _ arguments: [IValue]) throws -> String {
    var result = ""
    var next = 0
    var characters = template[...]
    while let open = characters.firstIndex(of: "{") {
      result += characters[..<open]
      let afterOpen = characters.index(after: open)
      if afterOpen < characters.endIndex, characters[afterOpen] == "{" {
        result += "{"
        characters = characters[characters.index(after: afterOpen)...]
        continue
      }
      guard let close = characters[afterOpen...].firstIndex(of: "}") else {
        result += characters[open...]
        characters = characters[characters.endIndex...]
        break
      }
      let field = characters[afterOpen..<close]
      let index: Int
      if field.isEmpty {
        index = next
        next += 1
      } else if let explicit = Int(field) {
        index = explicit
      } else {
        index = next
        next += 1
      }
      result += index < arguments.count ? display(arguments[index]) : ""
      characters = characters[characters.index(after: close)...]
    }
    result += characters.replacingOccurrences(of: "}}", with: "}")
    return result
  }

  /// Python's `str()` of a value.
  static func display(_ value: IValue) -> String {
    switch value {
    case .double(let number):
      if number.isFinite, number == number.rounded(), Swift.abs(number) < 1e16 { return String(format: "%.1f", number) }
      return String(number)
    case .list(let list): return "[" + list.elements.map(display).joined(separator: ", ") + "]"
    case .tuple(let items): return "(" + items.map(display).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
    case .string(let text): return text
    default: return Interpreter.display(value)
    }
  }

  // MARK: - Conversions

  private static func scalarOfTensor(_ tensor: Tensor) throws -> IValue {
    guard tensor.count == 1 else {
      throw OpError("a Tensor with \(tensor.count) elements cannot be converted to Scalar")
    }
    if tensor.dtype.isFloatingPoint { return .double(tensor.element(0)) }
    if tensor.dtype == .bool { return .bool(tensor.element(0) != 0) }
    return .int(Int(tensor.integerElement(0)))
  }

  private static var conversions: [(String, OpExecutor)] {
    @Sendable func toInt(_ value: IValue) throws -> IValue {
      switch value {
      case .int: return value
      case .bool(let flag): return .int(flag ? 1 : 0)
      case .double(let number):
        guard number.isFinite else { throw OpError("cannot convert float \(number) to integer") }
        return .int(Int(number))
      case .tensor(let tensor): return try toInt(try scalarOfTensor(tensor))
      case .string(let text):
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
          throw OpError("invalid literal for int() with base 10: '\(text)'")
        }
        return .int(number)
      default: throw OpError("cannot convert a \(value.kindName) to int")
      }
    }
    @Sendable func toFloat(_ value: IValue) throws -> IValue {
      switch value {
      case .tensor(let tensor): return try toFloat(try scalarOfTensor(tensor))
      case .string(let text):
        guard let number = Double(text.trimmingCharacters(in: .whitespaces)) else {
          throw OpError("could not convert string to float: '\(text)'")
        }
        return .double(number)
      default:
        guard let number = value.number else { throw OpError("cannot convert a \(value.kindName) to float") }
        return .double(number)
      }
    }
    @Sendable func toBool(_ value: IValue) throws -> IValue {
      switch value {
      case .tensor(let tensor):
        let scalar = try scalarOfTensor(tensor)
        return .bool((scalar.number ?? 0) != 0)
      default:
        guard let number = value.number else { throw OpError("cannot convert a \(value.kindName) to bool") }
        return .bool(number != 0)
      }
    }
    var result: [(String, OpExecutor)] = []
    for schema in OpRegistry.standard.schemas(for: "aten::Int") { result.append((schema.fullName, { a in [try toInt(a[0])] })) }
    for schema in OpRegistry.standard.schemas(for: "aten::Float") { result.append((schema.fullName, { a in [try toFloat(a[0])] })) }
    for schema in OpRegistry.standard.schemas(for: "aten::Bool") { result.append((schema.fullName, { a in [try toBool(a[0])] })) }
    let implicit: [(String, OpExecutor)] = [
      ("aten::IntImplicit", { a in [try toInt(a[0])] }),
      ("aten::FloatImplicit", { a in [try toFloat(a[0])] }),
      ("aten::ScalarImplicit", { a in [try scalarOfTensor(try a.tensor(0))] }),
      ("aten::item", { a in [try scalarOfTensor(try a.tensor(0))] }),
    ]
    return result + implicit
  }

  // MARK: - Identity and logic

  private static func identical(_ a: IValue, _ b: IValue) -> Bool {
    switch (a, b) {
    case (.none, .none): return true
    case (.tensor(let x), .tensor(let y)):
      return x.storage === y.storage && x.storageOffset == y.storageOffset && x.shape == y.shape && x.strides == y.strides
    case (.object(let x), .object(let y)): return x === y
    case (.list(let x), .list(let y)): return x === y
    case (.dict(let x), .dict(let y)): return x === y
    case (.bool(let x), .bool(let y)): return x == y
    case (.int(let x), .int(let y)): return x == y
    case (.double(let x), .double(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    default: return false
    }
  }

  private static var misc: [(String, OpExecutor)] {
    [
      ("aten::__is__", { a in [.bool(identical(a[0], a[1]))] }),
      ("aten::__isnot__", { a in [.bool(!identical(a[0], a[1]))] }),
      ("aten::__not__", { a in [.bool(!(try a.bool(0)))] }),
      ("aten::__and__.bool", { a in [.bool(try a.bool(0) && a.bool(1))] }),
      ("aten::__or__.bool", { a in [.bool(try a.bool(0) || a.bool(1))] }),
      ("aten::__xor__.bool", { a in [.bool(try a.bool(0) != a.bool(1))] }),
      ("aten::__and__.int", { a in [.int(try a.int(0) & a.int(1))] }),
      ("aten::__or__.int", { a in [.int(try a.int(0) | a.int(1))] }),
      ("aten::__xor__.int", { a in [.int(try a.int(0) ^ a.int(1))] }),
      ("aten::eq.bool", { a in [.bool(try a.bool(0) == a.bool(1))] }),
      ("aten::ne.bool", { a in [.bool(try a.bool(0) != a.bool(1))] }),
      ("aten::eq.device", { a in [.bool(a[0].kindName == a[1].kindName)] }),
      ("aten::__range_length", { a in
        let (low, high, step) = (try a.int(0), try a.int(1), try a.int(2))
        guard step != 0 else { throw OpError("range() arg 3 must not be zero") }
        if step > 0 { return [.int(low < high ? (high - low - 1) / step + 1 : 0)] }
        return [.int(high < low ? (low - high - 1) / (-step) + 1 : 0)]
      }),
      ("aten::__derive_index", { a in [.int(try a.int(1) + a.int(0) * a.int(2))] }),
      ("aten::warn", { _ in [] }),
      ("aten::is_grad_enabled", { _ in [.bool(false)] }),
      ("aten::is_autocast_enabled", { _ in [.bool(false)] }),
      ("aten::device", { a in [.device(try a.string(0))] }),
    ]
  }
}
