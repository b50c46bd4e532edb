import Foundation
import Sweep
import TrialContract

/// `lpft sweep compare`: one arm of trials against another, from one or more sweeps, as a
/// Markdown table with the rule that paired them, per-seed differences, the interval, the
/// verdict, and the example-level test where predictions allow.
public enum ComparisonReport {
    /// The default metrics: accuracy in distribution and on every OOD set.
    public static let defaultMetrics = [TrialMetric.testAccuracy, TrialMetric.anyOOD(.accuracy)]

    /// `margin`: a non-inferiority margin (e.g. 0.005, half a point of accuracy); each row then
    /// says whether the arm is shown to be no worse than −margin.
    public static func make(directories: [String], arm: String, against: String, metrics patterns: [String]?, margin: Double? = nil) throws -> String {
        if let margin, !(margin > 0 && margin.isFinite) {
            throw ConfigErrorText("--margin: \(margin) is not a positive difference (e.g. 0.005 for half a point of accuracy)")
        }
        let journals = try directories.map { (name: URL(fileURLWithPath: $0).lastPathComponent, journal: try Journal(readingDirectory: URL(fileURLWithPath: $0))) }
        let results = SweepResults(combining: try journals.map { ($0.name, try SweepResults(journal: $0.journal)) })
        try results.checkMetricPatterns(patterns ?? [], option: "--metric")
        let metrics = (patterns ?? defaultMetrics).flatMap { results.metrics(matching: $0) }
        if margin != nil, let metric = metrics.first(where: { TrialMetric.better($0) == nil }) {
            throw ConfigErrorText("--margin: \(metric) has no better side, so no margin of \"no worse\" (use it with accuracies, F1, AUROC, calibration errors or losses)")
        }
        let matching = try ArmMatching(results.trials, arm: try TrialFilter(arm, option: "--arm"), against: try TrialFilter(against, option: "--against"), axes: results.axes)
        let rows = matching.comparisons(metrics: metrics, armText: arm, againstText: against, predictions: try PredictionsStore(journals: journals))
        var out = "# \(arm) − \(against)\n\n"
        out += "Sweeps: \(directories.joined(separator: ", ")). " + rule(matching) + "\n\n"
        let marginHeader = margin.map { " margin \(String(format: "%.4f", $0)) |" } ?? ""
        out += "| arm cell | against cell | metric | n | difference per seed | mean [95% CI] | verdict |\(marginHeader) examples: bootstrap 95% CI | McNemar per seed: only arm right / only against right (p) |\n"
        out += "|---|---|---|---|---|---|---|" + (margin == nil ? "" : "---|") + "---|---|\n"
        for r in rows {
            out += "| \(r.armCellText.isEmpty ? "—" : r.armCellText) | \(r.againstCellText.isEmpty ? "—" : r.againstCellText) | \(r.metric) | \(r.differences.count) | \(r.perSeedText) | \(r.summaryText) | \(r.verdict.text) | "
                + (margin.map { "\(r.marginText($0)) | " } ?? "")
                + (r.examples.map { "\($0.bootstrapText) | \($0.perSeedText)" } ?? "— | —") + " |\n"
        }
        out += "\nDifferences are arm − against per seed; the interval is Student's t over the seeds. \(PairedComparison.verdictNote) "
        if let margin {
            out += "With a margin of \(String(format: "%.4f", margin)) (fixed before the run), an arm is no worse when its interval excludes a loss beyond it: "
                + "the lower end above \(String(format: "%+.4f", -margin)) where higher is better, the upper end below \(String(format: "%+.4f", margin)) where lower is (ECE, NLL, losses). "
        }
        out += "The example-level columns need predictions of the same examples in both trials of every pair: the bootstrap resamples seeds and, "
        out += "within each, examples (\(ExampleEvidence.resamples) resamples, fixed RNG seed); McNemar's test is exact (binomial).\n"
        return out
    }

    /// How the arms were split and matched, in words.
    static func rule(_ m: ArmMatching) -> String {
        func list(_ paths: [String]) -> String { paths.isEmpty ? "nothing" : paths.joined(separator: ", ") }
        return "Pairs share the seed" + (m.matched.isEmpty ? "" : " and \(list(m.matched))") + ". "
            + "The arm's cells differ in \(list(m.armVarying.filter { !m.matched.contains($0) })); "
            + "the other arm's in \(list(m.againstVarying.filter { !m.matched.contains($0) }))."
    }
}
