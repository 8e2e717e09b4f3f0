/// The passes of `optimize_for_mobile` that a blocklist can switch off, with PyTorch's names
/// and values (`torch/csrc/jit/passes/mobile_optimizer_type.h`).
public enum MobileOptimizerType: Int, CaseIterable, Sendable, CustomStringConvertible {
  case convBatchNormFusion = 0
  case insertFoldPrepackOps = 1
  case removeDropout = 2
  case fuseAddRelu = 3
  case hoistConvPackedParams = 4
  case conv1dToConv2d = 5
  case vulkanAutomaticGPUTransfer = 6

  /// PyTorch's enum member name (`CONV_BN_FUSION`).
  public var name: String {
    switch self {
    case .convBatchNormFusion: "CONV_BN_FUSION"
    case .insertFoldPrepackOps: "INSERT_FOLD_PREPACK_OPS"
    case .removeDropout: "REMOVE_DROPOUT"
    case .fuseAddRelu: "FUSE_ADD_RELU"
    case .hoistConvPackedParams: "HOIST_CONV_PACKED_PARAMS"
    case .conv1dToConv2d: "CONV_1D_TO_2D"
    case .vulkanAutomaticGPUTransfer: "VULKAN_AUTOMATIC_GPU_TRANSFER"
    }
  }

  public var description: String { name }

  /// Parses a name case-insensitively (`conv_bn_fusion`, `CONV_BN_FUSION`).
  public init?(name: String) {
    guard let match = MobileOptimizerType.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
    self = match
  }
}

/// Where the optimized model runs.
public enum MobileBackend: String, Sendable {
  case cpu
  case vulkan
  case metal

  /// Parses a backend name as PyTorch does (case-insensitive).
  public init(name: String) throws {
    switch name.lowercased() {
    case "cpu": self = .cpu
    case "vulkan": self = .vulkan
    case "metal": self = .metal
    default: throw OptimizeError.unknownBackend
    }
  }
}

/// Errors `optimizeForMobile` reports, with PyTorch's messages where it has one.
public enum OptimizeError: Error, CustomStringConvertible {
  /// Preserved names the module does not have.
  case missingPreservedMethods([String])
  /// A backend name that is not CPU, Vulkan or Metal.
  case unknownBackend
  /// Vulkan or Metal, accepted names that this tool does not implement yet.
  case unsupportedBackend(MobileBackend)
  /// A blocklist name that is not a `MobileOptimizerType`.
  case unknownBlocklistName(String)
  /// `--verify` found outputs that differ more than the tolerance.
  case verificationFailed(String)

  public var description: String {
    switch self {
    case .missingPreservedMethods(let names):
      "The following methods to preserve do not exist in script_module: " + names.joined(separator: ", ")
    case .unknownBackend: "Unknown backend, must be one of 'CPU', 'Vulkan' or 'Metal'"
    case .unsupportedBackend(let backend):
      "the \(backend.rawValue) backend is not yet supported (only cpu is implemented)"
    case .unknownBlocklistName(let name):
      "unknown optimization '\(name)' in the blocklist; expected one of "
        + MobileOptimizerType.allCases.map { $0.name.lowercased() }.joined(separator: ", ")
    case .verificationFailed(let detail): "verification failed: \(detail)"
    }
  }
}
