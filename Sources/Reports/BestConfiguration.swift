import Foundation
import Sweep
import TrialContract

/// "Select on validation, report test": per method (or the axes named), the configuration whose
/// mean validation accuracy over its seeds is highest, and its test and OOD figures. Reading
/// test accuracy to choose would report the luckiest configuration, not the best.
public struct BestConfiguration: Sendable {
    /// The values of the `within` axes this selection was made among, e.g. `method=lp-ft`.
    public let scope: String
    /// The chosen group's other axes, e.g. `ft.lr=3e-06`; "—" when the scope has one configuration.
    public let configuration: String
    /// How many configurations it was chosen from.
    public let candidates: Int
    public let group: TrialGroup
    public let selection: Summary

    /// The rule in words, for the report.
    public static func rule(selectBy: String?, within: [String]) -> String {
        "Selected per \(within.joined(separator: " × ")) as the configuration (all swept axes but the seed) with the highest mean "
            + (selectBy.map { "\($0)" } ?? "validation accuracy (validation/accuracy; for trials from before it was recorded, the best FT epoch's or the LP head's)")
            + " over its completed seeds; test and out-of-distribution figures are those of the selection only."
    }
}

extension SweepReport {
    /// The best configuration of each scope (per value of the `within` axes present).
    public func bestConfigurations(selectBy metric: String? = nil, within: [String] = ["method"]) -> [BestConfiguration] {
        let scopeAxes = within.filter { grouping.contains($0) }
        let value: (TrialRow) -> Double? = { t in metric.map { t.metrics[$0] } ?? t.validationAccuracy }
        let byScope = Dictionary(grouping: groups) { g in g.key.filter { scopeAxes.contains($0.axis) }.map { "\($0.axis)=\($0.value)" }.joined(separator: ", ") }
        return byScope.keys.sorted().compactMap { scope in
            let candidates = byScope[scope]!.compactMap { g -> (TrialGroup, Summary)? in
                Summary(g.trials.filter { $0.state == .completed }.compactMap(value)).map { (g, $0) }
            }
            guard let best = candidates.max(by: { $0.1.mean < $1.1.mean }) else { return nil }
            let rest = best.0.key.filter { !scopeAxes.contains($0.axis) && $0.value != "—" }.map { "\($0.axis)=\($0.value)" }.joined(separator: ", ")
            return BestConfiguration(scope: scope.isEmpty ? "all" : scope, configuration: rest.isEmpty ? "—" : rest, candidates: candidates.count, group: best.0, selection: best.1)
        }
    }

    /// The best configurations as a table: selection, then test and every OOD accuracy.
    func bestTable(selectBy metric: String? = nil) -> CellTable {
        let reported = [TrialMetric.testAccuracy] + results.metrics(matching: TrialMetric.anyOOD(.accuracy))
        return CellTable(header: ["scope", "selected configuration", "of", "n", metric ?? "validation accuracy"] + reported,
                         rows: bestConfigurations(selectBy: metric).map { b in
                             [b.scope, b.configuration, "\(b.candidates)", Self.count(b.group), Self.format(b.selection)] + reported.map { Self.format(b.group.summary($0)) }
                         })
    }

    func bestMarkdown(selectBy metric: String? = nil) -> String {
        bestTable(selectBy: metric).markdown + "\n" + BestConfiguration.rule(selectBy: metric, within: ["method"]) + "\n"
    }
}
