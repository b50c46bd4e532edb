import Compute
import XCTest

/// Every op's hand-written backward against central finite differences (see `GradientCheck`).
final class OpGradientTests: XCTestCase {
    func testLayerNormBackward() {
        let (rows, width) = (4, 13)  // 13: exercises the partial SIMD tail
        var x = GradientCheck.values(rows * width, seed: 1, -2, 2)
        var gamma = GradientCheck.values(width, seed: 2, 0.5, 1.5)
        var beta = GradientCheck.values(width, seed: 3)
        let w = GradientCheck.values(rows * width, seed: 4)
        func run(_ x: [Float], _ g: [Float], _ b: [Float]) -> (y: [Float], mean: [Float], rstd: [Float]) {
            var y = [Float](repeating: 0, count: rows * width), mean = [Float](repeating: 0, count: rows), rstd = mean
            LayerNorm.forward(x, gamma: g, beta: b, &y, mean: &mean, rstd: &rstd, rows: rows, width: width, eps: 1e-12)
            return (y, mean, rstd)
        }
        let f = run(x, gamma, beta)
        var dx = [Float](repeating: 0, count: rows * width)
        var dGamma = [Float](repeating: 0, count: width), dBeta = dGamma
        LayerNorm.backward(w, x, mean: f.mean, rstd: f.rstd, gamma: gamma, &dx, dGamma: &dGamma, dBeta: &dBeta, rows: rows, width: width)
        let loss = { (x: [Float], g: [Float], b: [Float]) in GradientCheck.weightedSum(run(x, g, b).y, w) }
        let (g0, b0) = (gamma, beta), x0 = x
        GradientCheck.assertClose(dx, GradientCheck.numerical(&x) { loss($0, g0, b0) }, "LayerNorm dx")
        GradientCheck.assertClose(dGamma, GradientCheck.numerical(&gamma) { loss(x0, $0, b0) }, "LayerNorm dγ")
        GradientCheck.assertClose(dBeta, GradientCheck.numerical(&beta) { loss(x0, g0, $0) }, "LayerNorm dβ")
    }

    func testLayerNormBackwardIsTheSameSplitAcrossThreads() {
        // Enough rows that the backward pass really splits (≥ 16,384 elements per thread).
        let (rows, width) = (256, 128)
        let x = GradientCheck.values(rows * width, seed: 5, -2, 2), dy = GradientCheck.values(rows * width, seed: 6)
        let gamma = GradientCheck.values(width, seed: 7, 0.5, 1.5), beta = [Float](repeating: 0, count: width)
        var y = [Float](repeating: 0, count: rows * width), mean = [Float](repeating: 0, count: rows), rstd = mean
        LayerNorm.forward(x, gamma: gamma, beta: beta, &y, mean: &mean, rstd: &rstd, rows: rows, width: width, eps: 1e-12)
        func grads(threads: Int) -> ([Float], [Float]) {
            var dx = [Float](repeating: 0, count: rows * width), dGamma = [Float](repeating: 0, count: width)
            LayerNorm.backward(dy, x, mean: mean, rstd: rstd, gamma: gamma, &dx, dGamma: &dGamma, dBeta: nil, rows: rows, width: width, threads: threads)
            return (dx, dGamma)
        }
        let (dx1, dg1) = grads(threads: 1), (dx2, dg2) = grads(threads: 2)
        XCTAssertEqual(dx1, dx2, "rows are independent: dx is bitwise the same")
        for (a, b) in zip(dg1, dg2) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(a))) }
        XCTAssertEqual(grads(threads: 2).1, dg2, "same thread count, same bits")
    }

    func testGELUBackward() {
        var x = GradientCheck.values(37, seed: 8, -4, 4)
        let w = GradientCheck.values(37, seed: 9)
        func gelu(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: x.count)
            GELU.forward(x, &y, count: x.count)
            return y
        }
        var dx = [Float](repeating: 0, count: x.count)
        GELU.backward(w, x, &dx, count: x.count)
        GradientCheck.assertClose(dx, GradientCheck.numerical(&x) { GradientCheck.weightedSum(gelu($0), w) }, "GELU")
    }

    func testGELUIsTheExactErfForm() {
        let x = GradientCheck.values(1000, seed: 10, -6, 6)
        var y = [Float](repeating: 0, count: x.count)
        GELU.forward(x, &y, count: x.count)
        for (xi, yi) in zip(x, y) {
            let exact = 0.5 * Double(xi) * (1 + erf(Double(xi) / 2.0.squareRoot()))
            // A few float32 ulp of |x| (the tanh approximation would be off by up to 1e-3).
            XCTAssertEqual(Double(yi), exact, accuracy: 4e-7 * max(1, abs(Double(xi))), "gelu(\(xi))")
        }
    }

    func testMaskedSoftmaxBackward() {
        let (rows, cols) = (3, 11)
        var x = GradientCheck.values(rows * cols, seed: 11, -3, 3)
        let w = GradientCheck.values(rows * cols, seed: 12)
        let mask: [Float] = [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]
        func softmax(_ x: [Float]) -> [Float] { x.mutated { Softmax.forward($0, rows: rows, cols: cols, keyMask: mask) } }
        let p = softmax(x)
        for r in 0..<rows {
            let row = p[(r * cols)..<((r + 1) * cols)]
            XCTAssertEqual(Double(row.reduce(0, +)), 1, accuracy: 1e-6)
            for c in 0..<cols where mask[c] == 0 { XCTAssertEqual(row[r * cols + c], 0, "masked keys get exactly 0") }
        }
        let ds = w.mutated { Softmax.backward(p, $0, rows: rows, cols: cols) }
        GradientCheck.assertClose(ds, GradientCheck.numerical(&x) { GradientCheck.weightedSum(softmax($0), w) }, "softmax")
    }

    func testLinearBackward() {
        let (rows, inF, outF) = (5, 9, 4)
        var x = GradientCheck.values(rows * inF, seed: 13)
        var weight = GradientCheck.values(outF * inF, seed: 14)
        var bias = GradientCheck.values(outF, seed: 15)
        let w = GradientCheck.values(rows * outF, seed: 16)
        func linear(_ x: [Float], _ wt: [Float], _ b: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * outF)
            Linear.forward(x, weight: wt, bias: b, &y, rows: rows, inFeatures: inF, outFeatures: outF)
            return y
        }
        // dx accumulates onto what is there: start from ones and subtract them after.
        var dx = [Float](repeating: 1, count: rows * inF)
        var dW = [Float](repeating: 0, count: outF * inF), db = [Float](repeating: 0, count: outF)
        Linear.backward(w, x: x, weight: weight, dx: &dx, accumulateInput: true, dWeight: &dW, dBias: &db,
                        rows: rows, inFeatures: inF, outFeatures: outF, threads: 2)
        dx = dx.map { $0 - 1 }
        let (x0, w0, b0) = (x, weight, bias)
        GradientCheck.assertClose(dx, GradientCheck.numerical(&x) { GradientCheck.weightedSum(linear($0, w0, b0), w) }, "linear dx")
        GradientCheck.assertClose(dW, GradientCheck.numerical(&weight) { GradientCheck.weightedSum(linear(x0, $0, b0), w) }, "linear dW")
        GradientCheck.assertClose(db, GradientCheck.numerical(&bias) { GradientCheck.weightedSum(linear(x0, w0, $0), w) }, "linear db")
    }

    func testCrossEntropyBackward() {
        var logits = GradientCheck.values(4 * 3, seed: 17, -3, 3)
        let labels = [0, 2, 1, 2]
        var d = [Float](repeating: 0, count: logits.count)
        let loss = CrossEntropy.forwardBackward(logits: logits, labels: labels, classes: 3, dLogits: &d)
        // Against the definition, −mean log softmax[label], in Double.
        var expected = 0.0
        for r in 0..<4 {
            let z = logits[(r * 3)..<(r * 3 + 3)].map(Double.init)
            expected += log(z.map { exp($0) }.reduce(0, +)) - z[labels[r]]
        }
        XCTAssertEqual(Double(loss), expected / 4, accuracy: 1e-6)
        GradientCheck.assertClose(d, GradientCheck.numerical(&logits) {
            Double(CrossEntropy.forwardBackward(logits: $0, labels: labels, classes: 3, dLogits: nil))
        }, "cross-entropy")
    }

    func testDropoutMaskRateDeterminismAndThreadIndependence() {
        let n = 100_000
        var one = [Float](repeating: -1, count: n), two = one
        let stream = RandomStream(seed: 42).derived(3)
        Dropout.makeMask(&one, count: n, p: 0.1, stream: stream, threads: 1)
        Dropout.makeMask(&two, count: n, p: 0.1, stream: stream, threads: 2)
        XCTAssertEqual(one, two, "masks depend only on (stream, index)")
        let dropped = one.filter { $0 == 0 }.count
        // Binomial(1e5, 0.1): σ ≈ 95; 5σ bounds.
        XCTAssertEqual(Double(dropped), 10_000, accuracy: 475)
        XCTAssertTrue(one.allSatisfy { $0 == 0 || abs($0 - 1 / 0.9) < 1e-6 }, "kept entries are scaled by 1/(1−p)")
        var other = [Float](repeating: 0, count: n)
        Dropout.makeMask(&other, count: n, p: 0.1, stream: RandomStream(seed: 42).derived(4))
        XCTAssertNotEqual(one, other, "another site draws another mask")
    }
}
