import Foundation

/// A contiguous block of tensor memory, shared by every tensor that views it.
///
/// Storage memory is 64-byte aligned and zero-initialized. Storage read from an archive is
/// *lazy*: it keeps the record bytes (usually a slice of a memory-mapped file) and copies them into
/// its own aligned buffer only on first access, so loading a model touches no tensor data.
///
/// Storage is a reference: tensors that share one see each other's writes, as in PyTorch.
public final class Storage: @unchecked Sendable {
  /// Size in bytes.
  public let byteCount: Int
  /// The archive record this storage was read from (for example `data/3`), if any.
  public let sourceKey: String?

  // Note [Storage laziness]: `pending` holds the undecoded record bytes until the first access.
  // Access is serialized by `lock` so that concurrent first reads copy once.
  private var buffer: UnsafeMutableRawPointer?
  private var pending: Data?
  private let lock = NSLock()
  /// Where the memory goes back to, for pooled storage.
  private let pool: BufferPool?

  /// Allocates zeroed storage of `byteCount` bytes.
  public init(byteCount: Int) {
    precondition(byteCount >= 0, "negative storage size")
    self.byteCount = byteCount
    self.sourceKey = nil
    self.pool = nil
    let pointer = Storage.allocate(byteCount)
    self.buffer = pointer
  }

  /// Storage of `byteCount` bytes from `pool`, not initialized (for outputs a kernel overwrites).
  /// The memory returns to the pool when the storage goes away.
  /// Without a pool, the memory comes from the system allocator.
  public init(uninitializedByteCount byteCount: Int, pool: BufferPool?) {
    precondition(byteCount >= 0, "negative storage size")
    self.byteCount = byteCount
    self.sourceKey = nil
    self.pool = pool
    self.buffer = pool?.take(byteCount) ?? Storage.allocate(byteCount, zeroed: false)
  }

  /// Storage whose contents are `bytes`, copied on first access.
  ///
  /// - Parameters:
  ///   - bytes: the raw little-endian element bytes; `bytes.count` is the storage size.
  ///   - sourceKey: where the bytes came from, kept for reports and for writing archives back.
  public init(lazyBytes bytes: Data, sourceKey: String? = nil) {
    self.byteCount = bytes.count
    self.sourceKey = sourceKey
    self.pending = bytes
    self.pool = nil
  }

  deinit {
    guard let buffer else { return }
    if let pool {
      pool.give(buffer, byteCount: byteCount)
    } else {
      TensorMemory.deallocate(buffer)
    }
  }

  private static func allocate(_ byteCount: Int, zeroed: Bool = true) -> UnsafeMutableRawPointer {
    let pointer = TensorMemory.allocate(byteCount: byteCount)
    if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    return pointer
  }

  /// True once the bytes have been materialized in memory.
  public var isLoaded: Bool {
    lock.lock()
    defer { lock.unlock() }
    return buffer != nil
  }

  /// The start of the storage memory, materializing lazy bytes first.
  ///
  /// The pointer stays valid for the storage's lifetime; callers must keep the storage alive.
  public var baseAddress: UnsafeMutableRawPointer {
    if let buffer { return buffer }
    lock.lock()
    defer { lock.unlock() }
    if let buffer { return buffer }
    let pointer = Storage.allocate(byteCount, zeroed: pending == nil || pending!.count < byteCount)
    if let pending {
      pending.withUnsafeBytes { raw in
        if let source = raw.baseAddress, raw.count > 0 {
          pointer.copyMemory(from: source, byteCount: raw.count)
        }
      }
    }
    pending = nil
    buffer = pointer
    return pointer
  }

  /// The storage bytes as `Data`, without copying: the record bytes while the storage is still
  /// lazy, otherwise a view of the memory that keeps the storage alive. Later writes through the
  /// storage show through a view, so take a copy to keep a snapshot.
  public var data: Data {
    lock.lock()
    let pending = self.pending
    lock.unlock()
    if let pending { return pending }
    guard byteCount > 0 else { return Data() }
    return Data(bytesNoCopy: baseAddress, count: byteCount, deallocator: .custom { _, _ in withExtendedLifetime(self) {} })
  }

  /// Calls `body` with the storage bytes. Reading lazy storage does not materialize it: the
  /// record bytes are read where they are (they are 64-byte aligned in torch archives; other
  /// alignments are copied first).
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    if buffer == nil {
      lock.lock()
      let pending = self.pending
      lock.unlock()
      if let pending {
        let aligned = pending.withUnsafeBytes { raw in
          raw.baseAddress.map { Int(bitPattern: $0) % 16 == 0 } ?? true
        }
        if aligned {
          return try pending.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(start: raw.baseAddress, count: byteCount))
          }
        }
      }
    }
    return try body(UnsafeRawBufferPointer(start: baseAddress, count: byteCount))
  }

  /// Calls `body` with the storage bytes, writable.
  public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeMutableRawBufferPointer(start: baseAddress, count: byteCount))
  }
}

/// Recycles tensor memory between runs of a model: the same layer sizes recur on every call,
/// so after the first run outputs come from here instead of the system allocator (no page faults,
/// no zero-filling).
///
/// Thread-safe. Blocks are kept per size class: 64-byte steps up to 4 KB, then eight classes per
/// power of two (at most 1/8 more than asked). Neighbouring layer sizes share a class, so a run
/// keeps reusing a few hot blocks instead of giving every size its own memory, which keeps
/// activations in cache; requests of 256 KiB or more may also borrow a larger block that is warmer
/// than their own class's (Note [Lending warm blocks]). At most `capacity` bytes are held idle. The lists are found by class
/// index (`sizeClass`), not by hashing the size: 100 convolutions on a 1×1 pixel took 0.162 →
/// 0.147 ms, MobileNetV3-Small 0.988× (2026-11-24, ten alternating runs).
public final class BufferPool: @unchecked Sendable {
  /// An idle block and when it came back (`clock`), so that large requests can prefer the block
  /// used last (Note [Lending warm blocks]).
  private struct IdleBlock {
    var pointer: UnsafeMutableRawPointer
    var returnedAt: Int
  }

  /// Idle blocks by size class (`sizeClass`): an array index instead of a dictionary keyed by
  /// size, whose hashing was about a tenth of a small convolution's fixed cost.
  private var free = [[IdleBlock]](repeating: [], count: BufferPool.sizeClassCount)
  /// Counts `give` calls: the time stamp of idle blocks.
  private var clock = 0
  /// The size class of each block lent to a request of a smaller class, until it comes back.
  private var lent: [UnsafeMutableRawPointer: Int] = [:]
  private var idleBytes = 0
  private let capacity: Int
  private let lock = NSLock()

  /// Requests of at least this many bytes may take a larger idle block (Note [Lending warm blocks]).
  static let lendingThreshold = 1 << 18
  /// How many classes above its own a large request looks in: nine classes, about 2.2× the size.
  static let lendingReach = 9

  /// A pool holding at most `capacity` idle bytes.
  public init(capacity: Int = 1 << 30) {
    self.capacity = capacity
  }

  deinit {
    for blocks in free {
      for block in blocks { TensorMemory.deallocate(block.pointer) }
    }
  }

  static func roundedSize(_ byteCount: Int) -> Int {
    let size = max(64, (byteCount + 63) & ~63)
    if size <= 4096 { return size }
    // Keep the top four bits: m · 2^e with m in 8...15.
    let unit = 1 << (Int.bitWidth - size.leadingZeroBitCount - 4)
    return (size + unit - 1) & ~(unit - 1)
  }

  /// Classes of `roundedSize` results: 64 of up to 4 KB, then eight per power of two.
  static let sizeClassCount = 64 + (Int.bitWidth - 13) * 8

  /// The class of a `roundedSize` result: 64-byte steps (0..<64), then m · 2^(e−3) with the top
  /// bit e ≥ 12 and m in 8...15 at 64 + 8·(e − 12) + (m − 8).
  static func sizeClass(_ size: Int) -> Int {
    if size <= 4096 { return size / 64 - 1 }
    let top = Int.bitWidth - 1 - size.leadingZeroBitCount
    return 64 + (top - 12) * 8 + (size >> (top - 3)) - 8
  }

  /// The block size of a class: the inverse of `sizeClass`.
  static func classSize(_ sizeClass: Int) -> Int {
    if sizeClass < 64 { return (sizeClass + 1) * 64 }
    let step = sizeClass - 64
    return (8 + step % 8) << (step / 8 + 9)
  }

  /// A block of at least `byteCount` bytes, 64-byte aligned.
  public func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
    let size = BufferPool.roundedSize(byteCount)
    let sizeClass = BufferPool.sizeClass(size)
    lock.lock()
    var chosen = sizeClass
    if size >= BufferPool.lendingThreshold {
      var newest = free[sizeClass].last?.returnedAt ?? -1
      for larger in sizeClass + 1..<min(sizeClass + 1 + BufferPool.lendingReach, BufferPool.sizeClassCount) {
        if let returnedAt = free[larger].last?.returnedAt, returnedAt > newest {
          newest = returnedAt
          chosen = larger
        }
      }
    }
    // Popped in place: copying the list out and back would copy its storage (a malloc and a
    // free under the lock) on every call.
    if let block = free[chosen].popLast() {
      idleBytes -= BufferPool.classSize(chosen)
      if chosen != sizeClass { lent[block.pointer] = chosen }
      lock.unlock()
      return block.pointer
    }
    lock.unlock()
    return TensorMemory.allocate(byteCount: size)
  }

  /// Returns a block taken with `take(byteCount)`.
  public func give(_ block: UnsafeMutableRawPointer, byteCount: Int) {
    var size = BufferPool.roundedSize(byteCount)
    var sizeClass = BufferPool.sizeClass(size)
    lock.lock()
    if size >= BufferPool.lendingThreshold, let ownClass = lent.removeValue(forKey: block) {
      sizeClass = ownClass
      size = BufferPool.classSize(ownClass)
    }
    if idleBytes + size <= capacity {
      clock += 1
      free[sizeClass].append(IdleBlock(pointer: block, returnedAt: clock))
      idleBytes += size
      lock.unlock()
      return
    }
    lock.unlock()
    TensorMemory.deallocate(block)
  }

  /// Bytes held idle now.
  public var idleByteCount: Int {
    lock.lock()
    defer { lock.unlock() }
    return idleBytes
  }
}

// Note [Lending warm blocks]
// A plane larger than about half the second-level cache (512 KiB per core on the Zen 2 host)
// does not stay there, and whether writing it misses to DRAM depends on which block it gets: a
// block returned a moment ago (the input a layer just read) is still in L2 or L3, a block idle
// since the previous run is not, and each of its cache lines is then read for ownership from
// memory before being overwritten. Size classes alone often give the cold one: SqueezeNet's
// first concatenation buffer (1.55 MB) took its class's block from the previous run, and its 3×3
// expansion ran 0.30 ms against 0.23 ms for the identical layer of the next module, which found
// its buffer warm. So a request of at least `lendingThreshold` bytes takes the idle block returned
// last (`IdleBlock.returnedAt`) among its own class and the `lendingReach` classes above it (up
// to about 2.2× its size). A block lent to a smaller class is remembered in `lent` and goes back
// to its own class, with its own size counted, so a class never holds a block smaller than its
// size.
//
// Measured against class-only reuse (alternating runs of `bench`, 2026-11-25, same host, clean
// builds), with a threshold of 1 MiB: MobileNetV2 0.970× at two threads (4.636 → 4.498 ms, eight
// of ten pairs faster) and 0.990× at one; SqueezeNet 0.996× at two threads (seven of eight pairs);
// MobileNetV3-Small, ResNet-18 and ShuffleNetV2 within ±0.6% (noise). Fewer distinct blocks also
// lowered peak resident memory while benchmarking: MobileNetV2 89.6 → 87.7 MB, SqueezeNet 61.1 →
// 57.2 MB, ResNet-18 282 → 274 MB. Lowering the threshold to 256 KiB reaches the 0.3–1 MB planes of
// MobileNetV3-Small and ShuffleNetV2 too, against 1 MiB: MobileNetV3-Small 0.976× at one thread
// (nine of ten pairs) and 0.969× at two (seven of ten), ShuffleNetV2 0.982× at two threads
// (fourteen of sixteen), MobileNetV2 0.995× at one thread (at two, seven of eight pairs faster),
// SqueezeNet and ResNet-18 within noise. Thresholds of 128 and 32 KiB were no better than 256 KiB
// (MobileNetV3-Small at one thread 0.998× and 0.991×, ShuffleNetV2 at two 1.012× and 1.001×).
//
// An earlier prototype of this pool "crashed" with heap corruption even with lending switched off:
// it was the stale incremental build that Documentation/Architecture.md ("Building") warns of, the
// executable still allocating the old 48-byte `BufferPool` that the new initializer wrote 64 bytes
// into (valgrind, on a copy of the binary stripped of its DWARF 5 debug information). Clean
// builds of this pool run clean under valgrind on MobileNetV2 and SqueezeNet.
