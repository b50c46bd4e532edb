import Compute
import XCTest

/// Central finite differences of a scalar function of float32 values.
///
/// Tolerance reasoning, for every check in this target: the loss is Σ wᵢ·outᵢ accumulated in
/// Double over float32 outputs, so its rounding error is ~1e-7·Σ|wᵢ·outᵢ| ≈ 1e-6 here; divided
/// by 2h (h = 1e-2) that is ~5e-5 per coordinate. Truncation is h²/6·|f‴| ≈ 2e-5·|f‴|. Both are
/// far below 1e-2 of the gradients' norm (≥ 0.1 in these set-ups), while a wrong backward is
/// off by O(1). So the relative Frobenius error must be below 1e-2.
enum GradientCheck {
    static let step: Float = 1e-2
    static let tolerance = 1e-2

    /// ∂f/∂x[i] for each i in `indices` (all when nil), by (f(x + h) − f(x − h)) / 2h.
    static func numerical(_ x: inout [Float], indices: [Int]? = nil, _ f: ([Float]) -> Double) -> [Float] {
        (indices ?? Array(x.indices)).map { i in
            let saved = x[i]
            x[i] = saved + step
            let up = f(x)
            x[i] = saved - step
            let down = f(x)
            x[i] = saved
            return Float((up - down) / (2 * Double(step)))
        }
    }

    static func assertClose(_ analytic: [Float], _ numerical: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(analytic.count, numerical.count, what, file: file, line: line)
        var diff = 0.0, norm = 0.0
        for (a, n) in zip(analytic, numerical) {
            diff += Double(a - n) * Double(a - n)
            norm += Double(n) * Double(n)
        }
        XCTAssertGreaterThan(norm, 1e-6, "\(what): the numerical gradient is ~0, so the check would prove nothing", file: file, line: line)
        XCTAssertLessThan((diff / norm).squareRoot(), tolerance, "\(what): analytic and numerical gradients differ", file: file, line: line)
    }

    /// Deterministic values in [lo, hi).
    static func values(_ count: Int, seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        let rng = RandomStream(seed: seed, stream: 99)
        return (0..<count).map { lo + (hi - lo) * rng.uniform(at: UInt64($0)) }
    }

    /// Σ w·y in Double.
    static func weightedSum(_ y: [Float], _ w: [Float]) -> Double {
        zip(y, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
}

extension Array where Element == Float {
    /// Runs `body` with a mutable pointer to a copy and returns the copy.
    func mutated(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var copy = self
        copy.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        return copy
    }
}
