import TrialContract

/// Checks that a completed trial's numbers mean what a report would make of them: a trial can
/// complete and still have learned nothing, diverged, or fitted a temperature at its bound.
extension TrialRow {
    /// Validation accuracy of the reported model, what selection reads: the trial's own figure,
    /// or for trials from before it was recorded the best FT epoch's (FT methods) or the LP
    /// head's (LP).
    public var validationAccuracy: Double? { TrialHealth.validationAccuracy(metrics) }

    /// Why this trial's numbers should not be read as they stand; empty for a healthy or
    /// unfinished trial. Each reason names the numbers behind it.
    public var degeneracies: [String] {
        // The config is parsed only when a temperature is at a bound: status reads every trial.
        state == .completed ? TrialHealth.reasons(metrics: metrics, unreadableResult: unreadableResult, temperatureFitted: { setting(at: "temperature") == "fit" }) : []
    }
}

extension TrialRecord {
    /// ``TrialRow/degeneracies`` from the record's stored result, for readers that have the
    /// journal's records already (`sweep status`) and need not read the results again.
    public var degeneracies: [String] {
        guard state == .completed else { return [] }
        let decoded = DecodedTrials.decodeResult(result)
        return TrialHealth.reasons(metrics: decoded.metrics, unreadableResult: decoded.unreadable, temperatureFitted: { TrialSettings.flatten(config)["temperature"] == "fit" })
    }
}

extension TrialHealth {
    /// The reasons of ``TrialRow/degeneracies`` from a completed trial's final metrics and, when
    /// its stored result could not be read, why not.
    public static func reasons(metrics: [String: Double], unreadableResult: String? = nil, temperatureFitted: () -> Bool) -> [String] {
        let validationAccuracy = Self.validationAccuracy(metrics)
        var reasons: [String] = []
        if let unreadableResult { reasons.append("its stored result is not readable JSON (\(unreadableResult)), so it shows no metrics") }
        let notFinite = metrics.filter { !$0.value.isFinite }.keys.sorted()
        if !notFinite.isEmpty { reasons.append("not finite: " + notFinite.joined(separator: ", ")) }
        if let accuracy = validationAccuracy, let chance = metrics[TrialMetric.validationChance], accuracy.isFinite,
           accuracy <= chance + TrialHealth.chanceMargin {
            reasons.append(String(format: "validation accuracy %.3f is at chance (always guessing the majority class: %.3f)", accuracy, chance))
        }
        let bounds = TrialMetric.temperatureBounds
        if let t = metrics[TrialMetric.temperature], t.isFinite,
           t >= bounds.upperBound * (1 - TrialHealth.boundTolerance) || t <= bounds.lowerBound * (1 + TrialHealth.boundTolerance) {
            if temperatureFitted() {
                reasons.append(String(format: "fitted temperature %g is at its bound [%g, %g]", t, bounds.lowerBound, bounds.upperBound))
            }
        }
        if let final = metrics[TrialMetric.headNormFinal], final.isFinite,
           let start = metrics[TrialMetric.headNormAfterLP] ?? metrics[TrialMetric.headNormInit], start > 0, final > start * TrialHealth.headGrowthLimit {
            reasons.append(String(format: "head norm grew from %.3g to %.3g during fine-tuning (×%.0f)", start, final, final / start))
        }
        if let first = metrics[TrialMetric.firstLoss], let last = metrics[TrialMetric.lastLoss], first.isFinite, last.isFinite, last > first {
            reasons.append(String(format: "training loss rose from %.4g (first epoch) to %.4g (last)", first, last))
        }
        return reasons
    }

    static func validationAccuracy(_ metrics: [String: Double]) -> Double? {
        metrics[TrialMetric.validationAccuracy] ?? metrics[TrialMetric.bestValidationAccuracy] ?? metrics[TrialMetric.lpValidationAccuracy]
    }
}

/// The lines ``TrialRow/degeneracies`` draws, and why each is where it is.
public enum TrialHealth {
    /// Validation accuracy within one point of the majority class counts as chance: less than
    /// one standard error of a 1,000-example accuracy near 0.5 (√(0.25/1000) = 0.016), so such
    /// a model is indistinguishable from guessing.
    public static let chanceMargin = 0.01
    /// A temperature within 0.1 % of a bound is at it: the fit stops at the bound exactly, and
    /// nothing interior comes that close.
    public static let boundTolerance = 1e-3
    /// Fine-tuning moves the head a little (FT grows it by a few times at most in the paper's
    /// Table 13); a hundredfold growth is a divergence.
    public static let headGrowthLimit = 100.0

    /// "`id` (axes): reason; reason" per degenerate trial of `trials`.
    public static func lines(_ trials: [TrialRow]) -> [String] {
        trials.compactMap { t in
            let reasons = t.degeneracies
            return reasons.isEmpty ? nil : "`\(t.id)` (" + t.axes.keys.sorted().map { "\($0)=\(t.axes[$0]!)" }.joined(separator: ", ") + "): " + reasons.joined(separator: "; ")
        }
    }
}
