import Compute
import Foundation
@testable import Training
import XCTest

final class LinearProbeTests: XCTestCase {
    /// Gaussian blobs around class centres in `width` dimensions.
    func blobs(n: Int, classes: Int, width: Int, spread: Float, seed: UInt64) -> ([Float], [Int]) {
        let rng = RandomStream(seed: seed, stream: 1)
        var x: [Float] = [], y: [Int] = []
        for i in 0..<n {
            let c = i % classes
            y.append(c)
            for j in 0..<width { x.append((j == c ? 2 : 0) + spread * rng.normal(at: UInt64(i * width + j))) }
        }
        return (x, y)
    }

    func testLogisticHeadGivesTheFittedModelsProbabilitiesAtItsOptimum() {
        let (x, y) = blobs(n: 90, classes: 3, width: 5, spread: 1.2, seed: 4)
        let fit = LinearProbe.fitLogistic(features: x, labels: y, classes: 3, width: 5, seed: 1)
        XCTAssertTrue(fit.converged)
        XCTAssertEqual(fit.crossValidationAccuracy.count, 10)
        XCTAssertTrue(LinearProbe.defaultGrid.contains(fit.inverseRegularization))
        // Optimality of the head itself (θ rounded to float32): the gradient nearly vanishes.
        var theta: [Double] = []
        for k in 0..<3 { theta += fit.head.weight[(k * 5)..<(k * 5 + 5)].map(Double.init) + [Double(fit.head.bias[k])] }
        let problem = LogisticRegression(features: x.map(Double.init), labels: y, classes: 3, width: 5)
        let gradient = problem.evaluate(theta, lambda: 1 / (fit.inverseRegularization * 90)).gradient
        XCTAssertLessThan(gradient.map(abs).max()!, 1e-5)
        // The head's probabilities (float32, as the classifier applies it) equal the model's in Double.
        let logits = fit.head.logits(x)
        for i in 0..<90 {
            let z = (0..<3).map { (k: Int) -> Double in (0..<5).reduce(theta[k * 6 + 5]) { $0 + theta[k * 6 + $1] * Double(x[i * 5 + $1]) } }
            let p = z.map { exp($0 - z.max()!) }, q = logits[(i * 3)..<(i * 3 + 3)].map { exp(Double($0) - Double(logits[(i * 3)..<(i * 3 + 3)].max()!)) }
            for k in 0..<3 { XCTAssertEqual(p[k] / p.reduce(0, +), q[k] / q.reduce(0, +), accuracy: 1e-5) }
        }
        XCTAssertGreaterThan(Calibration(logits: logits, labels: y, classes: 3).accuracy, 0.7)
    }

    func testCrossValidationPrefersWeakRegularisationOnSeparableData() {
        let (x, y) = blobs(n: 60, classes: 2, width: 3, spread: 0.2, seed: 2)
        let fit = LinearProbe.fitLogistic(features: x, labels: y, classes: 2, width: 3, seed: 1)
        // C = 1e-4 shrinks the head to ~0 and cannot beat chance-level ties; any C ≥ 1e-2 separates.
        XCTAssertGreaterThan(fit.inverseRegularization, 1e-3)
        XCTAssertEqual(fit.crossValidationAccuracy.max()!, 1, accuracy: 1e-12)
    }

    func testHeadNormGrowsUnderCrossEntropyOnSeparableData() {
        let (x, y) = blobs(n: 64, classes: 2, width: 8, spread: 0.3, seed: 3)
        let rng = RandomStream(seed: 5)
        let initial = LinearHead(weight: (0..<16).map { 0.02 * rng.normal(at: UInt64($0)) }, bias: [0, 0], classes: 2, width: 8)
        var norms: [Double] = [], losses: [Double] = []
        let head = LinearProbe.trainSGD(features: x, labels: y, from: initial,
                                        options: .init(epochs: 40, learningRate: 0.05, batchSize: 8, seed: 1)) { _, loss, norm in
            losses.append(loss)
            norms.append(norm)
        }
        XCTAssertEqual(norms.count, 40)
        XCTAssertEqual(norms.last!, head.norm, accuracy: 1e-9)
        // The paper's Fig. 1a effect: separable data pushes ‖V‖ up by an order of magnitude or more.
        XCTAssertGreaterThan(head.norm, 10 * initial.norm)
        XCTAssertLessThan(losses.last!, losses.first! / 2)
        XCTAssertEqual(Calibration(logits: head.logits(x), labels: y, classes: 2).accuracy, 1)
        let again = LinearProbe.trainSGD(features: x, labels: y, from: initial, options: .init(epochs: 40, learningRate: 0.05, batchSize: 8, seed: 1))
        XCTAssertEqual(again, head, "same seed, same head")
    }

    func testFeatureStatisticsOnHandComputedCases() {
        // Class 0 at (0,0), (0,2); class 1 at (4,0), (4,2): tr(S_B) = 16, tr(S_W) = 4.
        let s = FeatureStatistics(features: [0, 0, 0, 2, 4, 0, 4, 2], labels: [0, 0, 1, 1], width: 2)
        XCTAssertEqual(s.fisherRatio, 4, accuracy: 1e-12)
        // Cosines: pairs among (1,0), (1,0), (0,1): 1, 0, 0 → mean 1/3.
        XCTAssertEqual(FeatureStatistics(features: [1, 0, 2, 0, 0, 3], labels: [0, 0, 1], width: 2).cosine, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(FeatureStatistics.meanDistance([3, 4, 0, 0], [0, 0, 0, 1], width: 2), 3, accuracy: 1e-12)
    }
}
