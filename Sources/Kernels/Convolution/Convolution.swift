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
/// `hardtanh` (XNNPACK's `output_min` / `output_max`).
///
/// The clamp is `y < lower ? lower : y`, then `> upper ? upper : ·`, so NaN passes through as it
/// does through an unfused `relu` or `hardtanh`, and `lower > upper` yields `upper` as
/// `torch.clamp` does.
public struct OutputClamp: Sendable, Hashable {
  /// The smallest output value; `-infinity` for none.
  public var lower: Float
  /// The largest output value; `+infinity` for none.
  public var upper: Float

  /// A clamp to `[lower, upper]`.
  public init(lower: Float = -.infinity, upper: Float = .infinity) {
    self.lower = lower
    self.upper = upper
  }

  /// No clamp.
  public static let none = OutputClamp()
  /// `relu`: clamp below at 0.
  public static let relu = OutputClamp(lower: 0)
  /// `relu6`: clamp to [0, 6].
  public static let relu6 = OutputClamp(lower: 0, upper: 6)

  /// `hardtanh(min_val, max_val)`.
  public static func hardtanh(_ lower: Float, _ upper: Float) -> OutputClamp {
    OutputClamp(lower: lower, upper: upper)
  }

  /// True when the clamp changes nothing.
  public var isNone: Bool { lower == -.infinity && upper == .infinity }

  /// Clamps `count` values in place.
  @inline(__always)
  func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
    if isNone { return }
    let (lower, upper) = (self.lower, self.upper)
    for index in 0..<count { values[index] = clampValue(values[index], lower, upper) }
  }
}
