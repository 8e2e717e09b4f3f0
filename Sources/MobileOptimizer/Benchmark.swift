import Dispatch
import Foundation
import TensorCore
import TorchRuntime

/// Latency of a method measured over repeated runs after a warm-up.
public struct BenchmarkResult: Codable {
  /// Milliseconds per run, in run order.
  public var samples: [Double]
  public var threads: Int

  public var iterations: Int { samples.count }
  public var median: Double { percentile(0.5) }
  public var minimum: Double { samples.min() ?? 0 }
  public var maximum: Double { samples.max() ?? 0 }

  /// The `fraction` quantile (nearest rank).
  public func percentile(_ fraction: Double) -> Double {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count - 1)).rounded())
    return sorted[min(max(rank, 0), sorted.count - 1)]
  }

  enum CodingKeys: String, CodingKey {
    case medianMilliseconds = "median_ms"
    case minimumMilliseconds = "min_ms"
    case maximumMilliseconds = "max_ms"
    case p10 = "p10_ms"
    case p90 = "p90_ms"
    case iterations, threads
  }

  public init(samples: [Double], threads: Int) {
    self.samples = samples
    self.threads = threads
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    samples = [try container.decode(Double.self, forKey: .medianMilliseconds)]
    threads = try container.decode(Int.self, forKey: .threads)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(median, forKey: .medianMilliseconds)
    try container.encode(minimum, forKey: .minimumMilliseconds)
    try container.encode(maximum, forKey: .maximumMilliseconds)
    try container.encode(percentile(0.1), forKey: .p10)
    try container.encode(percentile(0.9), forKey: .p90)
    try container.encode(iterations, forKey: .iterations)
    try container.encode(threads, forKey: .threads)
  }
}

extension ScriptModule {
  /// Runs `method` `warmup` times, then `iterations` times timing each run.
  public func benchmark(_ method: String = "forward", arguments: [IValue], iterations: Int, warmup: Int = 3)
    throws -> BenchmarkResult
  {
    for _ in 0..<warmup { _ = try run(method, arguments) }
    var samples: [Double] = []
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
      let start = DispatchTime.now().uptimeNanoseconds
      _ = try run(method, arguments)
      samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return BenchmarkResult(samples: samples, threads: executionContext.threadCount)
  }
}
