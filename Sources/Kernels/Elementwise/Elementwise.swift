/// Elementwise unary and binary ops over strided N-d buffers of any arithmetic dtype.
///
/// For every index `i` of `shape`: `out[i] = f(x[i])` (unary) or `out[i] = f(a[i], b[i])`
/// (binary), with PyTorch's per-dtype semantics, documented on `UnaryOperation`,
/// `BinaryOperation`, `ComparisonOperation` and `LogicalOperation`.
///
/// Buffer contract (every kernel in this family):
/// - Each operand is a raw base pointer plus strides in elements, one per dimension of `shape`.
///   Broadcasting is expressed by stride 0 (`Broadcasting.strides(_:shape:to:)`), so the kernels
///   take operands already aligned to the output shape; a 0-d operand has `shape == []`.
/// - Inputs and output share one dtype, except comparisons and logical ops, which write bool
///   (one byte, 0 or 1). Type promotion is the caller's: `a / b` on int64 is a `convert` to
///   float32 then `.div`; `.divTrunc` and `.divFloor` work on integers directly.
/// - The output may be exactly an input (same base and strides, for in-place `add_`, `relu_`);
///   it must not partially overlap one.
/// - A zero-size dimension means nothing is read or written.
///
/// Iteration is `StridedLoop`'s: size-1 dims dropped, contiguous dims merged, and rows with unit
/// or broadcast (0) strides take a plain loop that release builds vectorize for float32.
public enum ElementwiseKernels {}
