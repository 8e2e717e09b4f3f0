import TensorCore

/// A fixed-size float32 buffer on a 64-byte boundary: the scratch memory the fast kernels take
/// from their callers.
///
/// Kernels never allocate: a caller (one per thread) creates a buffer of the size the kernel's
/// `…ScratchCount` function asks for, once, and passes `pointer` to every call. The contents
/// are undefined between calls. Not `Sendable`: a buffer belongs to one thread at a time.
///
/// `pointer` is valid only while the buffer is alive: keep the buffer in a variable (or use
/// `withExtendedLifetime`) across the calls that use it, never `AlignedBuffer(count:).pointer`.
public final class AlignedBuffer {
  /// Floats in the buffer.
  public let count: Int
  /// The first float; 64-byte aligned, valid for `count` floats until the buffer is released.
  public let pointer: UnsafeMutablePointer<Float>

  /// A buffer of `count` floats, zero-filled.
  public init(count: Int) {
    precondition(count >= 0, "negative buffer size")
    self.count = count
    pointer = allocateAligned(count)
  }

  deinit { deallocateAligned(pointer) }
}

/// `count` zero floats on a 64-byte boundary (at least one float, so the pointer is valid).
func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
  let raw = TensorMemory.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride)
  let floats = raw.bindMemory(to: Float.self, capacity: max(count, 1))
  floats.initialize(repeating: 0, count: max(count, 1))
  return floats
}

/// Returns memory from `allocateAligned`.
func deallocateAligned(_ floats: UnsafeMutablePointer<Float>) {
  TensorMemory.deallocate(UnsafeMutableRawPointer(floats))
}
