// TorchScriptFrontend
