/// A small FileCheck: matches `CHECK` directives against text, line by line.
///
/// Directives, one per line of `checks`:
/// - `CHECK: text` — a later line contains `text`;
/// - `CHECK-NEXT: text` — the line right after the previous match contains `text`;
/// - `CHECK-NOT: text` — no line between the previous match and the next match contains `text`;
/// - `CHECK-COUNT-n: text` — the next `n` matches of `text`, in order, exist.
/// Patterns are plain substrings. Returns nil when all directives hold, else what failed.
public func fileCheck(_ output: String, _ checks: String) -> String? {
  let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  var position = 0  // next line to search
  var pendingNot: [String] = []
  var lastMatch = -1

  func find(_ pattern: String, from start: Int) -> Int? {
    guard start < lines.count else { return nil }
    return lines[start...].firstIndex { $0.contains(pattern) }
  }

  func checkNots(upTo end: Int) -> String? {
    for pattern in pendingNot {
      let range = (lastMatch + 1)..<min(end, lines.count)
      if let hit = range.first(where: { lines[$0].contains(pattern) }) {
        return "CHECK-NOT: '\(pattern)' found on line \(hit + 1): \(lines[hit])"
      }
    }
    pendingNot = []
    return nil
  }

  for rawDirective in checks.split(separator: "\n") {
    let directive = rawDirective.trimmingCharacters(in: " ")
    guard let colon = directive.firstIndex(of: ":"), directive.hasPrefix("CHECK") else { continue }
    let kind = String(directive[..<colon])
    let pattern = directive[directive.index(after: colon)...].trimmingCharacters(in: " ")
    switch kind {
    case "CHECK", "CHECK-LABEL":
      guard let hit = find(pattern, from: position) else { return "CHECK: '\(pattern)' not found after line \(position)\n\(output)" }
      if let failure = checkNots(upTo: hit) { return failure + "\n\(output)" }
      lastMatch = hit
      position = hit + 1
    case "CHECK-NEXT":
      guard position < lines.count, lines[position].contains(pattern) else {
        return "CHECK-NEXT: '\(pattern)' not on line \(position + 1)\n\(output)"
      }
      if let failure = checkNots(upTo: position) { return failure + "\n\(output)" }
      lastMatch = position
      position += 1
    case "CHECK-NOT":
      pendingNot.append(pattern)
    default:
      if kind.hasPrefix("CHECK-COUNT-"), let count = Int(kind.dropFirst("CHECK-COUNT-".count)) {
        for _ in 0..<count {
          guard let hit = find(pattern, from: position) else {
            return "\(kind): fewer than \(count) lines contain '\(pattern)'\n\(output)"
          }
          if let failure = checkNots(upTo: hit) { return failure + "\n\(output)" }
          lastMatch = hit
          position = hit + 1
        }
      } else {
        return "unknown directive \(kind)"
      }
    }
  }
  return checkNots(upTo: lines.count).map { $0 + "\n\(output)" }
}

extension StringProtocol {
  func trimmingCharacters(in character: Character) -> String {
    var text = String(self)
    while text.first == character { text.removeFirst() }
    while text.last == character { text.removeLast() }
    return text
  }
}
