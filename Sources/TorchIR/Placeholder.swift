// TorchIR
