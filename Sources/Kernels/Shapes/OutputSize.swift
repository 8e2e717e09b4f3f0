import Foundation

// Note [Output size formulas]
// Every spatial output size the kernels produce, in one place, as PyTorch computes it. One
// spatial dimension at a time; `in` is the input size, `k` the kernel size, `s` the stride, `d`
// the dilation, `p` the padding on each side (`pb`, `pa` when before and after differ), `⌊x/y⌋`
// floor division (also for negative x).
//
//   convolution            out = ⌊(in + pb + pa − d·(k−1) − 1) / s⌋ + 1
//   transposed convolution out = (in − 1)·s − 2p + d·(k−1) + output_padding + 1
//   pooling, floor mode    out = ⌊(in + 2p − d·(k−1) − 1) / s⌋ + 1
//   pooling, ceil mode     out = ⌊(in + 2p − d·(k−1) − 1 + (s−1)) / s⌋ + 1, then
//                          out −= 1 if (out − 1)·s ≥ in + p
//                          (the last window must start inside the input or the left padding)
//   adaptive pooling       window i covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉)
//   upsample by scale      out = ⌊in · scale⌋
//   'same' padding         total = d·(k−1); before = ⌊total/2⌋; after = total − before
//
// A convolution or pooling result below 1 is an error ("output size is too small"); the shape
// structs' `validate()` methods check that, with PyTorch's other argument checks, before anyone
// allocates. Average pooling uses the pooling formula with d = 1.

/// Output sizes of convolution, pooling and resampling along one spatial dimension.
///
/// See Note [Output size formulas] in this file for the formulas and their edge rules.
public enum OutputSize {
  /// Output size of a convolution (the value may be below 1 for invalid arguments).
  public static func convolution(
    input: Int, kernel: Int, stride: Int, dilation: Int, paddingBefore: Int, paddingAfter: Int
  ) -> Int {
    floorDivide(input + paddingBefore + paddingAfter - dilation * (kernel - 1) - 1, stride) + 1
  }

  /// Output size of a convolution with the same padding on both sides.
  public static func convolution(input: Int, kernel: Int, stride: Int, dilation: Int, padding: Int) -> Int {
    convolution(
      input: input, kernel: kernel, stride: stride, dilation: dilation, paddingBefore: padding,
      paddingAfter: padding)
  }

  /// Output size of a transposed convolution (`conv_transpose2d`).
  public static func transposedConvolution(
    input: Int, kernel: Int, stride: Int, padding: Int, outputPadding: Int, dilation: Int
  ) -> Int {
    (input - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPadding + 1
  }

  /// Output size of max or average pooling, with PyTorch's ceil-mode rule.
  public static func pooling(
    input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool
  ) -> Int {
    let span = input + 2 * padding - dilation * (kernel - 1) - 1
    var output = floorDivide(span + (ceilMode ? stride - 1 : 0), stride) + 1
    // A ceil-mode window that would start in the right padding is dropped.
    if ceilMode, (output - 1) * stride >= input + padding {
      output -= 1
    }
    return output
  }

  /// The outputs along one dimension whose window lies wholly inside the input (every tap at
  /// `index · stride − padding + j · dilation` in `0..<input`), as a range of `0...output`; it
  /// starts at the first output clear of the leading padding and is empty there when none is.
  public static func interior(
    input: Int, output: Int, kernel: Int, stride: Int, padding: Int, dilation: Int
  ) -> Range<Int> {
    let first = min(output, (padding + stride - 1) / stride)
    let lastStart = input - 1 - (kernel - 1) * dilation + padding
    return first..<(lastStart < 0 ? first : max(first, min(output, lastStart / stride + 1)))
  }

  /// Input index range covered by output `index` of adaptive pooling.
  public static func adaptiveWindow(index: Int, input: Int, output: Int) -> Range<Int> {
    let start = (index * input) / output
    let end = ((index + 1) * input + output - 1) / output
    return start..<end
  }

  /// Padding before and after for `padding='same'` with stride 1.
  ///
  /// When the total is odd the extra element goes after, as PyTorch pads the input's right and
  /// bottom edge; pass both values to `Conv2DShape` rather than padding the input.
  public static func samePadding(kernel: Int, dilation: Int) -> (before: Int, after: Int) {
    let total = dilation * (kernel - 1)
    return (total / 2, total - total / 2)
  }

  /// Output size of `upsample` given a scale factor instead of a size.
  public static func upsample(input: Int, scale: Double) -> Int {
    Int((Double(input) * scale).rounded(.down))
  }
}

/// ⌊a / b⌋ for b > 0, also for negative a (Swift's `/` truncates toward zero).
@inline(__always)
func floorDivide(_ a: Int, _ b: Int) -> Int {
  let quotient = a / b
  return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
}

/// ⌈a / b⌉ for b > 0, also for negative a.
@inline(__always)
func ceilDivide(_ a: Int, _ b: Int) -> Int {
  -floorDivide(-a, b)
}

/// The indices `i` in `0..<count` whose position `i · stride + offset` lies in `0..<bound`.
func indices(count: Int, stride: Int, offset: Int, landingIn bound: Int) -> Range<Int> {
  let lower = max(0, ceilDivide(-offset, stride))
  let upper = min(count, floorDivide(bound - 1 - offset, stride) + 1)
  return lower..<max(lower, upper)
}
