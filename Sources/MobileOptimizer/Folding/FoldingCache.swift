import Foundation
import TensorCore

// Note [Folding ahead]
// Folding batch norms into convolutions is `optimize`'s only heavy arithmetic: MobileNetV2
// rescales about 9 MB of weights, into fresh memory the kernel must fault in and zero (about
// 3.5 ms). It depends only on tensors the module already holds, so while the main thread inlines
// and cleans up the graph (about 12 ms), the background lane folds every pair that looks like
// one ahead of time: in each module, a convolution child followed directly by a batch-norm child
// (torchvision's `Conv2dNormActivation`, ResNet's `conv1`/`bn1`). The pass then looks its inputs
// up here. The key is the identity of every tensor the arithmetic reads (storage, offset, shape,
// strides, dtype) and the exact `eps`, and both sides call the same `FoldingMath.convBatchNorm`,
// so a hit gives the very tensors the pass would have computed; a guess that does not match the
// graph just misses, and the pass computes as before. Nothing writes those tensors in between:
// optimizing runs no model code that could.

/// Conv–batch-norm folds computed ahead on the background lane (Note [Folding ahead]).
final class FoldingCache: @unchecked Sendable {
  /// What one fold reads.
  struct Key: Hashable {
    let weight: TensorViewKey
    let bias: TensorViewKey?
    let mean: TensorViewKey
    let variance: TensorViewKey
    let gamma: TensorViewKey?
    let beta: TensorViewKey?
    let eps: UInt64

    init(weight: Tensor, bias: Tensor?, batchNorm bn: FoldingMath.BatchNorm) {
      self.weight = TensorViewKey(weight)
      self.bias = bias.map(TensorViewKey.init)
      mean = TensorViewKey(bn.runningMean)
      variance = TensorViewKey(bn.runningVar)
      gamma = bn.weight.map(TensorViewKey.init)
      beta = bn.bias.map(TensorViewKey.init)
      eps = bn.eps.bitPattern
    }
  }

  private var results: [Key: (Tensor, Tensor)] = [:]
  private let lock = NSLock()
  private var task: BackgroundLane.Task?

  /// Starts folding, on the background lane, every convolution–batch-norm pair of `module`'s tree
  /// (the tensors the module holds now).
  init(module: ScriptModule) {
    var jobs: [(Key, Tensor, Tensor?, FoldingMath.BatchNorm)] = []
    for (_, object) in module.namedModules() {
      let children = module.children(of: object)
      for (first, second) in zip(children, children.dropFirst()) {
        // `eps` is usually a class constant (`__constants__`), written into the code.
        let eps = second.module.attribute("eps")?.number
          ?? module.unit.classType(second.module.typeName)?.constant("eps")?.number
        guard let eps, let job = FoldingCache.job(conv: first.module, batchNorm: second.module, eps: eps) else { continue }
        jobs.append(job)
      }
    }
    guard !jobs.isEmpty else { return }
    nonisolated(unsafe) let pending = jobs
    task = BackgroundLane.shared.submit { [self] in
      for (key, weight, bias, bn) in pending {
        guard let folded = try? FoldingMath.convBatchNorm(weight: weight, bias: bias, batchNorm: bn) else { continue }
        lock.lock()
        results[key] = folded
        lock.unlock()
      }
    }
  }

  /// The fold of `weight` and `bias` with `bn`, if it was computed ahead (waiting for the lane
  /// to finish first).
  func folded(weight: Tensor, bias: Tensor?, batchNorm bn: FoldingMath.BatchNorm) -> (Tensor, Tensor)? {
    task?.wait()
    lock.lock()
    defer { lock.unlock() }
    return results[Key(weight: weight, bias: bias, batchNorm: bn)]
  }

  /// A fold to compute ahead when `conv` looks like a convolution and `batchNorm` like a batch
  /// norm over its output channels; the tensors as the frozen graph's constants will hold them.
  private static func job(conv: ScriptObject, batchNorm: ScriptObject, eps: Double) -> (
    Key, Tensor, Tensor?, FoldingMath.BatchNorm
  )? {
    guard conv.typeName.hasSuffix("Conv2d") || conv.typeName.hasSuffix("Conv1d") || conv.typeName.hasSuffix("Conv3d"),
      batchNorm.typeName.contains("BatchNorm"),
      case .tensor(let weight) = conv.attribute("weight") ?? .none, weight.dtype.isFloatingPoint,
      case .tensor(let mean) = batchNorm.attribute("running_mean") ?? .none,
      case .tensor(let variance) = batchNorm.attribute("running_var") ?? .none
    else { return nil }
    func optionalTensor(_ object: ScriptObject, _ name: String) -> Tensor? {
      if case .tensor(let tensor) = object.attribute(name) ?? .none { return tensor }
      return nil
    }
    // The frozen graph's constants are these tensors (`requires_grad` dropped, which neither the
    // key nor the arithmetic reads).
    let bn = FoldingMath.BatchNorm(
      runningMean: mean, runningVar: variance, weight: optionalTensor(batchNorm, "weight"),
      bias: optionalTensor(batchNorm, "bias"), eps: eps)
    let convBias = optionalTensor(conv, "bias")
    return (Key(weight: weight, bias: convBias, batchNorm: bn), weight, convBias, bn)
  }
}
