import Foundation
import Synchronization
import Testing

@testable import TorchRuntime

/// The context's worker pool (Note [Worker pool]): every index runs exactly once per call, across
/// many back-to-back calls (workers awake and spinning) and calls after the workers slept; nested
/// calls run inline; contexts that go away stop their threads.
struct WorkerPoolTests {
  /// Runs `parallelFor` and counts how often each index was visited.
  static func visits(_ context: ExecutionContext, count: Int) -> [Int] {
    let counts = Mutex([Int](repeating: 0, count: count))
    context.parallelFor(count) { range in
      counts.withLock { counts in
        for index in range { counts[index] += 1 }
      }
    }
    return counts.withLock { $0 }
  }

  @Test(arguments: [2, 3, 4])
  func everyIndexOnceBackToBack(threads: Int) {
    let context = ExecutionContext(threads: threads)
    for call in 0..<2000 {
      let count = 1 + call % 37
      let counts = Self.visits(context, count: count)
      #expect(counts == Array(repeating: 1, count: count), "call \(call), \(count) indices")
      if counts != Array(repeating: 1, count: count) { return }
    }
  }

  @Test func workAfterWorkersSleep() async throws {
    let context = ExecutionContext(threads: 3)
    #expect(Self.visits(context, count: 100) == Array(repeating: 1, count: 100))
    // The workers pause, then yield about a thousand times, then wait on the condition (longer
    // when other tests' threads make each yield a time slice).
    let start = ContinuousClock.now
    while context.sleepingWorkers < 2 && ContinuousClock.now - start < .seconds(20) {
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(context.sleepingWorkers == 2, "idle workers still spinning")
    #expect(Self.visits(context, count: 100) == Array(repeating: 1, count: 100))
  }

  @Test func nestedCallsRunInline() {
    let context = ExecutionContext(threads: 2)
    let total = Atomic<Int>(0)
    context.parallelFor(8) { outer in
      for _ in outer {
        context.parallelFor(10) { inner in total.wrappingAdd(inner.count, ordering: .relaxed) }
      }
    }
    #expect(total.load(ordering: .relaxed) == 80)
  }

  @Test func contextsComeAndGo() {
    for _ in 0..<50 {
      let context = ExecutionContext(threads: 2)
      #expect(Self.visits(context, count: 16) == Array(repeating: 1, count: 16))
    }
  }

  /// The chunks are the same contiguous ranges whichever thread runs them.
  @Test func chunksAreFixedRanges() {
    let context = ExecutionContext(threads: 3)
    let ranges = Mutex<[Range<Int>]>([])
    context.parallelFor(10) { range in ranges.withLock { $0.append(range) } }
    #expect(ranges.withLock { $0.sorted { $0.lowerBound < $1.lowerBound } } == [0..<3, 3..<6, 6..<10])
  }
}

/// The cost of one two-thread `parallelFor` with empty chunks, back to back (the workers
/// spinning): what a parallel kernel pays before any work. Timing, not a check: skipped unless
/// KERNELS_TIMING is set. In release this target needs `-Xswiftc -enable-testing` (it reads the
/// pool through `@testable import`), for example:
///   KERNELS_TIMING=1 swift test -c release --scratch-path .build-simd -Xswiftc -target-cpu \
///     -Xswiftc haswell -Xswiftc -enable-testing --filter WorkerPoolTiming
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_TIMING"] != nil))
struct WorkerPoolTiming {
  @Test func dispatch() {
    let context = ExecutionContext(threads: 2)
    let sink = Atomic<Int>(0)
    for round in 0..<5 {
      let calls = 20_000
      let start = ContinuousClock.now
      for _ in 0..<calls {
        context.parallelFor(2) { range in sink.add(range.count, ordering: .relaxed) }
      }
      let elapsed = ContinuousClock.now - start
      let micros = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
      print("timing: round \(round): \(micros / Double(calls)) µs per two-thread parallelFor")
    }
  }
}
