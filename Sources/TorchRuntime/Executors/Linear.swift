import Kernels
import TensorCore
import TorchIR

/// Executors for `linear`, `matmul`, `mm`, `bmm` and `addmm` (float32).
enum LinearExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("aten::linear", { a in [.tensor(try linear(try a.tensor(0), try a.tensor(1), try a.optionalTensor(2), clamp: .none))] }),
      ("aten::matmul", { a in [.tensor(try matmul(try a.tensor(0), try a.tensor(1)))] }),
      ("aten::mm", { a in
        let (x, y) = (try a.tensor(0), try a.tensor(1))
        guard x.rank == 2, y.rank == 2 else { throw OpError("mm expects 2-D tensors, got \(x.shape) and \(y.shape)") }
        return [.tensor(try matmul(x, y))]
      }),
      ("aten::bmm", { a in
        let (x, y) = (try a.tensor(0), try a.tensor(1))
        guard x.rank == 3, y.rank == 3, x.shape[0] == y.shape[0] else {
          throw OpError("bmm expects 3-D tensors with equal batch sizes, got \(x.shape) and \(y.shape)")
        }
        return [.tensor(try matmul(x, y))]
      }),
      ("aten::addmm", { a in
        [.tensor(try addmm(try a.tensor(0), try a.tensor(1), try a.tensor(2), beta: try a.double(3), alpha: try a.double(4)))]
      }),
    ]
  }

  /// `input · weightᵀ + bias` over the last dimension, with an optional output clamp.
  static func linear(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, clamp: OutputClamp) throws -> Tensor {
    guard weight.rank == 2 else { throw OpError("linear weight must be 2-D, got \(weight.shape)") }
    let inputFeatures = weight.shape[1]
    let outputFeatures = weight.shape[0]
    guard let last = input.shape.last, last == inputFeatures else {
      throw OpError("mat1 and mat2 shapes cannot be multiplied (input \(input.shape), weight \(weight.shape))")
    }
    if let bias, bias.count != outputFeatures {
      throw OpError("linear bias has \(bias.count) elements, expected \(outputFeatures)")
    }
    let x = try input.contiguousFloat32()
    let w = try weight.contiguousFloat32()
    let b = try bias?.contiguousFloat32()
    let rows = x.count / max(inputFeatures, 1)
    let output = Tensor(zeros: Array(input.shape.dropLast()) + [outputFeatures])
    withExtendedLifetime((x, w, b, output)) {
      GEMMKernels.linearReference(
        rows: rows, inputFeatures: inputFeatures, outputFeatures: outputFeatures, input: x.floatPointer(),
        weight: w.floatPointer(), bias: b?.floatPointer(), output: output.floatPointer(), clamp: clamp)
    }
    return output
  }

  static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let x = try a.contiguousFloat32()
    let y = try b.contiguousFloat32()
    let shape: [Int]
    do {
      shape = try GEMMKernels.matmulOutputShape(x.shape, y.shape)
    } catch {
      throw error.opError
    }
    let output = Tensor(zeros: shape)
    withExtendedLifetime((x, y, output)) {
      GEMMKernels.matmulReference(
        a: x.floatPointer(), aShape: x.shape, aStrides: x.strides, b: y.floatPointer(), bShape: y.shape,
        bStrides: y.strides, output: output.floatPointer())
    }
    return output
  }

  /// `beta · input + alpha · (mat1 · mat2)`.
  static func addmm(_ input: Tensor, _ mat1: Tensor, _ mat2: Tensor, beta: Double, alpha: Double) throws -> Tensor {
    guard mat1.rank == 2, mat2.rank == 2, mat1.shape[1] == mat2.shape[0] else {
      throw OpError("mat1 and mat2 shapes cannot be multiplied (\(mat1.shape) and \(mat2.shape))")
    }
    let (m, k, n) = (mat1.shape[0], mat1.shape[1], mat2.shape[1])
    let output = Tensor(zeros: [m, n])
    if beta != 0 { try output.assign(from: try input.contiguousFloat32()) }
    let x = try mat1.contiguousFloat32()
    let y = try mat2.contiguousFloat32()
    withExtendedLifetime((x, y, output)) {
      GEMMKernels.gemmReference(
        m: m, n: n, k: k, alpha: Float(alpha), a: x.floatPointer(), aRowStride: k, aColumnStride: 1,
        b: y.floatPointer(), bRowStride: n, bColumnStride: 1, beta: Float(beta), c: output.floatPointer(), cRowStride: n)
    }
    return output
  }
}
