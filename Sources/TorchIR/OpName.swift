import Synchronization

/// The kind of a node: a qualified operator name such as `aten::conv2d` or `prim::If`.
///
/// Kinds are an open set. Well-known ones have static members (`OpName.constant`), but any
/// `namespace::name` is valid and passes through untouched.
///
/// Note [Interned kinds]
/// Every distinct name is interned once in a process-wide table and a kind is its index there: a
/// plain integer, so that comparing, hashing and copying kinds (which passes do for every node,
/// many times over) costs no string work and no reference counting. The well-known kinds below
/// have fixed indices, so `node.kind == .constant` compiles to one integer compare. Building a
/// kind from a string (parsing, a string literal) looks the name up in the table under a lock;
/// code that runs per node uses the static members instead.
public struct OpName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
  /// The index in the intern table.
  @usableFromInline let index: UInt32
  /// True for the `prim::` namespace: the structural and interpreter-level kinds, which passes
  /// handle case by case. Checking it first lets them send `aten::` ops straight to their schema
  /// instead of comparing against every structural kind.
  public let isPrim: Bool

  @inlinable init(index: UInt32, isPrim: Bool) {
    self.index = index
    self.isPrim = isPrim
  }

  public init(_ rawValue: String) {
    self = OpNameTable.intern(rawValue)
  }

  public init(stringLiteral value: String) {
    self.init(value)
  }

  /// The full name, `namespace::name`.
  public var rawValue: String { OpNameTable.name(at: index) }

  @inlinable public static func == (a: OpName, b: OpName) -> Bool {
    a.index == b.index
  }

  @inlinable public func hash(into hasher: inout Hasher) {
    hasher.combine(index)
  }

  /// The namespace (`aten` in `aten::conv2d`).
  public var namespace: Substring {
    let name = rawValue
    guard let separator = OpName.separator(in: name) else { return "" }
    return name[..<separator]
  }

  /// The unqualified name (`conv2d` in `aten::conv2d`).
  public var unqualifiedName: Substring {
    let name = rawValue
    guard let separator = OpName.separator(in: name) else { return Substring(name) }
    return name[name.utf8.index(separator, offsetBy: 2)...]
  }

  /// Where the first `::` starts. (A byte scan: Foundation's `range(of:)` goes through NSString
  /// and cost a millisecond at start-up, where the runtime's operator table names every op.)
  static func separator(in name: String) -> String.Index? {
    let utf8 = name.utf8
    var index = utf8.startIndex
    while index != utf8.endIndex {
      let next = utf8.index(after: index)
      if utf8[index] == UInt8(ascii: ":"), next != utf8.endIndex, utf8[next] == UInt8(ascii: ":") { return index }
      index = next
    }
    return nil
  }

  public var description: String { rawValue }

  @inlinable static func wellKnown(_ index: UInt32) -> OpName {
    // The first 25 well-known names are the `prim::` ones.
    OpName(index: index, isPrim: index < 25)
  }

  // The names behind the fixed indices: `prim::` kinds first, then the `aten::` ops that passes
  // test for on every node. The members below must follow this order (a test checks them).
  static let wellKnownNames: [String] = [
    "prim::Param", "prim::Return", "prim::Constant", "prim::If", "prim::Loop", "prim::GetAttr", "prim::SetAttr",
    "prim::CallMethod", "prim::CallFunction", "prim::ListConstruct", "prim::ListUnpack", "prim::TupleConstruct",
    "prim::TupleUnpack", "prim::TupleIndex", "prim::TupleSlice", "prim::DictConstruct", "prim::CreateObject",
    "prim::unchecked_cast", "prim::Uninitialized", "prim::RaiseException", "prim::isinstance", "prim::Enter",
    "prim::Exit", "prim::Print", "prim::unchecked_unwrap_optional",
    "aten::warn", "aten::__is__", "aten::__isnot__", "aten::dim", "aten::len", "aten::__getitem__", "aten::add",
    "aten::sub", "aten::mul", "aten::floordiv", "aten::div", "aten::conv1d", "aten::conv2d", "aten::conv3d",
    "aten::batch_norm", "aten::detach",
  ]

  // MARK: - Structural nodes
  @inlinable public static var param: OpName { wellKnown(0) }
  @inlinable public static var `return`: OpName { wellKnown(1) }
  @inlinable public static var constant: OpName { wellKnown(2) }
  @inlinable public static var `if`: OpName { wellKnown(3) }
  @inlinable public static var loop: OpName { wellKnown(4) }
  @inlinable public static var getAttr: OpName { wellKnown(5) }
  @inlinable public static var setAttr: OpName { wellKnown(6) }
  @inlinable public static var callMethod: OpName { wellKnown(7) }
  @inlinable public static var callFunction: OpName { wellKnown(8) }
  @inlinable public static var listConstruct: OpName { wellKnown(9) }
  @inlinable public static var listUnpack: OpName { wellKnown(10) }
  @inlinable public static var tupleConstruct: OpName { wellKnown(11) }
  @inlinable public static var tupleUnpack: OpName { wellKnown(12) }
  @inlinable public static var tupleIndex: OpName { wellKnown(13) }
  @inlinable public static var tupleSlice: OpName { wellKnown(14) }
  @inlinable public static var dictConstruct: OpName { wellKnown(15) }
  @inlinable public static var createObject: OpName { wellKnown(16) }
  @inlinable public static var uncheckedCast: OpName { wellKnown(17) }
  @inlinable public static var uninitialized: OpName { wellKnown(18) }
  @inlinable public static var raiseException: OpName { wellKnown(19) }
  @inlinable public static var isInstance: OpName { wellKnown(20) }
  @inlinable public static var enter: OpName { wellKnown(21) }
  @inlinable public static var exit: OpName { wellKnown(22) }
  @inlinable public static var print: OpName { wellKnown(23) }
  @inlinable public static var uncheckedUnwrapOptional: OpName { wellKnown(24) }

  // MARK: - Ops passes look for on every node
  @inlinable public static var warn: OpName { wellKnown(25) }
  @inlinable public static var `is`: OpName { wellKnown(26) }
  @inlinable public static var isNot: OpName { wellKnown(27) }
  @inlinable public static var dim: OpName { wellKnown(28) }
  @inlinable public static var len: OpName { wellKnown(29) }
  @inlinable public static var getItem: OpName { wellKnown(30) }
  @inlinable public static var add: OpName { wellKnown(31) }
  @inlinable public static var sub: OpName { wellKnown(32) }
  @inlinable public static var mul: OpName { wellKnown(33) }
  @inlinable public static var floordiv: OpName { wellKnown(34) }
  @inlinable public static var div: OpName { wellKnown(35) }
  @inlinable public static var conv1d: OpName { wellKnown(36) }
  @inlinable public static var conv2d: OpName { wellKnown(37) }
  @inlinable public static var conv3d: OpName { wellKnown(38) }
  @inlinable public static var batchNorm: OpName { wellKnown(39) }
  @inlinable public static var detach: OpName { wellKnown(40) }
}

/// The process-wide intern table behind `OpName` (Note [Interned kinds]).
enum OpNameTable {
  struct Names {
    var names: [String] = []
    var indices: [String: UInt32] = [:]
    var isPrim: [Bool] = []

    init() {
      for name in OpName.wellKnownNames { _ = add(name) }
    }

    mutating func add(_ name: String) -> OpName {
      if let index = indices[name] { return OpName(index: index, isPrim: isPrim[Int(index)]) }
      let index = UInt32(names.count)
      let prim = name.utf8.starts(with: "prim::".utf8)
      names.append(name)
      isPrim.append(prim)
      indices[name] = index
      return OpName(index: index, isPrim: prim)
    }
  }

  static let table = Mutex(Names())

  static func intern(_ name: String) -> OpName {
    table.withLock { $0.add(name) }
  }

  static func name(at index: UInt32) -> String {
    table.withLock { $0.names[Int(index)] }
  }
}
