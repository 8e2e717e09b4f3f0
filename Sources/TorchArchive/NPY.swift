import Foundation
import TensorCore

/// Reads and writes numpy `.npy` files (format versions 1.0, 2.0 and 3.0), the format of the
/// reference inputs and outputs beside each fixture and of the CLI's `--input`/`--output`.
///
/// Supported: little-endian `float32`, `float64`, `float16`, `int8`, `int16`, `int32`, `int64`,
/// `uint8` and `bool` arrays of any rank, 0-d included. Fortran-order arrays are read and
/// converted to C order; big-endian and other dtypes are errors. Files are written as numpy
/// writes them: version 1.0 (2.0 for huge headers), C order, header padded to 64 bytes.
public enum NPY {
  /// The `.npy` magic string.
  static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

  /// numpy's `descr` for each supported dtype.
  static func descriptor(for dtype: DType) -> String? {
    switch dtype {
    case .float32: "<f4"
    case .float64: "<f8"
    case .float16: "<f2"
    case .int8: "|i1"
    case .int16: "<i2"
    case .int32: "<i4"
    case .int64: "<i8"
    case .uint8: "|u1"
    case .bool: "|b1"
    default: nil
    }
  }

  /// The dtype of a `descr`; one-byte types accept any byte-order mark, wider ones `<` or `=`.
  static func dtype(forDescriptor descriptor: String) -> DType? {
    guard let order = descriptor.first, "<=|>".contains(order) else { return nil }
    let code = descriptor.dropFirst()
    let dtype: DType? =
      switch code {
      case "f4": .float32
      case "f8": .float64
      case "f2": .float16
      case "i1": .int8
      case "i2": .int16
      case "i4": .int32
      case "i8": .int64
      case "u1": .uint8
      case "b1": .bool
      default: nil
      }
    guard let dtype else { return nil }
    // x86-64 and arm64 are little-endian, so native order ('=') is little-endian too.
    return dtype.itemSize == 1 || order == "<" || order == "=" ? dtype : nil
  }

  /// Decodes a `.npy` file's bytes into a contiguous tensor.
  ///
  /// The tensor's storage is the array bytes of `data` (not copied until first use), except for
  /// Fortran-order arrays, which are converted.
  ///
  /// - Parameters:
  ///   - data: the file contents.
  ///   - name: the file name used in errors.
  /// - Throws: `ArchiveError.invalidNPY` for a bad magic, version or header, an unsupported
  ///   dtype or byte order, or a data size that does not match the shape.
  public static func decode(_ data: Data, name: String = "npy") throws(ArchiveError) -> Tensor {
    var reader = ByteReader(data, record: name)
    let prefix = try reader.readSlice(length: magic.count, what: "npy magic")
    guard prefix.elementsEqual(magic) else { throw .invalidNPY(name: name, detail: "not a .npy file (bad magic)") }
    let major = try reader.readByte(what: "npy version")
    let minor = try reader.readByte(what: "npy version")
    let headerLength: Int
    switch (major, minor) {
    case (1, 0): headerLength = Int(try reader.readInteger(as: UInt16.self, what: "npy header length"))
    case (2, 0), (3, 0): headerLength = Int(try reader.readInteger(as: UInt32.self, what: "npy header length"))
    default: throw .invalidNPY(name: name, detail: "unsupported format version \(major).\(minor)")
    }
    let headerBytes = try reader.readSlice(length: headerLength, what: "npy header")
    // Versions 1 and 2 use latin-1 headers, version 3 UTF-8; the keys and values we accept are ASCII.
    guard let headerText = String(validating: headerBytes, as: UTF8.self) else {
      throw .invalidNPY(name: name, detail: "header is not text")
    }
    let header = try NPYHeader(parsing: headerText, name: name)
    guard let dtype = dtype(forDescriptor: header.descriptor) else {
      throw .invalidNPY(name: name, detail: "unsupported dtype '\(header.descriptor)'")
    }
    let count: Int
    do {
      count = try Tensor.checkedElementCount(header.shape)
    } catch {
      throw .invalidNPY(name: name, detail: "\(error)")
    }
    let byteCount = count * dtype.itemSize
    guard reader.remaining == byteCount else {
      throw .invalidNPY(
        name: name, detail: "shape \(header.shape) needs \(byteCount) bytes of \(dtype) data, found \(reader.remaining)")
    }
    let storage = Storage(lazyBytes: try reader.getSlice(at: reader.offset, length: byteCount, what: "npy data"))
    guard header.fortranOrder else {
      return Tensor(storage: storage, dtype: dtype, shape: header.shape, strides: Tensor.contiguousStrides(header.shape))
    }
    // Fortran order is C order of the reversed shape; view it transposed, then copy.
    var strides: [Int] = []
    var running = 1
    for size in header.shape {
      strides.append(running)
      running *= max(size, 1)
    }
    return Tensor(storage: storage, dtype: dtype, shape: header.shape, strides: strides).copy()
  }

  /// Reads a `.npy` file.
  ///
  /// - Throws: `ArchiveError.cannotRead`, or the errors of `decode(_:name:)`.
  public static func read(contentsOf url: URL) throws(ArchiveError) -> Tensor {
    let data: Data
    do {
      data = try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
      throw .cannotRead(path: url.path, reason: error.localizedDescription)
    }
    return try decode(data, name: url.lastPathComponent)
  }

  /// Encodes `tensor` as a `.npy` file in C order.
  ///
  /// - Throws: `ArchiveError.invalidNPY` for dtypes numpy files cannot hold here (bfloat16,
  ///   complex, quantized).
  public static func encode(_ tensor: Tensor) throws(ArchiveError) -> Data {
    guard let descriptor = descriptor(for: tensor.dtype), tensor.quantization == nil else {
      throw .invalidNPY(name: "npy", detail: "cannot write \(tensor.dtype) tensors")
    }
    let shape: String =
      switch tensor.shape.count {
      case 0: "()"
      case 1: "(\(tensor.shape[0]),)"
      default: "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
      }
    var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(shape), }"
    // numpy pads magic, version, length and header (with its newline) to a multiple of 64.
    var lengthSize = 2
    var padding = (64 - (magic.count + 2 + lengthSize + header.utf8.count + 1) % 64) % 64
    if header.utf8.count + padding + 1 > Int(UInt16.max) {
      lengthSize = 4
      padding = (64 - (magic.count + 2 + lengthSize + header.utf8.count + 1) % 64) % 64
    }
    header += String(repeating: " ", count: padding) + "\n"

    var out = ByteWriter()
    out.writeBytes(magic)
    out.writeBytes(lengthSize == 2 ? [1, 0] : [2, 0])
    if lengthSize == 2 {
      out.writeInteger(UInt16(header.utf8.count))
    } else {
      out.writeInteger(UInt32(header.utf8.count))
    }
    out.writeString(header)
    var data = out.data
    let contiguous = tensor.contiguous()
    let start = contiguous.storageOffset * tensor.dtype.itemSize
    contiguous.storage.withUnsafeBytes { raw in
      data.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<(start + tensor.count * tensor.dtype.itemSize)]))
    }
    return data
  }

  /// Writes `tensor` to a `.npy` file, replacing it atomically.
  ///
  /// - Throws: the errors of `encode(_:)`, or `ArchiveError.cannotWrite`.
  public static func write(_ tensor: Tensor, to url: URL) throws(ArchiveError) {
    let data = try encode(tensor)
    do {
      try data.write(to: url, options: .atomic)
    } catch {
      throw .cannotWrite(path: url.path, reason: error.localizedDescription)
    }
  }
}
