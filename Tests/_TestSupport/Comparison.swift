import Foundation

/// Relative error as the issues define it: max |actual − expected| / max |expected|.
public func maxRelativeError(_ actual: [Double], _ expected: [Double]) -> Double {
  precondition(actual.count == expected.count, "comparing \(actual.count) values with \(expected.count)")
  var error = 0.0
  var scale = 0.0
  for (a, e) in zip(actual, expected) {
    if a.isNaN != e.isNaN { return .infinity }
    if a.isNaN { continue }
    error = max(error, abs(a - e))
    scale = max(scale, abs(e))
  }
  return scale > 0 ? error / scale : error
}
