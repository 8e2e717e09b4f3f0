import Foundation
import Testing
import _TestSupport

/// Runs the built `mobile-optimizer` and checks its complete behaviour: output, errors, status.
struct CLI {
  /// The executable next to the test bundle.
  static let executable: URL = {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mobile-optimizer")
  }()

  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func run(_ arguments: [String]) throws -> Result {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: stderr, as: UTF8.self))
  }

  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}

struct InspectCommandTests {
  struct Entry: Decodable, Equatable {
    var name: String
    var dtype: String
    var shape: [Int]
  }

  struct Report: Decodable {
    var version: Int
    var parameters: [Entry]
    var buffers: [Entry]
    var modules: [Module]
    var methods: [Methods]

    struct Module: Decodable { var path: String; var type: String }
    struct Methods: Decodable { var `class`: String; var methods: [String] }
  }

  @Test(arguments: Fixtures.names)
  func jsonListsExactlyPyTorchsParametersAndBuffers(_ name: String) throws {
    let result = try CLI.run(["inspect", Fixtures.model(name).path, "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
    let facts = try Fixtures.facts(name)
    #expect(report.parameters == facts.parameters.map { Entry(name: $0.name, dtype: $0.dtype, shape: $0.shape) })
    #expect(report.buffers == facts.buffers.map { Entry(name: $0.name, dtype: $0.dtype, shape: $0.shape) })
    #expect(report.modules.first?.path == "")
    #expect(!report.methods.isEmpty)
  }

  @Test func textListsTreeParametersAttributesAndMethods() throws {
    let result = try CLI.run(["inspect", Fixtures.model("control_flow").path])
    #expect(result.status == 0)
    #expect(result.stdout.contains("file-format version 3"))
    #expect(result.stdout.contains("steps : int = 3"))
    #expect(result.stdout.contains("__torch__.ControlFlow: forward"))
  }
}

struct ShowCommandTests {
  // One archive saved by PyTorch 1.13 and one by 2.x.
  @Test(arguments: ["conv_bn_relu", "mobilenet_v3_small"])
  func printsSourceAndGraphs(_ name: String) throws {
    let source = try CLI.run(["show", Fixtures.model(name).path])
    #expect(source.status == 0, "\(source.stderr)")
    #expect(source.stdout.contains("def forward(self"))
    let graph = try CLI.run(["show", Fixtures.model(name).path, "--graph", "--method", "forward"])
    #expect(graph.status == 0)
    #expect(graph.stdout.contains("graph(%self"))
    #expect(graph.stdout.contains("prim::CallMethod[name="))
  }

  @Test func unknownMethodIsAnError() throws {
    let result = try CLI.run(["show", Fixtures.model("mlp").path, "--method", "nope"])
    #expect(result.status == 1)
    #expect(result.stderr.hasPrefix("error: "))
    #expect(result.stderr.contains("nope"))
  }
}

struct BadInputTests {
  @Test func emptyFileNotAZipAndTruncatedArchiveAreErrors() throws {
    let directory = try CLI.temporaryDirectory()
    let empty = directory.appendingPathComponent("empty.pt")
    try Data().write(to: empty)
    let text = directory.appendingPathComponent("text.pt")
    try Data("hello, not a zip".utf8).write(to: text)
    let truncated = directory.appendingPathComponent("truncated.pt")
    let whole = try Data(contentsOf: Fixtures.model("mlp"))
    try whole.prefix(whole.count / 2).write(to: truncated)
    for file in [empty, text, truncated] {
      let result = try CLI.run(["inspect", file.path])
      #expect(result.status == 1, "\(file.lastPathComponent)")
      #expect(result.stderr.hasPrefix("error: "), "\(file.lastPathComponent)")
      #expect(result.stdout.isEmpty)
    }
    let missing = try CLI.run(["inspect", directory.appendingPathComponent("missing.pt").path])
    #expect(missing.status == 1)
    #expect(missing.stderr.hasPrefix("error: "))
  }

  @Test func freezingATrainingModuleFailsWithPyTorchsMessageAndNoFile() throws {
    let output = try CLI.temporaryDirectory().appendingPathComponent("frozen.pt")
    let result = try CLI.run(["freeze", Fixtures.model("train_mode").path, "-o", output.path])
    #expect(result.status == 1)
    #expect(
      result.stderr
        == "error: Freezing is currently only implemented for modules in eval mode. Please call .eval() on your module before freezing.\n"
    )
    #expect(!FileManager.default.fileExists(atPath: output.path))
  }
}
