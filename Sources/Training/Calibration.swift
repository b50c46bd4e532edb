import TrialContract

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Calibration metrics of a classifier's logits, and temperature scaling.
///
/// Logits are row-major [n, classes]; all accumulation is in Double.
public struct Calibration: Sendable, Equatable {
    /// Expected calibration error: Σ_b (n_b / n) · |accuracy_b − confidence_b| over 15
    /// equal-width confidence bins (lo, hi].
    public let ece: Double
    /// Maximum calibration error: the largest |accuracy_b − confidence_b| over non-empty bins.
    public let mce: Double
    /// Mean negative log-likelihood of the true class.
    public let nll: Double
    /// Multi-class Brier score: mean over examples of Σ_c (p_c − y_c)².
    public let brier: Double
    public let accuracy: Double
    /// The reliability diagram: per non-empty bin, its mean confidence, accuracy and size.
    public let bins: [ReliabilityBin]

    public static let binCount = 15

    public init(logits: [Float], labels: [Int], classes: Int, temperature: Double = 1) {
        precondition(logits.count == labels.count * classes, "Calibration: \(logits.count) logits for \(labels.count)×\(classes)")
        var binCount = [Int](repeating: 0, count: Self.binCount)
        var binCorrect = [Double](repeating: 0, count: Self.binCount)
        var binConfidence = [Double](repeating: 0, count: Self.binCount)
        var (nll, brier, correct) = (0.0, 0.0, 0)
        for (i, label) in labels.enumerated() {
            let p = Self.softmax(logits[(i * classes)..<((i + 1) * classes)], temperature: temperature)
            let predicted = p.indices.max { p[$0] < p[$1] }!
            let confidence = p[predicted]
            let hit = predicted == label
            if hit { correct += 1 }
            nll -= log(max(p[label], .leastNonzeroMagnitude))
            brier += p.indices.reduce(0.0) { $0 + ($1 == label ? (p[$1] - 1) * (p[$1] - 1) : p[$1] * p[$1]) }
            // (lo, hi] bins: confidence c falls in bin ⌈c·B⌉ − 1 (c = 0 in the first).
            let bin = min(Self.binCount - 1, max(0, Int((confidence * Double(Self.binCount)).rounded(.up)) - 1))
            binCount[bin] += 1
            binCorrect[bin] += hit ? 1 : 0
            binConfidence[bin] += confidence
        }
        let n = Double(labels.count)
        var (ece, mce) = (0.0, 0.0)
        var bins: [ReliabilityBin] = []
        for b in 0..<Self.binCount where binCount[b] > 0 {
            let bin = ReliabilityBin(confidence: binConfidence[b] / Double(binCount[b]), accuracy: binCorrect[b] / Double(binCount[b]), count: binCount[b])
            let gap = abs(bin.accuracy - bin.confidence)
            ece += Double(binCount[b]) / n * gap
            mce = max(mce, gap)
            bins.append(bin)
        }
        self.bins = bins
        self.ece = ece
        self.mce = mce
        self.nll = nll / n
        self.brier = brier / n
        accuracy = Double(correct) / n
    }

    static func softmax(_ z: ArraySlice<Float>, temperature: Double) -> [Double] {
        let scaled = z.map { Double($0) / temperature }
        let m = scaled.max()!
        let e = scaled.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// The temperature T > 0 that minimises the mean NLL of softmax(z / T) on (logits, labels).
    ///
    /// NLL is convex in β = 1/T (log-sum-exp of a linear function minus a linear term), with
    /// f′(β) = mean(E_p[z] − z_y) and f″(β) = mean(Var_p[z]) ≥ 0, so safeguarded Newton on β
    /// finds the exact minimiser. T is kept in [1e-3, 1e3] (perfectly separated logits would
    /// push it to 0).
    public static func fitTemperature(logits: [Float], labels: [Int], classes: Int) -> Double {
        func derivatives(_ beta: Double) -> (Double, Double) {
            var (g, h) = (0.0, 0.0)
            for (i, label) in labels.enumerated() {
                let z = logits[(i * classes)..<((i + 1) * classes)].map(Double.init)
                let p = softmax(logits[(i * classes)..<((i + 1) * classes)], temperature: 1 / beta)
                let mean = zip(p, z).reduce(0.0) { $0 + $1.0 * $1.1 }
                let second = zip(p, z).reduce(0.0) { $0 + $1.0 * $1.1 * $1.1 }
                g += mean - z[label]
                h += second - mean * mean
            }
            return (g / Double(labels.count), h / Double(labels.count))
        }
        var (lo, hi) = (1 / TrialMetric.temperatureBounds.upperBound, 1 / TrialMetric.temperatureBounds.lowerBound)  // bracket on β
        if derivatives(hi).0 < 0 { return 1 / hi }
        if derivatives(lo).0 > 0 { return 1 / lo }
        var beta = 1.0
        for _ in 0..<100 {
            let (g, h) = derivatives(beta)
            if g > 0 { hi = beta } else { lo = beta }
            if abs(g) < 1e-12 || hi - lo < 1e-12 * beta { break }
            let newton = h > 0 ? beta - g / h : .nan
            beta = (newton > lo && newton < hi) ? newton : (lo + hi) / 2
        }
        return 1 / beta
    }
}

/// One bin of a reliability diagram.
public struct ReliabilityBin: Sendable, Equatable {
    public let confidence: Double
    public let accuracy: Double
    public let count: Int
}
