import Kernels
import TensorCore
import TorchIR

/// Executors for 2-D pooling (max, average, adaptive) and upsampling, on NCHW or CHW float32.
enum PoolingExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("aten::max_pool2d", { a in
        let input = try a.tensor(0)
        let kernel = try a.intList(1)
        let stride = try a.intList(2)
        let shape = try make {
          try Pool2DShape.maxPool2d(
            input: input.shape, kernel: kernel, stride: stride.isEmpty ? kernel : stride, padding: try a.intList(3),
            dilation: try a.intList(4), ceilMode: try a.bool(5))
        }
        return [.tensor(try pool(input, planesShape: shape) { x, y in
          PoolingKernels.maxPool2dReference(shape, input: x, output: y)
        })]
      }),
      ("aten::avg_pool2d", { a in
        let input = try a.tensor(0)
        let kernel = try a.intList(1)
        let stride = try a.intList(2)
        let shape = try make {
          try Pool2DShape.avgPool2d(
            input: input.shape, kernel: kernel, stride: stride.isEmpty ? kernel : stride, padding: try a.intList(3),
            ceilMode: try a.bool(4))
        }
        let includePad = try a.bool(5)
        let divisor = try a.optionalInt(6)
        return [.tensor(try pool(input, planesShape: shape) { x, y in
          PoolingKernels.avgPool2dReference(shape, input: x, output: y, countIncludePad: includePad, divisorOverride: divisor)
        })]
      }),
      ("aten::adaptive_avg_pool2d", { a in
        let input = try a.tensor(0)
        let shape = try make { try AdaptivePool2DShape.make(op: "adaptive_avg_pool2d", input: input.shape, outputSize: try a.intList(1)) }
        return [.tensor(try adaptive(input, shape) { x, y in PoolingKernels.adaptiveAvgPool2dReference(shape, input: x, output: y) })]
      }),
      ("aten::adaptive_max_pool2d", { a in
        let input = try a.tensor(0)
        let shape = try make { try AdaptivePool2DShape.make(op: "adaptive_max_pool2d", input: input.shape, outputSize: try a.intList(1)) }
        let outputShape = Array(input.shape.dropLast(2)) + [shape.outputHeight, shape.outputWidth]
        let indices = Tensor(zeros: outputShape, dtype: .int64)
        let values = try adaptive(input, shape) { x, y in
          PoolingKernels.adaptiveMaxPool2dReference(
            shape, input: x, output: y, indices: indices.firstElement.assumingMemoryBound(to: Int64.self))
        }
        return [.tensor(values), .tensor(indices)]
      }),
      ("aten::upsample_nearest2d.vec", { a in
        [.tensor(try upsample(try a.tensor(0), size: try a.optionalIntList(1), scales: try doubles(a[2]), bilinear: nil))]
      }),
      ("aten::upsample_nearest2d", { a in
        [.tensor(try upsample(try a.tensor(0), size: try a.intList(1), scales: nil, bilinear: nil))]
      }),
      ("aten::upsample_bilinear2d.vec", { a in
        [.tensor(try upsample(try a.tensor(0), size: try a.optionalIntList(1), scales: try doubles(a[3]), bilinear: try a.bool(2)))]
      }),
      ("aten::upsample_bilinear2d", { a in
        [.tensor(try upsample(try a.tensor(0), size: try a.intList(1), scales: nil, bilinear: try a.bool(2)))]
      }),
    ]
  }

  private static func doubles(_ value: IValue) throws -> [Double]? {
    if case .none = value { return nil }
    guard let items = value.elements else { throw OpError("expected a list of floats") }
    return try items.map {
      guard let number = $0.number else { throw OpError("expected a list of floats") }
      return number
    }
  }

  private static func make<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as KernelError {
      throw error.opError
    }
  }

  private static func pool(
    _ input: Tensor, planesShape shape: Pool2DShape,
    _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) throws -> Tensor {
    let x = try input.contiguousFloat32()
    let output = Tensor(zeros: Array(input.shape.dropLast(2)) + [shape.outputHeight, shape.outputWidth])
    withExtendedLifetime((x, output)) { kernel(x.floatPointer(), output.floatPointer()) }
    return output
  }

  private static func adaptive(
    _ input: Tensor, _ shape: AdaptivePool2DShape, _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) throws -> Tensor {
    let x = try input.contiguousFloat32()
    let output = Tensor(zeros: Array(input.shape.dropLast(2)) + [shape.outputHeight, shape.outputWidth])
    withExtendedLifetime((x, output)) { kernel(x.floatPointer(), output.floatPointer()) }
    return output
  }

  private static func upsample(_ input: Tensor, size: [Int]?, scales: [Double]?, bilinear alignCorners: Bool?) throws -> Tensor {
    let op = alignCorners == nil ? "upsample_nearest2d" : "upsample_bilinear2d"
    let shape = try make { try Upsample2DShape.make(op: op, input: input.shape, outputSize: size, scaleFactors: scales) }
    let x = try input.contiguousFloat32()
    let output = Tensor(zeros: Array(input.shape.dropLast(2)) + [shape.outputHeight, shape.outputWidth])
    withExtendedLifetime((x, output)) {
      if let alignCorners {
        UpsampleKernels.bilinear2dReference(shape, input: x.floatPointer(), output: output.floatPointer(), alignCorners: alignCorners)
      } else {
        UpsampleKernels.nearest2dReference(shape, input: x.floatPointer(), output: output.floatPointer())
      }
    }
    return output
  }
}
