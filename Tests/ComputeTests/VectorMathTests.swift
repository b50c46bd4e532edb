import CZeroMQ
import Compute
import XCTest

final class VectorMathTests: XCTestCase {
    /// Applies an 8-lane function to every element of `xs`.
    func lanes(_ xs: [Float], _ f: (Vec8) -> Vec8) -> [Float] {
        stride(from: 0, to: xs.count, by: 8).flatMap { i -> [Float] in
            var v = Vec8()
            for j in 0..<8 { v[j] = xs[min(i + j, xs.count - 1)] }
            let y = f(v)
            return (0..<min(8, xs.count - i)).map { y[$0] }
        }
    }

    func testExpIsWithinAFewUlpOfLibm() {
        let xs = (0...20_000).map { Float(-87 + 175 * Double($0) / 20_000) }
        for (x, y) in zip(xs, lanes(xs, VectorMath.exp)) {
            let exact = Foundation.exp(Double(x))
            // Cephes' expf is ~1 ulp after range reduction; 3 ulp (3.6e-7 relative) bounds it.
            XCTAssertEqual(Double(y), exact, accuracy: 3.6e-7 * exact, "exp(\(x))")
        }
    }

    func testErfIsWithinAFewUlpOfLibm() {
        let xs = (0...20_000).map { Float(-6 + 12 * Double($0) / 20_000) }
        for (x, y) in zip(xs, lanes(xs, VectorMath.erf)) {
            // erf is used as 1 + erf ∈ [0, 2] inside GELU, where a float32 ulp is up to 2.4e-7:
            // 4 ulp of 1 (4.8e-7) keeps GELU within a few ulp. Measured worst case: 3.7e-7 near ±3.07.
            XCTAssertEqual(Double(y), Foundation.erf(Double(x)), accuracy: 4.8e-7, "erf(\(x))")
        }
    }

    func testRandomStreamIsCounterBasedAndUniform() {
        let a = RandomStream(seed: 7, stream: 1), b = RandomStream(seed: 7, stream: 1)
        XCTAssertEqual((0..<100).map { a.bits(at: $0) }, (0..<100).map { b.bits(at: $0) })
        XCTAssertNotEqual(a.bits(at: 0), RandomStream(seed: 8, stream: 1).bits(at: 0))
        XCTAssertNotEqual(a.bits(at: 0), RandomStream(seed: 7, stream: 2).bits(at: 0))
        let n = 200_000
        let u = (0..<n).map { Double(a.uniform(at: UInt64($0))) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        // Mean of U(0,1): σ/√n ≈ 6.5e-4; 5σ.
        XCTAssertEqual(u.reduce(0, +) / Double(n), 0.5, accuracy: 3.3e-3)
        let z = (0..<n).map { Double(a.normal(at: UInt64($0))) }
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 0.012)  // 5σ, σ = 1/√n
        XCTAssertEqual(variance, 1, accuracy: 0.016)  // 5σ, σ = √(2/n)
    }

    func testParallelChunksCoverEveryIndexOnce() {
        for count in [0, 1, 7, 100, 1001] {
            for threads in 1...3 {
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { h in
                    let base = h.baseAddress
                    parallelChunks(count, threads: threads) { _, range in for i in range { base![i] += 1 } }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: count), "count \(count), threads \(threads)")
            }
        }
    }

    func testOpenBLASAndZeroMQAreLinked() {
        var c = [Float](repeating: 0, count: 4)
        BLAS.gemm(m: 2, n: 2, k: 2, a: [1, 2, 3, 4], lda: 2, b: [5, 6, 7, 8], ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        XCTAssertGreaterThanOrEqual(major, 4, "libzmq 4.x provides CURVE and ZAP")
    }
}
