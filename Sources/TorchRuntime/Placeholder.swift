// TorchRuntime
