import Foundation
import Sweep
import TrialContract

/// How the best configurations are chosen: on `metric` (nil: validation accuracy), toward
/// `goal`, among the configurations sharing each value of the `within` axes (nil: per method,
/// when the sweep has methods).
public struct BestSelection: Sendable, Equatable, CustomStringConvertible {
    public var metric: String?
    /// nil: what the metric's name says is better (`PruneRule.Goal.natural(for:)`).
    public var goal: PruneRule.Goal?
    public var within: [String]?

    /// The paper's rule: the highest validation accuracy, per method.
    public static let validationAccuracy = BestSelection()

    public init(metric: String? = nil, goal: PruneRule.Goal? = nil, within: [String]? = nil) {
        (self.metric, self.goal, self.within) = (metric, goal, within)
    }

    /// Which way is better: as given, else as the metric's name says (validation accuracy: up).
    var direction: PruneRule.Goal { goal ?? metric.flatMap(PruneRule.Goal.natural) ?? .max }

    /// The rule in words, for the report.
    public var description: String {
        "Selected per \(scopeAxes.joined(separator: " × ")) as the configuration (all swept axes but the seed) with the \(direction == .max ? "highest" : "lowest") mean "
            + (metric ?? "validation accuracy (validation/accuracy; for trials from before it was recorded, the best FT epoch's or the LP head's)")
            + " over its completed seeds; test and out-of-distribution figures are those of the selection only."
    }

    var scopeAxes: [String] { within ?? ["method"] }

    /// Refuses a metric no trial has or whose better side is unknown and not given, and an axis
    /// the report does not group by (the seed among them: a configuration is chosen on its mean
    /// over the seeds), naming what there is.
    func check(against report: SweepReport) throws {
        let metrics = report.results.metricNames
        if let metric, !metrics.contains(metric) {
            throw ConfigErrorText("--select-by: no trial has the metric \(metric) (known: \(metrics.joined(separator: ", ")))")
        }
        if let metric, goal == nil, PruneRule.Goal.natural(for: metric) == nil {
            throw ConfigErrorText("--select-by: \(metric) has no better side by its name (it is no accuracy, loss or calibration error): say --goal max or --goal min")
        }
        for axis in within ?? [] where !report.grouping.contains(axis) {
            throw ConfigErrorText("--within: \(axis) is not one of the axes the report groups by (\(report.grouping.joined(separator: ", ")))")
        }
    }
}

/// "Select on validation, report test": per method (or the axes named), the configuration whose
/// mean validation accuracy (or another metric, `BestSelection`) over its seeds is best, and its
/// test and OOD figures. Reading test accuracy to choose would report the luckiest
/// configuration, not the best.
public struct BestConfiguration: Sendable {
    /// The values of the `within` axes this selection was made among, e.g. `method=lp-ft`.
    public let scope: String
    /// The chosen group's other axes, e.g. `ft.lr=3e-06`; "—" when the scope has one configuration.
    public let configuration: String
    /// How many configurations it was chosen from.
    public let candidates: Int
    public let group: TrialGroup
    public let selection: Summary
}

extension SweepReport {
    /// The best configuration of each scope (per value of the `within` axes present).
    public func bestConfigurations(_ rule: BestSelection = .validationAccuracy) -> [BestConfiguration] {
        let scopeAxes = rule.scopeAxes.filter { grouping.contains($0) }
        let value: (TrialRow) -> Double? = { t in rule.metric.map { t.metrics[$0] } ?? t.validationAccuracy }
        let byScope = Dictionary(grouping: groups) { g in g.key.filter { scopeAxes.contains($0.axis) }.map { "\($0.axis)=\($0.value)" }.joined(separator: ", ") }
        return byScope.keys.sorted().compactMap { scope in
            let candidates = byScope[scope]!.compactMap { g -> (TrialGroup, Summary)? in
                Summary(g.trials.filter { $0.state == .completed }.compactMap(value)).map { (g, $0) }
            }
            guard let best = candidates.max(by: { rule.direction == .max ? $0.1.mean < $1.1.mean : $0.1.mean > $1.1.mean }) else { return nil }
            let rest = best.0.key.filter { !scopeAxes.contains($0.axis) && $0.value != "—" }.map { "\($0.axis)=\($0.value)" }.joined(separator: ", ")
            return BestConfiguration(scope: scope.isEmpty ? "all" : scope, configuration: rest.isEmpty ? "—" : rest, candidates: candidates.count, group: best.0, selection: best.1)
        }
    }

    /// The best configurations as a table: selection, then test and every OOD accuracy.
    func bestTable(_ rule: BestSelection = .validationAccuracy) -> CellTable {
        let reported = [TrialMetric.testAccuracy] + results.metrics(matching: TrialMetric.anyOOD(.accuracy))
        return CellTable(header: ["scope", "selected configuration", "of", "n", rule.metric ?? "validation accuracy"] + reported,
                         rows: bestConfigurations(rule).map { b in
                             [b.scope, b.configuration, "\(b.candidates)", Self.count(b.group), Self.format(b.selection)] + reported.map { Self.format(b.group.summary($0)) }
                         })
    }

    func bestMarkdown(_ rule: BestSelection = .validationAccuracy) -> String {
        bestTable(rule).markdown + "\n\(rule)\n"
    }
}
