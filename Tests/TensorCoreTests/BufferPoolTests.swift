import Testing

@testable import TensorCore

struct BufferPoolTests {
  /// Classes cover every request, waste at most an eighth above 4 KB, and grow with the request.
  @Test func sizeClasses() {
    var previous = 0
    for byteCount in Array(1...20_000) + stride(from: 20_001, to: 5_000_000, by: 997).map({ $0 }) {
      let size = BufferPool.roundedSize(byteCount)
      #expect(size >= byteCount && size % 64 == 0, "\(byteCount) -> \(size)")
      if byteCount > 4096 { #expect(Double(size) <= Double(byteCount) * 1.125 + 64, "\(byteCount) -> \(size)") }
      #expect(size >= previous)
      previous = size
    }
    #expect(BufferPool.roundedSize(100) == 128)
    #expect(BufferPool.roundedSize(4096) == 4096)
  }

  /// Each size a class holds has its own index in range: distinct rounded sizes never share a
  /// list (a block too small for a request), and the indices grow with the size.
  @Test func sizeClassIndicesAreDistinctAndInRange() {
    var previous = (size: 0, index: -1)
    let requests = Array(1...20_000) + stride(from: 20_001, to: 50_000_000, by: 9_973).map { $0 } + [1 << 40, (1 << 41) + 1]
    for byteCount in requests {
      let size = BufferPool.roundedSize(byteCount)
      let index = BufferPool.sizeClass(size)
      #expect((0..<BufferPool.sizeClassCount).contains(index), "\(size) -> \(index)")
      #expect(BufferPool.classSize(index) == size, "class \(index) of \(size)")
      if size == previous.size {
        #expect(index == previous.index, "\(size)")
      } else {
        #expect(index > previous.index, "\(previous.size) -> \(previous.index), \(size) -> \(index)")
      }
      previous = (size, index)
    }
  }

  @Test func neighbouringSizesShareBlocks() {
    let pool = BufferPool()
    let block = pool.take(100_000)
    pool.give(block, byteCount: 100_000)
    #expect(pool.idleByteCount == BufferPool.roundedSize(100_000))
    let reused = pool.take(99_000)
    #expect(reused == block)
    #expect(pool.idleByteCount == 0)
    pool.give(reused, byteCount: 99_000)
    let other = pool.take(200_000)
    #expect(other != block, "a larger class never gets a smaller block")
    pool.give(other, byteCount: 200_000)
  }

  @Test func capacityBoundsIdleBytes() {
    let pool = BufferPool(capacity: 10_000)
    let (a, b) = (pool.take(8_000), pool.take(8_000))
    pool.give(a, byteCount: 8_000)
    pool.give(b, byteCount: 8_000)
    #expect(pool.idleByteCount == BufferPool.roundedSize(8_000))
  }

  /// A large request takes the idle block returned last among its class and the nine above it,
  /// and that block goes back to its own class, with its own size counted, when the smaller
  /// request gives it back (Note [Lending warm blocks]).
  @Test func largeRequestsBorrowTheWarmestLargerBlock() {
    let pool = BufferPool()
    let threshold = BufferPool.lendingThreshold
    let (own, larger, farther) = (pool.take(threshold), pool.take(2 * threshold), pool.take(3 * threshold))
    pool.give(own, byteCount: threshold)
    pool.give(farther, byteCount: 3 * threshold)  // beyond the reach of nine classes
    pool.give(larger, byteCount: 2 * threshold)
    let idle = BufferPool.roundedSize(threshold) + BufferPool.roundedSize(2 * threshold) + BufferPool.roundedSize(3 * threshold)
    #expect(pool.idleByteCount == idle)

    let borrowed = pool.take(threshold)
    #expect(borrowed == larger, "the most recently returned block within reach")
    #expect(pool.idleByteCount == idle - BufferPool.roundedSize(2 * threshold))
    pool.give(borrowed, byteCount: threshold)
    #expect(pool.idleByteCount == idle, "a lent block counts its own size when it comes back")
    let again = pool.take(2 * threshold)
    #expect(again == larger, "a lent block goes back to its own class")
    #expect(pool.take(threshold) == own)
    #expect(pool.take(3 * threshold) == farther)

    // Below the threshold, requests keep to their class.
    let small = pool.take(threshold / 2)
    let medium = pool.take(threshold / 2 + threshold / 8)
    pool.give(small, byteCount: threshold / 2)
    pool.give(medium, byteCount: threshold / 2 + threshold / 8)
    #expect(pool.take(threshold / 2) == small)
  }
}
