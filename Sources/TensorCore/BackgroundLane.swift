import Foundation

/// One long-lived helper thread that runs submitted tasks in order; `Task.wait()` joins one.
///
/// For the few long tasks that overlap with the caller's own work in a command (the second half
/// of parsing and unpickling during load, checksums while saving). A Dispatch global queue
/// started such a task anywhere from 0.05 to 2.8 ms after it was submitted in a fresh process
/// (its pool adds threads on its own schedule); this thread is created once, on first use, and
/// wakes on a semaphore. It runs one task at a time; a task that submits more work runs it
/// itself, at once.
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

  /// Marks the lane's thread (a thread-specific value set by the lane itself).
  nonisolated(unsafe) private static var marker: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// True on the lane's own thread: a task must not submit work to the lane and wait for it.
  public var isCurrent: Bool { pthread_getspecific(BackgroundLane.marker) != nil }

  private init() {
    let marker = BackgroundLane.marker
    let thread = Thread { [self] in
      pthread_setspecific(marker, UnsafeRawPointer(bitPattern: 1))
      loop()
    }
    // As much stack as a main thread: parsers and the unpickler recurse on nested input.
    thread.stackSize = 8 << 20
    thread.start()
  }

  /// Runs `body` on the lane after the tasks already submitted; on the lane itself (a task
  /// submitting more work), runs it at once, since waiting for it there would never end.
  @discardableResult
  public func submit(_ body: @escaping @Sendable () -> Void) -> Task {
    let task = Task(body)
    if isCurrent {
      task.run()
      return task
    }
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
