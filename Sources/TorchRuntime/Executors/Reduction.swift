import Kernels
import TensorCore
import TorchIR

/// Executors for reductions (`sum`, `mean`, `amax`, `amin`, `prod`, `max`/`min` with indices,
/// `argmax`/`argmin`, `var`, `std`, `all`, `any`) and `softmax`/`log_softmax`.
enum ReductionExecutors {
  static var entries: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = [
      ("aten::sum", { a in [.tensor(try reduce(.sum, try a.tensor(0), dims: nil, keepdim: false, dtype: try a.optionalInt(1)))] }),
      ("aten::sum.dim_IntList", { a in
        [.tensor(try reduce(.sum, try a.tensor(0), dims: try a.optionalIntList(1), keepdim: try a.bool(2), dtype: try a.optionalInt(3)))]
      }),
      ("aten::mean", { a in [.tensor(try reduce(.mean, try a.tensor(0), dims: nil, keepdim: false, dtype: try a.optionalInt(1)))] }),
      ("aten::mean.dim", { a in
        [.tensor(try reduce(.mean, try a.tensor(0), dims: try a.optionalIntList(1), keepdim: try a.bool(2), dtype: try a.optionalInt(3)))]
      }),
      ("aten::prod", { a in [.tensor(try reduce(.prod, try a.tensor(0), dims: nil, keepdim: false, dtype: try a.optionalInt(1)))] }),
      ("aten::prod.dim_int", { a in
        [.tensor(try reduce(.prod, try a.tensor(0), dims: [try a.int(1)], keepdim: try a.bool(2), dtype: try a.optionalInt(3)))]
      }),
      ("aten::amax", { a in [.tensor(try reduce(.amax, try a.tensor(0), dims: try a.intList(1), keepdim: try a.bool(2), dtype: nil))] }),
      ("aten::amin", { a in [.tensor(try reduce(.amin, try a.tensor(0), dims: try a.intList(1), keepdim: try a.bool(2), dtype: nil))] }),
      ("aten::max", { a in [.tensor(try reduce(.amax, try a.tensor(0), dims: nil, keepdim: false, dtype: nil))] }),
      ("aten::min", { a in [.tensor(try reduce(.amin, try a.tensor(0), dims: nil, keepdim: false, dtype: nil))] }),
      ("aten::max.dim", { a in try extremum(.max, try a.tensor(0), dim: try a.int(1), keepdim: try a.bool(2), values: true) }),
      ("aten::min.dim", { a in try extremum(.min, try a.tensor(0), dim: try a.int(1), keepdim: try a.bool(2), values: true) }),
      ("aten::argmax", { a in try extremum(.max, try a.tensor(0), dim: try a.optionalInt(1), keepdim: try a.bool(2), values: false) }),
      ("aten::argmin", { a in try extremum(.min, try a.tensor(0), dim: try a.optionalInt(1), keepdim: try a.bool(2), values: false) }),
      ("aten::softmax.int", { a in [.tensor(try softmax(try a.tensor(0), dim: try a.int(1), dtype: try a.optionalInt(2), logarithm: false))] }),
      ("aten::log_softmax.int", { a in [.tensor(try softmax(try a.tensor(0), dim: try a.int(1), dtype: try a.optionalInt(2), logarithm: true))] }),
    ]
    for (name, standardDeviation) in [("var", false), ("std", true)] {
      result.append(("aten::\(name)", { a in
        let correction = try a.bool(1) ? 1 : 0
        return [.tensor(try reduce(
          standardDeviation ? .standardDeviation(correction: correction) : .variance(correction: correction),
          try a.tensor(0), dims: nil, keepdim: false, dtype: nil))]
      }))
      result.append(("aten::\(name).dim", { a in
        let correction = try a.bool(2) ? 1 : 0
        return [.tensor(try reduce(
          standardDeviation ? .standardDeviation(correction: correction) : .variance(correction: correction),
          try a.tensor(0), dims: try a.optionalIntList(1), keepdim: try a.bool(3), dtype: nil))]
      }))
    }
    return result
  }

  static func reduce(_ op: ReductionOperation, _ input: Tensor, dims: [Int]?, keepdim: Bool, dtype code: Int?) throws -> Tensor {
    var source = input
    if let code {
      guard let target = DType(rawValue: code) else { throw OpError("unknown dtype code \(code)") }
      source = source.converted(to: target)
    }
    if case .mean = op, !source.dtype.isFloatingPoint {
      throw OpError(
        "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: \(source.dtype)")
    }
    guard let resultType = op.resultType(for: source.dtype) else {
      throw OpError("reduction has no kernel for \(source.dtype) tensors")
    }
    let allDims = dims.map { $0.isEmpty ? Array(0..<source.rank) : $0 } ?? Array(0..<source.rank)
    let normalized: [Int]
    let outputShape: [Int]
    do {
      normalized = try ReductionKernels.normalizeDims(allDims, rank: source.rank, op: "reduce")
      outputShape = try ReductionKernels.outputShape(op, inputShape: source.shape, dims: normalized, keepdim: keepdim)
    } catch {
      throw error.opError
    }
    let output = Tensor(zeros: outputShape, dtype: resultType)
    withExtendedLifetime((source, output)) {
      ReductionKernels.reduce(
        op, dtype: source.dtype, input: source.firstElement, shape: source.shape, strides: source.strides, dims: normalized,
        output: output.firstElement)
    }
    return output
  }

  static func extremum(_ kind: Extremum, _ input: Tensor, dim: Int?, keepdim: Bool, values: Bool) throws -> [IValue] {
    let shape: [Int]
    var wrapped: Int?
    do {
      if let dim { wrapped = try ReductionKernels.normalizeDims([dim], rank: input.rank, op: "max")[0] }
      shape = try ReductionKernels.extremumOutputShape(kind, inputShape: input.shape, dim: wrapped, keepdim: keepdim)
    } catch {
      throw error.opError
    }
    let indices = Tensor(zeros: shape, dtype: .int64)
    let valueTensor = values ? Tensor(zeros: shape, dtype: input.dtype) : nil
    withExtendedLifetime((input, indices, valueTensor)) {
      ReductionKernels.extremum(
        kind, dtype: input.dtype, input: input.firstElement, shape: input.shape, strides: input.strides, dim: wrapped,
        values: valueTensor?.firstElement, indices: indices.firstElement.assumingMemoryBound(to: Int64.self))
    }
    if let valueTensor { return [.tensor(valueTensor), .tensor(indices)] }
    return [.tensor(indices)]
  }

  static func softmax(_ input: Tensor, dim: Int, dtype code: Int?, logarithm: Bool) throws -> Tensor {
    var source = input
    if let code {
      guard let target = DType(rawValue: code) else { throw OpError("unknown dtype code \(code)") }
      source = source.converted(to: target)
    }
    guard source.dtype == .float32 || source.dtype == .float64 else {
      throw OpError("softmax is only implemented for floating tensors, got \(source.dtype)")
    }
    let wrapped = try Tensor.wrapDimension(dim, rank: source.rank)
    let output = Tensor(zeros: source.shape, dtype: source.dtype)
    withExtendedLifetime((source, output)) {
      SoftmaxKernels.softmax(
        dtype: source.dtype, input: source.firstElement, inputStrides: source.strides, output: output.firstElement,
        outputStrides: output.strides, shape: source.shape, dim: source.rank == 0 ? 0 : wrapped, logarithm: logarithm)
    }
    return output
  }
}
