import Foundation
@testable import Training
import XCTest

/// The logistic LP against scikit-learn's `LogisticRegressionCV` on real MiniLM features
/// (`Tests/Fixtures/lp-logistic-sklearn.json`, written by `bench/sklearn_logistic_fixture.py`):
/// one binary case (sklearn fits it binomially) and one 3-class multinomial case, same folds.
final class LogisticScikitLearnTests: XCTestCase {
    func testChosenCAccuracyAndCoefficientsEqualScikitLearns() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/lp-logistic-sklearn.json")
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 2)
        for c in cases {
            let task = try XCTUnwrap(c["task"] as? String)
            let classes = try XCTUnwrap(c["labels"] as? [String]).count, width = try XCTUnwrap(c["width"] as? Int)
            let train = try XCTUnwrap(c["train"] as? [String: Any]), test = try XCTUnwrap(c["test"] as? [String: Any])
            func features(_ split: [String: Any]) throws -> [Float] { try XCTUnwrap(split["features"] as? [[Double]]).flatMap { $0.map(Float.init) } }
            let (x, y) = (try features(train), try XCTUnwrap(train["labels"] as? [Int]))
            let grid = try XCTUnwrap(c["grid"] as? [Double])
            for (a, b) in zip(grid, LinearProbe.defaultGrid) { XCTAssertEqual(a, b, accuracy: 1e-12 * b, "sklearn's Cs=10 grid") }

            let fit = LinearProbe.fitLogistic(features: x, labels: y, classes: classes, width: width,
                                              foldOfRow: try XCTUnwrap(train["folds"] as? [Int]), seed: 0, threads: 2)
            XCTAssertTrue(fit.converged, task)
            let again = LinearProbe.fitLogistic(features: x, labels: y, classes: classes, width: width,
                                                foldOfRow: try XCTUnwrap(train["folds"] as? [Int]), seed: 0, threads: 1)
            XCTAssertEqual(again.head, fit.head, "\(task): folds run alone or in parallel give the same numbers")
            XCTAssertEqual(fit.inverseRegularization, try XCTUnwrap(c["C"] as? Double), accuracy: 1e-12 * fit.inverseRegularization, task)
            // Fold accuracies are counts over the same rows: equal to rounding of the mean.
            for (ours, theirs) in zip(fit.crossValidationAccuracy, try XCTUnwrap(c["cv_accuracy"] as? [Double])) {
                XCTAssertEqual(ours, theirs, accuracy: 1e-12, task)
            }
            let heldOut = Calibration(logits: fit.head.logits(try features(test)), labels: try XCTUnwrap(test["labels"] as? [Int]), classes: classes)
            XCTAssertEqual(heldOut.accuracy, try XCTUnwrap(c["test_accuracy"] as? Double), accuracy: 1e-12, task)

            // Coefficients: both solutions are near the optimum of a strongly convex objective, so
            // |θ − θ*| ≤ |∇f(θ)| / λ_min(∇²f) for each; the sum bounds their distance (×2 for the
            // Hessian varying between them). Our gradient is taken at the float32 head, so the
            // head's rounding is inside the bound.
            let s = width + 1, rows = classes == 2 ? 1 : classes
            let coef = try XCTUnwrap(c["coef"] as? [[Double]]), intercept = try XCTUnwrap(c["intercept"] as? [Double])
            var theirs: [Double] = [], ours: [Double] = []
            for k in 0..<rows {
                theirs += coef[k] + [intercept[k]]
                if classes == 2 {
                    ours += (0..<width).map { Double(fit.head.weight[width + $0]) - Double(fit.head.weight[$0]) }
                    ours.append(Double(fit.head.bias[1]) - Double(fit.head.bias[0]))
                } else {
                    ours += fit.head.weight[(k * width)..<((k + 1) * width)].map(Double.init) + [Double(fit.head.bias[k])]
                }
            }
            XCTAssertEqual(ours.count, rows * s)
            let problem = LogisticRegression(features: x.map(Double.init), labels: y, classes: classes, width: width)
            let gradient = problem.evaluate(ours, lambda: 1 / (fit.inverseRegularization * Double(y.count))).gradient
            let norm = { (v: [Double]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
            let bound = 2 * (norm(gradient) + (try XCTUnwrap(c["gradient_norm"] as? Double))) / (try XCTUnwrap(c["hessian_min_eigenvalue"] as? Double))
            let distance = norm(zip(ours, theirs).map { $0 - $1 })
            XCTAssertLessThan(distance, bound, task)
            XCTAssertLessThan(bound, 1e-3 * norm(theirs), "\(task): the bound is tight enough to mean something")
        }
    }
}
