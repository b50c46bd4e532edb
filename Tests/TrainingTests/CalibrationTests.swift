import Compute
import Foundation
import Training
import XCTest

final class CalibrationTests: XCTestCase {
    func testHandComputedECEMCENLLBrier() {
        // p = (0.25, 0.75) twice (label 1, then 0), (0.9, 0.1) label 0, (0.7, 0.3) label 1.
        let logits: [Float] = [0, Float(log(3.0)), 0, Float(log(3.0)), Float(log(9.0)), 0, Float(log(7.0 / 3)), 0]
        let c = Calibration(logits: logits, labels: [1, 0, 0, 1], classes: 2)
        // Bins (lo, hi] of width 1/15: 0.75 → bin 11 (acc 0.5), 0.9 → bin 13 (acc 1), 0.7 → bin 10 (acc 0).
        XCTAssertEqual(c.ece, 0.5 * 0.25 + 0.25 * 0.1 + 0.25 * 0.7, accuracy: 1e-6)
        XCTAssertEqual(c.mce, 0.7, accuracy: 1e-6)
        XCTAssertEqual(c.nll, -(log(0.75) + log(0.25) + log(0.9) + log(0.3)) / 4, accuracy: 1e-6)
        XCTAssertEqual(c.brier, (0.125 + 1.125 + 0.02 + 0.98) / 4, accuracy: 1e-6)
        XCTAssertEqual(c.accuracy, 0.5)
        // A perfectly confident, always right classifier is perfectly calibrated.
        let sure = Calibration(logits: [30, 0, 0, 30], labels: [0, 1], classes: 2)
        XCTAssertEqual(sure.ece, 0, accuracy: 1e-9)
        XCTAssertEqual(sure.mce, 0, accuracy: 1e-9)
    }

    func testTemperatureScalingRecoversAKnownTemperature() {
        // Labels drawn from softmax(u); the model reports u · 2.5, i.e. is over-confident by T = 2.5.
        let (n, classes, trueT) = (20_000, 3, 2.5)
        let rng = RandomStream(seed: 12)
        var logits: [Float] = [], labels: [Int] = []
        for i in 0..<n {
            let u = (0..<classes).map { 1.5 * Double(rng.normal(at: UInt64(i * 8 + $0))) }
            let e = u.map { exp($0) }
            let r = Double(rng.uniform(at: UInt64(i * 8 + 7))) * e.reduce(0, +)
            var acc = 0.0, label = classes - 1
            for c in 0..<classes {
                acc += e[c]
                if r < acc { label = c; break }
            }
            labels.append(label)
            logits += u.map { Float($0 * trueT) }
        }
        let t = Calibration.fitTemperature(logits: logits, labels: labels, classes: classes)
        // The MLE of T from 20k draws: its standard error here is ~1%; 5% is generous and still
        // far from the unscaled T = 1.
        XCTAssertEqual(t, trueT, accuracy: 0.05 * trueT)
        let before = Calibration(logits: logits, labels: labels, classes: classes)
        let after = Calibration(logits: logits, labels: labels, classes: classes, temperature: t)
        XCTAssertLessThan(after.nll, before.nll)
        XCTAssertLessThan(after.ece, before.ece / 3)
        XCTAssertEqual(after.accuracy, before.accuracy, "scaling never changes the arg-max")
    }
}
