import Kernels
import TensorCore
import TorchIR

/// Executors for elementwise ops: activations and other unary math, arithmetic with broadcasting
/// and type promotion, comparisons, `where`, `masked_fill` and their in-place forms.
enum ElementwiseExecutors {
  static var entries: [(String, OpExecutor)] {
    unaryEntries + binaryEntries + comparisonEntries + miscEntries
  }

  // MARK: - Unary

  /// Applies `op` to `input`, into a new tensor or (in place) into `input` itself. Ops that have
  /// no integer kernel compute integer inputs as float32, as PyTorch promotes them.
  static func unary(_ op: UnaryOperation, _ input: Tensor, inPlace: Bool) throws -> Tensor {
    var source = input
    if !op.supports(source.dtype) {
      guard !inPlace, source.dtype.isIntegral || source.dtype == .bool else {
        throw OpError("no kernel for this op on \(source.dtype) tensors")
      }
      source = source.converted(to: .float32)
    }
    let output = inPlace ? source : Tensor(zeros: source.shape, dtype: source.dtype)
    withExtendedLifetime((source, output)) {
      ElementwiseKernels.unary(
        op, dtype: source.dtype, input: source.firstElement, inputStrides: source.strides, output: output.firstElement,
        outputStrides: output.strides, shape: source.shape)
    }
    return output
  }

  private static func unaryPair(_ name: String, _ make: @escaping @Sendable ([IValue]) throws -> UnaryOperation)
    -> [(String, OpExecutor)]
  {
    [
      ("aten::\(name)", { a in [.tensor(try unary(try make(a), try a.tensor(0), inPlace: false))] }),
      ("aten::\(name)_", { a in [.tensor(try unary(try make(a), try a.tensor(0), inPlace: true))] }),
    ]
  }

  private static func scalarArgument(_ value: IValue) throws -> Scalar? {
    if case .none = value { return nil }
    guard let scalar = value.kernelScalar else { throw OpError("expected a number, got \(value.kindName)") }
    return scalar
  }

  private static var unaryEntries: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    let simple: [(String, UnaryOperation)] = [
      ("relu", .relu), ("relu6", .relu6), ("hardswish", .hardswish), ("hardsigmoid", .hardsigmoid),
      ("sigmoid", .sigmoid), ("silu", .silu), ("tanh", .tanh), ("exp", .exp), ("expm1", .expm1), ("log", .log),
      ("log1p", .log1p), ("log2", .log2), ("log10", .log10), ("sqrt", .sqrt), ("rsqrt", .rsqrt),
      ("reciprocal", .reciprocal), ("abs", .abs), ("neg", .neg), ("square", .square), ("sign", .sign),
      ("floor", .floor), ("ceil", .ceil), ("round", .round), ("trunc", .trunc), ("erf", .erf), ("sin", .sin),
      ("cos", .cos),
    ]
    for (name, op) in simple { result += unaryPair(name) { _ in op } }
    result += unaryPair("hardtanh") { a in .hardtanh(min: try a.double(1), max: try a.double(2)) }
    result += unaryPair("leaky_relu") { a in .leakyRelu(negativeSlope: try a.double(1)) }
    result += unaryPair("elu") { a in
      guard try a.double(2) == 1, try a.double(3) == 1 else { throw OpError("elu with scale is not supported") }
      return .elu(alpha: try a.double(1))
    }
    result += unaryPair("softplus") { a in .softplus(beta: try a.double(1), threshold: try a.double(2)) }.prefix(1)
    result += unaryPair("clamp") { a in .clamp(min: try scalarArgument(a[1]), max: try scalarArgument(a[2])) }
    result += unaryPair("clamp_min") { a in .clamp(min: try scalarArgument(a[1]), max: nil) }
    result += unaryPair("clamp_max") { a in .clamp(min: nil, max: try scalarArgument(a[1])) }
    let special: [(String, OpExecutor)] = [
      ("aten::gelu", { a in
        let approximate = a.count > 1 ? try a.string(1) : "none"
        return [.tensor(try unary(.gelu(approximate == "tanh" ? .tanh : .none), try a.tensor(0), inPlace: false))]
      }),
      ("aten::gelu_", { a in
        let approximate = a.count > 1 ? try a.string(1) : "none"
        return [.tensor(try unary(.gelu(approximate == "tanh" ? .tanh : .none), try a.tensor(0), inPlace: true))]
      }),
      ("aten::mish", { a in
        // mish(x) = x * tanh(softplus(x)).
        let x = try a.tensor(0)
        let soft = try unary(.softplus(beta: 1, threshold: 20), x, inPlace: false)
        let tanh = try unary(.tanh, soft, inPlace: true)
        return [.tensor(try binary(.mul, .tensor(x), .tensor(tanh), inPlaceTarget: nil))]
      }),
      ("aten::bitwise_not", { a in
        let x = try a.tensor(0)
        guard x.dtype == .bool else { throw OpError("bitwise_not is only supported on bool tensors") }
        let output = Tensor(zeros: x.shape, dtype: .bool)
        withExtendedLifetime((x, output)) {
          ElementwiseKernels.logicalNot(
            dtype: .bool, input: x.firstElement, inputStrides: x.strides, output: output.firstElement,
            outputStrides: output.strides, shape: x.shape)
        }
        return [.tensor(output)]
      }),
    ]
    return result + special
  }

  // MARK: - Binary

  /// `op(a, b)` with broadcasting and PyTorch's type promotion, into a new tensor or (in place)
  /// into `inPlaceTarget`, which must be `a` and must hold the result type.
  static func binary(_ op: BinaryOperation, _ a: Operand, _ b: Operand, inPlaceTarget: Tensor?, trueDivision: Bool = false)
    throws -> Tensor
  {
    var resultType = TypePromotion.resultType([a, b])
    if trueDivision, !resultType.isFloatingPoint { resultType = .float32 }
    let shape = try Tensor.broadcastShapes(a.shape, b.shape)
    let output: Tensor
    if let target = inPlaceTarget {
      guard shape == target.shape else {
        throw OpError("output with shape \(target.shape) doesn't match the broadcast shape \(shape)")
      }
      guard TypePromotion.category(resultType) <= TypePromotion.category(target.dtype) else {
        throw OpError("result type \(resultType) can't be cast to the desired output type \(target.dtype)")
      }
      output = target
    } else {
      output = Tensor(zeros: shape, dtype: resultType)
    }
    let computeType = output.dtype.isFloatingPoint && !op.supports(output.dtype) ? .float32 : output.dtype
    guard op.supports(computeType) else { throw OpError("no kernel for this op on \(computeType) tensors") }
    let left = TypePromotion.materialize(a, as: computeType)
    let right = TypePromotion.materialize(b, as: computeType)
    let needsCopy = computeType != output.dtype
    let destination = needsCopy ? Tensor(zeros: shape, dtype: computeType) : output
    do {
      try withExtendedLifetime((left, right, destination)) { () throws(KernelError) in
        try ElementwiseKernels.binary(
          op, dtype: computeType, a: left.firstElement, aStrides: left.broadcastStrides(to: shape),
          b: right.firstElement, bStrides: right.broadcastStrides(to: shape), output: destination.firstElement,
          outputStrides: destination.strides, shape: shape)
      }
    } catch {
      throw error.opError
    }
    if needsCopy { try output.assign(from: destination) }
    return output
  }

  private static func alphaScalar(_ a: [IValue], _ index: Int) throws -> Scalar {
    guard index < a.count else { return .int(1) }
    guard let scalar = a[index].kernelScalar else { throw OpError("alpha must be a number") }
    return scalar
  }

  private static func binaryFamily(
    _ name: String, _ make: @escaping @Sendable ([IValue]) throws -> BinaryOperation, trueDivision: Bool = false
  ) -> [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    for schema in OpRegistry.standard.schemas(for: OpName("aten::" + name)) + OpRegistry.standard.schemas(for: OpName("aten::\(name)_"))
    where schema.arguments.first?.type == .tensor && schema.arguments.count >= 2 {
      let inPlace = schema.name.rawValue.hasSuffix("_")
      result.append((schema.fullName, { a in
        let target = inPlace ? try a.tensor(0) : nil
        return [.tensor(try binary(try make(a), try Operand(a[0]), try Operand(a[1]), inPlaceTarget: target, trueDivision: trueDivision))]
      }))
    }
    return result
  }

  private static var binaryEntries: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    result += binaryFamily("add") { a in .add(alpha: try alphaScalar(a, 2)) }
    result += binaryFamily("sub") { a in .sub(alpha: try alphaScalar(a, 2)) }
    result += binaryFamily("mul") { _ in .mul }
    result += binaryFamily("_add_relu") { a in .addRelu(alpha: try alphaScalar(a, 2)) }
    result += binaryFamily("maximum") { _ in .maximum }
    result += binaryFamily("minimum") { _ in .minimum }
    result += binaryFamily("pow") { _ in .pow }
    result += binaryFamily("remainder") { _ in .remainder }
    result += binaryFamily("fmod") { _ in .fmod }
    result += binaryFamily("floor_divide") { _ in .divFloor }
    result += binaryFamily("__and__") { _ in .bitwiseAnd }
    result += binaryFamily("__or__") { _ in .bitwiseOr }
    result += binaryFamily("__xor__") { _ in .bitwiseXor }
    result += binaryFamily("bitwise_and") { _ in .bitwiseAnd }
    result += binaryFamily("bitwise_or") { _ in .bitwiseOr }
    for name in ["div", "div_", "true_divide"] {
      for schema in OpRegistry.standard.schemas(for: OpName("aten::" + name)) where schema.arguments.first?.type == .tensor {
        let inPlace = name.hasSuffix("_")
        let hasMode = schema.arguments.count == 3 && schema.arguments[2].name == "rounding_mode"
        result.append((schema.fullName, { a in
          var op = BinaryOperation.div
          var trueDivision = true
          if hasMode, case .string(let mode) = a[2] {
            op = mode == "floor" ? .divFloor : .divTrunc
            trueDivision = false
          }
          let target = inPlace ? try a.tensor(0) : nil
          return [.tensor(try binary(op, try Operand(a[0]), try Operand(a[1]), inPlaceTarget: target, trueDivision: trueDivision))]
        }))
      }
    }
    // rsub(self, other, alpha) = other - alpha * self.
    for schema in OpRegistry.standard.schemas(for: "aten::rsub") where schema.arguments.first?.type == .tensor {
      result.append((schema.fullName, { a in
        [.tensor(try binary(.sub(alpha: try alphaScalar(a, 2)), try Operand(a[1]), try Operand(a[0]), inPlaceTarget: nil))]
      }))
    }
    return result
  }

  // MARK: - Comparisons

  static func compare(_ op: ComparisonOperation, _ a: Operand, _ b: Operand) throws -> Tensor {
    let type = TypePromotion.resultType([a, b])
    let shape = try Tensor.broadcastShapes(a.shape, b.shape)
    let left = TypePromotion.materialize(a, as: type)
    let right = TypePromotion.materialize(b, as: type)
    let output = Tensor(zeros: shape, dtype: .bool)
    withExtendedLifetime((left, right, output)) {
      ElementwiseKernels.compare(
        op, dtype: type, a: left.firstElement, aStrides: left.broadcastStrides(to: shape), b: right.firstElement,
        bStrides: right.broadcastStrides(to: shape), output: output.firstElement, outputStrides: output.strides,
        shape: shape)
    }
    return output
  }

  static func logical(_ op: LogicalOperation, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    let type = TypePromotion.promote(a.dtype, b.dtype)
    let shape = try Tensor.broadcastShapes(a.shape, b.shape)
    let left = a.converted(to: type)
    let right = b.converted(to: type)
    let output = Tensor(zeros: shape, dtype: .bool)
    withExtendedLifetime((left, right, output)) {
      ElementwiseKernels.logical(
        op, dtype: type, a: left.firstElement, aStrides: left.broadcastStrides(to: shape), b: right.firstElement,
        bStrides: right.broadcastStrides(to: shape), output: output.firstElement, outputStrides: output.strides,
        shape: shape)
    }
    return output
  }

  private static var comparisonEntries: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    let ops: [(String, ComparisonOperation)] = [
      ("eq", .equal), ("ne", .notEqual), ("lt", .less), ("le", .lessOrEqual), ("gt", .greater), ("ge", .greaterOrEqual),
    ]
    for (name, op) in ops {
      for schema in OpRegistry.standard.schemas(for: OpName("aten::" + name))
      where schema.arguments.first?.type == .tensor && schema.arguments.count == 2 {
        result.append((schema.fullName, { a in [.tensor(try compare(op, try Operand(a[0]), try Operand(a[1])))] }))
      }
    }
    let logicalOps: [(String, LogicalOperation)] = [("logical_and", .and), ("logical_or", .or), ("logical_xor", .xor)]
    for (name, op) in logicalOps {
      result.append(("aten::" + name, { a in [.tensor(try logical(op, try a.tensor(0), try a.tensor(1)))] }))
    }
    result.append(("aten::logical_not", { a in
      let x = try a.tensor(0)
      let output = Tensor(zeros: x.shape, dtype: .bool)
      withExtendedLifetime((x, output)) {
        ElementwiseKernels.logicalNot(
          dtype: x.dtype, input: x.firstElement, inputStrides: x.strides, output: output.firstElement,
          outputStrides: output.strides, shape: x.shape)
      }
      return [.tensor(output)]
    }))
    return result
  }

  // MARK: - where, masked_fill

  static func select(_ condition: Tensor, _ a: Operand, _ b: Operand) throws -> Tensor {
    let type = TypePromotion.resultType([a, b])
    let shape = try Tensor.broadcastShapes(try Tensor.broadcastShapes(condition.shape, a.shape), b.shape)
    let flags = condition.converted(to: .bool)
    let left = TypePromotion.materialize(a, as: type)
    let right = TypePromotion.materialize(b, as: type)
    let output = Tensor(zeros: shape, dtype: type)
    withExtendedLifetime((flags, left, right, output)) {
      ElementwiseKernels.select(
        elementSize: type.itemSize, condition: flags.firstElement, conditionStrides: flags.broadcastStrides(to: shape),
        a: left.firstElement, aStrides: left.broadcastStrides(to: shape), b: right.firstElement,
        bStrides: right.broadcastStrides(to: shape), output: output.firstElement, outputStrides: output.strides,
        shape: shape)
    }
    return output
  }

  private static var miscEntries: [(String, OpExecutor)] {
    var result: [(String, OpExecutor)] = []
    for schema in OpRegistry.standard.schemas(for: "aten::where") where schema.arguments.count == 3 {
      result.append((schema.fullName, { a in [.tensor(try select(try a.tensor(0), try Operand(a[1]), try Operand(a[2])))] }))
    }
    for name in ["masked_fill", "masked_fill_"] {
      for schema in OpRegistry.standard.schemas(for: OpName("aten::" + name)) where schema.arguments.count == 3 {
        let inPlace = name.hasSuffix("_")
        result.append((schema.fullName, { a in
          let input = try a.tensor(0)
          let filled = try select(try a.tensor(1), try Operand(a[2]), .tensor(input)).converted(to: input.dtype)
          if inPlace {
            try input.assign(from: filled)
            return [.tensor(input)]
          }
          return [.tensor(filled)]
        }))
      }
    }
    return result
  }
}
