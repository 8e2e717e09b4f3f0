import Foundation
import TensorCore
import TorchIR

/// What a run of a model shares: worker threads, the buffer pool outputs come from, and the
/// optional profile.
public final class ExecutionContext: @unchecked Sendable {
  /// Threads kernels may split work across (1 runs everything on the calling thread).
  public let threadCount: Int
  /// Recycled tensor memory.
  public let pool: BufferPool
  /// Time per node, when profiling.
  public var profile: Profile?
  /// Weights packed for the fast kernels (see Note [Fast paths]).
  let weights = WeightCache()
  /// Prepacked convolutions ready to run, by context object (Note [Prepared convolutions]).
  private var prepared: [ObjectIdentifier: (object: ScriptObject, convolution: PreparedConvolution)] = [:]
  private let preparedLock = NSLock()
  /// The threads besides the caller's; started on the first parallel kernel.
  private let workers: WorkerPool

  /// Workers waiting on the pool's condition (Note [Worker pool]); for tests.
  var sleepingWorkers: Int { workers.sleepingWorkers }

  /// A context using `threads` threads (default: every core).
  public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, pool: BufferPool = BufferPool()) {
    self.threadCount = max(1, threads)
    self.pool = pool
    self.workers = WorkerPool(workers: threadCount - 1)
  }

  /// The slice of a concatenation buffer the next float32 `makeTensor` returns (Note
  /// [Concatenation in place]), under `sliceLock`: a slice is handed out once, whichever
  /// thread asks, so two runs sharing the context never get the same floats.
  private var sliceBuffer: Tensor?
  private var sliceOffset = 0
  private let sliceLock = NSLock()

  /// A request for a convolution's channel means and what answered it (Note [Pooled side
  /// output]), under `meansLock`; like a slice, taken once by whichever thread asks.
  private var meansRequested = false
  private var meansAnswer: (means: Tensor, output: Tensor)?
  private let meansLock = NSLock()

  /// Asks the next convolution for the means of its output channels.
  func requestChannelMeans() {
    meansLock.lock()
    (meansRequested, meansAnswer) = (true, nil)
    meansLock.unlock()
  }

  /// True, once, when the means were requested.
  func takeChannelMeansRequest() -> Bool {
    meansLock.lock()
    defer { meansLock.unlock() }
    let requested = meansRequested
    meansRequested = false
    return requested
  }

  /// Hands over `means`, the channel means of `output`.
  func answerChannelMeans(_ means: Tensor, of output: Tensor) {
    meansLock.lock()
    meansAnswer = (means, output)
    meansLock.unlock()
  }

  /// The means handed over since the request, if any; ends the request.
  func collectChannelMeans() -> (means: Tensor, output: Tensor)? {
    meansLock.lock()
    defer { meansLock.unlock() }
    let answer = meansAnswer
    (meansRequested, meansAnswer) = (false, nil)
    return answer
  }

  /// Whether the interpreter runs the plans' channel-blocked chains (Note [Channel-blocked
  /// plans]); false keeps every activation NCHW (same results), for comparison.
  public var channelBlockedLayout = true

  /// Whether the instruction running now may leave its result channel-blocked (Note
  /// [Channel-blocked plans]); set by the interpreter's thread only, around one instruction.
  var blockedOutputPermitted = false
  /// Whether an operand of the instruction running now may be a blocked result.
  var blockedInputsExpected = false

  /// The convolution prepared for `object` when it was prepared for inputs of `shape`.
  func preparedConvolution(_ object: ScriptObject, shape: [Int]) -> PreparedConvolution? {
    preparedLock.lock()
    let entry = prepared[ObjectIdentifier(object)]
    preparedLock.unlock()
    guard let convolution = entry?.convolution, convolution.inputShape == shape else { return nil }
    return convolution
  }

  /// The convolution prepared for `object` when it was prepared for inputs shaped like
  /// `input` and the fast kernels take `input` (Note [Prepared convolutions]).
  func preparedConvolution(_ object: ScriptObject, input: Tensor) -> PreparedConvolution? {
    PreparedConvolution.takes(input) ? preparedConvolution(object, shape: input.shape) : nil
  }

  /// Keeps `convolution` as the one prepared for `object`.
  func keepPreparedConvolution(_ convolution: PreparedConvolution, for object: ScriptObject) {
    preparedLock.lock()
    prepared[ObjectIdentifier(object)] = (object, convolution)
    preparedLock.unlock()
  }

  /// An output tensor from the pool, not initialized (or the offered slice of a concatenation
  /// buffer, when it fits).
  public func makeTensor(_ shape: [Int], dtype: DType = .float32) -> Tensor {
    if dtype == .float32, let view = takeSlice(shape) { return view }
    return Tensor(uninitialized: shape, dtype: dtype, pool: pool)
  }

  /// Offers `buffer` from float `offset` on to the next float32 `makeTensor`.
  func offerSlice(of buffer: Tensor, at offset: Int) {
    sliceLock.lock()
    (sliceBuffer, sliceOffset) = (buffer, offset)
    sliceLock.unlock()
  }

  /// Withdraws an offer nothing took.
  func withdrawSlice() {
    sliceLock.lock()
    sliceBuffer = nil
    sliceLock.unlock()
  }

  /// The offered slice shaped `shape`, once, if it fits in its buffer.
  private func takeSlice(_ shape: [Int]) -> Tensor? {
    sliceLock.lock()
    defer { sliceLock.unlock() }
    guard let buffer = sliceBuffer else { return nil }
    let offset = sliceOffset
    sliceBuffer = nil
    let count = shape.reduce(1, *)
    guard count >= 0, offset + count <= buffer.count else { return nil }
    return Tensor(
      storage: buffer.storage, dtype: .float32, shape: shape, strides: Tensor.contiguousStrides(shape),
      storageOffset: buffer.storageOffset + offset)
  }

  /// Runs `body` over `0..<count` split into contiguous ranges, one per thread (never more
  /// ranges than `count / minimumChunk`), and waits for all of them.
  public func parallelFor(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = min(threadCount, max(1, count / max(minimumChunk, 1)))
    if chunks <= 1 || count <= 1 {
      body(0..<count)
      return
    }
    workers.run(count, chunks: chunks, body)
  }
}

/// Time spent per node while profiling.
public final class Profile {
  /// One profiled node.
  public struct Entry {
    public var kind: String
    public var location: String
    public var calls = 0
    public var seconds = 0.0
    /// The shapes of the first call's tensor arguments and results, e.g. `[1, 16, 112, 112] ->
    /// [1, 16, 112, 112]`.
    public var shapes = ""
  }

  public private(set) var entries: [ObjectIdentifier: Entry] = [:]

  public init() {}

  func record(_ node: Node, seconds: Double, arguments: [IValue], results: [IValue]) {
    let key = ObjectIdentifier(node)
    if entries[key] == nil {
      func shapes(_ values: [IValue]) -> String {
        values.compactMap { value -> String? in
          guard case .tensor(let tensor) = value else { return nil }
          return "\(tensor.shape)"
        }.joined(separator: " ")
      }
      entries[key] = Entry(
        kind: node.schema?.fullName ?? node.kind.rawValue, location: node.sourceLocation?.description ?? "-",
        shapes: shapes(arguments) + " -> " + shapes(results))
    }
    entries[key]!.calls += 1
    entries[key]!.seconds += seconds
  }

  /// Total seconds per op kind, largest first.
  public func byKind() -> [(kind: String, seconds: Double, calls: Int)] {
    var totals: [String: (Double, Int)] = [:]
    for entry in entries.values {
      totals[entry.kind, default: (0, 0)].0 += entry.seconds
      totals[entry.kind, default: (0, 0)].1 += entry.calls
    }
    return totals.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
  }

  /// The nodes that took longest.
  public func topNodes(_ count: Int) -> [Entry] {
    Array(entries.values.sorted { $0.seconds != $1.seconds ? $0.seconds > $1.seconds : $0.location < $1.location }.prefix(count))
  }

  /// Forgets everything recorded.
  public func reset() { entries = [:] }
}
