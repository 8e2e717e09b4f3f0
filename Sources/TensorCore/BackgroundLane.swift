import Foundation

/// One long-lived helper thread that runs submitted tasks in order; `Task.wait()` joins one.
///
/// For the few long tasks that overlap with the caller's own work in a command (the second half
/// of parsing and unpickling during load, checksums while saving). A Dispatch global queue
/// started such a task anywhere from 0.05 to 2.8 ms after it was submitted in a fresh process
/// (its pool adds threads on its own schedule); this thread is created once, on first use, and
/// wakes on a semaphore. It runs one task at a time, so a task must never wait for another task
/// of the lane.
public final class BackgroundLane: @unchecked Sendable {
  /// The process's lane.
  public static let shared = BackgroundLane()

  /// A submitted task.
  public final class Task: @unchecked Sendable {
    fileprivate let body: () -> Void
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var joined = false

    fileprivate init(_ body: @escaping () -> Void) {
      self.body = body
    }

    fileprivate func run() {
      body()
      finished.signal()
    }

    /// Waits until the task has run; later calls return at once.
    public func wait() {
      lock.lock()
      defer { lock.unlock() }
      guard !joined else { return }
      finished.wait()
      joined = true
    }
  }

  private var pending: [Task] = []
  private let lock = NSLock()
  private let available = DispatchSemaphore(value: 0)

  private init() {
    let thread = Thread { [self] in loop() }
    // As much stack as a main thread: parsers and the unpickler recurse on nested input.
    thread.stackSize = 8 << 20
    thread.start()
  }

  /// Runs `body` on the lane after the tasks already submitted.
  @discardableResult
  public func submit(_ body: @escaping @Sendable () -> Void) -> Task {
    let task = Task(body)
    lock.lock()
    pending.append(task)
    lock.unlock()
    available.signal()
    return task
  }

  private func loop() {
    while true {
      available.wait()
      lock.lock()
      let task = pending.removeFirst()
      lock.unlock()
      task.run()
    }
  }
}
