// Row loops shared by the kernels that walk a `StridedLoop` element by element.
//
// Note [Row loops call the op directly]
// The op closure must be applied inside a plain `for` over the loop's rows, never from inside
// another closure (such as `forEachRow`'s body): the optimizer inlines a closure literal passed
// to an `@inline(__always)` function, but not one captured by a second closure, and the
// per-element indirect call that remains costs ~10x on float32 and stops vectorization.

/// Applies `body` to every element of one input, writing one output (`loop` operands: input,
/// output).
@inline(__always)
func mapRows<Input, Output>(
  _ loop: StridedLoop, _ input: UnsafePointer<Input>, _ output: UnsafeMutablePointer<Output>,
  _ body: (Input) -> Output
) {
  let (inputStride, outputStride) = (loop.rowStride(0), loop.rowStride(1))
  let count = loop.rowLength
  for offsets in loop {
    let source = input + offsets[0]
    let target = output + offsets[1]
    if inputStride == 1 && outputStride == 1 {
      for index in 0..<count { target[index] = body(source[index]) }
    } else {
      for index in 0..<count { target[index &* outputStride] = body(source[index &* inputStride]) }
    }
  }
}

/// Applies `body` to pairs of elements, writing one output (`loop` operands: a, b, output).
///
/// Rows where one side is broadcast (stride 0) read that side once, so `x + scalar` and
/// `x * per-channel` rows vectorize as well as the fully contiguous case.
@inline(__always)
func mapRows<A, B, Output>(
  _ loop: StridedLoop, _ a: UnsafePointer<A>, _ b: UnsafePointer<B>, _ output: UnsafeMutablePointer<Output>,
  _ body: (A, B) -> Output
) {
  let (strideA, strideB, strideOutput) = (loop.rowStride(0), loop.rowStride(1), loop.rowStride(2))
  let count = loop.rowLength
  for offsets in loop {
    let left = a + offsets[0]
    let right = b + offsets[1]
    let target = output + offsets[2]
    if strideOutput == 1 && strideA == 1 && strideB == 1 {
      for index in 0..<count { target[index] = body(left[index], right[index]) }
    } else if strideOutput == 1 && strideA == 1 && strideB == 0 {
      let scalar = right[0]
      for index in 0..<count { target[index] = body(left[index], scalar) }
    } else if strideOutput == 1 && strideA == 0 && strideB == 1 {
      let scalar = left[0]
      for index in 0..<count { target[index] = body(scalar, right[index]) }
    } else {
      for index in 0..<count {
        target[index &* strideOutput] = body(left[index &* strideA], right[index &* strideB])
      }
    }
  }
}

/// The first element, in row-major order, of a strided operand that satisfies `predicate` (used
/// to find a zero divisor or a bad index before writing anything).
func firstElement<Element>(
  _ base: UnsafePointer<Element>, strides: [Int], shape: [Int], where predicate: (Element) -> Bool
) -> Element? {
  let loop = StridedLoop(shape: shape, strides: [strides])
  let step = loop.rowStride(0)
  for offsets in loop {
    let row = base + offsets[0]
    for index in 0..<loop.rowLength where predicate(row[index &* step]) { return row[index &* step] }
  }
  return nil
}

extension UnsafeRawPointer {
  /// This memory read as `Element`s.
  @inline(__always)
  func typed<Element>(_: Element.Type) -> UnsafePointer<Element> {
    assumingMemoryBound(to: Element.self)
  }
}

extension UnsafeMutableRawPointer {
  /// This memory read and written as `Element`s.
  @inline(__always)
  func typed<Element>(_: Element.Type) -> UnsafeMutablePointer<Element> {
    assumingMemoryBound(to: Element.self)
  }
}
