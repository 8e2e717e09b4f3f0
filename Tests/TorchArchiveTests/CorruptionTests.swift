import Foundation
import TensorCore
import Testing

@testable import TorchArchive

/// Feeds thousands of randomly corrupted fixture archives to the full reader. Any outcome but a
/// crash, a hang or a non-`ArchiveError` error is fine; the runs are seeded, so a failure
/// reproduces.
@Suite struct CorruptionTests {
  /// Small archives covering torch 1.13 and 2.x, modules, XNNPACK contexts, quantized tensors,
  /// bundled inputs and generic containers.
  static let seeds: [URL] = [
    Fixtures.mobile("conv_bn_relu"), Fixtures.mobile("conv_transpose"), Fixtures.mobile("linear_bn"),
    Fixtures.model("quantized_conv"), Fixtures.model("bundled_inputs"), Fixtures.model("counter"),
    Fixtures.model("lists_dicts"), Fixtures.model("mlp"),
  ]

  static let casesPerSeed = 200

  /// Corrupts the archive bytes themselves: zip structures, checksummed records, deflated code.
  @Test(.timeLimit(.minutes(1)))
  func survivesCorruptedArchiveBytes() throws {
    var random = SplitMix64(seed: 0x5EED_0001)
    var outcomes = Outcomes()
    for seed in Self.seeds {
      let original = [UInt8](try Data(contentsOf: seed))
      for _ in 0..<Self.casesPerSeed {
        var bytes = original
        // Half the mutations hit the end records and central directory, the zip structure.
        let tail = random.next() % 2 == 0 ? max(0, bytes.count - 2048) : 0
        mutate(&bytes, from: tail, using: &random)
        outcomes.record(readFully(Data(bytes)))
      }
    }
    #expect(outcomes.accepted > 0 && outcomes.rejected > 0)
  }

  /// Corrupts one record and zips the archive again with valid checksums, so that the damage
  /// reaches the unpickler and the version and code readers.
  @Test(.timeLimit(.minutes(1)))
  func survivesCorruptedRecords() throws {
    var random = SplitMix64(seed: 0x5EED_0002)
    var outcomes = Outcomes()
    for seed in Self.seeds {
      let zip = try ZipReader(contentsOf: seed)
      let records = try zip.entries.map { (name: $0.name, data: [UInt8](try zip.contents(of: $0))) }
      let pickles = records.indices.filter { records[$0].name.hasSuffix("pkl") }
      for _ in 0..<Self.casesPerSeed {
        var damaged = records
        // Mostly pickles; sometimes any record (version, code, storages).
        let target =
          random.next() % 5 == 0 ? Int(random.next() % UInt64(records.count)) : pickles[Int(random.next() % UInt64(pickles.count))]
        mutate(&damaged[target].data, from: 0, using: &random)
        let archive = try ZipWriter.archive(
          rootFolder: zip.rootFolder, records: damaged.map { (name: $0.name, data: Data($0.data)) })
        outcomes.record(readFully(archive))
      }
    }
    #expect(outcomes.accepted > 0 && outcomes.rejected > 0)
  }

  /// Everything a client could do with an archive: open it, unpickle both pickles and every
  /// debug record, touch every tensor's data, and write it back.
  private func readFully(_ data: Data) -> Bool {
    do {
      let archive = try TorchScriptArchive(data: data)
      for file in archive.codeFiles {
        if let debugInfo = file.debugInfo { _ = try? Unpickler(recordName: file.path).unpickle(debugInfo) }
      }
      let contents = try archive.readContents()
      for tensor in reachableTensors(contents.data) + reachableTensors(.tuple(contents.constants)) { touch(tensor) }
      _ = reachableObjects(contents.data)
      _ = try? contents.serialized()
      return true
    } catch is ArchiveError {
      return false
    } catch {
      Issue.record("unexpected error type \(type(of: error)): \(error)")
      return false
    }
  }

  /// One random corruption: flipped bytes, a truncation, inserted garbage, an extreme 32-bit
  /// value, or a copied slice, at positions from `start` on.
  private func mutate(_ bytes: inout [UInt8], from start: Int, using random: inout SplitMix64) {
    guard !bytes.isEmpty else {
      bytes = [UInt8(truncatingIfNeeded: random.next())]
      return
    }
    let start = min(start, bytes.count - 1)
    func position() -> Int { start + Int(random.next() % UInt64(bytes.count - start)) }
    switch random.next() % 5 {
    case 0:
      for _ in 0..<(1 + random.next() % 8) { bytes[position()] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
    case 1:
      bytes.removeSubrange(position()...)
    case 2:
      let garbage = (0..<(1 + random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
      bytes.insert(contentsOf: garbage, at: position())
    case 3:
      let values: [UInt32] = [0, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, UInt32(truncatingIfNeeded: random.next())]
      let value = values[Int(random.next() % UInt64(values.count))]
      let at = position()
      for index in 0..<4 where at + index < bytes.count { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    default:
      let from = position()
      let length = min(1 + Int(random.next() % 32), bytes.count - from)
      let slice = Array(bytes[from..<(from + length)])
      let to = position()
      for (index, byte) in slice.enumerated() where to + index < bytes.count { bytes[to + index] = byte }
    }
  }

  private struct Outcomes {
    var accepted = 0
    var rejected = 0

    mutating func record(_ readCleanly: Bool) {
      if readCleanly { accepted += 1 } else { rejected += 1 }
    }
  }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64: RandomNumberGenerator {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
