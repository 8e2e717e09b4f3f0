import Kernels
import TensorCore
import TorchIR

/// Executors for `batch_norm` (inference and training, which updates the running statistics
/// in place) and `layer_norm` (float32).
enum NormalizationExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("aten::batch_norm", { a in
        [.tensor(try batchNorm(
          try a.tensor(0), weight: try a.optionalTensor(1), bias: try a.optionalTensor(2), mean: try a.optionalTensor(3),
          variance: try a.optionalTensor(4), training: try a.bool(5), momentum: try a.double(6), eps: try a.double(7)))]
      }),
      ("aten::layer_norm", { a in
        [.tensor(try layerNorm(
          try a.tensor(0), shape: try a.intList(1), weight: try a.optionalTensor(2), bias: try a.optionalTensor(3),
          eps: try a.double(4)))]
      }),
    ]
  }

  static func batchNorm(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, mean: Tensor?, variance: Tensor?, training: Bool, momentum: Double,
    eps: Double
  ) throws -> Tensor {
    let useBatchStatistics = training || mean == nil || variance == nil
    let layout: (batch: Int, channels: Int, spatial: Int)
    do {
      layout = try NormalizationKernels.batchNormLayout(inputShape: input.shape, training: useBatchStatistics)
    } catch {
      throw error.opError
    }
    for (name, tensor) in [("weight", weight), ("bias", bias), ("running_mean", mean), ("running_var", variance)] {
      if let tensor, tensor.count != layout.channels {
        throw OpError("batch_norm \(name) should contain \(layout.channels) elements not \(tensor.count)")
      }
    }
    let x = try input.contiguousFloat32()
    let w = try weight?.contiguousFloat32()
    let b = try bias?.contiguousFloat32()
    let output = Tensor(zeros: input.shape)
    if !useBatchStatistics, let mean, let variance {
      let m = try mean.contiguousFloat32()
      let v = try variance.contiguousFloat32()
      withExtendedLifetime((x, w, b, m, v, output)) {
        NormalizationKernels.batchNormInference(
          input: x.floatPointer(), output: output.floatPointer(), batch: layout.batch, channels: layout.channels,
          spatial: layout.spatial, mean: m.floatPointer(), variance: v.floatPointer(), weight: w?.floatPointer(),
          bias: b?.floatPointer(), epsilon: eps)
      }
      return output
    }
    // Training: running statistics (when given) are updated in place, as in PyTorch.
    for stat in [mean, variance].compactMap({ $0 }) where stat.dtype != .float32 || !stat.isContiguous {
      throw OpError("batch_norm running statistics must be contiguous float32 tensors")
    }
    withExtendedLifetime((x, w, b, mean, variance, output)) {
      NormalizationKernels.batchNormTraining(
        input: x.floatPointer(), output: output.floatPointer(), batch: layout.batch, channels: layout.channels,
        spatial: layout.spatial, weight: w?.floatPointer(), bias: b?.floatPointer(), epsilon: eps,
        momentum: momentum, runningMean: training ? mean?.floatPointer() : nil,
        runningVariance: training ? variance?.floatPointer() : nil)
    }
    return output
  }

  static func layerNorm(_ input: Tensor, shape: [Int], weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
    let layout: (rows: Int, size: Int)
    do {
      layout = try NormalizationKernels.layerNormLayout(inputShape: input.shape, normalizedShape: shape)
    } catch {
      throw error.opError
    }
    let x = try input.contiguousFloat32()
    let w = try weight?.contiguousFloat32()
    let b = try bias?.contiguousFloat32()
    let output = Tensor(zeros: input.shape)
    withExtendedLifetime((x, w, b, output)) {
      NormalizationKernels.layerNorm(
        input: x.floatPointer(), output: output.floatPointer(), rows: layout.rows, size: layout.size,
        weight: w?.floatPointer(), bias: b?.floatPointer(), epsilon: eps)
    }
    return output
  }
}
