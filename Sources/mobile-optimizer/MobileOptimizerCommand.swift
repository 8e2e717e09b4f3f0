import ArgumentParser
import Foundation

/// `mobile-optimizer`: reads, freezes, optimizes, runs and writes TorchScript archives.
@main
struct MobileOptimizerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mobile-optimizer",
    abstract: "Optimize PyTorch TorchScript models for mobile, without Python.",
    subcommands: [Inspect.self, Show.self, Run.self, Freeze.self, Optimize.self, Lint.self, Bench.self, Roundtrip.self])
}

/// Runs `body`, turning any thrown error into `error: …` on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch let error as ExitCode {
    throw error
  } catch let error as ValidationError {
    throw error
  } catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    throw ExitCode.failure
  }
}

/// Writes `text` to stdout.
func emit(_ text: String) {
  FileHandle.standardOutput.write(Data(text.utf8))
}

extension MobileOptimizerCommand {
  /// Writes one line to stdout.
  static func print(_ line: String) {
    emit(line + "\n")
  }
}

/// Objects that live until the process exits. A command's modules hold thousands of graph nodes
/// and megabytes of tensors; freeing them one by one just before exit took a few milliseconds
/// of a run that takes about a hundred, and the operating system reclaims them all at once.
nonisolated(unsafe) private var keptUntilExit: [AnyObject] = []

/// Keeps `objects` alive until the process exits (see `keptUntilExit`).
func keepUntilExit(_ objects: AnyObject...) {
  keptUntilExit.append(contentsOf: objects)
}

/// The size of the file at `path` in bytes, or nil when it cannot be read.
func fileSize(_ path: String) -> Int? {
  var status = stat()
  guard stat(path, &status) == 0 else { return nil }
  return Int(status.st_size)
}
