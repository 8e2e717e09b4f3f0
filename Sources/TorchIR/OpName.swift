/// The kind of a node: a qualified operator name such as `aten::conv2d` or `prim::If`.
///
/// Kinds are an open set. Well-known ones have static members (`OpName.constant`), but any
/// `namespace::name` is valid and passes through untouched.
public struct OpName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
  /// The full name, `namespace::name`.
  public let rawValue: String
  /// A hash of `rawValue` computed once, so that comparing kinds (which passes do constantly)
  /// usually settles on one integer compare.
  private let fingerprint: UInt64
  /// True for the `prim::` namespace: the structural and interpreter-level kinds, which passes
  /// handle case by case. Checking it first lets them send `aten::` ops straight to their schema
  /// instead of comparing against every structural kind.
  public let isPrim: Bool

  public init(_ rawValue: String) {
    self.rawValue = rawValue
    self.isPrim = rawValue.utf8.starts(with: "prim::".utf8)
    // Length and a few bytes from the end, where op names differ most: cheap to build (kinds
    // compared against literals are built in every pass) and enough to tell most kinds apart.
    let utf8 = rawValue.utf8
    let fast = utf8.withContiguousStorageIfAvailable { bytes -> UInt64 in
      var fingerprint = UInt64(bytes.count)
      var shift: UInt64 = 16
      var index = bytes.count - 1
      while index >= 0 && shift < 64 {
        fingerprint |= UInt64(bytes[index]) << shift
        shift += 8
        index -= 1
      }
      return fingerprint
    }
    var fingerprint: UInt64
    if let fast {
      fingerprint = fast
    } else {
      fingerprint = UInt64(utf8.count)
      var shift: UInt64 = 16
      for byte in utf8.reversed().prefix(6) {
        fingerprint |= UInt64(byte) << shift
        shift += 8
      }
    }
    self.fingerprint = fingerprint
  }

  public init(stringLiteral value: String) {
    self.init(value)
  }

  public static func == (a: OpName, b: OpName) -> Bool {
    a.fingerprint == b.fingerprint && a.rawValue == b.rawValue
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(fingerprint)
  }

  /// The namespace (`aten` in `aten::conv2d`).
  public var namespace: Substring {
    guard let range = rawValue.range(of: "::") else { return "" }
    return rawValue[..<range.lowerBound]
  }

  /// The unqualified name (`conv2d` in `aten::conv2d`).
  public var unqualifiedName: Substring {
    guard let range = rawValue.range(of: "::") else { return Substring(rawValue) }
    return rawValue[range.upperBound...]
  }

  public var description: String { rawValue }

  // MARK: - Structural nodes
  public static let param: OpName = "prim::Param"
  public static let `return`: OpName = "prim::Return"
  public static let constant: OpName = "prim::Constant"
  public static let `if`: OpName = "prim::If"
  public static let loop: OpName = "prim::Loop"
  public static let getAttr: OpName = "prim::GetAttr"
  public static let setAttr: OpName = "prim::SetAttr"
  public static let callMethod: OpName = "prim::CallMethod"
  public static let callFunction: OpName = "prim::CallFunction"
  public static let listConstruct: OpName = "prim::ListConstruct"
  public static let listUnpack: OpName = "prim::ListUnpack"
  public static let tupleConstruct: OpName = "prim::TupleConstruct"
  public static let tupleUnpack: OpName = "prim::TupleUnpack"
  public static let tupleIndex: OpName = "prim::TupleIndex"
  public static let tupleSlice: OpName = "prim::TupleSlice"
  public static let dictConstruct: OpName = "prim::DictConstruct"
  public static let createObject: OpName = "prim::CreateObject"
  public static let uncheckedCast: OpName = "prim::unchecked_cast"
  public static let uninitialized: OpName = "prim::Uninitialized"
  public static let raiseException: OpName = "prim::RaiseException"
  public static let isInstance: OpName = "prim::isinstance"
  public static let enter: OpName = "prim::Enter"
  public static let exit: OpName = "prim::Exit"
  public static let print: OpName = "prim::Print"
}
