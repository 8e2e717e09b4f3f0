// swift-tools-version:6.0
import PackageDescription

// Layering (see Documentation/Architecture.md): kernels and archive code never import the IR,
// and the executable holds no logic. SwiftPM dependencies enforce it.
// Release builds drop dynamic exclusivity checks: the IR and runtime hold no overlapping
// accesses by design, and the checks cost about a tenth of optimize's time.
let fast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
  name: "MobileOptimizer",
  // Synchronization's atomics (the runtime's worker pool) need macOS 15 / iOS 18.
  platforms: [.macOS(.v15), .iOS(.v18)],
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
    .target(name: "TensorCore", swiftSettings: fast),
    .target(name: "CPrefetch"),
    .target(name: "CChecksum", linkerSettings: [.linkedLibrary("z")]),
    .target(name: "CSystem"),
    .target(name: "Kernels", dependencies: ["TensorCore", "CPrefetch"], swiftSettings: fast),
    .target(
      name: "TorchArchive",
      dependencies: ["TensorCore", "CChecksum", "CSystem", .product(name: "ZIPFoundation", package: "ZIPFoundation")], swiftSettings: fast),
    .target(name: "TorchIR", dependencies: ["TensorCore"], swiftSettings: fast),
    .target(name: "TorchScriptFrontend", dependencies: ["TorchIR"], swiftSettings: fast),
    .target(name: "TorchRuntime", dependencies: ["TorchIR", "Kernels", "CPrefetch"], swiftSettings: fast),
    .target(
      name: "MobileOptimizer",
      dependencies: ["TensorCore", "Kernels", "TorchArchive", "TorchIR", "TorchScriptFrontend", "TorchRuntime"],
      swiftSettings: fast),

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
    .testTarget(name: "TorchRuntimeTests", dependencies: ["TorchRuntime", "TorchScriptFrontend", "_TestSupport"]),
    .testTarget(name: "MobileOptimizerTests", dependencies: ["MobileOptimizer", "_TestSupport"]),
    .testTarget(name: "CLITests", dependencies: ["mobile-optimizer", "_TestSupport"]),
  ],
  swiftLanguageModes: [.v6]
)
