// TorchArchive
