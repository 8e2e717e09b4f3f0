import Foundation
import Testing
import TorchArchive
import TorchIR
import _TestSupport

@testable import TorchScriptFrontend

/// Corrupted source must give errors, never crashes or hangs: thousands of mutated copies of the
/// fixtures' code files go through the lexer, parser and emitter.
struct FrontendFuzzTests {
  struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return state >> 17
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
  }

  static let fragments = [
    "(", ")", "[", "]", ":", ",", "=", "\n", "  ", "\n    ", "def ", "class ", "if ", "else:", "for ", "while ",
    "return ", "torch.", "ops.prim.", "__torch__.", "CONSTANTS.c9", "None", "1.", "\"", "'", "annotate(", "uninitialized(",
    "self.", "getattr(self, \"", "-", "**", "Tuple[", "List[", "Optional[", "->", "#", "\\", "0x", "1e", "@",
  ]

  func mutate(_ source: String, _ generator: inout Generator) -> String {
    var bytes = Array(source.utf8)
    for _ in 0..<(1 + generator.below(4)) {
      guard !bytes.isEmpty else { break }
      let position = generator.below(bytes.count)
      switch generator.below(4) {
      case 0: bytes[position] = UInt8(32 + generator.below(95))
      case 1: bytes.remove(at: position)
      case 2: bytes.insert(contentsOf: Array(Self.fragments[generator.below(Self.fragments.count)].utf8), at: position)
      default:
        let end = min(bytes.count, position + 1 + generator.below(40))
        bytes.removeSubrange(position..<end)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  @Test(arguments: ["mobilenet_v3_small", "control_flow", "lists_dicts", "bundled_inputs", "shufflenet_v2"])
  func mutatedCodeNeverCrashes(_ fixture: String) throws {
    let archive = try TorchScriptArchive(contentsOf: Fixtures.model(fixture))
    let constants = try archive.readConstants()
    var generator = Generator(state: UInt64(fixture.utf8.count) &* 977)
    var errors = 0
    for _ in 0..<200 {
      let target = generator.below(archive.codeFiles.count)
      let compiler = ModuleCompiler(constants: constants)
      do {
        for (index, file) in archive.codeFiles.enumerated() {
          let source = index == target ? mutate(file.source, &generator) : file.source
          try compiler.declare(source: source, path: file.path)
        }
        try compiler.emitBodies()
        for classType in compiler.unit.classes {
          for method in classType.methods { try method.graph?.verify() }
        }
      } catch {
        errors += 1
      }
    }
    // Most mutations break the code; the point is that none crashed.
    #expect(errors > 0)
  }
}
