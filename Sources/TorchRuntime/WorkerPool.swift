import Foundation
#if canImport(Glibc)
import Glibc
#endif
import CPrefetch
import Synchronization

// Note [Worker pool]
// An inference runs one parallel kernel after another, each a few microseconds to a few
// milliseconds long, with short serial gaps (the interpreter, small ops) between them. Waking
// sleeping threads for every kernel (what DispatchQueue.concurrentPerform does on Linux) costs
// tens of microseconds per op, which is most of a 10 µs kernel. So the pool keeps
// `threadCount − 1` threads of its own that, after finishing a job, wait for the next one on the
// job counter: first on `pause` for `pauseNanoseconds` (0.1 ms), then yielding the core at each
// check (`spinLimit` checks, about a millisecond), then sleeping on a condition. Back-to-back
// kernels find them awake.
//
// A job is an object holding the body (a pointer to the caller's closure, valid while the
// caller waits), the chunk count and two counters: the next chunk to take and the chunks
// finished. The caller publishes it, bumps `generation`, takes chunks itself, then waits until
// every chunk is finished; a worker that sees a new generation takes the current job under the
// lock and takes chunks until none are left. A late worker holding an old job finds no chunk
// left and never touches its (stale) body. Chunk i is always `count·i/chunks ..< count·(i+1)/chunks`,
// whichever thread runs it, so results do not depend on timing.
//
// Sleeping: a worker increments `sleepers`, then re-checks `generation` under the lock before
// waiting; the caller bumps `generation` before reading `sleepers` and broadcasts under the
// lock. With sequentially consistent atomics either the worker sees the new generation or the
// caller sees the sleeper and wakes it.
//
// Measured and not kept (2026-11-23, MobileNetV3-Small at 2 threads, alternating runs): more
// chunks than threads, taken dynamically (2 per thread 0.98×, 4 per thread 1.10×), and up to
// 50 000 plain checks of the counter before a worker starts yielding (0.995×). In the host's bad
// phases a worker's `sched_yield` can sit in the scheduler for microseconds and the caller then
// waits for its chunk (about 6 µs per small layer in one profile); neither change helped there.
// Remeasured 2026-11-24 on a Zen 2 host: three chunks per thread, taken dynamically, made
// MobileNetV2 and V3-Small 1.08× slower at two threads (alternating runs; a thread's share of a
// layer then changes from run to run and from layer to layer, and with it which core's cache
// holds the data). A `perf` profile at two threads puts about 2.7% of all samples in the
// caller's wait for the worker's chunk and about 6% in `sched_yield` and the scheduler.
// Remeasured 2026-11-24 on 200 hardswish ops of 16×32×32 (2.75 µs each at one thread, 2.5 µs at
// two: about 1.1 µs of dispatch per op). A lock-free job slot (generation and next chunk in one
// word claimed by compare-and-swap, no `Job` object, the caller running its chunks through its
// own closure so that only the worker touches the context's reference count) took 2.43 µs per
// op, but left MobileNetV2, V3-Small and ShuffleNetV2 at two threads within ±1.3% (alternating
// runs); not kept. Workers waiting on `pause` (or on plain loads) instead of `sched_yield` made
// those ops 15% slower: on this VM a spinning vCPU slows the other one.
// Remeasured 2026-11-24 (MobileNetV3-Small at two threads, eight alternating runs each), where a
// `perf` profile puts about 5% of all samples in the caller's wait for the worker's chunk: the
// caller waiting with `pause` (1.014×) or `sched_yield` (1.04×) instead of plain loads; the
// boundary between the two chunks moved toward the caller by 3% or 8% of the work (1.055×,
// 1.10×), toward the worker by 3% or 6% (1.019×, 1.033×), or the odd block given to the caller
// (1.016×); the caller pinned to one CPU and the worker to the other (1.010×). The equal split
// with the caller's chunk first stays.
// The `pause` phase (2026-11-25): a worker that yields hands its core to any other runnable
// thread, and the scheduler gives it back only at the next tick, milliseconds later, while the
// caller waits for the worker's chunk. With a `nice -n 19` busy loop on the worker's CPU,
// MobileNetV2 at two threads took 6.1–9.2 ms (median of 300 runs) against 4.3 ms alone, while
// ONNX Runtime kept its 4.9 ms. With 3000 pauses (75 µs on
// this host) before the yields: 4.56 ms under the same busy loop (1000 pauses: 4.93 ms, 300:
// 7.46 ms), and alone, in eight alternating runs each: MobileNetV2 1.004×, V3-Small 0.990× (6 of
// 8 pairs faster), ShuffleNetV2 0.983× (8 of 8), SqueezeNet 0.91× (noisy), ResNet-18 1.006×. The
// phase is bounded in time (checked every 64 pauses) because a pause lasts 25 ns on this Zen 2
// host, about 40 ns on recent Intel cores and far less on arm64. Against an equal-priority busy
// loop (the scheduler then shares the worker's CPU) MobileNetV2 takes about its one-thread time
// with either wait (8.4 ms yielding, 8.6 ms pausing; ONNX Runtime 10.3 ms): the caller takes the
// worker's chunk when the worker has not started it, and waits when the worker is preempted
// inside it. Finer chunks taken back to front by an idle thread (each share's first half as one
// unit, then two or four units, taken by compare-and-swap on the share's front and back) did not
// change that (7.8 ms with yields and one unit per share, 8.1 and 8.4 ms with three and five) and
// cost 2% alone; not kept. In the host's noisy phases (other tenants: both runtimes 30–100%
// slower) alternating runs against yielding workers read 0.98–1.09× (MobileNetV2) and
// 1.006–1.047× (V3-Small), about as often faster as slower; spinning on plain loads for the same
// 0.1 ms read 1.009× there.
//
// A `parallelFor` issued while the pool is busy (from inside a job, or from a second thread
// sharing the context) runs on the calling thread instead of waiting for the pool.

/// Threads that run the chunks of `parallelFor` (see Note [Worker pool]). The threads end when
/// the pool goes away.
final class WorkerPool: @unchecked Sendable {
  private let shared: Shared

  /// Workers besides the calling thread.
  var workerCount: Int { shared.workerCount }

  /// Workers waiting on the condition for a job.
  var sleepingWorkers: Int { shared.sleepingWorkers }

  init(workers: Int) {
    shared = Shared(workers: max(0, workers))
  }

  deinit { shared.stop() }

  /// Runs `body` over `0..<count` in `chunks` parts (see Note [Worker pool]) and returns when all
  /// have run.
  func run(_ count: Int, chunks: Int, _ body: (Range<Int>) -> Void) {
    shared.run(count, chunks: chunks, body)
  }
}

/// The state a pool's threads share with it.
private final class Shared: @unchecked Sendable {
  private final class Job: @unchecked Sendable {
    let body: UnsafeRawPointer
    let count: Int
    let chunks: Int
    let next = Atomic<Int>(0)
    let finished = Atomic<Int>(0)

    init(body: UnsafeRawPointer, count: Int, chunks: Int) {
      self.body = body
      self.count = count
      self.chunks = chunks
    }

    /// Runs chunks until none are left.
    func work() {
      while true {
        let chunk = next.wrappingAdd(1, ordering: .relaxed).oldValue
        if chunk >= chunks { return }
        let start = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        if start < end { invoke(start..<end) }
        finished.wrappingAdd(1, ordering: .releasing)
      }
    }

    /// Calls the body. Out of line so that the closure's retain and release happen here, before
    /// the chunk counts as finished (the caller's `withoutActuallyEscaping` checks that no
    /// reference outlives it).
    @inline(never)
    private func invoke(_ range: Range<Int>) {
      body.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee(range)
    }
  }

  /// Workers besides the calling thread.
  let workerCount: Int
  private let generation = Atomic<Int>(0)
  private let sleepers = Atomic<Int>(0)
  private let busy = Atomic<Bool>(false)
  private let stopping = Atomic<Bool>(false)
  private let condition = NSCondition()
  /// The job of the current generation; read and written under `condition`'s lock.
  private var job: Job?
  /// Whether the threads run; read and written only while `busy` is held.
  private var started = false

  /// How long a worker waits for the next job on `pause` before it starts yielding.
  private let pauseNanoseconds: UInt64 = 100_000
  /// Yielding checks before a worker sleeps (each yields the core once: about a millisecond in
  /// all).
  private let spinLimit = 5_000

  init(workers: Int) {
    workerCount = workers
  }

  var sleepingWorkers: Int { sleepers.load(ordering: .sequentiallyConsistent) }

  func stop() {
    stopping.store(true, ordering: .sequentiallyConsistent)
    generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
    condition.lock()
    condition.broadcast()
    condition.unlock()
  }

  func run(_ count: Int, chunks: Int, _ body: (Range<Int>) -> Void) {
    guard workerCount > 0, chunks > 1,
      busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      for chunk in 0..<chunks {
        let (start, end) = (count * chunk / chunks, count * (chunk + 1) / chunks)
        if start < end { body(start..<end) }
      }
      return
    }
    defer { busy.store(false, ordering: .releasing) }
    if !started {
      started = true
      for index in 0..<workerCount {
        let thread = Thread { self.loop() }
        thread.name = "mobile-optimizer worker \(index + 1)"
        thread.stackSize = 1 << 20
        thread.start()
      }
    }
    withoutActuallyEscaping(body) { escaping in
      withUnsafePointer(to: escaping) { pointer in
        let job = Job(body: UnsafeRawPointer(pointer), count: count, chunks: chunks)
        condition.lock()
        self.job = job
        condition.unlock()
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
          condition.lock()
          condition.broadcast()
          condition.unlock()
        }
        job.work()
        while job.finished.load(ordering: .acquiring) < chunks {}
        condition.lock()
        self.job = nil
        condition.unlock()
      }
    }
  }

  func loop() {
    var seen = generation.load(ordering: .sequentiallyConsistent)
    while true {
      var current = generation.load(ordering: .acquiring)
      if current == seen {
        // Keeps the core for the next job (Note [Worker pool]: a yielding worker lost its core
        // to any other runnable thread for a scheduler tick).
        let deadline = DispatchTime.now().uptimeNanoseconds + pauseNanoseconds
        var pauses = 0
        while current == seen {
          mo_cpu_relax()
          current = generation.load(ordering: .acquiring)
          pauses += 1
          if pauses % 64 == 0 && DispatchTime.now().uptimeNanoseconds >= deadline { break }
        }
      }
      var spins = 0
      while current == seen && spins < spinLimit {
        spins += 1
        // Hands the core to a sibling hardware thread (the caller's, often) while waiting.
        sched_yield()
        current = generation.load(ordering: .acquiring)
      }
      if current == seen {
        condition.lock()
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == seen {
          condition.wait()
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        condition.unlock()
        current = generation.load(ordering: .sequentiallyConsistent)
      }
      seen = current
      if stopping.load(ordering: .sequentiallyConsistent) { return }
      condition.lock()
      let job = self.job
      condition.unlock()
      job?.work()
    }
  }
}
