import Kernels
import Testing

@Suite struct OutputSizeTests {
  @Test func convolutionFormula() {
    // (in + pb + pa − d·(k−1) − 1) / s + 1
    #expect(OutputSize.convolution(input: 224, kernel: 3, stride: 2, dilation: 1, padding: 1) == 112)
    #expect(OutputSize.convolution(input: 7, kernel: 3, stride: 1, dilation: 2, padding: 0) == 3)
    #expect(OutputSize.convolution(input: 5, kernel: 2, stride: 3, dilation: 1, paddingBefore: 0, paddingAfter: 1) == 2)
    // A kernel wider than the padded input gives a size below 1 (floor division, not truncation).
    #expect(OutputSize.convolution(input: 2, kernel: 4, stride: 2, dilation: 1, padding: 0) == 0)
  }

  @Test func transposedConvolutionFormula() {
    // (in − 1)·s − 2p + d·(k−1) + output_padding + 1
    #expect(OutputSize.transposedConvolution(input: 3, kernel: 3, stride: 2, padding: 1, outputPadding: 1, dilation: 1) == 6)
    #expect(OutputSize.transposedConvolution(input: 4, kernel: 4, stride: 2, padding: 1, outputPadding: 0, dilation: 1) == 8)
    #expect(OutputSize.transposedConvolution(input: 1, kernel: 1, stride: 1, padding: 1, outputPadding: 0, dilation: 1) == -1)
  }

  @Test func poolingCeilModeRule() {
    // in 4, k 2, s 2, p 1: floor mode ⌊(4 + 2 − 1 − 1) / 2⌋ + 1 = 3; ceil mode first gives
    // ⌊5 / 2⌋ + 1 = 3 too. in 5, k 2, s 2: floor 2, ceil 3 (the last window starts at 4 < 5).
    #expect(OutputSize.pooling(input: 4, kernel: 2, stride: 2, padding: 1, dilation: 1, ceilMode: false) == 3)
    #expect(OutputSize.pooling(input: 4, kernel: 2, stride: 2, padding: 1, dilation: 1, ceilMode: true) == 3)
    #expect(OutputSize.pooling(input: 5, kernel: 2, stride: 2, padding: 0, dilation: 1, ceilMode: false) == 2)
    #expect(OutputSize.pooling(input: 5, kernel: 2, stride: 2, padding: 0, dilation: 1, ceilMode: true) == 3)
    // in 2, k 1, s 2: ceil gives 2, but window 1 would start at 2 = in + p: dropped.
    #expect(OutputSize.pooling(input: 2, kernel: 1, stride: 2, padding: 0, dilation: 1, ceilMode: true) == 1)
    // in 6, k 3, s 2, p 1, ceil: ⌊(6 + 2 − 3 + 1) / 2⌋ + 1 = 4; (4 − 1)·2 = 6 < 7 keeps it.
    #expect(OutputSize.pooling(input: 6, kernel: 3, stride: 2, padding: 1, dilation: 1, ceilMode: true) == 4)
    // MobileNet/ResNet stem pool: 112 → 56.
    #expect(OutputSize.pooling(input: 112, kernel: 3, stride: 2, padding: 1, dilation: 1, ceilMode: false) == 56)
    // Dilation widens the window: span 2·(3−1)+1 = 5 on 7 → 3.
    #expect(OutputSize.pooling(input: 7, kernel: 3, stride: 1, padding: 0, dilation: 2, ceilMode: false) == 3)
  }

  /// `interior` is exactly the outputs whose every tap lies inside the input, found one by one.
  @Test func interiorOutputsHaveNoPaddedTaps() {
    for input in 1...12 {
      for kernel in 1...5 {
        for stride in 1...3 {
          for padding in 0...3 {
            for dilation in 1...2 {
              let output = OutputSize.convolution(
                input: input, kernel: kernel, stride: stride, dilation: dilation, padding: padding)
              guard output > 0 else { continue }
              let inside = (0..<output).filter { index in
                (0..<kernel).allSatisfy { tap in (0..<input).contains(index * stride - padding + tap * dilation) }
              }
              let interior = OutputSize.interior(
                input: input, output: output, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
              let label = "in \(input) k \(kernel) s \(stride) p \(padding) d \(dilation)"
              #expect(interior.lowerBound >= 0 && interior.upperBound <= output, "\(label)")
              #expect(Array(interior) == inside, "\(label)")
            }
          }
        }
      }
    }
  }

  @Test func adaptiveWindowsCoverTheInput() {
    // 5 → 3: [0, 2), [1, 4), [3, 5).
    #expect((0..<3).map { OutputSize.adaptiveWindow(index: $0, input: 5, output: 3) } == [0..<2, 1..<4, 3..<5])
    // 4 → 2: [0, 2), [2, 4); 2 → 4 repeats: [0,1), [0,1), [1,2), [1,2).
    #expect((0..<2).map { OutputSize.adaptiveWindow(index: $0, input: 4, output: 2) } == [0..<2, 2..<4])
    #expect((0..<4).map { OutputSize.adaptiveWindow(index: $0, input: 2, output: 4) } == [0..<1, 0..<1, 1..<2, 1..<2])
  }

  @Test func samePaddingAndUpsampleSizes() {
    #expect(OutputSize.samePadding(kernel: 3, dilation: 1) == (1, 1))
    #expect(OutputSize.samePadding(kernel: 4, dilation: 1) == (1, 2))
    #expect(OutputSize.samePadding(kernel: 3, dilation: 3) == (3, 3))
    #expect(OutputSize.upsample(input: 5, scale: 0.7) == 3)
    #expect(OutputSize.upsample(input: 7, scale: 2) == 14)
  }
}

@Suite struct StridedLoopTests {
  /// The (operand 0, operand 1) offsets a loop visits, in order.
  func visits(_ loop: StridedLoop) -> [[Int]] {
    var result: [[Int]] = []
    loop.forEachRow { offsets in
      for index in 0..<loop.rowLength {
        result.append((0..<loop.operandCount).map { offsets[$0] + index * loop.rowStride($0) })
      }
    }
    return result
  }

  @Test func contiguousOperandsMergeIntoOneRow() {
    let loop = StridedLoop(shape: [2, 3, 4], strides: [[12, 4, 1], [12, 4, 1]])
    #expect(loop.shape == [24])
    #expect(visits(loop) == (0..<24).map { [$0, $0] })
  }

  @Test func transposedOperandKeepsRowMajorOrder() {
    // Reading a 2×3 matrix stored column-major into a row-major one.
    let loop = StridedLoop(shape: [2, 3], strides: [[1, 2], [3, 1]])
    #expect(visits(loop) == [[0, 0], [2, 1], [4, 2], [1, 3], [3, 4], [5, 5]])
    // Dims merge only when every operand is contiguous across them, not just the first.
    let mixed = StridedLoop(shape: [2, 3], strides: [[3, 1], [1, 2]])
    #expect(mixed.shape == [2, 3])
    #expect(visits(mixed) == [[0, 0], [1, 2], [2, 4], [3, 1], [4, 3], [5, 5]])
  }

  @Test func broadcastAndDegenerateShapes() {
    // A [1, 3] row broadcast over 2 rows: stride 0 on dim 0; the size-1 dim is dropped.
    let loop = StridedLoop(shape: [2, 1, 3], strides: [[0, 0, 1], [3, 3, 1]])
    #expect(visits(loop) == [[0, 0], [1, 1], [2, 2], [0, 3], [1, 4], [2, 5]])
    let scalar = StridedLoop(shape: [], strides: [[], []])
    #expect(visits(scalar) == [[0, 0]])
    let empty = StridedLoop(shape: [3, 0, 2], strides: [[0, 2, 1], [0, 2, 1]])
    #expect(empty.isEmpty && empty.elementCount == 0)
    #expect(visits(empty).isEmpty)
  }
}

@Suite struct BroadcastingTests {
  @Test func shapesAlignAtTheTrailingDimension() throws {
    #expect(try Broadcasting.shape([2, 1, 3], [4, 1]) == [2, 4, 3])
    #expect(try Broadcasting.shape([], [3]) == [3])
    #expect(try Broadcasting.shape([5, 1], []) == [5, 1])
    #expect(try Broadcasting.shape([0], [1]) == [0])
    #expect(try Broadcasting.shape([2, 0, 3], [1, 3]) == [2, 0, 3])
    #expect(try Broadcasting.shape([[1, 2], [3, 1], [1]]) == [3, 2])
    #expect(throws: KernelError.notBroadcastable([0], [2])) { try Broadcasting.shape([0], [2]) }
    #expect(throws: KernelError.self) { try Broadcasting.shape([2, 3], [3, 2]) }
  }

  @Test func broadcastDimensionsGetStrideZero() {
    #expect(Broadcasting.strides([1], shape: [3], to: [2, 3]) == [0, 1])
    #expect(Broadcasting.strides([3, 1], shape: [2, 1], to: [4, 2, 5]) == [0, 3, 0])
    #expect(Broadcasting.strides([], shape: [], to: [2, 2]) == [0, 0])
    #expect(Broadcasting.contiguousStrides([2, 0, 3]) == [3, 3, 1])
  }
}
