// swift-tools-version:6.0
import PackageDescription

// Layering (see Documentation/Architecture.md): kernels and archive code never import the IR,
// and the executable holds no logic. SwiftPM dependencies enforce it.
let package = Package(
  name: "MobileOptimizer",
  products: [
    .library(name: "MobileOptimizer", targets: ["MobileOptimizer"]),
    .executable(name: "mobile-optimizer", targets: ["mobile-optimizer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
  ],
  targets: [
    // MARK: - Libraries
    .target(name: "TensorCore"),
    .target(name: "Kernels", dependencies: ["TensorCore"]),
    .target(
      name: "TorchArchive",
      dependencies: ["TensorCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
    .target(name: "TorchIR", dependencies: ["TensorCore"]),
    .target(name: "TorchScriptFrontend", dependencies: ["TorchIR"]),
    .target(name: "TorchRuntime", dependencies: ["TorchIR", "Kernels"]),
    .target(
      name: "MobileOptimizer",
      dependencies: ["TensorCore", "Kernels", "TorchArchive", "TorchIR", "TorchScriptFrontend", "TorchRuntime"]),

    // MARK: - Executable
    .executableTarget(
      name: "mobile-optimizer",
      dependencies: ["MobileOptimizer", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

    // MARK: - Tests
    .target(name: "_TestSupport", path: "Tests/_TestSupport"),
    .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
    .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
    .testTarget(name: "TorchArchiveTests", dependencies: ["TorchArchive"]),
    .testTarget(name: "TorchIRTests", dependencies: ["TorchIR"]),
    .testTarget(name: "TorchScriptFrontendTests", dependencies: ["TorchScriptFrontend", "TorchArchive", "_TestSupport"]),
    .testTarget(name: "TorchRuntimeTests", dependencies: ["TorchRuntime", "TorchScriptFrontend"]),
    .testTarget(name: "MobileOptimizerTests", dependencies: ["MobileOptimizer", "_TestSupport"]),
    .testTarget(name: "CLITests", dependencies: ["mobile-optimizer", "_TestSupport"]),
  ],
  swiftLanguageModes: [.v6]
)
