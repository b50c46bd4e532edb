import Foundation
import Sweep

/// Claim 4 seed by seed: each trial of an LP method (LP-FT, LP-LoRA) minus the trial of its
/// plain method (FT, LoRA) with the same seed (and the same value of every other axis the
/// plain trials have), per LP variant and metric. Pairing removes what a seed does to both
/// (data order, dropout, head initialisation), which pooled means and their spreads cannot.
public struct PairedComparison: Sendable {
    /// The LP method and the method it is compared with, e.g. ("lp-ft", "ft").
    public let method: String
    public let baseline: String
    /// The LP trials' own axes beyond the baseline's, e.g. `lp.solver=logistic`; "" when none.
    /// Pairs are split by all of them (a `head_scale` swept for LP-FT alone splits them too),
    /// where claims 1 and 2 split by the LP head only (``SweepReport/lpVariant(_:)``).
    public let variant: String
    public let metric: String
    /// (seed, LP method − baseline), by seed.
    public let differences: [(seed: String, value: Double)]

    public var mean: Double { differences.map(\.value).reduce(0, +) / Double(differences.count) }

    /// The 95% confidence interval of the mean difference (Student's t, n − 1 degrees of
    /// freedom); nil for fewer than two pairs.
    public var interval: ClosedRange<Double>? {
        guard let summary = Summary(differences.map(\.value)), summary.n >= 2 else { return nil }
        let half = Self.t975(degreesOfFreedom: summary.n - 1) * summary.std / Double(summary.n).squareRoot()
        return (summary.mean - half)...(summary.mean + half)
    }

    /// The 97.5 % quantile of Student's t distribution.
    static func t975(degreesOfFreedom df: Int) -> Double {
        let table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                     2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        return df <= table.count ? table[max(1, df) - 1] : 1.960
    }

    /// `method` against `baseline` on `metrics`, for every variant of `method` with at least one pair.
    static func pairs(of method: String, against baseline: String, in trials: [TrialRow], metrics: [String]) -> [PairedComparison] {
        let completed = trials.filter { $0.state == .completed }
        let plain = completed.filter { $0.axes["method"]?.description == baseline }
        let probed = completed.filter { $0.axes["method"]?.description == method }
        let plainAxes = Set(plain.flatMap(\.axes.keys)).subtracting(["method"])
        func key(_ t: TrialRow) -> [String: String] { t.axes.filter { plainAxes.contains($0.key) }.mapValues(\.description) }
        let partner = Dictionary(plain.map { (key($0), $0) }) { first, _ in first }
        let variants = Dictionary(grouping: probed) { $0.axesText { !plainAxes.contains($0) && $0 != "method" } }
        return variants.keys.sorted().flatMap { variant in
            metrics.compactMap { metric -> PairedComparison? in
                let differences = variants[variant]!.compactMap { t -> (String, Double)? in
                    guard let a = t.metrics[metric], let b = partner[key(t)]?.metrics[metric], a.isFinite, b.isFinite else { return nil }
                    return (t.axes["seed"]?.description ?? "?", a - b)
                }.sorted { $0.0 < $1.0 }
                return differences.isEmpty ? nil : PairedComparison(method: method, baseline: baseline, variant: variant, metric: metric, differences: differences)
            }
        }
    }

    /// "1001: +0.0100, 2002: −0.0040, …"
    public var perSeedText: String {
        differences.map { "\($0.seed): " + String(format: "%+.4f", $0.value) }.joined(separator: ", ")
    }

    /// "+0.012 [−0.004, +0.028]"
    public var summaryText: String {
        let m = String(format: "%+.4f", mean)
        guard let ci = interval else { return m + " (one pair: no interval)" }
        return m + String(format: " [%+.4f, %+.4f]", ci.lowerBound, ci.upperBound)
    }
}

extension TrialRow {
    /// "lp.epochs=10, lp.solver=sgd": the trial's axes that pass `include`, sorted by path.
    func axesText(_ include: (String) -> Bool) -> String {
        axes.keys.filter(include).sorted().map { "\($0)=\(axes[$0]!)" }.joined(separator: ", ")
    }
}

extension SweepReport {
    /// Claim 4's pairs on test and OOD accuracy: LP-FT − FT (the claim), then LP-LoRA − LoRA.
    public var pairedAgainstPlainMethods: [PairedComparison] {
        let metrics = ["test/accuracy"] + results.metrics(matching: "ood/*/accuracy")
        return [("lp-ft", "ft"), ("lp-lora", "lora")].flatMap { PairedComparison.pairs(of: $0, against: $1, in: trials, metrics: metrics) }
    }

    func pairedMarkdown(_ pairs: [PairedComparison]) -> String {
        var out = "| pair | variant | metric | difference per seed | mean [95% CI] |\n|---|---|---|---|---|\n"
        for p in pairs {
            out += "| \(p.method) − \(p.baseline) | \(p.variant.isEmpty ? "—" : p.variant) | \(p.metric) | \(p.perSeedText) | \(p.summaryText) |\n"
        }
        return out + "\nEach LP trial minus the trial of the plain method with the same seed; the interval is Student's t over the seeds.\n"
    }
}
