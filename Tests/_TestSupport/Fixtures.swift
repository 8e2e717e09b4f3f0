import Foundation

/// The committed fixtures (`Fixtures/<name>/`), made by `Fixtures/make_fixtures.py` with real
/// PyTorch, and the facts PyTorch reported about each.
public enum Fixtures {
  /// The repository root.
  public static let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url
  }()

  /// `Fixtures/`.
  public static let directory = repositoryRoot.appendingPathComponent("Fixtures")

  /// `Examples/mobilenet_v2.pt`.
  public static let exampleModel = repositoryRoot.appendingPathComponent("Examples/mobilenet_v2.pt")

  /// Every fixture name, sorted.
  public static let names: [String] = {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return entries.filter {
      FileManager.default.fileExists(atPath: directory.appendingPathComponent("\($0)/model.pt").path)
    }.sorted()
  }()

  /// Fixtures that also hold PyTorch 1.13's own `optimize_for_mobile` output (`torch_mobile.pt`).
  public static let torchMobileNames: [String] = names.filter {
    FileManager.default.fileExists(atPath: directory.appendingPathComponent("\($0)/torch_mobile.pt").path)
  }

  /// The folder of fixture `name`.
  public static func folder(_ name: String) -> URL {
    directory.appendingPathComponent(name)
  }

  /// `Fixtures/<name>/model.pt`.
  public static func model(_ name: String) -> URL {
    folder(name).appendingPathComponent("model.pt")
  }

  /// The facts PyTorch reported about fixture `name`.
  public static func facts(_ name: String) throws -> FixtureFacts {
    let data = try Data(contentsOf: folder(name).appendingPathComponent("facts.json"))
    return try JSONDecoder().decode(FixtureFacts.self, from: data)
  }
}

/// `facts.json`: what PyTorch reported about a fixture.
public struct FixtureFacts: Decodable {
  public struct TensorFact: Decodable, Equatable {
    public var name: String
    public var dtype: String
    public var shape: [Int]
    public var requires_grad: Bool
  }

  public struct Call: Decodable {
    public var method: String
    public var inputs: [String]
    public var outputs: [String]
    public var error: String?
  }

  public struct Lint: Decodable, Equatable {
    public var name: String
    public var message: String
  }

  public struct Optimized: Decodable {
    public var code: [String: String]?
    public var ops: [String: Int]?
    public var error: String?
    public var parameters: Int?
    public var methods: [String]?
  }

  public struct Observed: Decodable {
    public var torch: String
    public var lints: [Lint]?
    public var mobile: Optimized?
    public var load_error: String?
  }

  public var name: String
  public var saved_by: String
  public var training: Bool
  public var parameters: [TensorFact]
  public var buffers: [TensorFact]
  public var methods: [String]
  public var calls: [Call]
  public var preserve: [String]
  public var frozen: Optimized
  public var observed: [String: Observed]
}
