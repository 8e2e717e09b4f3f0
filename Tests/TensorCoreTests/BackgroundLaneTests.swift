import Foundation
import Synchronization
import Testing

@testable import TensorCore

struct BackgroundLaneTests {
  @Test func runsTasksInOrderAndJoinsThem() {
    let log = Mutex<[Int]>([])
    let tasks = (0..<20).map { index in
      BackgroundLane.shared.submit {
        // The first task is the slowest: later ones still wait their turn.
        if index == 0 { usleep(20_000) }
        log.withLock { $0.append(index) }
      }
    }
    tasks[5].wait()
    #expect(log.withLock { $0.count } >= 6)
    for task in tasks { task.wait() }
    tasks[3].wait()  // Joining twice returns at once.
    #expect(log.withLock { $0 } == Array(0..<20))
  }

  @Test func runsBesideTheCaller() {
    // The caller keeps working while the lane runs: neither waits for the other until the join.
    let started = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let task = BackgroundLane.shared.submit {
      started.signal()
      release.wait()
    }
    #expect(started.wait(timeout: .now() + 10) == .success)
    release.signal()
    task.wait()
  }

  @Test func tasksSubmittedFromTheLaneRunAtOnce() {
    let inner = Mutex<Bool?>(nil)
    let outer = BackgroundLane.shared.submit {
      #expect(BackgroundLane.shared.isCurrent)
      let task = BackgroundLane.shared.submit { inner.withLock { $0 = BackgroundLane.shared.isCurrent } }
      task.wait()  // Would never return if the task were queued behind this one.
    }
    outer.wait()
    #expect(inner.withLock { $0 } == true)
    #expect(!BackgroundLane.shared.isCurrent)
  }
}
