import TensorCore

/// The C++ classes TorchScript exposes as `__torch__.torch.classes.<ns>.<Name>`: XNNPACK op
/// contexts and quantized packed parameters. They have no code in archives; their methods are
/// native (`Function.isNative`), with these signatures (as `torch._C._jit_get_custom_class_schemas`
/// reports them).
public enum CustomClasses {
  /// Qualified-name prefix of every custom class.
  public static let prefix = "__torch__.torch.classes."

  private static let methodTable: [String: [(String, [TorchType], TorchType)]] = {
    let packedConv: [(String, [TorchType], TorchType)] = [
      ("unpack", [], .tuple([.tensor, .optional(.tensor)])),
      ("weight", [], .tensor),
      ("bias", [], .optional(.tensor)),
      ("stride", [], .list(.int)),
      ("padding", [], .list(.int)),
      ("output_padding", [], .list(.int)),
      ("dilation", [], .list(.int)),
      ("groups", [], .int),
      ("transpose", [], .bool),
    ]
    return [
      "quantized.LinearPackedParamsBase": [
        ("unpack", [], .tuple([.tensor, .optional(.tensor)])),
        ("bias", [], .optional(.tensor)),
      ],
      "quantized.Conv2dPackedParamsBase": packedConv,
      "quantized.Conv3dPackedParamsBase": packedConv,
      "quantized.EmbeddingPackedParamsBase": [("bit_rate", [], .int), ("version", [], .int)],
      "xnnpack.LinearOpContext": [],
      "xnnpack.Conv2dOpContext": [],
      "xnnpack.TransposeConv2dOpContext": [],
    ]
  }()

  /// True for names under `__torch__.torch.classes.`.
  public static func isCustomClass(_ qualifiedName: String) -> Bool {
    qualifiedName.hasPrefix(prefix)
  }

  /// A class type for custom class `qualifiedName`, with its native methods; nil when unknown.
  public static func classType(_ qualifiedName: String) -> ClassType? {
    guard isCustomClass(qualifiedName) else { return nil }
    let key = String(qualifiedName.dropFirst(prefix.count))
    guard let methods = methodTable[key] else { return nil }
    let classType = ClassType(qualifiedName: qualifiedName, kind: .scriptClass)
    for (name, arguments, returnType) in methods {
      let function = Function(
        qualifiedName: name,
        arguments: [FunctionArgument(name: "self", type: .class(qualifiedName))]
          + arguments.enumerated().map { FunctionArgument(name: "_\($0.offset)", type: $0.element) },
        returnType: returnType)
      function.isNative = true
      classType.addMethod(function)
    }
    return classType
  }
}
