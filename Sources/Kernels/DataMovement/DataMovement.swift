import TensorCore

/// Copies, fills, dtype conversions, concatenation and indexed gathers over strided buffers.
///
/// Buffer contract (every kernel in this family):
/// - An operand is a raw base pointer plus strides in elements, one per dimension of its shape;
///   stride 0 repeats an element (`expand`), so views (`permute`, `narrow`, `expand`,
///   `transpose`, `channel_shuffle`'s reshape-transpose-reshape) need no kernel of their own:
///   materializing any of them is one `copy`.
/// - Kernels that only move elements take an `elementSize` in bytes (1, 2, 4, 8 or 16) and work
///   for every dtype, quantized and complex included; `fill` and `convert` take the `DType`.
/// - Destinations must not overlap sources unless they are exactly the same view.
/// - Index operands are int64, as `index_select` and `gather` take them in PyTorch.
///   Out-of-range indices are an error (`KernelError.indexOutOfRange`), found before any
///   element is written; negative indices are out of range (PyTorch does not wrap them here).
public enum DataMovementKernels {
  /// Copies `shape` elements from one strided view to another (`copy_`, `contiguous`, `clone`,
  /// `expand` materialization).
  ///
  /// Runs of unit stride on both sides move with one `memmove` per row.
  public static func copy(
    elementSize: Int, source: UnsafeRawPointer, sourceStrides: [Int],
    destination: UnsafeMutableRawPointer, destinationStrides: [Int], shape: [Int]
  ) {
    let loop = StridedLoop(shape: shape, strides: [sourceStrides, destinationStrides])
    switch elementSize {
    case 1: copyRows(loop, source.typed(UInt8.self), destination.typed(UInt8.self))
    case 2: copyRows(loop, source.typed(UInt16.self), destination.typed(UInt16.self))
    case 4: copyRows(loop, source.typed(UInt32.self), destination.typed(UInt32.self))
    case 8: copyRows(loop, source.typed(UInt64.self), destination.typed(UInt64.self))
    case 16: copyRows(loop, source.typed(SIMD2<UInt64>.self), destination.typed(SIMD2<UInt64>.self))
    default: preconditionFailure("unsupported element size \(elementSize)")
    }
  }

  /// Writes `value`, converted to `dtype` as PyTorch converts a `Scalar`, into every element of
  /// a strided view (`fill_`, `zeros`, `ones`, `full`).
  ///
  /// - Precondition: `dtype` is a real or bool type (not complex or quantized).
  public static func fill(
    _ value: Scalar, dtype: DType, destination: UnsafeMutableRawPointer, strides: [Int], shape: [Int]
  ) {
    visitConvertibleType(
      dtype, Fill(value: value, loop: StridedLoop(shape: shape, strides: [strides]), destination: destination))
  }

  /// Copies a strided view into another while converting each element from `sourceType` to
  /// `destinationType` (`to(dtype)`, type promotion).
  ///
  /// Conversions follow C++ casts as PyTorch performs them: floats to integers truncate toward
  /// zero and wrap (NaN and out-of-range values, undefined in C++, become 0 or saturate before
  /// wrapping); anything to bool is `x != 0` (NaN is true); integers to floats round to nearest.
  /// float16 and bfloat16 convert through Float.
  ///
  /// - Precondition: both types are real or bool (not complex or quantized).
  public static func convert(
    from sourceType: DType, source: UnsafeRawPointer, sourceStrides: [Int],
    to destinationType: DType, destination: UnsafeMutableRawPointer, destinationStrides: [Int], shape: [Int]
  ) {
    if sourceType == destinationType {
      copy(
        elementSize: sourceType.itemSize, source: source, sourceStrides: sourceStrides, destination: destination,
        destinationStrides: destinationStrides, shape: shape)
      return
    }
    let loop = StridedLoop(shape: shape, strides: [sourceStrides, destinationStrides])
    visitConvertibleType(
      sourceType,
      ConvertFrom(loop: loop, source: source, destinationType: destinationType, destination: destination))
  }

  // MARK: - Helpers

  private static func copyRows<Element>(
    _ loop: StridedLoop, _ source: UnsafePointer<Element>, _ destination: UnsafeMutablePointer<Element>
  ) {
    let (sourceStep, destinationStep) = (loop.rowStride(0), loop.rowStride(1))
    let count = loop.rowLength
    for offsets in loop {
      let from = source + offsets[0]
      let to = destination + offsets[1]
      if sourceStep == 1 && destinationStep == 1 {
        to.update(from: from, count: count)
      } else {
        for index in 0..<count { to[index &* destinationStep] = from[index &* sourceStep] }
      }
    }
  }

  /// `fill` for one element type.
  private struct Fill: ConvertibleTypeVisitor {
    let value: Scalar
    let loop: StridedLoop
    let destination: UnsafeMutableRawPointer

    func visit<Element: ConvertibleElement>(_: Element.Type) {
      let element: Element =
        switch value {
        case .int(let integer): Element(int64: integer)
        case .double(let real): Element(double: real)
        case .bool(let flag): Element(int64: flag ? 1 : 0)
        }
      let target = destination.typed(Element.self)
      let step = loop.rowStride(0)
      for offsets in loop {
        for index in 0..<loop.rowLength { target[offsets[0] + index &* step] = element }
      }
    }
  }

  /// `convert` once the source type is known: dispatches on the destination type.
  private struct ConvertFrom: ConvertibleTypeVisitor {
    let loop: StridedLoop
    let source: UnsafeRawPointer
    let destinationType: DType
    let destination: UnsafeMutableRawPointer

    func visit<Source: ConvertibleElement>(_: Source.Type) {
      visitConvertibleType(
        destinationType, ConvertRows<Source>(loop: loop, source: source, destination: destination))
    }
  }

  /// `convert` once both types are known.
  private struct ConvertRows<Source: ConvertibleElement>: ConvertibleTypeVisitor {
    let loop: StridedLoop
    let source: UnsafeRawPointer
    let destination: UnsafeMutableRawPointer

    func visit<Destination: ConvertibleElement>(_: Destination.Type) {
      mapRows(loop, source.typed(Source.self), destination.typed(Destination.self)) {
        $0.converted(to: Destination.self)
      }
    }
  }
}

/// Generic code run for the element type of a dtype; `visitConvertibleType` calls `visit` with
/// a concrete type, so release builds specialize the body per type.
protocol ConvertibleTypeVisitor {
  func visit<Element: ConvertibleElement>(_: Element.Type)
}

/// Calls `visitor.visit` with the element type that holds `dtype` in `fill` and `convert`.
func visitConvertibleType(_ dtype: DType, _ visitor: some ConvertibleTypeVisitor) {
  switch dtype {
  case .float32: visitor.visit(Float.self)
  case .float64: visitor.visit(Double.self)
  case .int64: visitor.visit(Int64.self)
  case .int32: visitor.visit(Int32.self)
  case .int16: visitor.visit(Int16.self)
  case .int8: visitor.visit(Int8.self)
  case .uint8: visitor.visit(UInt8.self)
  case .bool: visitor.visit(BoolByte.self)
  case .float16: visitor.visit(HalfBits.self)
  case .bfloat16: visitor.visit(BFloat16Bits.self)
  default: preconditionFailure("no conversion kernel for \(dtype)")
  }
}

// MARK: - Conversion element types

/// An element `convert` and `fill` can produce from an integer or a floating-point value, as a
/// C++ cast does.
protocol ConvertibleElement {
  /// The value of an integer, rounded or wrapped to this type.
  init(int64 value: Int64)
  /// The value of a floating-point number, rounded, truncated or wrapped to this type.
  init(double value: Double)
  /// This element converted to another type.
  func converted<Destination: ConvertibleElement>(to: Destination.Type) -> Destination
}

/// A floating-point source converts through Double (exact for every source type).
protocol ConvertibleReal: ConvertibleElement, BinaryFloatingPoint {}

extension ConvertibleReal {
  init(int64 value: Int64) { self.init(value) }
  init(double value: Double) { self.init(value) }
  func converted<Destination: ConvertibleElement>(to: Destination.Type) -> Destination {
    Destination(double: Double(self))
  }
}

/// An integer source converts through Int64 (exact for every source type).
protocol ConvertibleInteger: ConvertibleElement, FixedWidthInteger {}

extension ConvertibleInteger {
  init(int64 value: Int64) { self.init(truncatingIfNeeded: value) }
  init(double value: Double) { self.init(truncatingIfNeeded: Scalar.truncatingToInt64(value)) }
  func converted<Destination: ConvertibleElement>(to: Destination.Type) -> Destination {
    Destination(int64: Int64(truncatingIfNeeded: self))
  }
}

extension Float: ConvertibleReal {}
extension Double: ConvertibleReal {}
extension Int64: ConvertibleInteger {}
extension Int32: ConvertibleInteger {}
extension Int16: ConvertibleInteger {}
extension Int8: ConvertibleInteger {}
extension UInt8: ConvertibleInteger {}

/// A bool element: one byte, 0 or 1.
struct BoolByte: ConvertibleElement {
  var byte: UInt8
  init(int64 value: Int64) { byte = value != 0 ? 1 : 0 }
  init(double value: Double) { byte = value != 0 ? 1 : 0 }
  func converted<Destination: ConvertibleElement>(to: Destination.Type) -> Destination {
    Destination(int64: byte != 0 ? 1 : 0)
  }
}

/// An IEEE half element, converted through Float.
struct HalfBits: ConvertibleElement {
  var bits: UInt16
  init(int64 value: Int64) { bits = HalfConversion.half(fromFloat: Float(value)) }
  init(double value: Double) { bits = HalfConversion.half(fromFloat: Float(value)) }
  func converted<Destination: ConvertibleElement>(to: Destination.Type) -> Destination {
    Destination(double: Double(HalfConversion.float(fromHalf: bits)))
  }
}

/// A bfloat16 element, converted through Float.
struct BFloat16Bits: ConvertibleElement {
  var bits: UInt16
  init(int64 value: Int64) { bits = HalfConversion.bfloat16(fromFloat: Float(value)) }
  init(double value: Double) { bits = HalfConversion.bfloat16(fromFloat: Float(value)) }
  func converted<Destination: ConvertibleElement>(to: Destination.Type) -> Destination {
    Destination(double: Double(HalfConversion.float(fromBFloat16: bits)))
  }
}
