// Argument checks shared by the shape structs' validation, with PyTorch's rules and wording.

/// PyTorch's `expand_param_if_needed`: one value applies to every spatial dimension.
func expandParameter(_ op: String, _ name: String, _ values: [Int], rank: Int) throws(KernelError) -> [Int] {
  if values.count == rank { return values }
  if values.count == 1 { return [Int](repeating: values[0], count: rank) }
  throw .invalidParameter(
    op: op, name: name, value: values, requirement: "a single integer value or a list of \(rank) values")
}

func requirePositive(_ op: String, _ name: String, _ values: [Int]) throws(KernelError) {
  guard values.allSatisfy({ $0 > 0 }) else {
    throw .invalidParameter(op: op, name: name, value: values, requirement: "positive values")
  }
}

func requireNonNegative(_ op: String, _ name: String, _ values: [Int]) throws(KernelError) {
  guard values.allSatisfy({ $0 >= 0 }) else {
    throw .invalidParameter(op: op, name: name, value: values, requirement: "non-negative values")
  }
}

/// The planes (the product of the leading dims), height and width of an NCHW or unbatched CHW
/// input, as pooling and resampling fold them.
func planarLayout(_ op: String, _ input: [Int]) throws(KernelError) -> (planes: Int, height: Int, width: Int) {
  guard input.count == 3 || input.count == 4 else {
    throw .shapeMismatch(op: op, message: "expected 3D or 4D input, but got input of size \(input)")
  }
  return (input.dropLast(2).reduce(1, *), input[input.count - 2], input[input.count - 1])
}
