/// 2-D convolution and transposed convolution over NCHW float32 buffers (`aten::conv2d`,
/// `aten::conv1d`, `aten::conv_transpose2d`, and XNNPACK's `conv2d_clamp_run`).
///
/// Convolution, for output element (n, oc, oy, ox), with g = oc / (Cout/groups):
///
///     out[n, oc, oy, ox] = clamp( bias[oc] + Σ_{ci < Cin/groups, kh < kH, kw < kW}
///         in[n, g·Cin/groups + ci, oy·sH − padTop + kh·dH, ox·sW − padLeft + kw·dW]
///         · weight[oc, ci, kh, kw] )
///
/// where input positions outside the image read as zero (zero padding).
///
/// Transposed convolution is the adjoint: every input element scatters into the output,
///
///     out[n, g·Cout/groups + co, iy·sH − pH + kh·dH, ix·sW − pW + kw·dW]
///         += in[n, g·Cin/groups + ci, iy, ix] · weight[g·Cin/groups + ci, co, kh, kw]
///
/// plus bias, then clamp; contributions landing outside the output are dropped.
///
/// Layout contract (every kernel in this family):
/// - `input` is contiguous NCHW `[batch, Cin, H, W]`; `output` is contiguous
///   `[batch, Cout, OH, OW]` and must not overlap the input or weight.
/// - conv weight is contiguous `[Cout, Cin/groups, kH, kW]`; transposed-conv weight is
///   `[Cin, Cout/groups, kH, kW]`, both exactly as PyTorch stores them.
/// - `bias`, when present, holds `Cout` values.
/// - Conv1d is conv2d with H = 1 and kH = 1: an `[N, C, L]` tensor and a `[Cout, Cin/g, k]`
///   weight are already `[N, C, 1, L]` and `[Cout, Cin/g, 1, k]` in memory (see
///   `Conv2DShape.conv1d`).
/// - The shape has passed `validate()`; the kernels only `precondition` on it.
///
/// See Note [Output size formulas] in `OutputSize.swift` for OH and OW.
public enum ConvolutionKernels {}

/// Bounds applied to every output element after bias: the fused epilogue of `relu`, `relu6` and
/// `hardtanh` (XNNPACK's `output_min` / `output_max`); or, instead of bounds, an activation the
/// kernels apply as they store (`hardswish`, Note [Store activations]).
///
/// The clamp is `y < lower ? lower : y`, then `> upper ? upper : ·`, so NaN passes through as it
/// does through an unfused `relu` or `hardtanh`, and `lower > upper` yields `upper` as
/// `torch.clamp` does.
public struct OutputClamp: Sendable, Hashable {
  /// The smallest output value; `-infinity` for none.
  public var lower: Float
  /// The largest output value; `+infinity` for none.
  public var upper: Float
  /// Applied instead of the bounds (which are then infinite), as the kernels store each output.
  public let activation: StoreActivation

  /// A clamp to `[lower, upper]`.
  public init(lower: Float = -.infinity, upper: Float = .infinity) {
    self.lower = lower
    self.upper = upper
    activation = .none
  }

  private init(activation: StoreActivation) {
    (lower, upper, self.activation) = (-.infinity, .infinity, activation)
  }

  /// No clamp.
  public static let none = OutputClamp()
  /// `relu`: clamp below at 0.
  public static let relu = OutputClamp(lower: 0)
  /// `relu6`: clamp to [0, 6].
  public static let relu6 = OutputClamp(lower: 0, upper: 6)
  /// No bounds; `hardswish` applied as each output is stored (Note [Store activations]).
  public static let hardswish = OutputClamp(activation: .hardswish)

  /// `hardtanh(min_val, max_val)`.
  public static func hardtanh(_ lower: Float, _ upper: Float) -> OutputClamp {
    OutputClamp(lower: lower, upper: upper)
  }

  /// True when the clamp changes nothing.
  public var isNone: Bool { lower == -.infinity && upper == .infinity && activation == .none }

  /// One value as the vector kernels store it.
  @inline(__always)
  func callAsFunction(_ value: Float) -> Float {
    activation == .hardswish ? StoreActivation.hardswish(value) : clampValue(value, lower, upper)
  }

  /// Clamps `count` values in place.
  @inline(__always)
  func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
    if isNone { return }
    for index in 0..<count { values[index] = self(values[index]) }
  }
}

// Note [Store activations]
// MobileNetV3 follows most convolutions with `hardswish`, unclamped. As a separate pass (Note
// [Epilogue fusion]) it re-reads and re-writes the output in chunks after the kernel stored them;
// as the convolution's `OutputClamp.hardswish` the kernels apply it to the sums in registers on
// the way to memory, in every store path (GEMM tiles, edge and scratch tiles, depthwise rows and
// blocks, Winograd's output transform, scalar tails). The formula is the vector pass's
// (`VectorHardswish`: `x · clamp(x + 3, 0, 6) · (1/6)`, the same operations in the same order),
// so the results are the same floats. The kernels are generic over what they apply at the store
// (`StoreBounds`): a run-time check of the activation inside the clamp made MobileNetV2 1.15× and
// MobileNetV3-Small 1.9× slower (the micro-kernels lost their register allocation), and the
// clamp inside `clamp(x + 3, 0, 6)`, written lane by lane or with compares and blends, came out
// of LLVM as per-lane inserts and shuffles in the micro-kernels, hence `mo_clamp8`. A clamp
// and then hardswish in one kernel (a third copy of every kernel, two more operations per
// vector) is not offered: the runtime folds hardswish only into unclamped convolutions.
// Hardsigmoid (squeeze-and-excitation's, on 1×1 outputs) stays a pass: its outputs are a few
// hundred floats, and another copy of every kernel would cost 1.5 MB of binary.
// Measured on the Zen 2 host (2026-11-24, eight alternating runs of `bench` each): MobileNetV3-Small
// 2.361 → 2.282 ms at one thread (0.966×; skipping the activation altogether, an upper bound with
// wrong results, 0.941×), 1.490 → 1.447 ms at two (0.971×); MobileNetV2 unchanged (1.002×). In
// the per-node profile the 3→16 stem on 224×224 went 0.285 → 0.232 ms (its pass ran per chunk of
// 256 columns), the 240-channel 5×5 depthwise layers and the 1×1 expansions 0.002–0.005 ms each.
// The second copy of the kernels adds 1.6 MB to the release binary (22.8 → 24.4 MB).

/// An activation the convolution kernels apply as they store (Note [Store activations]).
public enum StoreActivation: UInt8, Sendable, Hashable {
  case none
  /// `x · clamp(x + 3, 0, 6) · (1/6)`.
  case hardswish

  /// `x · clamp(x + 3, 0, 6) · (1/6)`, the operations of `VectorHardswish` in its order.
  @inline(__always)
  static func hardswish(_ x: Float) -> Float { x * clampValue(x + 3, 0, 6) * (1 / 6) }
}
