import Kernels
import TensorCore
import TorchIR

/// Executors for convolutions: `conv1d`, `conv2d` (explicit or string padding), `_convolution`,
/// `conv_transpose2d`, and the XNNPACK prepacked ops PyTorch's `optimize_for_mobile` writes
/// (`prepacked::conv2d_clamp_run` and friends), whose context objects hold the original weights
/// (SPEC §6.2).
enum ConvolutionExecutors {
  static var entries: [(String, OpExecutor)] {
    [
      ("aten::conv2d", { a in
        [.tensor(try conv(a, rank: 2, padding: .explicit(try a.intList(4)), dilation: try a.intList(5), groups: try a.int(6)))]
      }),
      ("aten::conv2d.padding", { a in
        [.tensor(try conv(a, rank: 2, padding: try stringPadding(try a.string(4)), dilation: try a.intList(5), groups: try a.int(6)))]
      }),
      ("aten::conv1d", { a in
        [.tensor(try conv(a, rank: 1, padding: .explicit(try a.intList(4)), dilation: try a.intList(5), groups: try a.int(6)))]
      }),
      ("aten::conv1d.padding", { a in
        [.tensor(try conv(a, rank: 1, padding: try stringPadding(try a.string(4)), dilation: try a.intList(5), groups: try a.int(6)))]
      }),
      ("aten::_convolution", { a in [.tensor(try convolution(a))] }),
      ("aten::_convolution.deprecated", { a in [.tensor(try convolution(a))] }),
      ("aten::conv_transpose2d.input", { a in
        [.tensor(try convTranspose2d(
          try a.tensor(0), try a.tensor(1), try a.optionalTensor(2), stride: try a.intList(3), padding: try a.intList(4),
          outputPadding: try a.intList(5), groups: try a.int(6), dilation: try a.intList(7), clamp: .none))]
      }),
      ("prepacked::conv2d_clamp_prepack", { a in
        [.object(context("Conv2dOpContext", Array(a.prefix(8))))]
      }),
      ("prepacked::linear_clamp_prepack", { a in
        [.object(context("LinearOpContext", Array(a.prefix(4))))]
      }),
      ("prepacked::conv2d_transpose_clamp_prepack", { a in
        [.object(context("TransposeConv2dOpContext", Array(a.prefix(9))))]
      }),
      ("prepacked::conv2d_clamp_run", { a in
        let state = try contextState(a[1], count: 8)
        return [.tensor(try conv2d(
          try a.tensor(0), try state.tensor(0), try state.optionalTensor(1), stride: try state.intList(2),
          padding: .explicit(try state.intList(3)), dilation: try state.intList(4), groups: try state.int(5),
          clamp: try clamp(state[6], state[7])))]
      }),
      ("prepacked::linear_clamp_run", { a in
        let state = try contextState(a[1], count: 4)
        return [.tensor(try LinearExecutors.linear(
          try a.tensor(0), try state.tensor(0), try state.optionalTensor(1), clamp: try clamp(state[2], state[3])))]
      }),
      ("prepacked::conv2d_transpose_clamp_run", { a in
        let state = try contextState(a[1], count: 9)
        return [.tensor(try convTranspose2d(
          try a.tensor(0), try state.tensor(0), try state.optionalTensor(1), stride: try state.intList(2),
          padding: try state.intList(3), outputPadding: try state.intList(4), groups: try state.int(6),
          dilation: try state.intList(5), clamp: try clamp(state[7], state[8])))]
      }),
    ]
  }

  static func stringPadding(_ text: String) throws -> ConvolutionPadding {
    switch text {
    case "same": return .same
    case "valid": return .valid
    default: throw OpError("invalid padding string '\(text)', expected 'same' or 'valid'")
    }
  }

  /// An XNNPACK context object holding `state` (what `__getstate__` returns).
  static func context(_ className: String, _ state: [IValue]) -> ScriptObject {
    let object = ScriptObject(typeName: "__torch__.torch.classes.xnnpack." + className)
    object.state = .tuple(state)
    return object
  }

  /// The state tuple of a context object.
  static func contextState(_ value: IValue, count: Int) throws -> [IValue] {
    guard case .object(let object) = value, case .tuple(let state) = object.state ?? .none, state.count == count else {
      throw OpError("expected a prepacked context holding \(count) values")
    }
    return state
  }

  /// The output clamp of an optional min and max (None means unbounded).
  static func clamp(_ minimum: IValue, _ maximum: IValue) throws -> OutputClamp {
    OutputClamp(
      lower: minimum.isNone ? -.infinity : Float(minimum.number ?? 0),
      upper: maximum.isNone ? .infinity : Float(maximum.number ?? 0))
  }

  private static func conv(_ a: [IValue], rank: Int, padding: ConvolutionPadding, dilation: [Int], groups: Int) throws -> Tensor {
    let input = try a.tensor(0)
    let weight = try a.tensor(1)
    let bias = try a.optionalTensor(2)
    if rank == 1 {
      return try conv1d(input, weight, bias, stride: try a.intList(3), padding: padding, dilation: dilation, groups: groups)
    }
    return try conv2d(input, weight, bias, stride: try a.intList(3), padding: padding, dilation: dilation, groups: groups, clamp: .none)
  }

  /// `aten::_convolution`: dispatches on `transposed` and the number of spatial dims.
  private static func convolution(_ a: [IValue]) throws -> Tensor {
    let input = try a.tensor(0)
    let weight = try a.tensor(1)
    let bias = try a.optionalTensor(2)
    let stride = try a.intList(3)
    let padding = try a.intList(4)
    let dilation = try a.intList(5)
    let transposed = try a.bool(6)
    let outputPadding = try a.intList(7)
    let groups = try a.int(8)
    if transposed {
      guard weight.rank == 4 else { throw OpError("only 2-D transposed convolutions are supported") }
      return try convTranspose2d(
        input, weight, bias, stride: stride, padding: padding, outputPadding: outputPadding, groups: groups,
        dilation: dilation, clamp: .none)
    }
    switch weight.rank {
    case 3: return try conv1d(input, weight, bias, stride: stride, padding: .explicit(padding), dilation: dilation, groups: groups)
    case 4:
      return try conv2d(input, weight, bias, stride: stride, padding: .explicit(padding), dilation: dilation, groups: groups, clamp: .none)
    default: throw OpError("only 1-D and 2-D convolutions are supported, got a weight of shape \(weight.shape)")
    }
  }

  /// The validated shape of a 2-D convolution, with its bias checked against the output channels.
  static func conv2dShape(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int], padding: ConvolutionPadding, dilation: [Int],
    groups: Int
  ) throws -> Conv2DShape {
    let shape: Conv2DShape
    do {
      shape = try Conv2DShape.conv2d(
        input: input.shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
    } catch {
      throw error.opError
    }
    if let bias, bias.count != shape.outputChannels {
      throw OpError("conv2d bias has \(bias.count) elements, expected \(shape.outputChannels)")
    }
    return shape
  }

  static func conv2d(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int], padding: ConvolutionPadding, dilation: [Int],
    groups: Int, clamp: OutputClamp
  ) throws -> Tensor {
    let shape = try conv2dShape(
      input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    let x = try input.contiguousFloat32()
    let w = try weight.contiguousFloat32()
    let b = try bias?.contiguousFloat32()
    let outputShape = input.rank == 3 ? Array(shape.outputShape.dropFirst()) : shape.outputShape
    let output = Tensor(zeros: outputShape)
    withExtendedLifetime((x, w, b, output)) {
      ConvolutionKernels.conv2dReference(
        shape, input: x.floatPointer(), weight: w.floatPointer(), bias: b?.floatPointer(), output: output.floatPointer(),
        clamp: clamp)
    }
    return output
  }

  static func conv1d(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int], padding: ConvolutionPadding, dilation: [Int],
    groups: Int
  ) throws -> Tensor {
    let shape: Conv2DShape
    do {
      shape = try Conv2DShape.conv1d(
        input: input.shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
    } catch {
      throw error.opError
    }
    let x = try input.contiguousFloat32()
    let w = try weight.contiguousFloat32()
    let b = try bias?.contiguousFloat32()
    let length = shape.outputWidth
    let outputShape = input.rank == 2 ? [shape.outputChannels, length] : [shape.batch, shape.outputChannels, length]
    let output = Tensor(zeros: outputShape)
    withExtendedLifetime((x, w, b, output)) {
      ConvolutionKernels.conv2dReference(
        shape, input: x.floatPointer(), weight: w.floatPointer(), bias: b?.floatPointer(), output: output.floatPointer())
    }
    return output
  }

  static func convTranspose2d(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int], padding: [Int], outputPadding: [Int], groups: Int,
    dilation: [Int], clamp: OutputClamp
  ) throws -> Tensor {
    let shape: ConvTranspose2DShape
    do {
      shape = try ConvTranspose2DShape.convTranspose2d(
        input: input.shape, weight: weight.shape, stride: stride, padding: padding, outputPadding: outputPadding,
        dilation: dilation, groups: groups)
    } catch {
      throw error.opError
    }
    let x = try input.contiguousFloat32()
    let w = try weight.contiguousFloat32()
    let b = try bias?.contiguousFloat32()
    let outputShape = [shape.batch, shape.outputChannels, shape.outputHeight, shape.outputWidth]
    let output = Tensor(zeros: input.rank == 3 ? Array(outputShape.dropFirst()) : outputShape)
    withExtendedLifetime((x, w, b, output)) {
      ConvolutionKernels.convTranspose2dReference(
        shape, input: x.floatPointer(), weight: w.floatPointer(), bias: b?.floatPointer(), output: output.floatPointer(),
        clamp: clamp)
    }
    return output
  }
}
