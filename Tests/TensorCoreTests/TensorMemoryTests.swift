import Foundation
import Testing

@testable import TensorCore

struct TensorMemoryTests {
  /// Every block is 64-byte aligned and usable over its whole size, empty ones included.
  @Test(arguments: [0, 1, 63, 4096, 1_000_000, (1 << 20) - 1, 1 << 20, 3_000_001, 5 << 20])
  func blocksAreAlignedAndUsable(byteCount: Int) {
    let block = TensorMemory.allocate(byteCount: byteCount)
    defer { TensorMemory.deallocate(block) }
    #expect(Int(bitPattern: block) % 64 == 0)
    let bytes = block.bindMemory(to: UInt8.self, capacity: max(byteCount, 1))
    for index in stride(from: 0, to: max(byteCount, 1), by: 4093) { bytes[index] = UInt8(index % 251) }
    bytes[max(byteCount, 1) - 1] = 7
    for index in stride(from: 0, to: max(byteCount, 1) - 1, by: 4093) { #expect(bytes[index] == UInt8(index % 251)) }
  }

  #if os(Linux)
    /// Large blocks start on a huge page and, where the kernel has transparent huge pages, their
    /// mapping carries the huge-page advice (`hg` in /proc/self/smaps).
    @Test func largeBlocksAskForHugePages() throws {
      let large = TensorMemory.allocate(byteCount: TensorMemory.hugePageThreshold + 12_345)
      defer { TensorMemory.deallocate(large) }
      #expect(Int(bitPattern: large) % TensorMemory.hugePageSize == 0)
      guard FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled") else { return }
      let flags = try #require(try mappingFlags(containing: large))
      #expect(flags.contains("hg"), "flags: \(flags)")
    }

    /// The `VmFlags` of the mapping in /proc/self/smaps that holds `address`.
    private func mappingFlags(containing address: UnsafeMutableRawPointer) throws -> [Substring]? {
      // Read to the end: /proc files report a size of zero.
      let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
      defer { try? handle.close() }
      let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
      let target = UInt(bitPattern: address)
      var inside = false
      for line in smaps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
          let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
          inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1]
        } else if inside && fields.first == "VmFlags:" {
          return Array(fields.dropFirst())
        }
      }
      return nil
    }
  #endif
}
