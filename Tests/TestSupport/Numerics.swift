/// Numerical helpers shared by the test targets.

/// ∂f/∂x[i] for each i in `indices`, by central differences (f(x + h) − f(x − h)) / 2h.
public func centralDifferences(_ x: inout [Float], indices: [Int], h: Float, _ f: ([Float]) -> Double) -> [Float] {
    indices.map { i in
        let saved = x[i]
        x[i] = saved + h
        let up = f(x)
        x[i] = saved - h
        let down = f(x)
        x[i] = saved
        return Float((up - down) / (2 * Double(h)))
    }
}

/// ‖a − b‖ / ‖b‖, accumulated in Double.
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.count) vs \(b.count) values")
    var diff = 0.0, norm = 0.0
    for (x, y) in zip(a, b) {
        diff += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return (diff / max(norm, 1e-300)).squareRoot()
}

/// Nested JSON number arrays, flattened row-major.
public func flatFloats(_ value: Any?) -> [Float] {
    if let n = value as? Double { return [Float(n)] }
    if let n = value as? Int { return [Float(n)] }
    if let a = value as? [Any] { return a.flatMap(flatFloats) }
    return []
}

public func flatInts(_ value: Any?) -> [Int32] { flatFloats(value).map { Int32($0) } }
