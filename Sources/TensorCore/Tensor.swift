/// A strided view of typed elements in a `Storage`, the tensor model of PyTorch.
///
/// A tensor is a value describing a view (dtype, shape, strides in elements, storage offset in
/// elements) over reference-typed storage: copying a `Tensor` copies the view, never the data, so
/// in-place kernels writing through one view are seen by every view of the same storage.
public struct Tensor: @unchecked Sendable {
  /// The memory this tensor views.
  public var storage: Storage
  /// The element type.
  public var dtype: DType
  /// Size of each dimension.
  public var shape: [Int]
  /// Distance, in elements, between neighbours along each dimension.
  public var strides: [Int]
  /// Index, in elements, of the first element within the storage.
  public var storageOffset: Int
  /// The autograd flag torch records for parameters; kept only to round-trip archives.
  public var requiresGrad: Bool
  /// Quantization parameters of a quantized tensor (dtype qint8, quint8 or qint32).
  public var quantization: Quantization?

  /// A view over existing storage. The caller guarantees the view fits (see `validated`).
  public init(
    storage: Storage, dtype: DType, shape: [Int], strides: [Int], storageOffset: Int = 0,
    requiresGrad: Bool = false
  ) {
    precondition(shape.count == strides.count, "shape and strides differ in rank")
    self.storage = storage
    self.dtype = dtype
    self.shape = shape
    self.strides = strides
    self.storageOffset = storageOffset
    self.requiresGrad = requiresGrad
    self.quantization = nil
  }

  /// A view over existing storage after checking that every element lies inside it.
  ///
  /// - Throws: `TensorError` when a size or stride is negative, the element count overflows, or
  ///   the view reaches past the end of the storage.
  public static func validated(
    storage: Storage, dtype: DType, shape: [Int], strides: [Int], storageOffset: Int,
    requiresGrad: Bool = false
  ) throws(TensorError) -> Tensor {
    guard shape.count == strides.count else {
      throw .rankMismatch(shape: shape, strides: strides)
    }
    guard storageOffset >= 0 else { throw .negativeOffset(storageOffset) }
    let count = try Tensor.checkedElementCount(shape)
    if count > 0 {
      // The furthest element is at offset + sum((size - 1) * stride) for non-negative strides.
      var last = storageOffset
      for (size, stride) in zip(shape, strides) {
        guard stride >= 0 else { throw .negativeStride(strides) }
        let (step, overflow1) = (size - 1).multipliedReportingOverflow(by: stride)
        let (sum, overflow2) = last.addingReportingOverflow(step)
        guard !overflow1, !overflow2 else { throw .elementCountOverflow(shape) }
        last = sum
      }
      let capacity = storage.byteCount / dtype.itemSize
      guard last < capacity else {
        throw .viewOutOfBounds(
          shape: shape, strides: strides, offset: storageOffset, storageElements: capacity)
      }
    }
    return Tensor(
      storage: storage, dtype: dtype, shape: shape, strides: strides, storageOffset: storageOffset,
      requiresGrad: requiresGrad)
  }

  /// The product of `shape`, or an error when a size is negative or the product overflows.
  public static func checkedElementCount(_ shape: [Int]) throws(TensorError) -> Int {
    var count = 1
    for size in shape {
      guard size >= 0 else { throw .negativeSize(shape) }
      let (product, overflow) = count.multipliedReportingOverflow(by: size)
      guard !overflow, product <= (1 << 48) else { throw .elementCountOverflow(shape) }
      count = product
    }
    return count
  }

  /// Row-major (C order) strides for `shape`.
  public static func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for index in stride(from: shape.count - 1, through: 0, by: -1) {
      strides[index] = running
      running *= max(shape[index], 1)
    }
    return strides
  }

  /// A new zero-filled contiguous tensor.
  public init(zeros shape: [Int], dtype: DType = .float32) {
    let count = shape.reduce(1, *)
    precondition(count >= 0, "negative tensor size")
    self.init(
      storage: Storage(byteCount: count * dtype.itemSize), dtype: dtype, shape: shape,
      strides: Tensor.contiguousStrides(shape))
  }

  /// A new contiguous tensor whose memory comes from `pool` (or the system allocator), not
  /// initialized: for outputs a kernel overwrites completely.
  public init(uninitialized shape: [Int], dtype: DType = .float32, pool: BufferPool? = nil) {
    let count = shape.reduce(1, *)
    precondition(count >= 0, "negative tensor size")
    self.init(
      storage: Storage(uninitializedByteCount: count * dtype.itemSize, pool: pool), dtype: dtype, shape: shape,
      strides: Tensor.contiguousStrides(shape))
  }

  /// A new contiguous float32 tensor holding `values`.
  public init(shape: [Int], floats values: [Float]) {
    precondition(values.count == shape.reduce(1, *), "value count does not match shape")
    self.init(zeros: shape, dtype: .float32)
    storage.withUnsafeMutableBytes { raw in
      let typed = raw.bindMemory(to: Float.self)
      for (index, value) in values.enumerated() { typed[index] = value }
    }
  }

  /// A new contiguous tensor of `dtype` holding `values`, converted element by element.
  public init(shape: [Int], dtype: DType, doubles values: [Double]) {
    precondition(values.count == shape.reduce(1, *), "value count does not match shape")
    self.init(zeros: shape, dtype: dtype)
    for (index, value) in values.enumerated() { setElement(index, value) }
  }

  /// A new contiguous int64 tensor holding `values`.
  public init(shape: [Int], int64s values: [Int64]) {
    precondition(values.count == shape.reduce(1, *), "value count does not match shape")
    self.init(zeros: shape, dtype: .int64)
    storage.withUnsafeMutableBytes { raw in
      let typed = raw.bindMemory(to: Int64.self)
      for (index, value) in values.enumerated() { typed[index] = value }
    }
  }

  /// Number of dimensions.
  public var rank: Int { shape.count }

  /// Number of elements.
  public var count: Int { shape.reduce(1, *) }

  /// True when the elements are laid out in C order with no gaps.
  public var isContiguous: Bool {
    var expected = 1
    for index in stride(from: shape.count - 1, through: 0, by: -1) where shape[index] != 1 {
      if strides[index] != expected { return false }
      expected *= shape[index]
    }
    return true
  }

  /// True when `other` views the same storage.
  public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

  /// The storage offset, in elements, of the element at `linearIndex` in C order.
  @inline(__always)
  public func elementOffset(_ linearIndex: Int) -> Int {
    var remaining = linearIndex
    var offset = storageOffset
    var dim = shape.count - 1
    while dim >= 0 {
      let size = shape[dim]
      offset += (remaining % size) * strides[dim]
      remaining /= size
      dim -= 1
    }
    return offset
  }

  /// The element at `linearIndex` (C order) converted to Double.
  public func element(_ linearIndex: Int) -> Double {
    let offset = elementOffset(linearIndex)
    let base = storage.baseAddress
    switch dtype {
    case .float32: return Double(base.load(fromByteOffset: offset * 4, as: Float.self))
    case .float64: return base.load(fromByteOffset: offset * 8, as: Double.self)
    case .int64: return Double(base.load(fromByteOffset: offset * 8, as: Int64.self))
    case .int32: return Double(base.load(fromByteOffset: offset * 4, as: Int32.self))
    case .int16: return Double(base.load(fromByteOffset: offset * 2, as: Int16.self))
    case .int8, .qint8: return Double(base.load(fromByteOffset: offset, as: Int8.self))
    case .uint8, .quint8: return Double(base.load(fromByteOffset: offset, as: UInt8.self))
    case .qint32: return Double(base.load(fromByteOffset: offset * 4, as: Int32.self))
    case .bool: return base.load(fromByteOffset: offset, as: UInt8.self) != 0 ? 1 : 0
    case .float16:
      return Double(HalfConversion.float(fromHalf: base.load(fromByteOffset: offset * 2, as: UInt16.self)))
    case .bfloat16:
      return Double(HalfConversion.float(fromBFloat16: base.load(fromByteOffset: offset * 2, as: UInt16.self)))
    case .complex64, .complex128:
      preconditionFailure("complex elements are not readable as reals")
    }
  }

  /// The element at `linearIndex` (C order) as Int64; exact for integer dtypes.
  public func integerElement(_ linearIndex: Int) -> Int64 {
    let offset = elementOffset(linearIndex)
    let base = storage.baseAddress
    switch dtype {
    case .int64: return base.load(fromByteOffset: offset * 8, as: Int64.self)
    case .int32: return Int64(base.load(fromByteOffset: offset * 4, as: Int32.self))
    case .int16: return Int64(base.load(fromByteOffset: offset * 2, as: Int16.self))
    case .int8, .qint8: return Int64(base.load(fromByteOffset: offset, as: Int8.self))
    case .uint8, .quint8: return Int64(base.load(fromByteOffset: offset, as: UInt8.self))
    case .qint32: return Int64(base.load(fromByteOffset: offset * 4, as: Int32.self))
    case .bool: return base.load(fromByteOffset: offset, as: UInt8.self) != 0 ? 1 : 0
    default:
      let value = element(linearIndex)
      return value.isFinite ? Int64(max(min(value, 9.2e18), -9.2e18)) : 0
    }
  }

  /// Writes `value`, converted to the tensor's dtype, at `linearIndex` (C order).
  public func setElement(_ linearIndex: Int, _ value: Double) {
    let offset = elementOffset(linearIndex)
    let base = storage.baseAddress
    switch dtype {
    case .float32: base.storeBytes(of: Float(value), toByteOffset: offset * 4, as: Float.self)
    case .float64: base.storeBytes(of: value, toByteOffset: offset * 8, as: Double.self)
    case .int64: base.storeBytes(of: Tensor.truncate(value, Int64.self), toByteOffset: offset * 8, as: Int64.self)
    case .int32: base.storeBytes(of: Tensor.truncate(value, Int32.self), toByteOffset: offset * 4, as: Int32.self)
    case .int16: base.storeBytes(of: Tensor.truncate(value, Int16.self), toByteOffset: offset * 2, as: Int16.self)
    case .int8, .qint8: base.storeBytes(of: Tensor.truncate(value, Int8.self), toByteOffset: offset, as: Int8.self)
    case .uint8, .quint8: base.storeBytes(of: Tensor.truncate(value, UInt8.self), toByteOffset: offset, as: UInt8.self)
    case .qint32: base.storeBytes(of: Tensor.truncate(value, Int32.self), toByteOffset: offset * 4, as: Int32.self)
    case .bool: base.storeBytes(of: UInt8(value != 0 ? 1 : 0), toByteOffset: offset, as: UInt8.self)
    case .float16:
      base.storeBytes(of: HalfConversion.half(fromFloat: Float(value)), toByteOffset: offset * 2, as: UInt16.self)
    case .bfloat16:
      base.storeBytes(
        of: HalfConversion.bfloat16(fromFloat: Float(value)), toByteOffset: offset * 2, as: UInt16.self)
    case .complex64, .complex128:
      preconditionFailure("complex elements are not writable as reals")
    }
  }

  /// Writes an exact integer at `linearIndex` (C order).
  public func setIntegerElement(_ linearIndex: Int, _ value: Int64) {
    let offset = elementOffset(linearIndex)
    let base = storage.baseAddress
    switch dtype {
    case .int64: base.storeBytes(of: value, toByteOffset: offset * 8, as: Int64.self)
    case .int32: base.storeBytes(of: Int32(truncatingIfNeeded: value), toByteOffset: offset * 4, as: Int32.self)
    case .int16: base.storeBytes(of: Int16(truncatingIfNeeded: value), toByteOffset: offset * 2, as: Int16.self)
    case .int8, .qint8: base.storeBytes(of: Int8(truncatingIfNeeded: value), toByteOffset: offset, as: Int8.self)
    case .uint8, .quint8: base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
    case .qint32: base.storeBytes(of: Int32(truncatingIfNeeded: value), toByteOffset: offset * 4, as: Int32.self)
    case .bool: base.storeBytes(of: UInt8(value != 0 ? 1 : 0), toByteOffset: offset, as: UInt8.self)
    default: setElement(linearIndex, Double(value))
    }
  }

  /// Integer conversion as C's cast does it: truncation toward zero, wrapping on overflow.
  @inline(__always)
  static func truncate<T: FixedWidthInteger>(_ value: Double, _: T.Type) -> T {
    guard value.isFinite else { return 0 }
    let clamped = max(min(value.rounded(.towardZero), 9.2e18), -9.2e18)
    return T(truncatingIfNeeded: Int64(clamped))
  }

  /// All elements in C order, converted to Double.
  public func doubles() -> [Double] {
    (0..<count).map { element($0) }
  }

  /// All elements in C order, converted to Float.
  public func floats() -> [Float] {
    if dtype == .float32, isContiguous {
      return storage.withUnsafeBytes { raw in
        let typed = raw.bindMemory(to: Float.self)
        return Array(typed[storageOffset..<(storageOffset + count)])
      }
    }
    return (0..<count).map { Float(element($0)) }
  }

  /// A contiguous copy (or `self` when already contiguous with offset zero and no slack).
  public func contiguous() -> Tensor {
    if isContiguous { return self }
    return copy()
  }

  /// A contiguous copy with its own storage.
  public func copy() -> Tensor {
    var result = Tensor(uninitialized: shape, dtype: dtype)
    result.quantization = quantization
    let total = count
    guard total > 0 else { return result }
    copyRuns(0..<total / contiguousRun, into: result.storage.baseAddress)
    return result
  }
}

extension Tensor {
  /// Elements in the trailing dimensions laid out contiguously: one run that a copy moves at
  /// once (a channel shuffle's transposed view has whole planes).
  public var contiguousRun: Int { runLayout.run }

  /// `contiguousRun`, and how many leading dimensions lie outside it.
  private var runLayout: (run: Int, outerCount: Int) {
    var run = 1
    var outerCount = rank
    while outerCount > 0 && (shape[outerCount - 1] == 1 || strides[outerCount - 1] == run) {
      outerCount -= 1
      run *= shape[outerCount]
    }
    return (run, outerCount)
  }

  /// Copies runs `runs` (of `count / contiguousRun`, in row-major order) of the elements, each
  /// `contiguousRun` long, to `target`, each at its place in a contiguous copy; an odometer
  /// walks the dimensions outside the run. Disjoint ranges may be copied concurrently.
  public func copyRuns(_ runs: Range<Int>, into target: UnsafeMutableRawPointer) {
    let (run, outerCount) = runLayout
    let outerShape = Array(shape.prefix(outerCount))
    let outerStrides = Array(strides.prefix(outerCount))
    let itemSize = dtype.itemSize
    let runBytes = run * itemSize
    // The source offset of the first run, then the odometer from there.
    var index = [Int](repeating: 0, count: outerCount)
    var offset = storageOffset
    var remainder = runs.lowerBound
    for dim in stride(from: outerCount - 1, through: 0, by: -1) {
      (remainder, index[dim]) = remainder.quotientAndRemainder(dividingBy: outerShape[dim])
      offset += index[dim] * outerStrides[dim]
    }
    let source = storage.baseAddress
    var destination = target + runs.lowerBound * runBytes
    for _ in runs {
      destination.copyMemory(from: source + offset * itemSize, byteCount: runBytes)
      destination += runBytes
      var dim = outerCount - 1
      while dim >= 0 {
        index[dim] += 1
        offset += outerStrides[dim]
        if index[dim] < outerShape[dim] { break }
        offset -= outerStrides[dim] * outerShape[dim]
        index[dim] = 0
        dim -= 1
      }
    }
  }
}

/// How a quantized tensor's integers map to real values: `real = (q - zeroPoint) * scale`.
public indirect enum Quantization: @unchecked Sendable {
  /// One scale and zero point for the whole tensor (`torch.per_tensor_affine`).
  case perTensorAffine(scale: Double, zeroPoint: Int)
  /// One scale and zero point per slice along `axis` (`torch.per_channel_affine`).
  case perChannelAffine(scales: Tensor, zeroPoints: Tensor, axis: Int)
}

/// Errors in tensor metadata: views that do not fit their storage and impossible shapes.
public enum TensorError: Error, Equatable, CustomStringConvertible {
  /// Shape and strides have different lengths.
  case rankMismatch(shape: [Int], strides: [Int])
  /// A dimension size is negative.
  case negativeSize([Int])
  /// A stride is negative.
  case negativeStride([Int])
  /// The storage offset is negative.
  case negativeOffset(Int)
  /// The element count of the shape does not fit in memory.
  case elementCountOverflow([Int])
  /// The view reaches past the end of its storage.
  case viewOutOfBounds(shape: [Int], strides: [Int], offset: Int, storageElements: Int)

  public var description: String {
    switch self {
    case .rankMismatch(let shape, let strides):
      "tensor shape \(shape) and strides \(strides) differ in rank"
    case .negativeSize(let shape): "tensor shape \(shape) has a negative size"
    case .negativeStride(let strides): "tensor strides \(strides) have a negative stride"
    case .negativeOffset(let offset): "tensor storage offset \(offset) is negative"
    case .elementCountOverflow(let shape): "tensor shape \(shape) has too many elements"
    case .viewOutOfBounds(let shape, let strides, let offset, let capacity):
      "tensor view (shape \(shape), strides \(strides), offset \(offset)) reaches past its storage of \(capacity) elements"
    }
  }
}

/// Bit-exact conversions between Float and the 16-bit float formats.
public enum HalfConversion {
  /// IEEE half → Float.
  public static func float(fromHalf bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
      if mantissa == 0 { return Float(bitPattern: sign) }
      // Subnormal half: value = mantissa * 2^-24.
      let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
      return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 {
      return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
  }

  /// Float → IEEE half, rounding to nearest even.
  public static func half(fromFloat value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if value.isNaN { return sign | 0x7E00 }
    let magnitude = abs(value)
    if magnitude >= 65520 { return sign | 0x7C00 }
    if magnitude < Float(sign: .plus, exponent: -14, significand: 1) {
      // Subnormal or zero: scale to units of 2^-24 and round to nearest even.
      let scaled = (magnitude * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
      return sign | UInt16(scaled)
    }
    let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
    var mantissa = bits & 0x7F_FFFF
    var halfExponent = UInt32(exponent)
    let remainder = mantissa & 0x1FFF
    mantissa >>= 13
    if remainder > 0x1000 || (remainder == 0x1000 && (mantissa & 1) == 1) {
      mantissa += 1
      if mantissa == 0x400 {
        mantissa = 0
        halfExponent += 1
      }
    }
    return sign | UInt16(halfExponent << 10) | UInt16(mantissa)
  }

  /// bfloat16 → Float.
  public static func float(fromBFloat16 bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
  }

  /// Float → bfloat16, rounding to nearest even.
  public static func bfloat16(fromFloat value: Float) -> UInt16 {
    if value.isNaN { return 0x7FC0 }
    let bits = value.bitPattern
    let rounding = ((bits >> 16) & 1) + 0x7FFF
    return UInt16((bits &+ rounding) >> 16)
  }
}
