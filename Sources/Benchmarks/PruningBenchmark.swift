import Foundation
import Orchestrator
import Sweep
import TrialContract

/// `lpft bench dispatch --prune`: what successive halving costs the coordinator. The same
/// zero-duration noop sweep runs with and without a `prune:` rule, the two interleaved (their
/// order alternating by round), and the coordinator's CPU per trial of each is compared. A noop
/// trial streams `ft/loss` for epochs 1 to 3, seeded by its `seed` (scripted, the same on every
/// run), then its result: the rule decides at epochs 1 and 2, and a pruned trial's result,
/// which has crossed the CANCEL, is kept as history only — the most a pruned trial can cost.
public struct PruningBenchmark {
    /// The rule the pruned sweeps run under.
    public static let rule = PruneRule(metric: TrialMetric.ftLoss, rungs: [1, 2], eta: 3, goal: .min)

    public let dispatch: DispatchBenchmark
    public let trials: Int

    public init(dispatch: DispatchBenchmark, trials: Int) {
        self.dispatch = dispatch
        self.trials = trials
    }

    /// Runs `repeats` rounds of both sweeps, telling `say` each sweep's figures, then the
    /// medians and their ratio.
    public func run(repeats: Int, say: (String) -> Void) throws {
        var cpu: [Bool: [Double]] = [false: [], true: []]
        var pruning = DispatchSettings()
        pruning.prune = Self.rule
        for r in 1...repeats {
            for prune in r % 2 == 1 ? [false, true] : [true, false] {
                let (wall, seconds, pruned) = try dispatch.sweep(trials: trials, durationMs: 0, settings: prune ? pruning : DispatchSettings())
                cpu[prune]!.append(seconds / Double(trials))
                say(String(format: "[%d] %@: %d zero-duration trials on %d workers (%d pruned): %.2f s, coordinator CPU %.3f ms/trial",
                           r, prune ? "pruned  " : "unpruned", trials, dispatch.workers, pruned, wall, cpu[prune]!.last! * 1000))
            }
        }
        let (plain, pruned) = (median(cpu[false]!), median(cpu[true]!))
        say(String(format: "median coordinator CPU per trial: unpruned %.3f ms, pruned %.3f ms (%@); ratio pruned/unpruned %.2f",
                   plain * 1000, pruned * 1000, Self.rule.description, pruned / plain))
    }
}
