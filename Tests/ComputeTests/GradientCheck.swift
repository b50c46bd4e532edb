import Compute
import TestSupport
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

    /// ∂f/∂x[i] for every i, by central differences with h = `step`.
    static func numerical(_ x: inout [Float], _ f: ([Float]) -> Double) -> [Float] {
        centralDifferences(&x, indices: Array(x.indices), h: step, f)
    }

    static func assertClose(_ analytic: [Float], _ numerical: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(analytic.count, numerical.count, what, file: file, line: line)
        let norm = numerical.reduce(0.0) { $0 + Double($1) * Double($1) }
        XCTAssertGreaterThan(norm, 1e-6, "\(what): the numerical gradient is ~0, so the check would prove nothing", file: file, line: line)
        XCTAssertLessThan(relativeError(analytic, numerical), tolerance, "\(what): analytic and numerical gradients differ", file: file, line: line)
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
