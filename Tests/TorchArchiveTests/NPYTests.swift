import Foundation
import TensorCore
import Testing

@testable import TorchArchive

@Suite struct NPYTests {
  /// numpy wrote these files; encoding what we decoded must give numpy's bytes back.
  @Test(arguments: Fixtures.npyFiles)
  func reencodesNumpyFilesByteForByte(_ url: URL) throws {
    let bytes = try Data(contentsOf: url)
    let tensor = try NPY.read(contentsOf: url)
    #expect(tensor.isContiguous)
    #expect(try NPY.encode(tensor) == bytes, "\(Fixtures.label(url))")
    #expect(difference(.tensor(tensor), .tensor(try NPY.decode(NPY.encode(tensor)))) == nil)
  }

  @Test func readsTheExampleInput() throws {
    let input = try NPY.read(contentsOf: Fixtures.root.appendingPathComponent("Examples/mobilenet_v2_input.npy"))
    #expect(input.dtype == .float32 && input.shape == [1, 3, 224, 224])
    let allFinite = input.floats().allSatisfy(\.isFinite)
    #expect(allFinite)
  }

  @Test(arguments: [DType.float32, .float64, .float16, .int8, .int16, .int32, .int64, .uint8, .bool])
  func roundTripsEverySupportedDType(_ dtype: DType) throws {
    for shape in [[], [0], [5], [2, 3, 4], [1, 0, 3]] {
      let count = shape.reduce(1, *)
      let values = (0..<count).map { dtype == .bool ? Double($0 % 2) : Double($0) - (dtype == .uint8 ? 0 : 3) }
      let tensor = Tensor(shape: shape, dtype: dtype, doubles: values)
      let back = try NPY.decode(NPY.encode(tensor))
      #expect(back.dtype == dtype && back.shape == shape)
      #expect(back.doubles() == values)
      // numpy pads the header so that data starts on a 64-byte boundary.
      #expect((try NPY.encode(tensor).count - count * dtype.itemSize) % 64 == 0)
    }
  }

  @Test func writesNonContiguousViewsInCOrder() throws {
    let storage = Tensor(shape: [2, 3], floats: [0, 1, 2, 3, 4, 5]).storage
    let transposed = Tensor(storage: storage, dtype: .float32, shape: [3, 2], strides: [1, 3])
    let back = try NPY.decode(NPY.encode(transposed))
    #expect(back.floats() == [0, 3, 1, 4, 2, 5])
    let row = Tensor(storage: storage, dtype: .float32, shape: [3], strides: [1], storageOffset: 3)
    #expect(try NPY.decode(NPY.encode(row)).floats() == [3, 4, 5])
  }

  @Test func convertsFortranOrder() throws {
    // Column-major [[0, 1, 2], [3, 4, 5]] is stored 0, 3, 1, 4, 2, 5.
    let file = npyFile(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", floats: [0, 3, 1, 4, 2, 5])
    let tensor = try NPY.decode(file)
    #expect(tensor.shape == [2, 3] && tensor.isContiguous)
    #expect(tensor.floats() == [0, 1, 2, 3, 4, 5])
  }

  @Test func readsVersion2And3Headers() throws {
    for major: UInt8 in [2, 3] {
      let file = npyFile(header: "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}", floats: [1, 2], major: major)
      #expect(try NPY.decode(file).floats() == [1, 2])
    }
  }

  @Test func writesVersion2WhenTheHeaderIsHuge() throws {
    let shape = [Int](repeating: 1, count: 25_000)
    let tensor = Tensor(shape: shape, floats: [42])
    let file = try NPY.encode(tensor)
    #expect(file[6] == 2 && file[7] == 0)
    let back = try NPY.decode(file)
    #expect(back.shape == shape && back.floats() == [42])
  }

  @Test func rejectsBadFiles() {
    let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    let cases: [(Data, String)] = [
      (Data("not numpy".utf8), "not a .npy file (bad magic)"),
      (npyFile(header: good, floats: [1, 2], major: 4), "unsupported format version 4.0"),
      (npyFile(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", floats: [1, 2]), "unsupported dtype '>f4'"),
      (npyFile(header: "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", floats: [1, 2]), "unsupported dtype '<c8'"),
      (npyFile(header: "{'descr': '<f4', 'shape': (2,), }", floats: [1, 2]), "header needs exactly 'descr', 'fortran_order' and 'shape'"),
      (npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': True}", floats: [1, 2]), "header needs exactly 'descr', 'fortran_order' and 'shape'"),
      (npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", floats: [1, 2]), "shape [3] needs 12 bytes of float32 data, found 8"),
      (npyFile(header: good, floats: [1, 2, 3]), "shape [2] needs 8 bytes of float32 data, found 12"),
      (npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", floats: [1, 2]), "header ends before ','"),
      (npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", floats: [1, 2]), "header expects a dimension size at byte 51"),
      (npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", floats: []), "tensor shape [4294967296, 4294967296] has too many elements"),
    ]
    for (file, detail) in cases {
      #expect(archiveError { _ = try NPY.decode(file, name: "x.npy") } == .invalidNPY(name: "x.npy", detail: detail))
    }
    let truncated = npyFile(header: good, floats: [1, 2]).prefix(9)
    #expect(archiveError { _ = try NPY.decode(truncated, name: "x.npy") } == .truncated(record: "x.npy", what: "npy header length", offset: 8))
  }

  @Test func refusesDTypesNumpyFilesCannotHold() {
    #expect(archiveError { _ = try NPY.encode(Tensor(zeros: [1], dtype: .bfloat16)) } == .invalidNPY(name: "npy", detail: "cannot write bfloat16 tensors"))
  }

  /// A `.npy` file with a hand-written header, padded as numpy pads it.
  private func npyFile(header: String, floats: [Float], major: UInt8 = 1) -> Data {
    let lengthSize = major == 1 ? 2 : 4
    let padding = (64 - (10 + lengthSize - 2 + header.utf8.count + 1) % 64) % 64
    let text = header + String(repeating: " ", count: padding) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [major, 0])
    if lengthSize == 2 {
      data.append(contentsOf: [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)])
    } else {
      data.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: text.utf8.count >> (8 * $0)) })
    }
    data.append(contentsOf: Array(text.utf8))
    for value in floats { data.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) }) }
    return data
  }
}
