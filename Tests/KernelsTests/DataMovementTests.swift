import Foundation
import Kernels
import TensorCore
import Testing

/// Runs `DataMovementKernels.convert` from one contiguous array to a new one.
func convert<Source, Destination>(
  _ values: [Source], from sourceType: DType, to destinationType: DType, as _: Destination.Type
) -> [Destination] {
  let count = values.count
  var output = [UInt8](repeating: 0xAB, count: count * MemoryLayout<Destination>.stride)
  values.withUnsafeBytes { source in
    output.withUnsafeMutableBytes { destination in
      DataMovementKernels.convert(
        from: sourceType, source: source.baseAddress!, sourceStrides: [1], to: destinationType,
        destination: destination.baseAddress!, destinationStrides: [1], shape: [count])
    }
  }
  return output.withUnsafeBytes { Array($0.bindMemory(to: Destination.self)) }
}

@Suite struct DataMovementTests {
  @Test func copyMaterializesViews() {
    // A 2×3 matrix read through its transpose's strides, written contiguous.
    let x: [Int32] = [1, 2, 3, 4, 5, 6]
    var output = [Int32](repeating: 0, count: 6)
    x.withUnsafeBytes { x in
      output.withUnsafeMutableBytes { output in
        DataMovementKernels.copy(
          elementSize: 4, source: x.baseAddress!, sourceStrides: [1, 3], destination: output.baseAddress!,
          destinationStrides: [2, 1], shape: [3, 2])
      }
    }
    #expect(output == [1, 4, 2, 5, 3, 6])
  }

  @Test(arguments: [1, 2, 8, 16])
  func copyMovesEveryElementSize(size: Int) {
    // Expand a [1, 3] row to [2, 3] (stride 0), for any element width: bytes move unchanged.
    let row = (0..<(3 * size)).map { UInt8($0 + 1) }
    var output = [UInt8](repeating: 0, count: 6 * size)
    row.withUnsafeBytes { row in
      output.withUnsafeMutableBytes { output in
        DataMovementKernels.copy(
          elementSize: size, source: row.baseAddress!, sourceStrides: [0, 1], destination: output.baseAddress!,
          destinationStrides: [3, 1], shape: [2, 3])
      }
    }
    #expect(output == row + row)
  }

  @Test func channelShuffleIsAStridedCopy() {
    // channel_shuffle(groups 2) of 4 channels of one pixel: view [2, 2] → transpose → flatten.
    let channels: [Float] = [0, 1, 2, 3]
    var output = [Float](repeating: -1, count: 4)
    channels.withUnsafeBytes { source in
      output.withUnsafeMutableBytes { destination in
        DataMovementKernels.copy(
          elementSize: 4, source: source.baseAddress!, sourceStrides: [1, 2], destination: destination.baseAddress!,
          destinationStrides: [2, 1], shape: [2, 2])
      }
    }
    #expect(output == [0, 2, 1, 3])
  }

  @Test func fillConvertsTheScalarExactly() {
    var big = [Int64](repeating: 0, count: 3)
    big.withUnsafeMutableBytes {
      DataMovementKernels.fill(.int(1 << 62 + 1), dtype: .int64, destination: $0.baseAddress!, strides: [1], shape: [3])
    }
    #expect(big == [1 << 62 + 1, 1 << 62 + 1, 1 << 62 + 1])
    // Every other element of a strided view; a double into int32 truncates toward zero.
    var ints = [Int32](repeating: 0, count: 4)
    ints.withUnsafeMutableBytes {
      DataMovementKernels.fill(.double(-2.7), dtype: .int32, destination: $0.baseAddress!, strides: [2], shape: [2])
    }
    #expect(ints == [-2, 0, -2, 0])
    var flags = [UInt8](repeating: 9, count: 2)
    flags.withUnsafeMutableBytes {
      DataMovementKernels.fill(.double(0.5), dtype: .bool, destination: $0.baseAddress!, strides: [1], shape: [2])
    }
    #expect(flags == [1, 1])
    var halves = [UInt16](repeating: 0, count: 1)
    halves.withUnsafeMutableBytes {
      DataMovementKernels.fill(.double(1.5), dtype: .float16, destination: $0.baseAddress!, strides: [], shape: [])
    }
    #expect(halves == [0x3E00])  // 1.5 in IEEE half
    var empty: [Float] = [7]
    empty.withUnsafeMutableBytes {
      DataMovementKernels.fill(.int(1), dtype: .float32, destination: $0.baseAddress!, strides: [1, 1], shape: [0, 1])
    }
    #expect(empty == [7])
  }

  @Test func conversionsFollowCCasts() {
    #expect(convert([-1.7, 2.9, -0.5] as [Float], from: .float32, to: .int32, as: Int32.self) == [-1, 2, 0])
    // Through int64 then wrapped: 300 → 44, −1 → 255 in uint8, as PyTorch shows.
    #expect(convert([300, -1] as [Float], from: .float32, to: .uint8, as: UInt8.self) == [44, 255])
    #expect(convert([0.5, 0, .nan, -0.0] as [Float], from: .float32, to: .bool, as: UInt8.self) == [1, 0, 1, 0])
    #expect(convert([1, 0] as [UInt8], from: .bool, to: .float32, as: Float.self) == [1, 0])
    #expect(convert([-3, 200] as [Int16], from: .int16, to: .int8, as: Int8.self) == [-3, -56])
    // int64 → float32 rounds once, to nearest even: 2^24 + 1 → 2^24.
    #expect(convert([1 << 24 + 1, -7] as [Int64], from: .int64, to: .float32, as: Float.self) == [16_777_216, -7])
    #expect(convert([0.1] as [Double], from: .float64, to: .float32, as: Float.self) == [Float(0.1)])
    // Half and bfloat16 go through Float: 1/3 → half 0x3555 → 0.333251953125.
    let halves = convert([1.0 / 3, -2] as [Double], from: .float64, to: .float16, as: UInt16.self)
    #expect(halves == [0x3555, 0xC000])
    #expect(convert(halves, from: .float16, to: .float64, as: Double.self) == [0.333251953125, -2])
    #expect(convert([1, 3] as [Int32], from: .int32, to: .bfloat16, as: UInt16.self) == [0x3F80, 0x4040])
    // Same type: a plain copy.
    #expect(convert([5, 6] as [Int64], from: .int64, to: .int64, as: Int64.self) == [5, 6])
  }

  @Test func catJoinsAlongADim() throws {
    let a: [Float] = [1, 2, 3, 4]  // [2, 2]
    let b: [Float] = [5, 6]  // [2, 1]
    let empty: [Float] = []
    let (shape, dim) = try DataMovementKernels.catOutputShape([[2, 2], [0], [2, 1]], dim: -1)
    #expect(shape == [2, 3] && dim == 1)
    var output = [Float](repeating: 0, count: 6)
    a.withUnsafeBytes { a in
      b.withUnsafeBytes { b in
        empty.withUnsafeBytes { e in
          output.withUnsafeMutableBytes { output in
            DataMovementKernels.cat(
              elementSize: 4,
              inputs: [
                StridedSource(base: a.baseAddress!, shape: [2, 2], strides: [2, 1]),
                StridedSource(base: e.baseAddress ?? a.baseAddress!, shape: [0], strides: [1]),
                StridedSource(base: b.baseAddress!, shape: [2, 1], strides: [1, 1]),
              ],
              dim: dim, output: output.baseAddress!, outputStrides: [3, 1])
          }
        }
      }
    }
    #expect(output == [1, 2, 5, 3, 4, 6])
    // Along dim 0, with the first input transposed.
    var stacked = [Float](repeating: 0, count: 6)
    a.withUnsafeBytes { a in
      output.withUnsafeBytes { tail in
        stacked.withUnsafeMutableBytes { stacked in
          DataMovementKernels.cat(
            elementSize: 4,
            inputs: [
              StridedSource(base: a.baseAddress!, shape: [2, 2], strides: [1, 2]),
              StridedSource(base: tail.baseAddress!, shape: [1, 2], strides: [2, 1]),
            ],
            dim: 0, output: stacked.baseAddress!, outputStrides: [2, 1])
        }
      }
    }
    #expect(stacked == [1, 3, 2, 4, 1, 2])
  }

  @Test func catShapeChecks() throws {
    #expect(try DataMovementKernels.catOutputShape([[0], [0]], dim: 0).shape == [0])
    #expect(try DataMovementKernels.catOutputShape([[2, 0], [2, 3]], dim: 1).shape == [2, 3])
    #expect(throws: KernelError.self) { try DataMovementKernels.catOutputShape([], dim: 0) }
    #expect(throws: KernelError.self) { try DataMovementKernels.catOutputShape([[2, 3], [3, 3]], dim: 1) }
    #expect(throws: KernelError.self) { try DataMovementKernels.catOutputShape([[2, 3], [2, 3, 1]], dim: 0) }
    #expect(throws: KernelError.self) { try DataMovementKernels.catOutputShape([[2, 3]], dim: 2) }
    #expect(throws: KernelError.self) { try DataMovementKernels.catOutputShape([[]], dim: 0) }
  }

  @Test func indexSelectPicksSlices() throws {
    // Rows 2, 0, 2 of a 3×2 matrix, and columns [1] of it.
    let x: [Int64] = [1, 2, 3, 4, 5, 6]
    let rows: [Int64] = [2, 0, 2]
    var picked = [Int64](repeating: 0, count: 6)
    try x.withUnsafeBytes { x in
      try rows.withUnsafeBufferPointer { rows in
        try picked.withUnsafeMutableBytes { picked in
          try DataMovementKernels.indexSelect(
            elementSize: 8, input: x.baseAddress!, inputShape: [3, 2], inputStrides: [2, 1], dim: 0,
            indices: rows.baseAddress!, indexCount: 3, output: picked.baseAddress!, outputStrides: [2, 1])
        }
      }
    }
    #expect(picked == [5, 6, 1, 2, 5, 6])
    var column = [Int64](repeating: 0, count: 3)
    let one: [Int64] = [1]
    try x.withUnsafeBytes { x in
      try one.withUnsafeBufferPointer { one in
        try column.withUnsafeMutableBytes { column in
          try DataMovementKernels.indexSelect(
            elementSize: 8, input: x.baseAddress!, inputShape: [3, 2], inputStrides: [2, 1], dim: 1,
            indices: one.baseAddress!, indexCount: 1, output: column.baseAddress!, outputStrides: [1, 1])
        }
      }
    }
    #expect(column == [2, 4, 6])
    // Negative indices are out of range (PyTorch does not wrap them here).
    let bad: [Int64] = [0, -1]
    #expect(throws: KernelError.indexOutOfRange(op: "index_select", index: -1, dim: 0, size: 3)) {
      try x.withUnsafeBytes { x in
        try bad.withUnsafeBufferPointer { bad in
          try picked.withUnsafeMutableBytes { picked in
            try DataMovementKernels.indexSelect(
              elementSize: 8, input: x.baseAddress!, inputShape: [3, 2], inputStrides: [2, 1], dim: 0,
              indices: bad.baseAddress!, indexCount: 2, output: picked.baseAddress!, outputStrides: [2, 1])
          }
        }
      }
    }
  }

  @Test func gatherFollowsTheIndexShape() throws {
    // torch.arange(6).reshape(2, 3).gather(1, [[2], [0]]) = [[2], [3]].
    let x: [Int64] = [0, 1, 2, 3, 4, 5]
    func gather(_ index: [Int64], shape indexShape: [Int], dim: Int) throws -> [Int64] {
      let normalized = try DataMovementKernels.validateGather(inputShape: [2, 3], dim: dim, indexShape: indexShape)
      var output = [Int64](repeating: -9, count: indexShape.elementCount)
      try x.withUnsafeBytes { x in
        try index.withUnsafeBufferPointer { index in
          try output.withUnsafeMutableBytes { output in
            try DataMovementKernels.gather(
              elementSize: 8, input: x.baseAddress!, inputShape: [2, 3], inputStrides: [3, 1], dim: normalized,
              index: index.baseAddress!, indexShape: indexShape, indexStrides: rowMajorStrides(indexShape),
              output: output.baseAddress!, outputStrides: rowMajorStrides(indexShape))
          }
        }
      }
      return output
    }
    #expect(try gather([2, 0], shape: [2, 1], dim: 1) == [2, 3])
    #expect(try gather([1, 0, 1], shape: [1, 3], dim: -2) == [3, 1, 5])
    // Several picks along the gathered dim: out[i][j] = x[i][index[i][j]], then x[index[i][j]][j].
    #expect(try gather([0, 0, 1, 0], shape: [2, 2], dim: 1) == [0, 0, 4, 3])
    #expect(try gather([1, 0, 0, 0, 1, 1], shape: [2, 3], dim: 0) == [3, 1, 2, 0, 4, 5])
    #expect(throws: KernelError.self) { try gather([0, 0, 0], shape: [3, 1], dim: 1) }
    #expect(throws: KernelError.self) { try gather([0, 0], shape: [2], dim: 0) }
    #expect(throws: KernelError.indexOutOfRange(op: "gather", index: 3, dim: 1, size: 3)) {
      try gather([3, 0], shape: [2, 1], dim: 1)
    }
  }
}

@Suite struct UpsampleTests {
  func resample(
    _ shape: Upsample2DShape, _ input: [Float], mode: String, alignCorners: Bool = false
  ) -> [Float] {
    var output = [Float](repeating: .nan, count: shape.planes * shape.outputHeight * shape.outputWidth)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        switch mode {
        case "nearest": UpsampleKernels.nearest2dReference(shape, input: input.baseAddress!, output: output.baseAddress!)
        case "nearest-exact":
          UpsampleKernels.nearest2dReference(shape, input: input.baseAddress!, output: output.baseAddress!, exact: true)
        default:
          UpsampleKernels.bilinear2dReference(
            shape, input: input.baseAddress!, output: output.baseAddress!, alignCorners: alignCorners)
        }
      }
    }
    return output
  }

  @Test func nearestModes() throws {
    let row: [Float] = [0, 1, 2, 3, 4]
    // Size 3: scale 5/3, sources ⌊0⌋, ⌊1.67⌋, ⌊3.33⌋.
    let bySize = try Upsample2DShape.make(op: "upsample_nearest2d", input: [1, 1, 1, 5], outputSize: [1, 3], scaleFactors: nil)
    #expect(resample(bySize, row, mode: "nearest") == [0, 1, 3])
    // nearest-exact: ⌊(i + ½)·5/3⌋ = 0, 2, 4.
    #expect(resample(bySize, row, mode: "nearest-exact") == [0, 2, 4])
    // Scale factor 0.7: output ⌊3.5⌋ = 3 columns, sources ⌊i / 0.7⌋ = 0, 1, 2.
    let byScale = try Upsample2DShape.make(op: "upsample_nearest2d", input: [1, 1, 1, 5], outputSize: nil, scaleFactors: [1, 0.7])
    #expect(byScale.outputWidth == 3)
    #expect(resample(byScale, row, mode: "nearest") == [0, 1, 2])
    // Doubling repeats each pixel.
    let doubled = try Upsample2DShape.make(op: "upsample_nearest2d", input: [1, 2, 2], outputSize: nil, scaleFactors: [2])
    #expect(resample(doubled, [1, 2, 3, 4], mode: "nearest") == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
  }

  @Test func bilinearAlignCornersBothWays() throws {
    // 2×2 → 3×3, align_corners=False: src = max(0, (i + ½)·⅔ − ½) = 0, ½, 1⅙ → clamped to the last pixel.
    let square = try Upsample2DShape.make(op: "upsample_bilinear2d", input: [1, 1, 2, 2], outputSize: [3, 3], scaleFactors: nil)
    expectClose(resample(square, [0, 1, 2, 3], mode: "bilinear"), [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3] as [Float])
    // 1×3 → 1×5, align_corners=True: src = i · 2/4.
    let row = try Upsample2DShape.make(op: "upsample_bilinear2d", input: [1, 1, 1, 3], outputSize: [1, 5], scaleFactors: nil)
    expectClose(resample(row, [0, 1, 2], mode: "bilinear", alignCorners: true), [0, 0.5, 1, 1.5, 2] as [Float])
    // Same shape, align_corners=False: src = (i + ½)·⅗ − ½ = −0.2→0, 0.4, 1, 1.6, 2.2 → 2.
    expectClose(resample(row, [0, 1, 2], mode: "bilinear"), [0, 0.4, 1, 1.6, 2] as [Float])
  }

  @Test func shapeChecks() {
    #expect(throws: KernelError.self) {
      try Upsample2DShape.make(op: "upsample_nearest2d", input: [1, 1, 2, 2], outputSize: [0, 2], scaleFactors: nil)
    }
    #expect(throws: KernelError.self) {
      try Upsample2DShape.make(op: "upsample_nearest2d", input: [1, 1, 2, 2], outputSize: [4, 4], scaleFactors: [2])
    }
    #expect(throws: KernelError.self) {
      try Upsample2DShape.make(op: "upsample_nearest2d", input: [2, 2], outputSize: [4, 4], scaleFactors: nil)
    }
  }
}
