// The values the library's API passes (tensors, IValues, dtypes) come from TensorCore; users of
// MobileOptimizer get them without importing it separately.
@_exported import TensorCore
@_exported import class TorchRuntime.ExecutionContext
@_exported import class TorchRuntime.Profile
