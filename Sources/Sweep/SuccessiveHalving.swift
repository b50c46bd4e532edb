import Config
import Foundation
import TrialContract

/// A sweep's pruning rule, the spec's `prune:` (the coordinator applies it, see docs/sweeps.md):
///
/// ```yaml
/// prune: {metric: val/accuracy, rungs: [1, 3, 9], eta: 3, within: [method], goal: max}
/// ```
///
/// A trial reaching a rung (an epoch in `rungs`) continues only if its `metric` there is in the
/// top 1/`eta` of the trials of its group that have reached that rung so far; groups are the
/// values of the `within` settings, so FT is never pruned against LP-FT. `goal` is by default
/// what the metric's name says is better (`Goal.natural(for:)`: `min` for a loss), else `max`.
public struct PruneRule: Sendable, Equatable {
    public enum Goal: String, Sendable, CaseIterable {
        case max, min

        /// What the metric's name says is better (`TrialMetric.better`): less of a loss or a
        /// calibration error, more of an accuracy; nil when neither is (a temperature, a norm).
        public static func natural(for metric: String) -> Goal? {
            TrialMetric.better(metric).map { $0 == .lower ? .min : .max }
        }
    }

    public let metric: String
    public let rungs: [Int]
    public let eta: Int
    public let within: [String]
    public let goal: Goal

    public init(metric: String, rungs: [Int], eta: Int, within: [String] = [], goal: Goal = .max) {
        self.metric = metric
        self.rungs = rungs
        self.eta = eta
        self.within = within
        self.goal = goal
    }

    /// The metrics a trial streams with an epoch, which are all a rung can read.
    public static let epochMetrics = [TrialMetric.epochValidationAccuracy, TrialMetric.ftLoss, TrialMetric.lpLoss, TrialMetric.lpHeadNorm]

    init(_ r: ConfigReader) throws {
        guard let metric = try r.string("metric") else { throw r.fail("metric", "required: the per-epoch metric that ranks trials at a rung, e.g. val/accuracy") }
        guard Self.epochMetrics.contains(metric) else {
            throw r.fail("metric", "\(metric) is not streamed per epoch, so no trial would reach a rung; one of \(Self.epochMetrics.joined(separator: ", "))"
                         + (metric == TrialMetric.validationAccuracy ? " (val/accuracy is validation accuracy per FT epoch)" : ""))
        }
        guard let rungs = r.raw("rungs") as? [Int], !rungs.isEmpty, rungs.allSatisfy({ $0 >= 1 }), rungs == rungs.sorted(), Set(rungs).count == rungs.count else {
            throw r.fail("rungs", "required: increasing epochs ≥ 1, e.g. [1, 3, 9]")
        }
        guard let eta = try r.int("eta", range: 2...1000) else { throw r.fail("eta", "required: keep the top 1/eta at each rung (2 or more)") }
        let goal = try r.choice("goal", Goal.self) ?? .natural(for: metric) ?? .max
        self.init(metric: metric, rungs: rungs, eta: eta, within: try r.strings("within") ?? [], goal: goal)
        try r.finish()
    }

    /// The rule as one line, for logs and reports: `val/accuracy (max) at epochs 1, 3, 9, top 1/3 within method`.
    public var description: String {
        "\(metric) (\(goal.rawValue)) at epoch(s) \(rungs.map(String.init).joined(separator: ", ")), top 1/\(eta)"
            + (within.isEmpty ? " of all trials" : " within \(within.joined(separator: ", "))")
    }
}

/// Asynchronous successive halving (ASHA; Li et al., 2020) as a pure state machine: it is fed
/// each trial's metric at each rung in the order the results arrive and says whether the trial
/// goes on. It holds no clock and no sockets; the coordinator journals each decision, and a
/// coordinator that restarts replays those decisions into a new one (``replay(_:)``), so it
/// goes on deciding from the same state (the rung state a restored Ray Tune scheduler loses).
public struct SuccessiveHalving: Sendable {
    public enum Decision: String, Sendable, Equatable { case proceed, prune }

    /// One decision, as the journal keeps it.
    public struct Record: Sendable, Equatable, Codable {
        public let trial: String
        public let group: String
        public let rung: Int
        public let value: Double
        public let decision: String
    }

    public let rule: PruneRule
    /// Values recorded at each rung, by group.
    private var recorded: [String: [Int: Rung]] = [:]
    /// (trial, rung) pairs decided already: a resent or repeated metric is decided once.
    private var decided: [String: [Int: Decision]] = [:]

    public init(rule: PruneRule) { self.rule = rule }

    /// The decision already made for `trial` at rung `epoch`, if any.
    public func decision(trial: String, epoch: Int) -> Decision? { decided[trial]?[epoch] }

    /// The decision for `trial` (of `group`) reaching `epoch` with `value`; nil when `epoch` is
    /// not a rung. A NaN value is pruned.
    public mutating func record(trial: String, group: String, epoch: Int, value: Double) -> Record? {
        guard rule.rungs.contains(epoch) else { return nil }
        if let earlier = decided[trial]?[epoch] {
            return Record(trial: trial, group: group, rung: epoch, value: value, decision: earlier.rawValue)
        }
        recorded[group, default: [:]][epoch, default: Rung()].insert(value)
        let rung = recorded[group]![epoch]!
        // Its rank: how many recorded values are strictly better; it continues while that is
        // below the top 1/eta of those recorded (at least one: the first to arrive goes on).
        let better = rung.count(betterThan: value, goal: rule.goal)
        let decision: Decision = !value.isNaN && better < max(1, rung.count / rule.eta) ? .proceed : .prune
        decided[trial, default: [:]][epoch] = decision
        return Record(trial: trial, group: group, rung: epoch, value: value, decision: decision.rawValue)
    }

    /// A scheduler restored from the decisions a journal holds, in their order.
    public static func replay(_ records: [Record], rule: PruneRule) -> SuccessiveHalving {
        var s = SuccessiveHalving(rule: rule)
        for r in records {
            s.recorded[r.group, default: [:]][r.rung, default: Rung()].insert(r.value)
            s.decided[r.trial, default: [:]][r.rung] = Decision(rawValue: r.decision)
        }
        return s
    }

    /// The values of one group at one rung: the finite ones sorted, so that a trial's rank is
    /// two binary searches rather than a pass over every trial that reached the rung before it
    /// (a pass per decision was quadratic in the trials of a group), and how many were NaN
    /// (counted among the values, never better than any).
    struct Rung {
        private(set) var sorted: [Double] = []
        private(set) var nan = 0
        var count: Int { sorted.count + nan }

        mutating func insert(_ value: Double) {
            if value.isNaN { nan += 1 } else { sorted.insert(value, at: firstIndex { $0 > value }) }
        }

        /// How many values are strictly better than `value` under `goal` (none, for a NaN).
        func count(betterThan value: Double, goal: PruneRule.Goal) -> Int {
            guard !value.isNaN else { return 0 }
            return goal == .max ? sorted.count - firstIndex { $0 > value } : firstIndex { $0 >= value }
        }

        /// The first index whose value satisfies `predicate` (which holds from some index on), or the end.
        private func firstIndex(_ predicate: (Double) -> Bool) -> Int {
            var (low, high) = (0, sorted.count)
            while low < high {
                let mid = (low + high) / 2
                if predicate(sorted[mid]) { high = mid } else { low = mid + 1 }
            }
            return low
        }
    }

    /// The group of a trial: the values of the rule's `within` settings, e.g. `method=ft`. Read
    /// from the config as written (an omitted default is "—", not filled in), since running
    /// searches have journaled their decisions under these strings.
    public static func group(of axes: [String: ConfigValue], config: String, within: [String]) -> String {
        group(of: axes, settings: within.contains { axes[$0] == nil } ? TrialSettings.flatten(config) : [:], within: within)
    }

    /// The same, from the trial's config already flattened (``TrialSettings/flatten(_:)``).
    static func group(of axes: [String: ConfigValue], settings: [String: String], within: [String]) -> String {
        within.map { "\($0)=\(axes[$0]?.description ?? settings[$0] ?? "—")" }.joined(separator: ", ")
    }
}
